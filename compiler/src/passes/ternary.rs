//! Ternary weights (`--weights ternary`): each Conv with a constant weight (any group
//! count) becomes a TernaryConv, and each MatMul or Gemm by a constant matrix a
//! TernaryMatMul, whose weights are packed trits and one `f32` scale per output channel
//! (`compress::ternary`), so that the weight blob holds 1.6 bits per weight plus the
//! scales and biases.
//!
//! What the float op had fused stays fused: the pass runs after BatchNormalization folding
//! and fusion, so it takes a Conv's folded weights and its Relu or Clip, and a MatMul's
//! bias Add and activation. A Gemm's `alpha` joins the scales and `beta · C` becomes the
//! bias when `C` is a constant scalar or row; a Gemm with `transA`, or whose `C` varies
//! by row, stays in float, as does any weight layer `--keep-float` names (the first and
//! the last weight layers in schedule order, whatever their op). The new node is built
//! through the op table's parser, as import builds a node, and keeps the float op's name,
//! place in the file order and `If` branch. The float weights it no longer reads are left
//! for `dead`.

use zant_runtime::Activation;

use super::qdq::{build, replace_output};
use super::{Changed, PassError};
use crate::ir::{DType, Data, Graph, NodeId, Tensor, ValueId};
use crate::ops::gemm::BiasKind;
use crate::ops::{Attrs, Op, OpError};
use crate::tensor::ternary::{
    packed_tensor, quantize, scale_tensor, KeepFloat, OutputAxis, Ternary,
};

pub fn run(graph: &mut Graph, keep: KeepFloat) -> Result<Changed, PassError> {
    // The weight layers in schedule order; a graph that does not schedule is left as it
    // is for `ir::verify` to report.
    let Ok(schedule) = graph.schedule() else {
        return Ok(false);
    };
    let layers: Vec<NodeId> = schedule
        .into_iter()
        .filter(|&id| weight(graph, id).is_some())
        .collect();
    let kept_first = keep.first.then(|| layers.first().copied()).flatten();
    let kept_last = keep.last.then(|| layers.last().copied()).flatten();
    let mut changed = false;
    for &id in &layers {
        if Some(id) == kept_first || Some(id) == kept_last {
            continue;
        }
        if let Some(rewrite) = plan(graph, id) {
            apply(graph, id, rewrite)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// The constant `f32` weight of a Conv, MatMul or Gemm: what makes a node a weight layer.
fn weight(graph: &Graph, id: NodeId) -> Option<&Tensor> {
    let node = graph.node(id);
    if !matches!(node.op, Op::Conv(_) | Op::MatMul(_) | Op::Gemm(_)) {
        return None;
    }
    let w = graph.const_value(node.inputs.get(1).copied().flatten()?)?;
    (w.dtype() == DType::F32).then_some(w)
}

/// What a weight layer becomes.
struct Rewrite {
    op_type: &'static str,
    attrs: Attrs,
    /// The data input: the Conv's `x`, the product's `A`.
    x: ValueId,
    ternary: Ternary,
    /// The bias input to keep, or the values of a new one.
    bias: Bias,
}

enum Bias {
    None,
    /// The float op's own `f32[N]` bias, read as it is.
    Keep(ValueId),
    /// Values to add as a new constant: a reshaped or scaled bias.
    New(Vec<f32>),
}

/// The rewrite of weight layer `id`, or `None` when it stays in float.
fn plan(graph: &Graph, id: NodeId) -> Option<Rewrite> {
    let node = graph.node(id);
    let w = weight(graph, id)?;
    let x = node.inputs.first().copied().flatten()?;
    let bias_input = node.inputs.get(2).copied().flatten();
    let with_activation = |act: Activation| {
        let mut attrs = Attrs::default();
        attrs.activation(act);
        attrs
    };
    match &node.op {
        Op::Conv(_) => {
            let ternary = quantize(w, OutputAxis::First).ok()?;
            let bias = match bias_input {
                Some(b) => Bias::Keep(b),
                None => Bias::None,
            };
            Some(Rewrite {
                op_type: "TernaryConv",
                attrs: node.op.attrs(),
                x,
                ternary,
                bias,
            })
        }
        Op::MatMul(mm) => {
            if w.shape.len() != 2 || graph.ty(x).dtype != DType::F32 {
                return None;
            }
            let ternary = quantize(w, OutputAxis::Last).ok()?;
            // The fused bias holds N values, possibly as `[1, N]`; the kernel reads `[N]`.
            let bias = match bias_input.filter(|_| mm.bias) {
                None => Bias::None,
                Some(b) if graph.ty(b).shape == [ternary.outputs] => Bias::Keep(b),
                Some(b) => Bias::New(graph.const_value(b)?.as_f32()?.to_vec()),
            };
            Some(Rewrite {
                op_type: "TernaryMatMul",
                attrs: with_activation(mm.act),
                x,
                ternary,
                bias,
            })
        }
        Op::Gemm(g) => {
            if g.trans_a {
                return None;
            }
            let axis = if g.trans_b {
                OutputAxis::First
            } else {
                OutputAxis::Last
            };
            let mut ternary = quantize(w, axis).ok()?;
            for scale in &mut ternary.scales {
                *scale *= g.alpha;
            }
            let n = ternary.outputs;
            let c = || graph.const_value(bias_input?)?.as_f32();
            let bias = match g.bias {
                BiasKind::None => Bias::None,
                BiasKind::Scalar => Bias::New(vec![g.beta * c()?[0]; n]),
                BiasKind::Row => Bias::New(c()?.iter().map(|v| g.beta * v).collect()),
                BiasKind::Col | BiasKind::Full => return None,
            };
            Some(Rewrite {
                op_type: "TernaryMatMul",
                attrs: with_activation(g.act),
                x,
                ternary,
                bias,
            })
        }
        _ => None,
    }
}

/// Replaces weight layer `id` by its ternary op.
fn apply(graph: &mut Graph, id: NodeId, rewrite: Rewrite) -> Result<(), PassError> {
    let float_op = graph.node(id).clone();
    let fail = |source: OpError| PassError {
        pass: "ternary",
        node: float_op.name.clone(),
        op: float_op.onnx,
        source: Box::new(source),
    };
    let name = &float_op.name;
    let packed = graph.add_const(
        format!("{name}.ternary_weights"),
        packed_tensor(&rewrite.ternary),
    );
    let scale = graph.add_const(
        format!("{name}.ternary_scale"),
        scale_tensor(&rewrite.ternary),
    );
    let bias = match rewrite.bias {
        Bias::None => None,
        Bias::Keep(b) => Some(b),
        Bias::New(values) => Some(graph.add_const(
            format!("{name}.ternary_bias"),
            Tensor::new(vec![values.len()], Data::F32(values)),
        )),
    };
    let inputs = vec![Some(rewrite.x), Some(packed), Some(scale), bias];
    let built =
        build(graph, rewrite.op_type, "ai.zant", 1, &rewrite.attrs, inputs).map_err(fail)?;
    let types = &built.3;
    let out = ValueId { node: id, slot: 0 };
    if types.len() != 1 || types[0] != *graph.ty(out) {
        let shown: Vec<String> = types.iter().map(ToString::to_string).collect();
        return Err(fail(OpError::shape(format!(
            "the {} infers to [{}], not the float op's {}",
            rewrite.op_type,
            shown.join(", "),
            graph.ty(out)
        ))));
    }
    // The ternary node takes the float op's place in the file order, so the schedule runs
    // it where the float op ran, and in the same `If` branch.
    replace_output(graph, out, &float_op, built);
    graph.remove_node(id);
    Ok(())
}
