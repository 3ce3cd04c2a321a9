//! The float islands of a quantized model: every op of the optimized graph that still
//! computes on floats in a model whose activations are 8-bit somewhere, each with the
//! reason it stayed float. `passes::qdq` rewrites the DequantizeLinear → op →
//! QuantizeLinear patterns it knows into integer ops; what is left is either outside the
//! quantized part (before the first QuantizeLinear, after the last DequantizeLinear) or an
//! op between the two that it has no integer form for.

use std::collections::BTreeSet;

use crate::ir::{Graph, NodeId, ValueId};
use crate::ops::Op;
use crate::pipeline::Lowered;
use crate::tensor::DType;

/// One op left computing on floats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatOp {
    /// The node's name.
    pub node: String,
    /// Its ONNX op type.
    pub op: &'static str,
    /// Why it stayed float.
    pub reason: String,
}

/// The float ops of `c`'s graph in schedule order, or `None` when the graph has no 8-bit
/// activations (a float model, where every op is float by design).
pub fn float_islands(c: &Lowered) -> Option<Vec<FloatOp>> {
    let g = &c.graph;
    let eight_bit = c.plan.schedule.iter().any(|&id| {
        let node = g.node(id);
        !matches!(node.op, Op::Const(_))
            && node
                .outputs
                .iter()
                .any(|o| matches!(o.ty.dtype, DType::I8 | DType::U8))
    });
    if !eight_bit {
        return None;
    }
    let islands = c
        .plan
        .schedule
        .iter()
        .filter(|&&id| is_float_op(g, id))
        .map(|&id| FloatOp {
            node: g.node(id).name.clone(),
            op: g.node(id).onnx.op_type,
            reason: reason(g, id),
        })
        .collect();
    Some(islands)
}

/// The quantization boundary ops, which convert rather than compute.
fn is_boundary(g: &Graph, id: NodeId) -> bool {
    matches!(
        g.node(id).onnx.op_type,
        "QuantizeLinear" | "DequantizeLinear" | "DynamicQuantizeLinear"
    )
}

/// A scheduled op, not a boundary, with a floating-point output.
fn is_float_op(g: &Graph, id: NodeId) -> bool {
    let node = g.node(id);
    !matches!(node.op, Op::Const(_) | Op::Input(_))
        && !is_boundary(g, id)
        && node.outputs.iter().any(|o| {
            matches!(
                o.ty.dtype,
                DType::F32 | DType::F64 | DType::F16 | DType::BF16
            )
        })
}

fn reason(g: &Graph, id: NodeId) -> String {
    if let Some(output) = float_output_reached(g, id) {
        return format!(
            "after the quantized part: its result reaches the float graph output `{output}` \
             with no QuantizeLinear on the way"
        );
    }
    if let Some(input) = float_input_read(g, id) {
        return format!(
            "before the quantized part: it reads the float graph input `{input}` before any \
             QuantizeLinear"
        );
    }
    let op = g.node(id).onnx.op_type;
    match op {
        // Normalising by a row's statistics: ONNX Runtime's optimized session has no
        // integer kernel either, and zant computes what it computes.
        "LayerNormalization"
        | "InstanceNormalization"
        | "GroupNormalization"
        | "BatchNormalization"
        | "LpNormalization"
        | "MeanVarianceNormalization" => format!(
            "between DequantizeLinear and QuantizeLinear: ONNX Runtime runs {op} in float \
             too (it has no integer kernel for it), so zant keeps it float and matches its \
             optimized session"
        ),
        "Softmax" if reads_int8(g, id) => "between DequantizeLinear and QuantizeLinear: \
             ONNX Runtime's optimized session fuses uint8 Softmax only and runs an int8 one \
             in float, so zant keeps it float and matches it"
            .to_string(),
        _ => format!(
            "between DequantizeLinear and QuantizeLinear: passes::qdq has no integer form of \
             this {op}"
        ),
    }
}

/// Whether `id`'s first input is dequantized from int8 data.
fn reads_int8(g: &Graph, id: NodeId) -> bool {
    g.node(id)
        .inputs
        .first()
        .copied()
        .flatten()
        .filter(|v| is_boundary(g, v.node))
        .and_then(|v| g.node(v.node).inputs.first().copied().flatten())
        .is_some_and(|x| g.ty(x).dtype == DType::I8)
}

/// The first graph output `id`'s results reach through float ops alone, if any.
fn float_output_reached(g: &Graph, id: NodeId) -> Option<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![id];
    while let Some(n) = todo.pop() {
        if !seen.insert(n) {
            continue;
        }
        for slot in 0..g.node(n).outputs.len() {
            let v = ValueId {
                node: n,
                slot: slot as _,
            };
            if let Some(o) = g.outputs.iter().find(|o| o.value == v) {
                return Some(o.name.clone());
            }
            for (consumer, _) in g.consumers(v) {
                if is_float_op(g, consumer) {
                    todo.push(consumer);
                }
            }
        }
    }
    None
}

/// The first graph input `id` reads through float ops alone, if any.
fn float_input_read(g: &Graph, id: NodeId) -> Option<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![id];
    while let Some(n) = todo.pop() {
        if !seen.insert(n) {
            continue;
        }
        for v in g.node(n).inputs.iter().flatten() {
            let producer = v.node;
            if matches!(g.node(producer).op, Op::Input(_)) {
                return Some(g.value(*v).name.clone());
            }
            if is_float_op(g, producer) {
                todo.push(producer);
            }
        }
    }
    None
}
