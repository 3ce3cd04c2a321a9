//! Removes views that keep the shape: their output is their input.

use super::{Changed, PassError};
use crate::ir::{Graph, ValueId};
use crate::ops::Op;

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    let matches: Vec<_> = graph
        .node_ids()
        .into_iter()
        .filter(|&id| {
            let node = graph.node(id);
            matches!(node.op, Op::Reshape(_))
                && node
                    .inputs
                    .first()
                    .copied()
                    .flatten()
                    .is_some_and(|x| graph.ty(x) == &node.outputs[0].ty)
        })
        .collect();
    for &id in &matches {
        let x = graph.node(id).inputs[0].expect("checked");
        graph.replace_all_uses(ValueId { node: id, slot: 0 }, x);
        graph.remove_node(id);
    }
    Ok(!matches.is_empty())
}
