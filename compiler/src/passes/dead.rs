//! Dead-node removal: keeps what the graph outputs depend on, and the graph inputs.

use std::collections::HashSet;

use super::{Changed, PassError};
use crate::ir::{Graph, NodeId};
use crate::ops::Op;

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    let mut live: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<NodeId> = graph.outputs.iter().map(|o| o.value.node).collect();
    while let Some(id) = stack.pop() {
        if live.insert(id) {
            stack.extend(graph.node(id).inputs.iter().flatten().map(|v| v.node));
        }
    }
    let dead: Vec<NodeId> = graph
        .node_ids()
        .into_iter()
        .filter(|id| !live.contains(id) && !matches!(graph.node(*id).op, Op::Input(_)))
        .collect();
    for &id in &dead {
        graph.remove_node(id);
    }
    Ok(!dead.is_empty())
}
