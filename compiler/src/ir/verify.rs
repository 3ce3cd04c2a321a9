//! `ir::verify`: acyclicity, edge consistency and shape consistency. Tests run it after
//! every pass; the driver runs it before emission, which therefore cannot fail on IR
//! that passed it.

use super::{Graph, TensorType};
use crate::ops::Op;

/// The first inconsistency [`verify`] found; each names the node or output at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the graph has a cycle through {}", .0.join(", "))]
    Cycle(Vec<String>),
    #[error("node `{node}` reads a value that does not exist")]
    MissingInput { node: String },
    #[error("node `{node}` ({op}): {message}")]
    Infer {
        node: String,
        op: &'static str,
        message: String,
    },
    #[error("node `{node}` ({op}): outputs are typed {declared} but infer to {inferred}")]
    OutputTypes {
        node: String,
        op: &'static str,
        /// The recorded output types, in `Debug` form.
        declared: String,
        /// The types the op infers from its inputs, in `Debug` form.
        inferred: String,
    },
    #[error("graph output `{0}` reads a removed node")]
    RemovedOutput(String),
}

/// Checks the graph; the error names the first broken node.
pub fn verify(graph: &Graph) -> Result<(), VerifyError> {
    let order = graph.schedule().map_err(|stuck| {
        VerifyError::Cycle(stuck.iter().map(|&n| graph.node(n).name.clone()).collect())
    })?;
    for id in order {
        let node = graph.node(id);
        if matches!(node.op, Op::Input(_)) {
            continue;
        }
        for v in node.inputs.iter().flatten() {
            if !graph.contains(v.node) || v.slot as usize >= graph.node(v.node).outputs.len() {
                return Err(VerifyError::MissingInput {
                    node: node.name.clone(),
                });
            }
        }
        let types: Vec<Option<&TensorType>> =
            node.inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
        let inferred = node
            .op
            .infer(&types)
            .map_err(|message| VerifyError::Infer {
                node: node.name.clone(),
                op: node.op.name(),
                message,
            })?;
        let declared: Vec<&TensorType> = node.outputs.iter().map(|v| &v.ty).collect();
        if inferred.iter().collect::<Vec<_>>() != declared {
            return Err(VerifyError::OutputTypes {
                node: node.name.clone(),
                op: node.op.name(),
                declared: format!("{declared:?}"),
                inferred: format!("{inferred:?}"),
            });
        }
    }
    for o in &graph.outputs {
        if !graph.contains(o.value.node) {
            return Err(VerifyError::RemovedOutput(o.name.clone()));
        }
    }
    Ok(())
}
