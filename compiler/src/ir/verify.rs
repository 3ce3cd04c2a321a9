//! `ir::verify`: acyclicity, edge consistency, shape consistency and guards that name gates. Tests run it after
//! every pass; the driver runs it before emission, which therefore cannot fail on IR
//! that passed it.

use super::{Graph, NodeId, TensorType};
use crate::ops::{NodeError, OnnxOp, Op};

/// What is broken in a graph. Any of these after the passes is a compiler bug.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    #[error("the graph has a cycle through {}", .0.join(", "))]
    Cycle(Vec<String>),
    #[error("node `{node}` reads a value that does not exist")]
    Dangling { node: String },
    #[error(transparent)]
    Infer(#[from] NodeError),
    #[error("node `{node}`: {op}: outputs are typed {declared:?} but infer to {inferred:?}")]
    Mismatch {
        node: String,
        op: OnnxOp,
        declared: Vec<TensorType>,
        inferred: Vec<TensorType>,
    },
    #[error("graph output `{0}` reads a removed node")]
    RemovedOutput(String),
    #[error("node `{node}` is guarded by a node that is not a branch's gate")]
    Guard { node: String },
}

impl VerifyError {
    /// The cycle through `stuck`, the nodes a schedule could not place.
    pub fn cycle(graph: &Graph, stuck: &[NodeId]) -> Self {
        Self::Cycle(stuck.iter().map(|&n| graph.node(n).name.clone()).collect())
    }
}

/// Checks the graph; the error names the first broken node.
pub fn verify(graph: &Graph) -> Result<(), VerifyError> {
    let order = graph
        .schedule()
        .map_err(|stuck| VerifyError::cycle(graph, &stuck))?;
    for id in order {
        let node = graph.node(id);
        if matches!(node.op, Op::Input(_)) {
            continue;
        }
        for v in node.inputs.iter().flatten() {
            if !graph.contains(v.node) || v.slot as usize >= graph.node(v.node).outputs.len() {
                return Err(VerifyError::Dangling {
                    node: node.name.clone(),
                });
            }
        }
        if let Some(gate) = node.guard {
            if !graph.contains(gate) || !matches!(graph.node(gate).op, Op::Gate(_)) {
                return Err(VerifyError::Guard {
                    node: node.name.clone(),
                });
            }
        }
        let types: Vec<Option<&TensorType>> =
            node.inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
        let inferred = node.op.infer(&types).map_err(|source| NodeError {
            node: node.name.clone(),
            op: node.onnx,
            source,
        })?;
        let declared: Vec<TensorType> = node.outputs.iter().map(|v| v.ty.clone()).collect();
        if inferred != declared {
            return Err(VerifyError::Mismatch {
                node: node.name.clone(),
                op: node.onnx,
                declared,
                inferred,
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
