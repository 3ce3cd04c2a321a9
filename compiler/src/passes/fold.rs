//! Constant folding: a node whose inputs are all constant becomes constants.

use super::{Changed, PassError};
use crate::ir::{Graph, TensorType, ValueId};
use crate::ops::Op;

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    let order = graph.schedule().unwrap_or_default();
    let mut changed = false;
    // Folding one node can make its consumers foldable, so walk in schedule order and
    // apply each fold before looking at the next node.
    for id in order {
        let node = graph.node(id);
        if matches!(node.op, Op::Input(_) | Op::Const(_)) {
            continue;
        }
        let out_types: Vec<TensorType> = node.outputs.iter().map(|v| v.ty.clone()).collect();
        let folded = crate::onnx::try_fold(graph, &node.op, &node.inputs, &out_types).map_err(
            |message| PassError {
                pass: "fold",
                node: node.name.clone(),
                message,
            },
        )?;
        let Some(tensors) = folded else { continue };
        let names: Vec<String> = node.outputs.iter().map(|v| v.name.clone()).collect();
        for (slot, (name, t)) in names.into_iter().zip(tensors).enumerate() {
            let c = graph.add_const(name, t);
            graph.replace_all_uses(
                ValueId {
                    node: id,
                    slot: slot as u32,
                },
                c,
            );
        }
        graph.remove_node(id);
        changed = true;
    }
    Ok(changed)
}
