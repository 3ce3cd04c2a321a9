//! `ir::verify`: acyclicity, edge consistency and shape consistency. Tests run it after
//! every pass; the driver runs it before emission, which therefore cannot fail on IR
//! that passed it.

use super::{Graph, TensorType};
use crate::ops::Op;

/// Checks the graph; the error names the first broken node.
pub fn verify(graph: &Graph) -> Result<(), String> {
    let order = graph.schedule().map_err(|stuck| {
        let names: Vec<&str> = stuck.iter().map(|&n| graph.node(n).name.as_str()).collect();
        format!("the graph has a cycle through {}", names.join(", "))
    })?;
    for id in order {
        let node = graph.node(id);
        if matches!(node.op, Op::Input(_)) {
            continue;
        }
        for v in node.inputs.iter().flatten() {
            if !graph.contains(v.node) || v.slot as usize >= graph.node(v.node).outputs.len() {
                return Err(format!(
                    "node `{}` reads a value that does not exist",
                    node.name
                ));
            }
        }
        let types: Vec<Option<&TensorType>> =
            node.inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
        let inferred = node
            .op
            .infer(&types)
            .map_err(|e| format!("node `{}` ({}): {e}", node.name, node.op.name()))?;
        let declared: Vec<&TensorType> = node.outputs.iter().map(|v| &v.ty).collect();
        if inferred.iter().collect::<Vec<_>>() != declared {
            return Err(format!(
                "node `{}` ({}): outputs are typed {declared:?} but infer to {inferred:?}",
                node.name,
                node.op.name()
            ));
        }
    }
    for o in &graph.outputs {
        if !graph.contains(o.value.node) {
            return Err(format!("graph output `{}` reads a removed node", o.name));
        }
    }
    Ok(())
}
