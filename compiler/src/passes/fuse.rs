//! Fusion into the producing kernel:
//! - `MatMul → Add(bias)` where the bias is a constant of N values broadcast along rows;
//! - `Conv → Add(bias)` where the bias is a constant of one value per output channel
//!   (exporters such as the ONNX model zoo's MNIST write the bias that way);
//! - `Conv | MatMul → Mul(scale)` with constant weights and a constant scale of one value
//!   or one per output channel (a batch norm exported as Mul and Add): the scale goes
//!   into the weights and bias;
//! - `Mul(x, Sigmoid(x))` (SiLU as exporters write it before opset 24's Swish) → one
//!   Swish, one pass over the tensor instead of two and no buffer for the sigmoid;
//! - PyTorch's exact GELU, `Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)` (or with the half
//!   on `x` first, or `Mul(x, 1/√2)`) → one Gelu, one pass instead of five;
//! - `Conv | Gemm | MatMul → Relu | Clip`, applied while the output is still in registers,
//!   and `→ Sigmoid | Swish` for an `f32` output, applied in vectors as each block of the
//!   output is stored (register tiles, or finished rows);
//! - `Add → Relu | Clip` for an `f32` Add of two operands of the output's shape (a
//!   residual connection), one pass instead of two (`elementwise::add_activated`);
//! - `Mul(x, c) → Softmax` with a positive constant `c` (attention's `1/√d`) → one
//!   Softmax of `c · x` (`scale=c`), the scores read once;
//! - `Pad → Conv` where the Pad adds zeros on the spatial axes only (a TCN's causal left
//!   pad, a "same" pad exported as its own node): its amounts join the Conv's own pads,
//!   whose kernels read padding as zeros without a padded copy of the input.
//!
//! A producer is fused only when the consumer is its sole reader and its output is not a
//! graph output, so no one can observe the intermediate value.

use zant_runtime::elementwise::{BinaryOp, UnaryOp};
use zant_runtime::Activation;

use super::{Changed, PassError};
use crate::ir::{DType, Data, Graph, NodeId, Tensor, ValueId};
use crate::ops::unary::Unary;
use crate::ops::Op;

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    // A scale before a bias (`Conv → Mul → Add`, batch norm exported as two ops) and
    // after one (`Conv → Add → Mul`) both fold.
    let scale = fuse_scale(graph);
    let a = fuse_matmul_bias(graph);
    let b = fuse_conv_bias(graph);
    let scale_after = fuse_scale(graph);
    let silu = fuse_silu(graph);
    let gelu = fuse_gelu(graph);
    let c = fuse_activations(graph);
    let pad = fuse_pad_conv(graph);
    let softmax = fuse_scale_softmax(graph);
    Ok(scale || a || b || scale_after || silu || gelu || c || pad || softmax)
}

/// `Conv → Mul(s)` and `MatMul → Mul(s)` with constant weights and a constant `f32`
/// scale `s`, one value or one per output channel (a Conv's axis 1, a MatMul's last
/// axis): `s` goes into the weights and the bias, and the Mul is gone. Exporters write
/// a batch norm that training left unfused, or a fixed rescaling, this way. The
/// product's rounding moves from `(x · w) · s` to `x · (w · s)`, one rounding of each
/// term, well inside the tolerances the float kernels keep against ONNX Runtime. A
/// non-finite scale, or one whose product with a weight overflows, stays a Mul.
fn fuse_scale(graph: &mut Graph) -> Changed {
    let mut matches = Vec::new();
    for id in graph.node_ids() {
        let (axis, weights_at) = match &graph.node(id).op {
            Op::Conv(c)
                if c.act == Activation::None && !c.weights_blocked && !c.weights_winograd =>
            {
                (1, OutAxis::Conv)
            }
            Op::MatMul(m) if m.act == Activation::None && m.b_panels == 0 => {
                let rank = graph.node(id).outputs[0].ty.rank();
                (rank.saturating_sub(1), OutAxis::MatMul)
            }
            _ => continue,
        };
        let y = graph.node(id).outputs[0].ty.clone();
        if y.dtype != DType::F32 || y.rank() < 2 {
            continue;
        }
        let Some((mul, input_idx)) = sole_consumer(graph, id) else {
            continue;
        };
        let Op::Binary(b) = &graph.node(mul).op else {
            continue;
        };
        if b.op != BinaryOp::Mul
            || graph.node(mul).inputs.len() != 2
            || graph.node(mul).outputs[0].ty != y
        {
            continue;
        }
        let Some((shape, values)) =
            graph.node(mul).inputs[1 - input_idx].and_then(|v| f32_const(graph, v))
        else {
            continue;
        };
        let channels = y.shape[axis];
        let Some(scale) = per_axis(&shape, values, &y.shape, axis) else {
            continue;
        };
        if scale.iter().any(|s| !s.is_finite()) {
            continue;
        }
        let inputs = graph.node(id).inputs.clone();
        let Some(w) = inputs
            .get(1)
            .copied()
            .flatten()
            .and_then(|w| f32_const(graph, w))
        else {
            continue;
        };
        let bias = match inputs.get(2).copied().flatten() {
            None => None,
            Some(b) => match graph.const_value(b).and_then(|t| t.as_f32()) {
                Some(values) if values.len() == channels => Some(values.to_vec()),
                _ => continue,
            },
        };
        let (w_shape, mut w) = w;
        if !weights_at.scale(&mut w, &w_shape, channels, &scale) {
            continue;
        }
        let bias = bias.map(|b| b.iter().zip(&scale).map(|(b, s)| b * s).collect::<Vec<_>>());
        if bias.iter().flatten().any(|b| !b.is_finite()) {
            continue;
        }
        matches.push((id, mul, Tensor::new(w_shape, Data::F32(w)), bias));
    }
    for (node, mul, w, bias) in matches.iter().cloned() {
        let name = graph.node(node).name.clone();
        let w = graph.add_const(format!("{name}.weight_scaled"), w);
        graph.set_input(node, 1, Some(w));
        if let Some(bias) = bias {
            let b = graph.add_const(
                format!("{name}.bias_scaled"),
                Tensor::new(vec![bias.len()], Data::F32(bias)),
            );
            graph.set_input(node, 2, Some(b));
        }
        graph.replace_all_uses(ValueId { node: mul, slot: 0 }, ValueId { node, slot: 0 });
        graph.remove_node(mul);
    }
    !matches.is_empty()
}

/// Where a product's output channels sit in its weights.
#[derive(Clone, Copy)]
enum OutAxis {
    /// A Conv's `[c_out, c_in / groups, k…]`: channel `o` is the `o`-th run.
    Conv,
    /// A MatMul's `B`, `[K, N]`: channel `j` is column `j`.
    MatMul,
}

impl OutAxis {
    /// Multiplies each output channel's weights by its scale; false (and `w` part
    /// scaled, to be dropped) when the weights' shape does not hold `channels` or a
    /// product is not finite.
    fn scale(self, w: &mut [f32], shape: &[usize], channels: usize, scale: &[f32]) -> bool {
        let fits = match self {
            OutAxis::Conv => shape.first() == Some(&channels),
            OutAxis::MatMul => shape.len() == 2 && shape[1] == channels,
        };
        if !fits || channels == 0 || !w.len().is_multiple_of(channels) {
            return false;
        }
        match self {
            OutAxis::Conv => {
                let per_out = w.len() / channels;
                for (chunk, s) in w.chunks_mut(per_out.max(1)).zip(scale) {
                    chunk.iter_mut().for_each(|v| *v *= s);
                }
            }
            OutAxis::MatMul => {
                for row in w.chunks_mut(channels) {
                    row.iter_mut().zip(scale).for_each(|(v, s)| *v *= s);
                }
            }
        }
        w.iter().all(|v| v.is_finite())
    }
}

/// The shape and values of `v` when it is an `f32` constant.
fn f32_const(graph: &Graph, v: ValueId) -> Option<(Vec<usize>, Vec<f32>)> {
    let t = graph.const_value(v)?;
    Some((t.shape.clone(), t.as_f32()?.to_vec()))
}

/// A constant of `shape` holding `values`, as one value per index of `axis` of an
/// operand shaped `y` it broadcasts against (one value for all of them, or the
/// right-aligned shape is 1 everywhere but at `axis`); `None` if it broadcasts
/// otherwise.
fn per_axis(shape: &[usize], values: Vec<f32>, y: &[usize], axis: usize) -> Option<Vec<f32>> {
    let channels = *y.get(axis)?;
    if shape.len() > y.len() {
        return None;
    }
    if values.len() == 1 {
        return Some(vec![values[0]; channels]);
    }
    let aligned = shape.iter().rev().enumerate().all(|(i, &d)| {
        let at = y.len() - 1 - i;
        d == 1 || (at == axis && d == channels)
    });
    (aligned && values.len() == channels).then_some(values)
}

/// `Mul(x, c) → Softmax` with `c` a positive finite `f32` constant of one element (an
/// attention's `1/√d`) becomes one Softmax of `c · x` (`scale=c`): the scores are read
/// once instead of scaled into a buffer first.
fn fuse_scale_softmax(graph: &mut Graph) -> Changed {
    let mut matches = Vec::new();
    for id in graph.node_ids() {
        let Some((BinaryOp::Mul, x, c, _)) = binary_with_const(graph, id) else {
            continue;
        };
        if !c.is_finite() || c <= 0.0 || graph.ty(x) != &graph.node(id).outputs[0].ty {
            continue;
        }
        let Some((softmax, 0)) = sole_consumer(graph, id) else {
            continue;
        };
        if matches!(&graph.node(softmax).op, Op::Softmax(s) if !s.log && s.scale == 1.0) {
            matches.push((id, softmax, x, c));
        }
    }
    for &(mul, softmax, x, c) in &matches {
        graph.set_input(softmax, 0, Some(x));
        if let Op::Softmax(s) = &mut graph.node_mut(softmax).op {
            s.scale = c;
        }
        graph.remove_node(mul);
    }
    !matches.is_empty()
}

/// The single consumer of `node`'s first output, if the value has exactly one reader.
fn sole_consumer(graph: &Graph, node: NodeId) -> Option<(NodeId, usize)> {
    let v = ValueId { node, slot: 0 };
    let uses = graph.consumers(v);
    (uses.len() == 1 && !graph.is_graph_output(v)).then(|| uses[0])
}

fn fuse_matmul_bias(graph: &mut Graph) -> Changed {
    let mut matches = Vec::new();
    for id in graph.node_ids() {
        let Op::MatMul(mm) = &graph.node(id).op else {
            continue;
        };
        if mm.bias || mm.act != Activation::None || graph.node(id).outputs[0].ty.dtype != DType::F32
        {
            continue;
        }
        let Some((add, input_idx)) = sole_consumer(graph, id) else {
            continue;
        };
        let Op::Binary(b) = &graph.node(add).op else {
            continue;
        };
        if b.op != BinaryOp::Add || graph.node(add).inputs.len() != 2 {
            continue;
        }
        let Some(bias) = graph.node(add).inputs[1 - input_idx] else {
            continue;
        };
        let Some(t) = graph.const_value(bias) else {
            continue;
        };
        let y = &graph.node(id).outputs[0].ty;
        let n = *y.shape.last().unwrap_or(&1);
        // The bias must broadcast along rows only: shape [N] or [1, …, 1, N], and the
        // Add must not widen the MatMul's output.
        let row_bias = t.shape.last() == Some(&n) && t.n_elems() == n && t.shape.len() <= y.rank();
        if row_bias && graph.node(add).outputs[0].ty == *y && y.rank() >= 2 {
            matches.push((id, add, bias));
        }
    }
    for &(mm, add, bias) in &matches {
        let node = graph.node_mut(mm);
        if let Op::MatMul(m) = &mut node.op {
            m.bias = true;
        }
        node.inputs.push(None);
        graph.set_input(mm, 2, Some(bias));
        graph.replace_all_uses(
            ValueId { node: add, slot: 0 },
            ValueId { node: mm, slot: 0 },
        );
        graph.remove_node(add);
    }
    !matches.is_empty()
}

fn fuse_conv_bias(graph: &mut Graph) -> Changed {
    let mut matches = Vec::new();
    for id in graph.node_ids() {
        let Op::Conv(conv) = &graph.node(id).op else {
            continue;
        };
        if conv.act != Activation::None {
            continue;
        }
        let Some((add, input_idx)) = sole_consumer(graph, id) else {
            continue;
        };
        let Op::Binary(b) = &graph.node(add).op else {
            continue;
        };
        if b.op != BinaryOp::Add || graph.node(add).inputs.len() != 2 {
            continue;
        }
        let Some(addend) = graph.node(add).inputs[1 - input_idx] else {
            continue;
        };
        let Some((shape, values)) = f32_const(graph, addend) else {
            continue;
        };
        let y = &graph.node(id).outputs[0].ty;
        let c_out = y.shape[1];
        // One value per channel (not one for all, which the kernels' bias does not take).
        if values.len() != c_out || graph.node(add).outputs[0].ty != *y {
            continue;
        }
        let Some(values) = per_axis(&shape, values, &y.shape, 1) else {
            continue;
        };
        let old_bias = match graph.node(id).inputs.get(2).copied().flatten() {
            None => Some(vec![0.0; c_out]),
            Some(b) => graph
                .const_value(b)
                .and_then(|t| t.as_f32())
                .map(<[f32]>::to_vec),
        };
        let Some(old_bias) = old_bias else { continue };
        let bias: Vec<f32> = old_bias.iter().zip(values).map(|(a, b)| a + b).collect();
        matches.push((id, add, bias));
    }
    for (conv, add, bias) in &matches {
        let name = format!("{}.bias_fused", graph.node(*conv).name);
        let b = graph.add_const(name, Tensor::new(vec![bias.len()], Data::F32(bias.clone())));
        if graph.node(*conv).inputs.len() < 3 {
            graph.node_mut(*conv).inputs.push(None);
        }
        graph.set_input(*conv, 2, Some(b));
        graph.replace_all_uses(
            ValueId {
                node: *add,
                slot: 0,
            },
            ValueId {
                node: *conv,
                slot: 0,
            },
        );
        graph.remove_node(*add);
    }
    !matches.is_empty()
}

/// `Pad → Conv` ([`run`]'s list): a constant Pad of zeros with no negative amount and
/// none on the batch or channel axis, whose only reader is a float Conv's input, becomes
/// part of that Conv's padding: its input keeps its size, its leading pads grow by the
/// Pad's, and the trailing ones follow from the unchanged output size.
fn fuse_pad_conv(graph: &mut Graph) -> Changed {
    let mut matches = Vec::new();
    for id in graph.node_ids() {
        let Op::Pad(pad) = &graph.node(id).op else {
            continue;
        };
        let zeros = pad.mode == zant_runtime::index::PadMode::Constant
            && !pad.value_input
            && pad.value == 0.0
            && pad.pads_begin.iter().chain(&pad.pads_end).all(|&p| p >= 0)
            && pad.pads_begin.get(..2) == Some(&[0, 0])
            && pad.pads_end.get(..2) == Some(&[0, 0]);
        let Some(Some(x)) = graph.node(id).inputs.first().copied() else {
            continue;
        };
        if !zeros || graph.ty(x).dtype != DType::F32 {
            continue;
        }
        let Some((conv, 0)) = sole_consumer(graph, id) else {
            continue;
        };
        let Op::Conv(c) = &graph.node(conv).op else {
            continue;
        };
        if c.weights_blocked || c.weights_winograd {
            continue;
        }
        let (Some((top, left)), Some((bottom, right)), Some((h_in, w_in))) = (
            spatial(&pad.pads_begin, 0),
            spatial(&pad.pads_end, 0),
            spatial(&graph.ty(x).shape, 1),
        ) else {
            continue;
        };
        let mut params = c.params;
        (params.h_in, params.w_in) = (h_in, w_in);
        params.pad_top += top as usize;
        params.pad_left += left as usize;
        // Pads of less than a window each side, as exporters write them ("same" or
        // causal): more would give outputs wholly in the padding, a geometry the
        // specialised kernels do not take.
        let reach = |k: usize, dil: usize| k.saturating_sub(1).saturating_mul(dil) + 1;
        let (reach_h, reach_w) = (
            reach(params.k_h, params.dil_h),
            reach(params.k_w, params.dil_w),
        );
        let within = params.pad_top < reach_h
            && params.pad_left < reach_w
            && (bottom as usize) < reach_h
            && (right as usize) < reach_w;
        if within {
            matches.push((id, conv, x, params));
        }
    }
    for &(pad, conv, x, params) in &matches {
        if let Op::Conv(c) = &mut graph.node_mut(conv).op {
            c.params = params;
        }
        graph.set_input(conv, 0, Some(x));
        graph.remove_node(pad);
    }
    !matches.is_empty()
}

/// The spatial entries of a per-axis list of a convolution's operand (`[N, C, W]` or
/// `[N, C, H, W]`) as `(h, w)`, `h` being `none` in 1-D: a 1-D convolution keeps its one
/// spatial axis in the `w` fields.
fn spatial<T: Copy>(v: &[T], none: T) -> Option<(T, T)> {
    match *v.get(2..)? {
        [w] => Some((none, w)),
        [h, w] => Some((h, w)),
        _ => None,
    }
}

/// `Mul(x, Sigmoid(x))`, in either operand order, where the Sigmoid's only reader is the
/// Mul: one Swish node (`alpha` 1) in the Mul's place.
fn fuse_silu(graph: &mut Graph) -> Changed {
    let mut matches = Vec::new();
    for id in graph.node_ids() {
        let node = graph.node(id);
        if !matches!(&node.op, Op::Unary(u) if u.op == UnaryOp::Sigmoid) {
            continue;
        }
        let Some(x) = node.inputs.first().copied().flatten() else {
            continue;
        };
        if graph.value(x).ty.dtype != DType::F32 {
            continue;
        }
        let Some((mul, slot)) = sole_consumer(graph, id) else {
            continue;
        };
        let mul_node = graph.node(mul);
        let is_mul = matches!(&mul_node.op,
            Op::Binary(b) if b.op == BinaryOp::Mul && b.act == Activation::None);
        if is_mul && mul_node.inputs.len() == 2 && mul_node.inputs[1 - slot] == Some(x) {
            matches.push((id, mul, x));
        }
    }
    for &(sigmoid, mul, x) in &matches {
        let node = graph.node(mul);
        let (order, guard) = (node.order, node.guard);
        let swish = graph.add_node(
            node.name.clone(),
            Op::Unary(Unary {
                op: UnaryOp::Swish { alpha: 1.0 },
            }),
            node.onnx.with_type("Swish"),
            vec![Some(x)],
            node.outputs.clone(),
        );
        graph.node_mut(swish).order = order;
        graph.node_mut(swish).guard = guard;
        graph.replace_all_uses(
            ValueId { node: mul, slot: 0 },
            ValueId {
                node: swish,
                slot: 0,
            },
        );
        graph.remove_node(mul);
        graph.remove_node(sigmoid);
    }
    !matches.is_empty()
}

/// PyTorch's exact GELU as it exports it, `Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)`:
/// the scaling by `Div(x, √2)` or `Mul(x, 1/√2)`, and the half applied last or to `x`
/// first (`Mul(Mul(x, 0.5), Add(…))`), becomes one Gelu node in the last Mul's place.
/// One pass over the tensor instead of five and no intermediate buffers; every
/// intermediate must have the next node as its only reader.
fn fuse_gelu(graph: &mut Graph) -> Changed {
    let mut matches = Vec::new();
    for id in graph.node_ids() {
        if let Some(found) = match_gelu(graph, id) {
            matches.push(found);
        }
    }
    // Every Gelu is added before any output moves to one: a Gelu whose input is the
    // previous GELU's last Mul then follows it to the previous Gelu, and no node is
    // removed while another match still names it.
    let mut gelus = Vec::new();
    for (x, last, _) in &matches {
        let node = graph.node(*last);
        let (order, guard) = (node.order, node.guard);
        let gelu = graph.add_node(
            node.name.clone(),
            Op::Unary(Unary { op: UnaryOp::Gelu }),
            node.onnx.with_type("Gelu"),
            vec![Some(*x)],
            node.outputs.clone(),
        );
        graph.node_mut(gelu).order = order;
        graph.node_mut(gelu).guard = guard;
        gelus.push(gelu);
    }
    for ((_, last, _), &gelu) in matches.iter().zip(&gelus) {
        graph.replace_all_uses(
            ValueId {
                node: *last,
                slot: 0,
            },
            ValueId {
                node: gelu,
                slot: 0,
            },
        );
    }
    for (_, _, removed) in &matches {
        for &node in removed {
            graph.remove_node(node);
        }
    }
    !matches.is_empty()
}

/// The exact GELU pattern around the Erf node `erf`: its input `x`, its last node (whose
/// output the Gelu takes over) and every node it replaces.
fn match_gelu(graph: &Graph, erf: NodeId) -> Option<(ValueId, NodeId, Vec<NodeId>)> {
    if !matches!(&graph.node(erf).op, Op::Unary(u) if u.op == UnaryOp::Erf) {
        return None;
    }
    let scaled = graph.node(erf).inputs.first().copied().flatten()?;
    let scale = scaled.node;
    if scaled.slot != 0 || sole_consumer(graph, scale)?.0 != erf {
        return None;
    }
    // `x / √2` or `x · (1/√2)`, `x` of the Gelu's type.
    let x = match binary_with_const(graph, scale)? {
        (BinaryOp::Div, x, c, 1) if near(c, std::f32::consts::SQRT_2) => x,
        (BinaryOp::Mul, x, c, _) if near(c, std::f32::consts::FRAC_1_SQRT_2) => x,
        _ => return None,
    };
    let ty = &graph.value(x).ty;
    if ty.dtype != DType::F32 {
        return None;
    }
    let (add, _) = sole_consumer(graph, erf)?;
    match binary_with_const(graph, add)? {
        (BinaryOp::Add, erf_out, c, _) if erf_out.node == erf && c == 1.0 => {}
        _ => return None,
    }
    let (product, slot) = sole_consumer(graph, add)?;
    let other = binary_operands(graph, product, BinaryOp::Mul)?[1 - slot]?;
    let mut nodes = vec![scale, erf, add, product];
    let last = if other == x {
        // `x · (1 + erf)`, then the half.
        let (half, _) = sole_consumer(graph, product)?;
        match binary_with_const(graph, half)? {
            (BinaryOp::Mul, v, c, _) if v.node == product && c == 0.5 => half,
            _ => return None,
        }
    } else {
        // `(x · 0.5) · (1 + erf)`: the half on `x` first, its only reader the product.
        match binary_with_const(graph, other.node)? {
            (BinaryOp::Mul, v, c, _)
                if v == x && c == 0.5 && sole_consumer(graph, other.node)?.0 == product =>
            {
                nodes.push(other.node);
                product
            }
            _ => return None,
        }
    };
    nodes.push(last);
    (graph.node(last).outputs[0].ty == *ty).then_some((x, last, nodes))
}

/// The two operands of `node` when it is the unfused binary `op`.
fn binary_operands(graph: &Graph, node: NodeId, op: BinaryOp) -> Option<[Option<ValueId>; 2]> {
    let n = graph.node(node);
    let is_op = matches!(&n.op, Op::Binary(b) if b.op == op && b.act == Activation::None);
    (is_op && n.inputs.len() == 2).then(|| [n.inputs[0], n.inputs[1]])
}

/// An unfused binary node with one operand a single-element `f32` constant: the op, the
/// other operand, the constant and the constant's operand slot.
fn binary_with_const(graph: &Graph, node: NodeId) -> Option<(BinaryOp, ValueId, f32, usize)> {
    let Op::Binary(b) = &graph.node(node).op else {
        return None;
    };
    let [a, c] = binary_operands(graph, node, b.op)?;
    let (a, c) = (a?, c?);
    let scalar = |v: ValueId| match graph.const_value(v)?.as_f32()? {
        [value] => Some(*value),
        _ => None,
    };
    match (scalar(a), scalar(c)) {
        (None, Some(value)) => Some((b.op, a, value, 1)),
        (Some(value), None) => Some((b.op, c, value, 0)),
        _ => None,
    }
}

/// Whether the exported constant `c` is `want` to within the rounding of a printed
/// decimal (exporters write `1.4142135` or `1.41421356…`).
fn near(c: f32, want: f32) -> bool {
    (c - want).abs() <= 4.0 * f32::EPSILON * want
}

fn fuse_activations(graph: &mut Graph) -> Changed {
    let mut matches = Vec::new();
    for id in graph.node_ids() {
        let fusable = match &graph.node(id).op {
            Op::Conv(c) => c.act == Activation::None,
            Op::Gemm(g) => g.act == Activation::None,
            Op::MatMul(m) => {
                m.act == Activation::None && graph.node(id).outputs[0].ty.dtype == DType::F32
            }
            // A residual Add and the Relu after it: one pass instead of two.
            Op::Binary(b) => {
                let node = graph.node(id);
                let ty = |slot: usize| {
                    node.inputs
                        .get(slot)
                        .copied()
                        .flatten()
                        .map(|v| &graph.value(v).ty)
                };
                b.act == Activation::None
                    && node.inputs.len() == 2
                    && ty(0).is_some_and(|a| {
                        crate::ops::binary::fuses_activation(b.op, a, ty(1))
                            && a.shape == node.outputs[0].ty.shape
                    })
            }
            _ => false,
        };
        if !fusable {
            continue;
        }
        let Some((consumer, _)) = sole_consumer(graph, id) else {
            continue;
        };
        let act = match &graph.node(consumer).op {
            Op::Unary(u) if u.op == UnaryOp::Relu => Activation::Relu,
            Op::Clip(c) => Activation::Clip {
                min: c.min,
                max: c.max,
            },
            // The logistic ones only into the float kernels, which activate in vectors;
            // a residual Add's loop would call them one value at a time.
            Op::Unary(u) if !matches!(graph.node(id).op, Op::Binary(_)) => match u.op {
                UnaryOp::Sigmoid => Activation::Sigmoid,
                UnaryOp::Swish { alpha } => Activation::Swish { alpha },
                _ => continue,
            },
            _ => continue,
        };
        if matches!(act, Activation::Sigmoid | Activation::Swish { .. })
            && graph.node(id).outputs[0].ty.dtype != DType::F32
        {
            continue;
        }
        matches.push((id, consumer, act));
    }
    for &(producer, consumer, act) in &matches {
        match &mut graph.node_mut(producer).op {
            Op::Conv(c) => c.act = act,
            Op::Gemm(g) => g.act = act,
            Op::MatMul(m) => m.act = act,
            Op::Binary(b) => b.act = act,
            _ => unreachable!("matched above"),
        }
        graph.replace_all_uses(
            ValueId {
                node: consumer,
                slot: 0,
            },
            ValueId {
                node: producer,
                slot: 0,
            },
        );
        graph.remove_node(consumer);
    }
    !matches.is_empty()
}
