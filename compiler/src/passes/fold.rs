//! Constant folding: a node whose inputs are all constant becomes constants.

use super::{Changed, PassError};
use crate::ir::{Graph, Tensor, TensorType, ValueId};
use crate::ops::{FoldCtx, Op, OpError};

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
        let folded =
            try_fold(graph, &node.op, &node.inputs, &out_types).map_err(|source| PassError {
                pass: "fold",
                node: node.name.clone(),
                op: node.onnx,
                source: Box::new(source),
            })?;
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

/// Runs `graph` on the host: each graph input becomes a constant holding its tensor of
/// `inputs` (in graph input order, of the input's type) and every node folds, through the
/// runtime's kernels as generated code calls them. Returns the graph's outputs, or `None`
/// when one of them does not fold (an op that does not implement folding). `zantc bench`
/// checks a ternary model's outputs against it.
pub fn evaluate(graph: &Graph, inputs: &[Tensor]) -> Result<Option<Vec<Tensor>>, PassError> {
    let mut graph = graph.clone();
    for (&id, tensor) in graph.inputs.clone().iter().zip(inputs) {
        let name = format!("{}.value", graph.node(id).outputs[0].name);
        let value = graph.add_const(name, tensor.clone());
        graph.replace_all_uses(ValueId { node: id, slot: 0 }, value);
    }
    run(&mut graph)?;
    Ok(graph
        .outputs
        .iter()
        .map(|o| graph.const_value(o.value).cloned())
        .collect())
}

/// Evaluates `op` when its inputs are constant (or when it folds from types alone).
/// Import calls it on every node as it reads them, so later nodes see constants.
pub fn try_fold(
    graph: &Graph,
    op: &Op,
    inputs: &[Option<ValueId>],
    out_types: &[TensorType],
) -> Result<Option<Vec<Tensor>>, OpError> {
    let consts: Vec<_> = inputs
        .iter()
        .map(|v| v.and_then(|v| graph.const_value(v)))
        .collect();
    let all_const = inputs
        .iter()
        .zip(&consts)
        .all(|(v, c)| v.is_none() || c.is_some());
    if !(all_const || op.folds_from_types()) {
        return Ok(None);
    }
    for t in out_types {
        crate::limits::check_constant_bytes(t.n_bytes())
            .map_err(|m| OpError::unsupported(format!("folded at compile time, {m}")))?;
    }
    let ctx = FoldCtx {
        inputs: inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect(),
        consts,
        outputs: out_types,
    };
    op.fold(&ctx)
}
