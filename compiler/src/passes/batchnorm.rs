//! BatchNormalization: folded into the weights and bias of the Conv or ConvTranspose that
//! feeds it when that node has constant weights and no other reader (a U-Net's or DBNet's
//! upsampling ConvTranspose → BN → ReLU); otherwise lowered to Mul + Add.

use super::{Changed, PassError};
use crate::ir::{Data, Graph, NodeId, Tensor, Value, ValueId};
use crate::ops::binary::Binary;
use crate::ops::Op;
use zant_runtime::elementwise::BinaryOp;
use zant_runtime::Activation;

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    let bns: Vec<NodeId> = graph
        .node_ids()
        .into_iter()
        .filter(|&id| matches!(graph.node(id).op, Op::BatchNorm(_)))
        .collect();
    for &bn in &bns {
        if !fold_into_conv(graph, bn) && !fold_into_conv_transpose(graph, bn) {
            lower(graph, bn)?;
        }
    }
    Ok(!bns.is_empty())
}

/// Conv(x, w, b) → BN  becomes  Conv(x, w·s, b·s + t). Returns whether it matched.
fn fold_into_conv(graph: &mut Graph, bn: NodeId) -> bool {
    let Op::BatchNorm(norm) = &graph.node(bn).op else {
        return false;
    };
    let (scale, shift) = (norm.scale.clone(), norm.shift.clone());
    let Some(x) = graph.node(bn).inputs[0] else {
        return false;
    };
    let conv = x.node;
    let Op::Conv(c) = &graph.node(conv).op else {
        return false;
    };
    if c.act != zant_runtime::Activation::None
        || graph.consumers(x).len() != 1
        || graph.is_graph_output(x)
    {
        return false;
    }
    let inputs = graph.node(conv).inputs.clone();
    let Some(w) = inputs[1]
        .and_then(|w| graph.const_value(w))
        .and_then(|t| t.as_f32().map(|v| (t.shape.clone(), v.to_vec())))
    else {
        return false;
    };
    let bias = match inputs.get(2).copied().flatten() {
        None => Some(vec![0.0; scale.len()]),
        Some(b) => graph
            .const_value(b)
            .and_then(|t| t.as_f32())
            .map(<[f32]>::to_vec),
    };
    let Some(bias) = bias else { return false };
    let (w_shape, mut w) = w;
    let per_out = w.len() / scale.len();
    for (oc, chunk) in w.chunks_mut(per_out).enumerate() {
        chunk.iter_mut().for_each(|v| *v *= scale[oc]);
    }
    let b = shifted(&bias, &scale, &shift);
    replace_weights(graph, (conv, bn, x), Tensor::new(w_shape, Data::F32(w)), b);
    true
}

/// `b · s + t`, channel by channel.
fn shifted(bias: &[f32], scale: &[f32], shift: &[f32]) -> Vec<f32> {
    bias.iter()
        .zip(scale)
        .zip(shift)
        .map(|((b, s), t)| b * s + t)
        .collect()
}

/// Gives `node` (a Conv or ConvTranspose, whose output `x` the BatchNormalization `bn`
/// read) the folded weights `w` and bias `b`, and removes `bn`.
fn replace_weights(
    graph: &mut Graph,
    (node, bn, x): (NodeId, NodeId, ValueId),
    w: Tensor,
    b: Vec<f32>,
) {
    let name = graph.node(node).name.clone();
    let w_new = graph.add_const(format!("{name}.weight_bn"), w);
    let b_new = graph.add_const(
        format!("{name}.bias_bn"),
        Tensor::new(vec![b.len()], Data::F32(b)),
    );
    graph.set_input(node, 1, Some(w_new));
    if graph.node(node).inputs.len() < 3 {
        graph.node_mut(node).inputs.push(None);
    }
    graph.set_input(node, 2, Some(b_new));
    graph.replace_all_uses(ValueId { node: bn, slot: 0 }, x);
    graph.remove_node(bn);
}

/// ConvTranspose(x, w, b) → BN  becomes  ConvTranspose(x, w·s, b·s + t), the scale of
/// output channel `o` on its weights `w[ci][o mod (c_out / groups)]` for the input
/// channels `ci` of its group. Returns whether it matched.
fn fold_into_conv_transpose(graph: &mut Graph, bn: NodeId) -> bool {
    let Op::BatchNorm(norm) = &graph.node(bn).op else {
        return false;
    };
    let (scale, shift) = (norm.scale.clone(), norm.shift.clone());
    let Some(x) = graph.node(bn).inputs[0] else {
        return false;
    };
    let node = x.node;
    let Op::ConvTranspose(t) = &graph.node(node).op else {
        return false;
    };
    let (c_out, groups) = (t.c_out, t.groups.max(1));
    let c_in = t.in_shape.get(1).copied().unwrap_or(0);
    if scale.len() != c_out
        || !c_out.is_multiple_of(groups)
        || !c_in.is_multiple_of(groups)
        || graph.consumers(x).len() != 1
        || graph.is_graph_output(x)
    {
        return false;
    }
    let inputs = graph.node(node).inputs.clone();
    let Some((w_shape, mut w)) = inputs[1]
        .and_then(|w| graph.const_value(w))
        .and_then(|t| t.as_f32().map(|v| (t.shape.clone(), v.to_vec())))
    else {
        return false;
    };
    let per_group = c_out / groups;
    // `[c_in, c_out / groups, k…]`: one run of kernel taps per (input, output) pair.
    if per_group == 0 || w.len() % (c_in * per_group) != 0 || w_shape.first() != Some(&c_in) {
        return false;
    }
    let taps = w.len() / (c_in * per_group);
    let bias = match inputs.get(2).copied().flatten() {
        None => Some(vec![0.0; c_out]),
        Some(b) => graph
            .const_value(b)
            .and_then(|t| t.as_f32())
            .map(<[f32]>::to_vec),
    };
    let Some(bias) = bias.filter(|b| b.len() == c_out) else {
        return false;
    };
    let in_per_group = c_in / groups;
    for (ci, row) in w.chunks_mut(per_group * taps).enumerate() {
        let group = ci / in_per_group;
        for (j, kernel) in row.chunks_mut(taps).enumerate() {
            let s = scale[group * per_group + j];
            kernel.iter_mut().for_each(|v| *v *= s);
        }
    }
    let b = shifted(&bias, &scale, &shift);
    replace_weights(graph, (node, bn, x), Tensor::new(w_shape, Data::F32(w)), b);
    true
}

/// BN(x)  becomes  Add(Mul(x, s), t) with `s` and `t` shaped [C, 1, …] to broadcast.
fn lower(graph: &mut Graph, bn: NodeId) -> Result<(), PassError> {
    let node = graph.node(bn).clone();
    let Op::BatchNorm(norm) = &node.op else {
        unreachable!("filtered")
    };
    let x = node.inputs[0].expect("BatchNormalization has an input");
    let ty = graph.ty(x).clone();
    let mut bshape = vec![norm.scale.len()];
    bshape.extend(std::iter::repeat_n(1, ty.rank() - 2));
    let s = graph.add_const(
        format!("{}.scale", node.name),
        Tensor::new(bshape.clone(), Data::F32(norm.scale.clone())),
    );
    let t = graph.add_const(
        format!("{}.shift", node.name),
        Tensor::new(bshape, Data::F32(norm.shift.clone())),
    );
    let mul = graph.add_node(
        format!("{}.mul", node.name),
        Op::Binary(Binary {
            op: BinaryOp::Mul,
            act: Activation::None,
        }),
        node.onnx.with_type("Mul"),
        vec![Some(x), Some(s)],
        vec![Value {
            name: format!("{}.scaled", node.outputs[0].name),
            ty: ty.clone(),
        }],
    );
    let add = graph.add_node(
        format!("{}.add", node.name),
        Op::Binary(Binary {
            op: BinaryOp::Add,
            act: Activation::None,
        }),
        node.onnx.with_type("Add"),
        vec![Some(ValueId { node: mul, slot: 0 }), Some(t)],
        vec![Value {
            name: node.outputs[0].name.clone(),
            ty,
        }],
    );
    // Keep the new nodes where the BN was in file order, and in its `If` branch.
    for id in [mul, add] {
        graph.node_mut(id).order = node.order;
        graph.node_mut(id).guard = node.guard;
    }
    graph.replace_all_uses(
        ValueId { node: bn, slot: 0 },
        ValueId { node: add, slot: 0 },
    );
    graph.remove_node(bn);
    Ok(())
}
