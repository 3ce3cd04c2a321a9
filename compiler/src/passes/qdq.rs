//! QDQ to integer ops: the `DequantizeLinear → op → QuantizeLinear` groups that quantizers
//! write around an op become the QOperator op that computes the same thing on 8-bit data.
//!
//! - `DQ(x), DQ(w) [, DQ(bias)] → Conv → Q` becomes QLinearConv;
//! - `DQ(a), DQ(b) → MatMul → Q` becomes QLinearMatMul (`b` a constant or another 8-bit
//!   activation), and with a `+ DQ(bias)` Add after a 2-D MatMul, com.microsoft QGemm;
//! - `DQ(a), DQ(b) → Add → Q` becomes com.microsoft QLinearAdd, and `→ Mul → Q`
//!   QLinearMul (both with broadcasting: a squeeze-and-excitation scale);
//! - `DQ(a), DQ(b) [, DQ(c)] → Gemm → Q` with a constant 8-bit B (per tensor, or per
//!   output channel: B's rows under `transB`) and an `i32` bias becomes com.microsoft
//!   QGemm;
//! - `DQ(x) → GlobalAveragePool → Q`, or an AveragePool whose one window is the whole
//!   input, becomes com.microsoft QLinearGlobalAveragePool;
//! - a Relu or Clip between the op and its Q is dropped when the Q saturates at its bounds
//!   anyway (a Relu before a Q whose zero point is the type's minimum, a Clip(0, 6) whose 6
//!   quantizes to the maximum), which is how quantizers choose the output range of a
//!   fused activation; any other Relu or Clip keeps the group in float;
//! - `DQ(x) → Reshape | Flatten | Transpose | Slice → Q` with the same scale and zero
//!   point on both sides moves the data unchanged, so the view, transpose or slice runs on
//!   the 8-bit `x`;
//! - `DQ(x) → MaxPool → Q` with the same scale and zero point on both sides becomes a
//!   MaxPool of the 8-bit `x`, since quantization is monotone and the maximum commutes
//!   with it;
//! - what is left of `DQ(x) [→ Relu | Clip] → Q` with the same scale and zero point on
//!   both sides, and an activation the Q's saturation implies, is `x` itself (QOperator
//!   models write ReLU6 between two QLinearConvs this way);
//! - any other chain of element-wise float ops (Relu, Clip, Sigmoid, Tanh, …, up to four)
//!   from a `DQ(x)` to a `Q`, both per tensor, becomes ai.zant.QLookup: `x` through a
//!   table of the chain's result for each of the 256 values of `x`, computed by folding
//!   the same nodes (the DQ may have other readers: SiLU's Mul reads `x` too);
//! - last, a QLinearMul of `x` by a QLookup of the same `x` (SiLU, `x · σ(x)`, and
//!   HardSwish, `x · hardsigmoid(x)`, as quantizers write them) is a function of `x` alone:
//!   one QLookup whose table is the pair's result for each of the 256 values, computed
//!   with the same integer kernels, so it is exact.
//!
//! Weights and biases are the integer constants the quantizer wrote (import leaves their
//! DequantizeLinear unfolded for this pass), so they stay 8-bit and `i32` in the weight
//! blob. A group that does not match (Softmax, a windowed AveragePool, a per-axis activation scale,
//! a bias whose scale is not `x_scale · w_scale`) keeps its DQ and Q and runs in float:
//! those are the float islands. The new node is built through the op table's parser, so
//! it is checked exactly as an imported QOperator node would be; a group the parser
//! refuses stays in float too.

use std::collections::BTreeMap;

use zant_runtime::elementwise::{BinaryOp, UnaryOp};
use zant_runtime::quant::QuantLayout;
use zant_runtime::Activation;

use super::{Changed, PassError};
use crate::ir::{DType, Graph, NodeId, Tensor, TensorType, Value, ValueId};
use crate::ops::pool::{Pool, PoolKind};
use crate::ops::{self, Attribute, Attrs, OnnxOp, Op, OpError, ParseCtx};

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    let matches: Vec<Group> = graph
        .node_ids()
        .into_iter()
        .filter_map(|q| match_group(graph, q))
        .collect();
    let mut changed = false;
    for group in &matches {
        changed |= apply(graph, group)?;
    }
    // Splits and Concats of 8-bit tensors.
    let splits: Vec<(NodeId, NodeId, Vec<NodeId>)> = graph
        .node_ids()
        .into_iter()
        .filter_map(|n| match_split(graph, n))
        .collect();
    for (split, dq, qs) in splits {
        changed |= apply_split(graph, split, dq, &qs);
    }
    let concats: Vec<(NodeId, Vec<NodeId>, NodeId)> = graph
        .node_ids()
        .into_iter()
        .filter_map(|q| match_concat(graph, q))
        .collect();
    for (concat, dqs, q) in concats {
        changed |= apply_concat(graph, concat, &dqs, q);
    }
    // After the groups: a DQ whose only path is an implied activation into a Q of the
    // same quantization (beer's `QLinearConv → DQ → Clip(0, 6) → Q → QLinearConv`).
    let identities: Vec<(NodeId, Option<NodeId>, NodeId)> = graph
        .node_ids()
        .into_iter()
        .filter_map(|q| match_identity(graph, q))
        .collect();
    for (q, act, dq) in identities {
        let (Some(x), q_out) = (graph.node(dq).inputs[0], ValueId { node: q, slot: 0 }) else {
            continue;
        };
        graph.replace_all_uses(q_out, x);
        graph.remove_node(q);
        if let Some(act) = act {
            graph.remove_node(act);
        }
        drop_unused(graph, &[dq]);
        changed = true;
    }
    // Last, any other chain of element-wise float ops between a DQ and a Q becomes a
    // lookup table of the 256 8-bit inputs.
    let lookups: Vec<(Vec<NodeId>, Tensor)> = graph
        .node_ids()
        .into_iter()
        .filter_map(|q| match_lookup(graph, q))
        .collect();
    for (chain, table) in lookups {
        let (dq, q) = (chain[0], chain[chain.len() - 1]);
        let Some(x) = graph.node(dq).inputs[0] else {
            continue;
        };
        if to_lookup(graph, q, x, table) {
            let rest: Vec<NodeId> = chain[..chain.len() - 1].iter().rev().copied().collect();
            drop_unused(graph, &rest);
            changed = true;
        }
    }
    // And what is then a function of one 8-bit tensor is one table: a QLinearAdd or
    // QLinearMul by a one-element constant, a lookup of a lookup, and a QLinearMul of `x`
    // by a lookup of the same `x` (SiLU, HardSwish, GELU as quantizers write them).
    changed |= merge_lookups(graph);
    Ok(changed)
}

/// Rewrites every node that computes a function of one 8-bit tensor `x` through tables
/// and integer ops into one QLookup of `x`, until none is left: [`match_scalar_binary`],
/// [`match_lookup_of_lookup`], [`match_gated_lookup`]. Each table is computed with the
/// runtime's own kernels, so the result is the nodes' to the bit.
fn merge_lookups(graph: &mut Graph) -> bool {
    let mut changed = false;
    loop {
        let mut round = false;
        for id in graph.node_ids() {
            if !graph.contains(id) {
                continue;
            }
            let found = match_scalar_binary(graph, id)
                .or_else(|| match_lookup_of_lookup(graph, id))
                .or_else(|| match_gated_lookup(graph, id));
            if let Some((x, table)) = found {
                round |= to_lookup(graph, id, x, table);
            }
        }
        changed |= round;
        if !round {
            return changed;
        }
    }
}

/// Replaces `node` (one 8-bit output) by `QLookup(x, table)` and drops the producers of
/// its other inputs that nothing reads any more (the lookup a product or a lookup read).
fn to_lookup(graph: &mut Graph, node: NodeId, x: ValueId, table: Tensor) -> bool {
    let name = graph.node(node).name.clone();
    let table = graph.add_const(format!("{name}.table"), table);
    let inputs = vec![Some(x), Some(table)];
    let out = ValueId { node, slot: 0 };
    let built = match build(graph, "QLookup", "ai.zant", 1, &Attrs::default(), inputs) {
        Ok(built) if built.3.len() == 1 && built.3[0] == *graph.ty(out) => built,
        _ => {
            graph.remove_node(table.node);
            return false;
        }
    };
    let others: Vec<ValueId> = graph
        .node(node)
        .inputs
        .iter()
        .flatten()
        .copied()
        .filter(|v| *v != x)
        .collect();
    let place = graph.node(node).clone();
    replace_output(graph, out, &place, built);
    graph.remove_node(node);
    for v in others {
        if graph.contains(v.node) && !graph.is_used(v) && graph.const_value(v).is_none() {
            graph.remove_node(v.node);
        }
    }
    true
}

/// A QLinearAdd or QLinearMul of an 8-bit tensor `x` and a one-element constant (the
/// `+ 1` and `· 0.5` of GELU, attention's scale), with the output of `x`'s shape: `x`
/// and the table of the op for each of its 256 values.
fn match_scalar_binary(graph: &Graph, node: NodeId) -> Option<(ValueId, Tensor)> {
    let Op::QLinearBinary(q) = &graph.node(node).op else {
        return None;
    };
    let inputs = &graph.node(node).inputs;
    let (a, b) = (
        inputs.first().copied().flatten()?,
        inputs.get(3).copied().flatten()?,
    );
    let scalar = |v: ValueId| graph.const_value(v).filter(|c| c.n_elems() == 1);
    let (x, c, x_first) = match (scalar(a), scalar(b)) {
        (None, Some(c)) => (a, c, true),
        (Some(c), None) => (b, c, false),
        _ => return None,
    };
    let out = graph.ty(ValueId { node, slot: 0 });
    if graph.ty(x).shape != out.shape || graph.ty(x).dtype != out.dtype {
        return None;
    }
    Some((
        x,
        binary_table(&q.params, graph.ty(x).dtype, &c.data, x_first)?,
    ))
}

/// The table of `qbinary` over the 256 values of the 8-bit `dtype` and `other` (one
/// value, or one for each of them, of the same type), the 256 values the first operand
/// or the second; `None` for any other type.
fn binary_table(
    p: &zant_runtime::qlinear::QBinary,
    dtype: DType,
    other: &crate::tensor::Data,
    x_first: bool,
) -> Option<Tensor> {
    use crate::tensor::Data;
    let data = match (dtype, other) {
        (DType::U8, Data::U8(o)) => Data::U8(binary_values(p, (0..=255).collect(), o, x_first)),
        (DType::I8, Data::I8(o)) => Data::I8(binary_values(p, (-128..=127).collect(), o, x_first)),
        _ => return None,
    };
    Some(Tensor::new(vec![256], data))
}

/// `qbinary` of the values `xs` and `other` (one value, or one for each of `xs`), `xs`
/// the first operand or the second.
fn binary_values<T: zant_runtime::qlinear::QInt + Default>(
    p: &zant_runtime::qlinear::QBinary,
    xs: Vec<T>,
    other: &[T],
    x_first: bool,
) -> Vec<T> {
    let mut y = vec![T::default(); xs.len()];
    let (xs_shape, other_shape) = ([xs.len()], [other.len()]);
    if x_first {
        zant_runtime::qlinear::qbinary(p, &xs, &xs_shape, other, &other_shape, &mut y, &xs_shape);
    } else {
        zant_runtime::qlinear::qbinary(p, other, &other_shape, &xs, &xs_shape, &mut y, &xs_shape);
    }
    y
}

/// A QLookup of a QLookup that nothing else reads: the inner lookup's input and the
/// composed table.
fn match_lookup_of_lookup(graph: &Graph, node: NodeId) -> Option<(ValueId, Tensor)> {
    let outer = graph.node(node);
    let (Op::QLookup(_), Some(inner_out), Some(t2)) = (
        &outer.op,
        outer.inputs.first().copied().flatten(),
        outer.inputs.get(1).copied().flatten(),
    ) else {
        return None;
    };
    let inner = graph.node(inner_out.node);
    if !matches!(inner.op, Op::QLookup(_)) || sole_consumer(graph, inner_out.node) != Some(node) {
        return None;
    }
    let x = inner.inputs.first().copied().flatten()?;
    let t1 = graph.const_value(inner.inputs.get(1).copied().flatten()?)?;
    let t2 = graph.const_value(t2)?;
    // The inner table's entries index the outer one from its type's minimum.
    let offset = if t1.dtype() == DType::I8 { 128 } else { 0 };
    let (inner_values, outer_values) = (t1.data.to_i64_vec(), t2.data.to_i64_vec());
    let composed = inner_values
        .iter()
        .map(|&v| outer_values.get((v + offset) as usize).copied())
        .collect::<Option<Vec<i64>>>()?;
    let data = match t2.dtype() {
        DType::I8 => crate::tensor::Data::I8(composed.iter().map(|&v| v as i8).collect()),
        DType::U8 => crate::tensor::Data::U8(composed.iter().map(|&v| v as u8).collect()),
        _ => return None,
    };
    Some((x, Tensor::new(vec![256], data)))
}

/// `QLinearMul(x, QLookup(x))` or `QLinearMul(QLookup(x), x)`, the lookup read only by
/// the product, both 8-bit per tensor: `x` and the table of the product for each of the
/// 256 values of `x`, computed by the runtime's own `qbinary`, so that it is the pair's
/// result to the bit.
fn match_gated_lookup(graph: &Graph, mul: NodeId) -> Option<(ValueId, Tensor)> {
    let Op::QLinearBinary(q) = &graph.node(mul).op else {
        return None;
    };
    let p = q.params;
    if p.op != zant_runtime::qlinear::QBinaryOp::Mul {
        return None;
    }
    let inputs = &graph.node(mul).inputs;
    let (a, b) = (
        inputs.first().copied().flatten()?,
        inputs.get(3).copied().flatten()?,
    );
    let lookup_of = |gate: ValueId, x: ValueId| -> Option<Tensor> {
        let node = graph.node(gate.node);
        if !matches!(node.op, Op::QLookup(_))
            || node.inputs.first().copied().flatten() != Some(x)
            || sole_consumer(graph, gate.node) != Some(mul)
        {
            return None;
        }
        graph
            .const_value(node.inputs.get(1).copied().flatten()?)
            .cloned()
    };
    let (x, gate, gate_is_b) = match (lookup_of(b, a), lookup_of(a, b)) {
        (Some(t), _) => (a, t, true),
        (None, Some(t)) => (b, t, false),
        (None, None) => return None,
    };
    let dtype = graph.ty(x).dtype;
    if gate.shape != [256]
        || gate.dtype() != dtype
        || graph.ty(ValueId { node: mul, slot: 0 }).dtype != dtype
    {
        return None;
    }
    Some((x, binary_table(&p, dtype, &gate.data, gate_is_b)?))
}

/// The longest chain of element-wise float ops [`match_lookup`] turns into a table.
const LOOKUP_CHAIN: usize = 4;

/// `DQ(x) → op… → Q` where every op is an element-wise unary float op (Relu, Sigmoid,
/// Tanh, Clip, …) read only by the next, with per-tensor 8-bit quantization on both
/// sides: the chain (DQ first, Q last) and the table of what it gives for each of the
/// 256 values of `x`, computed by constant folding the same nodes, so the table is
/// exactly what the float island would compute.
fn match_lookup(graph: &Graph, q: NodeId) -> Option<(Vec<NodeId>, Tensor)> {
    let out = qparams(graph, q, false)?;
    if !is_activation(&out) {
        return None;
    }
    let mut chain = vec![q];
    let mut at = graph.node(q).inputs[0]?;
    loop {
        if at.slot != 0 {
            return None;
        }
        let node = graph.node(at.node);
        let data = match &node.op {
            Op::Unary(_) | Op::Clip(_) => node.inputs[0]?,
            // An element-wise op whose other operands are one-element constants (GELU's
            // `x / √2`) is a function of its one tensor input.
            Op::Binary(_) => {
                let mut data = node.inputs.iter().flatten().filter(|v| {
                    graph
                        .const_value(**v)
                        .is_none_or(|c| c.n_elems() != 1 || c.as_f32().is_none())
                });
                let x = *data.next()?;
                if data.next().is_some() || graph.ty(x).shape != graph.ty(at).shape {
                    return None;
                }
                x
            }
            _ => break,
        };
        if chain.len() > LOOKUP_CHAIN {
            break;
        }
        // The chain's ops feed only the next; the DQ may have other readers (SiLU's Mul
        // reads `x` beside its Sigmoid), which keep it.
        if sole_consumer(graph, at.node) != chain.last().copied() {
            return None;
        }
        chain.push(at.node);
        at = data;
    }
    if chain.len() < 2 {
        return None;
    }
    let input = qparams(graph, at.node, true)?;
    if !is_activation(&input) || input.is_const() || input.layout != QuantLayout::PerTensor {
        return None;
    }
    chain.push(at.node);
    chain.reverse();
    let table = lookup_table(graph, &chain, input.dtype())?;
    Some((chain, table))
}

/// The outputs of `chain` (a DQ, element-wise ops, a Q) for every value of the DQ's
/// 8-bit input type, in order from the type's minimum: the chain and its constant
/// operands are copied into a graph of their own on a 256-element input, and folded.
fn lookup_table(graph: &Graph, chain: &[NodeId], dtype: DType) -> Option<Tensor> {
    let mut scratch = Graph::new();
    let data = match dtype {
        DType::U8 => crate::tensor::Data::U8((0..=255).collect()),
        DType::I8 => crate::tensor::Data::I8((-128..=127).collect()),
        _ => return None,
    };
    let mut prev = scratch.add_const("lookup.x".into(), Tensor::new(vec![256], data));
    for (k, &id) in chain.iter().enumerate() {
        let node = graph.node(id).clone();
        // The previous link's output runs on the 256 values (input 0 where the link does
        // not read it: the DQ, and a Q that [`apply_concat`] puts after a DQ); every other
        // operand is a constant, copied.
        let prev_out = k.checked_sub(1).map(|p| ValueId {
            node: chain[p],
            slot: 0,
        });
        let data = match prev_out {
            Some(v) if node.inputs.contains(&Some(v)) => Some(v),
            _ => node.inputs[0],
        };
        let mut inputs = Vec::new();
        for (i, input) in node.inputs.iter().enumerate() {
            inputs.push(match input {
                Some(v) if Some(*v) == data => Some(prev),
                Some(v) => {
                    let value = graph.const_value(*v)?.clone();
                    Some(scratch.add_const(format!("lookup.{i}.{}", node.name), value))
                }
                None => None,
            });
        }
        let value = Value {
            name: format!("{}.lookup", node.outputs[0].name),
            ty: TensorType::new(node.outputs[0].ty.dtype, vec![256]),
        };
        let copy = scratch.add_node(node.name, node.op, node.onnx, inputs, vec![value]);
        prev = ValueId {
            node: copy,
            slot: 0,
        };
    }
    scratch.outputs.push(crate::ir::GraphOutput {
        name: "lookup.y".into(),
        value: prev,
    });
    super::fold::run(&mut scratch).ok()?;
    let table = scratch.const_value(scratch.outputs[0].value)?;
    (table.shape == [256]).then(|| table.clone())
}

/// A QuantizeLinear `q` that only undoes a DequantizeLinear: `DQ(x) [→ Relu | Clip] → Q`
/// with the same per-tensor scale, zero point and 8-bit type on both sides, and any
/// Relu or Clip one that the Q's saturation implies. `Q(DQ(x)) = x` for every 8-bit `x`
/// (`(x - z) · s / s` rounds back to `x - z`), so the chain is `x` itself. Returns the
/// Q, the activation and the DQ.
fn match_identity(graph: &Graph, q: NodeId) -> Option<(NodeId, Option<NodeId>, NodeId)> {
    let out = qparams(graph, q, false)?;
    let q_out = ValueId { node: q, slot: 0 };
    if !is_activation(&out) || out.zero.is_none() || graph.is_graph_output(q_out) {
        return None;
    }
    let x = graph.node(q).inputs[0]?;
    if x.slot != 0 || sole_consumer(graph, x.node) != Some(q) {
        return None;
    }
    let (act, dq_out) = match &graph.node(x.node).op {
        Op::Unary(u) if u.op == UnaryOp::Relu => {
            saturation_implies(&out, 0.0, f32::INFINITY).then_some(())?;
            (Some(x.node), graph.node(x.node).inputs[0]?)
        }
        Op::Clip(c) => {
            saturation_implies(&out, c.min, c.max).then_some(())?;
            (Some(x.node), graph.node(x.node).inputs[0]?)
        }
        _ => (None, x),
    };
    if act.is_some() && (dq_out.slot != 0 || sole_consumer(graph, dq_out.node) != act) {
        return None;
    }
    let input = qparams(graph, dq_out.node, true)?;
    (dq_out.slot == 0 && input.same_as(&out) && !input.is_const()).then_some((q, act, dq_out.node))
}

/// What a matched group becomes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Conv,
    MatMul,
    /// A 2-D MatMul and the Add of its bias.
    Gemm,
    Add,
    /// A Mul of two 8-bit tensors (with broadcasting).
    Mul,
    /// A Gemm of an 8-bit activation by a constant 8-bit matrix, with an `i32` bias.
    QGemm,
    /// An AveragePool whose one window covers the whole input.
    GlobalPool,
    /// A Reshape-family view or a Transpose, run on the 8-bit data.
    Move,
    /// A MaxPool, run on the 8-bit data.
    MaxPool,
    /// A Softmax, as ONNX Runtime's com.microsoft QLinearSoftmax.
    Softmax,
    /// A LayerNormalization, computed in float from the 8-bit data to the 8-bit data.
    LayerNorm,
}

/// A matched `DQ… → op [→ Add(bias)] [→ Relu | Clip] → Q` group. Node ids only: an earlier
/// rewrite may have rewired the DQ inputs, so values are read again when applying.
#[derive(Clone, Debug)]
struct Group {
    kind: Kind,
    /// The float op (the MatMul of a Gemm group).
    op: NodeId,
    /// The Add of a Gemm group's bias.
    bias_add: Option<NodeId>,
    /// The Relu or Clip the Q's saturation makes redundant.
    act: Option<NodeId>,
    /// The DequantizeLinear nodes of the op's inputs, in the op's input order, then the
    /// bias's.
    dqs: Vec<NodeId>,
    q: NodeId,
}

/// A DequantizeLinear or QuantizeLinear with constant scale (and zero point).
struct QParams<'g> {
    /// The quantized side: DQ's input or Q's output type.
    x: ValueId,
    scale: ValueId,
    zero: Option<ValueId>,
    layout: QuantLayout,
    axis: usize,
    graph: &'g Graph,
}

impl QParams<'_> {
    fn scales(&self) -> &[f32] {
        self.graph
            .const_value(self.scale)
            .and_then(Tensor::as_f32)
            .unwrap_or(&[])
    }

    fn zeros(&self) -> Vec<i64> {
        self.zero
            .and_then(|z| self.graph.const_value(z))
            .map_or_else(|| vec![0], |t| t.data.to_i64_vec())
    }

    fn dtype(&self) -> DType {
        self.graph.ty(self.x).dtype
    }

    fn is_const(&self) -> bool {
        self.graph.const_value(self.x).is_some()
    }

    /// Same scale, zero point and type as `other`, so dequantizing with one and
    /// quantizing with the other is the identity.
    fn same_as(&self, other: &QParams<'_>) -> bool {
        self.layout == QuantLayout::PerTensor
            && other.layout == QuantLayout::PerTensor
            && self.dtype() == other.dtype()
            && self.scales() == other.scales()
            && self.zeros() == other.zeros()
    }
}

/// The quantization of `node` when it is a DequantizeLinear (`dequantize`) or a
/// QuantizeLinear with a constant f32 scale and zero point.
fn qparams(graph: &Graph, node: NodeId, dequantize: bool) -> Option<QParams<'_>> {
    let n = graph.node(node);
    let Op::Quant(q) = &n.op else {
        return None;
    };
    if q.quantize == dequantize {
        return None;
    }
    let scale = n.inputs.get(1).copied().flatten()?;
    graph.const_value(scale)?.as_f32()?;
    let zero = n.inputs.get(2).copied().flatten();
    if zero.is_some_and(|z| graph.const_value(z).is_none()) {
        return None;
    }
    let x = if dequantize {
        n.inputs[0]?
    } else {
        ValueId { node, slot: 0 }
    };
    Some(QParams {
        x,
        scale,
        zero,
        layout: q.layout,
        axis: q.axis,
        graph,
    })
}

/// The DequantizeLinear producing input `i` of `node`.
fn dq_input(graph: &Graph, node: NodeId, i: usize) -> Option<(NodeId, QParams<'_>)> {
    let v = graph.node(node).inputs.get(i).copied().flatten()?;
    if v.slot != 0 {
        return None;
    }
    qparams(graph, v.node, true).map(|p| (v.node, p))
}

/// An 8-bit activation: per-tensor, int8 or uint8.
fn is_activation(p: &QParams<'_>) -> bool {
    p.layout == QuantLayout::PerTensor && matches!(p.dtype(), DType::I8 | DType::U8)
}

/// A constant 8-bit weight, per-tensor or per-axis on `axis`.
fn is_weight(p: &QParams<'_>, axis: usize) -> bool {
    p.is_const()
        && matches!(p.dtype(), DType::I8 | DType::U8)
        && match p.layout {
            QuantLayout::PerTensor => true,
            QuantLayout::PerAxis { .. } => p.axis == axis,
            QuantLayout::Blocked { .. } => false,
        }
}

/// A constant `i32` bias with zero point 0 whose scale is `x_scale · w_scale` (within
/// float rounding), the scale the integer op gives its accumulator.
fn is_bias(b: &QParams<'_>, x: &QParams<'_>, w: &QParams<'_>) -> bool {
    if !(b.is_const() && b.dtype() == DType::I32 && b.zeros().iter().all(|&z| z == 0)) {
        return false;
    }
    let (x_scale, w_scales, b_scales) = (x.scales()[0], w.scales(), b.scales());
    let n = w_scales.len().max(b_scales.len());
    (w_scales.len() == 1 || w_scales.len() == n)
        && (b_scales.len() == 1 || b_scales.len() == n)
        && (0..n).all(|c| {
            let want = x_scale * w_scales[c.min(w_scales.len() - 1)];
            let got = b_scales[c.min(b_scales.len() - 1)];
            (got - want).abs() <= 1e-5 * want.abs()
        })
}

/// The single reader of `node`'s first output, when it has one and is not a graph output.
fn sole_consumer(graph: &Graph, node: NodeId) -> Option<NodeId> {
    let v = ValueId { node, slot: 0 };
    let uses = graph.consumers(v);
    (uses.len() == 1 && !graph.is_graph_output(v)).then(|| uses[0].0)
}

/// Whether quantizing with `q` already clamps to `[lo, hi]`: quantization is monotone, so
/// `Q(clip(x, lo, hi)) = clamp(Q(x), Q(lo), Q(hi))`, which is `Q(x)` exactly when `lo`
/// quantizes to the type's minimum and `hi` to its maximum.
fn saturation_implies(q: &QParams<'_>, lo: f32, hi: f32) -> bool {
    let (qmin, qmax) = match q.dtype() {
        DType::I8 => (-128.0, 127.0),
        DType::U8 => (0.0, 255.0),
        _ => return false,
    };
    let (scale, zero) = (q.scales()[0], q.zeros()[0] as f32);
    // ONNX Runtime's rounding: the quotient in f32, half to even, then the zero point.
    let quantize = |v: f32| (v / scale).round_ties_even() + zero;
    (lo == f32::NEG_INFINITY || quantize(lo) <= qmin)
        && (hi == f32::INFINITY || quantize(hi) >= qmax)
}

/// The group that ends in QuantizeLinear `q`, if any.
fn match_group(graph: &Graph, q: NodeId) -> Option<Group> {
    let out = qparams(graph, q, false)?;
    if !is_activation(&out) || out.zero.is_none() {
        return None;
    }
    let x = graph.node(q).inputs[0]?;
    if x.slot != 0 || sole_consumer(graph, x.node) != Some(q) {
        return None;
    }
    let mut producer = x.node;
    let mut act = None;
    let bounds = match &graph.node(producer).op {
        Op::Unary(u) if u.op == UnaryOp::Relu => Some((0.0, f32::INFINITY)),
        Op::Clip(c) => Some((c.min, c.max)),
        _ => None,
    };
    if let Some((lo, hi)) = bounds {
        if !saturation_implies(&out, lo, hi) {
            return None;
        }
        act = Some(producer);
        let input = graph.node(producer).inputs[0]?;
        if input.slot != 0 || sole_consumer(graph, input.node) != Some(producer) {
            return None;
        }
        producer = input.node;
    }
    let group = |kind, op, bias_add, dqs| {
        Some(Group {
            kind,
            op,
            bias_add,
            act,
            dqs,
            q,
        })
    };
    match &graph.node(producer).op {
        Op::Conv(c) if c.act == Activation::None => group(
            Kind::Conv,
            producer,
            None,
            weighted_dqs(graph, producer, 0)?,
        ),
        Op::MatMul(m) if !m.bias && m.act == Activation::None => {
            matmul_dqs(graph, producer).and_then(|dqs| group(Kind::MatMul, producer, None, dqs))
        }
        Op::Binary(b) if b.op == BinaryOp::Add => {
            // Either the bias Add of a MatMul, or an Add of two 8-bit tensors.
            let add = producer;
            for (mm_idx, bias_idx) in [(0, 1), (1, 0)] {
                let Some(mm) = graph.node(add).inputs[mm_idx] else {
                    continue;
                };
                let is_matmul = matches!(&graph.node(mm.node).op,
                    Op::MatMul(m) if !m.bias && m.act == Activation::None);
                if !is_matmul || mm.slot != 0 || sole_consumer(graph, mm.node) != Some(add) {
                    continue;
                }
                let mut dqs = matmul_dqs(graph, mm.node)?;
                let (a, b) = (
                    graph.node(mm.node).inputs[0]?,
                    graph.node(mm.node).inputs[1]?,
                );
                let y = graph.ty(ValueId {
                    node: mm.node,
                    slot: 0,
                });
                let (bd, bp) = dq_input(graph, add, bias_idx)?;
                let n = y.shape.last().copied().unwrap_or(0);
                let (ap, wp) = (qparams(graph, a.node, true)?, qparams(graph, b.node, true)?);
                let bias_shape = &graph.ty(bp.x).shape;
                if graph.ty(a).rank() != 2
                    || !wp.is_const()
                    || graph.ty(wp.x).rank() != 2
                    || !(bias_shape == &[n] || bias_shape == &[1, n])
                    || !is_bias(&bp, &ap, &wp)
                    || graph.node(add).outputs[0].ty != *y
                {
                    return None;
                }
                dqs.push(bd);
                return group(Kind::Gemm, mm.node, Some(add), dqs);
            }
            let (ad, ap) = dq_input(graph, add, 0)?;
            let (bd, bp) = dq_input(graph, add, 1)?;
            if !is_activation(&ap) || !is_activation(&bp) || ap.dtype() != out.dtype() {
                return None;
            }
            group(Kind::Add, add, None, vec![ad, bd])
        }
        Op::Binary(b) if b.op == BinaryOp::Mul => {
            let (ad, ap) = dq_input(graph, producer, 0)?;
            let (bd, bp) = dq_input(graph, producer, 1)?;
            let same_type = ap.dtype() == out.dtype() && bp.dtype() == out.dtype();
            if !is_activation(&ap) || !is_activation(&bp) || !same_type {
                return None;
            }
            group(Kind::Mul, producer, None, vec![ad, bd])
        }
        Op::Gemm(g) if g.act == Activation::None && g.alpha == 1.0 && !g.trans_a => {
            // B's output channels are its rows under transB, else its columns.
            let dqs = weighted_dqs(graph, producer, usize::from(!g.trans_b))?;
            if let Some(&cd) = dqs.get(2) {
                let n = graph
                    .ty(ValueId {
                        node: producer,
                        slot: 0,
                    })
                    .shape[1];
                let c_shape = &graph.ty(graph.node(cd).inputs[0]?).shape;
                if g.beta != 1.0 || !(c_shape == &[n] || c_shape == &[1, n]) {
                    return None;
                }
            }
            group(Kind::QGemm, producer, None, dqs)
        }
        Op::Pool(p) if is_global_average(p) => {
            let (xd, xp) = dq_input(graph, producer, 0)?;
            if !is_activation(&xp) || xp.dtype() != out.dtype() {
                return None;
            }
            group(Kind::GlobalPool, producer, None, vec![xd])
        }
        Op::Pool(p) if p.kind == PoolKind::Max && act.is_none() => {
            let (xd, xp) = dq_input(graph, producer, 0)?;
            if !xp.same_as(&out) {
                return None;
            }
            group(Kind::MaxPool, producer, None, vec![xd])
        }
        Op::Reshape(_) | Op::Transpose(_) | Op::Slice(_) if act.is_none() => {
            let (xd, xp) = dq_input(graph, producer, 0)?;
            if !xp.same_as(&out) {
                return None;
            }
            group(Kind::Move, producer, None, vec![xd])
        }
        Op::Softmax(sm) if act.is_none() && !sm.log && sm.scale == 1.0 => {
            // uint8 only: ONNX Runtime's optimized session, whose results zant follows,
            // fuses a uint8 group into QLinearSoftmax and runs an int8 one in float.
            let (xd, xp) = dq_input(graph, producer, 0)?;
            if !is_activation(&xp) || xp.dtype() != DType::U8 || out.dtype() != DType::U8 {
                return None;
            }
            group(Kind::Softmax, producer, None, vec![xd])
        }
        Op::LayerNorm(ln) if act.is_none() && !ln.rms && ln.scale.is_some() => {
            let (xd, xp) = dq_input(graph, producer, 0)?;
            if !is_activation(&xp) || graph.node(producer).outputs.len() != 1 {
                return None;
            }
            group(Kind::LayerNorm, producer, None, vec![xd])
        }
        Op::Resize(r) if act.is_none() && is_nearest(r) => {
            let (xd, xp) = dq_input(graph, producer, 0)?;
            if !xp.same_as(&out) {
                return None;
            }
            group(Kind::Move, producer, None, vec![xd])
        }
        _ => None,
    }
}

/// A Resize that copies input elements: one tap of weight 1 per output coordinate, none
/// outside the input (nearest neighbours), so it runs on 8-bit data unchanged.
fn is_nearest(r: &crate::ops::resize::Resize) -> bool {
    r.taps_per_out.iter().all(|&n| n == 1)
        && r.taps
            .iter()
            .flatten()
            .all(|&(i, w)| w == 1.0 && i != usize::MAX)
}

/// `DQ(x) → Split → Q, Q, …` with every output read by one Q only, all of them with the
/// DQ's per-tensor 8-bit quantization: the Split moves the data unchanged, so it runs on
/// `x`. Returns the Split, the DQ and the Qs in output order.
fn match_split(graph: &Graph, split: NodeId) -> Option<(NodeId, NodeId, Vec<NodeId>)> {
    let node = graph.node(split);
    if !matches!(node.op, Op::Split(_)) {
        return None;
    }
    let (dq, xp) = dq_input(graph, split, 0)?;
    if !is_activation(&xp) || xp.is_const() {
        return None;
    }
    let mut qs = Vec::new();
    for slot in 0..u32::try_from(node.outputs.len()).ok()? {
        let v = ValueId { node: split, slot };
        let uses = graph.consumers(v);
        if uses.len() != 1 || graph.is_graph_output(v) {
            return None;
        }
        let q = uses[0].0;
        if !qparams(graph, q, false).is_some_and(|out| xp.same_as(&out)) {
            return None;
        }
        qs.push(q);
    }
    Some((split, dq, qs))
}

/// `DQ(a), DQ(b), … → Concat → Q`, every input and the Q 8-bit per tensor of one type:
/// the Concat, the DQs in input order, and the Q. Inputs quantized like the Q are copied;
/// the others go through a table of `Q(DQ(v))` for each of their 256 values (how ONNX
/// Runtime's QLinearConcat requantizes them).
fn match_concat(graph: &Graph, q: NodeId) -> Option<(NodeId, Vec<NodeId>, NodeId)> {
    let out = qparams(graph, q, false)?;
    if !is_activation(&out) {
        return None;
    }
    let x = graph.node(q).inputs[0]?;
    if x.slot != 0
        || sole_consumer(graph, x.node) != Some(q)
        || !matches!(graph.node(x.node).op, Op::Concat(_))
    {
        return None;
    }
    let concat = x.node;
    let mut dqs = Vec::new();
    for i in 0..graph.node(concat).inputs.len() {
        let (dq, p) = dq_input(graph, concat, i)?;
        if !is_activation(&p) || p.is_const() || p.dtype() != out.dtype() {
            return None;
        }
        dqs.push(dq);
    }
    Some((concat, dqs, q))
}

/// Adds `built` as a node `name` of its own beside `place` (its file order and `If`
/// branch), its one output named `value_name`, and returns that output.
fn add_beside(
    graph: &mut Graph,
    place: &crate::ir::Node,
    name: String,
    value_name: String,
    built: Built,
) -> ValueId {
    let (op, onnx, inputs, types) = built;
    let value = Value {
        name: value_name,
        ty: types[0].clone(),
    };
    let node = graph.add_node(name, op, onnx, inputs, vec![value]);
    graph.node_mut(node).order = place.order;
    graph.node_mut(node).guard = place.guard;
    ValueId { node, slot: 0 }
}

/// A GlobalAveragePool, or an AveragePool whose single window is the whole unpadded
/// input (how TensorFlow exports a global average).
fn is_global_average(p: &Pool) -> bool {
    let w = &p.window;
    match p.kind {
        PoolKind::GlobalAverage => true,
        PoolKind::Average { .. } => {
            w.output == [1; 3]
                && w.kernel == w.input
                && w.dilations == [1; 3]
                && w.pads_begin == [0; 3]
                && w.pads_end == [0; 3]
        }
        PoolKind::Max
        | PoolKind::MaxWithIndices { .. }
        | PoolKind::GlobalMax
        | PoolKind::Lp { .. } => false,
    }
}

/// The DQ inputs of a product of an 8-bit activation (input 0) by a constant 8-bit
/// weight (input 1, per tensor or per `channel_axis`) and, where input 2 is given, an
/// `i32` bias whose scale is `x_scale · w_scale`: `[x, w]` or `[x, w, bias]`.
fn weighted_dqs(graph: &Graph, op: NodeId, channel_axis: usize) -> Option<Vec<NodeId>> {
    let (xd, xp) = dq_input(graph, op, 0)?;
    let (wd, wp) = dq_input(graph, op, 1)?;
    if !is_activation(&xp) || xp.is_const() || !is_weight(&wp, channel_axis) {
        return None;
    }
    let mut dqs = vec![xd, wd];
    if graph.node(op).inputs.get(2).copied().flatten().is_some() {
        let (bd, bp) = dq_input(graph, op, 2)?;
        if !is_bias(&bp, &xp, &wp) {
            return None;
        }
        dqs.push(bd);
    }
    Some(dqs)
}

/// The DQ inputs of a MatMul of an 8-bit activation by an 8-bit constant matrix, or by
/// another 8-bit activation (attention's `Q · Kᵀ` and `P · V`).
fn matmul_dqs(graph: &Graph, mm: NodeId) -> Option<Vec<NodeId>> {
    let (ad, ap) = dq_input(graph, mm, 0)?;
    let (bd, bp) = dq_input(graph, mm, 1)?;
    let b_rank = graph.ty(bp.x).rank();
    let ok = is_activation(&ap)
        && !ap.is_const()
        && b_rank >= 2
        && graph.ty(ap.x).rank() >= 2
        && (is_weight(&bp, b_rank - 1) || (is_activation(&bp) && !bp.is_const()));
    ok.then(|| vec![ad, bd])
}

/// The inputs of a DequantizeLinear: data, scale and zero point.
fn dq_inputs(graph: &Graph, dq: NodeId) -> [Option<ValueId>; 3] {
    let inputs = &graph.node(dq).inputs;
    [0, 1, 2].map(|i| inputs.get(i).copied().flatten())
}

/// Rewrites one group; `false` when the op table's parser refuses the integer node, which
/// leaves the group in float.
fn apply(graph: &mut Graph, group: &Group) -> Result<bool, PassError> {
    let q_inputs = &graph.node(group.q).inputs;
    let (y_scale, y_zero) = (q_inputs[1], q_inputs.get(2).copied().flatten());
    let dq: Vec<[Option<ValueId>; 3]> = group.dqs.iter().map(|&d| dq_inputs(graph, d)).collect();
    let float_op = graph.node(group.op).clone();
    let (op_type, domain, inputs, attrs): (&str, &str, Vec<Option<ValueId>>, Attrs) =
        match group.kind {
            Kind::Conv => {
                let attrs = float_op.op.attrs();
                let bias = dq.get(2).and_then(|b| b[0]);
                let [x, w] = [dq[0], dq[1]];
                let inputs = vec![x[0], x[1], x[2], w[0], w[1], w[2], y_scale, y_zero, bias];
                ("QLinearConv", "", inputs, attrs)
            }
            Kind::MatMul => {
                let [a, b] = [dq[0], dq[1]];
                let inputs = vec![a[0], a[1], a[2], b[0], b[1], b[2], y_scale, y_zero];
                ("QLinearMatMul", "", inputs, Attrs::default())
            }
            Kind::Gemm => {
                let [a, b, c] = [dq[0], dq[1], dq[2]];
                let inputs = vec![a[0], a[1], a[2], b[0], b[1], b[2], c[0], y_scale, y_zero];
                ("QGemm", "com.microsoft", inputs, Attrs::default())
            }
            Kind::Add => {
                let [a, b] = [dq[0], dq[1]];
                let inputs = vec![a[0], a[1], a[2], b[0], b[1], b[2], y_scale, y_zero];
                ("QLinearAdd", "com.microsoft", inputs, Attrs::default())
            }
            Kind::Mul => {
                let [a, b] = [dq[0], dq[1]];
                let inputs = vec![a[0], a[1], a[2], b[0], b[1], b[2], y_scale, y_zero];
                ("QLinearMul", "com.microsoft", inputs, Attrs::default())
            }
            Kind::QGemm => {
                let [a, b] = [dq[0], dq[1]];
                let c = dq.get(2).and_then(|c| c[0]);
                let inputs = vec![a[0], a[1], a[2], b[0], b[1], b[2], c, y_scale, y_zero];
                let mut attrs = Attrs::default();
                if let Op::Gemm(g) = &float_op.op {
                    attrs.int("transB", i64::from(g.trans_b));
                }
                ("QGemm", "com.microsoft", inputs, attrs)
            }
            Kind::GlobalPool => {
                let x = dq[0];
                let inputs = vec![x[0], x[1], x[2], y_scale, y_zero];
                let domain = "com.microsoft";
                ("QLinearGlobalAveragePool", domain, inputs, Attrs::default())
            }
            Kind::MaxPool => ("MaxPool", "", vec![dq[0][0]], float_op.op.attrs()),
            Kind::Softmax => {
                let x = dq[0];
                let inputs = vec![x[0], x[1], x[2], y_scale, y_zero];
                let mut attrs = Attrs::default();
                if let Op::Softmax(sm) = &float_op.op {
                    // The Softmax's layout in the `opset` semantics that give it: one axis
                    // (13 on), or everything from the axis on as one row (before 13).
                    attrs.int("axis", sm.layout.axis as i64);
                    attrs.int("opset", float_op.onnx.opset.min(13));
                }
                ("QLinearSoftmax", "com.microsoft", inputs, attrs)
            }
            Kind::LayerNorm => {
                let x = dq[0];
                let (scale, bias) = (
                    float_op.inputs.get(1).copied().flatten(),
                    float_op.inputs.get(2).copied().flatten(),
                );
                let inputs = vec![x[0], x[1], x[2], scale, bias, y_scale, y_zero];
                (
                    "QLayerNormalization",
                    "ai.zant",
                    inputs,
                    float_op.op.attrs(),
                )
            }
            Kind::Move => (
                float_op.onnx.op_type,
                float_op.onnx.domain,
                vec![dq[0][0]],
                Attrs::default(),
            ),
        };
    let built = match group.kind {
        Kind::Move => {
            let x = dq[0][0].map(|x| graph.ty(x).clone());
            float_op
                .op
                .infer(&[x.as_ref()])
                .map(|types| (float_op.op.clone(), float_op.onnx, inputs, types))
        }
        _ => {
            let opset = if domain.is_empty() {
                float_op.onnx.opset
            } else {
                1
            };
            build(graph, op_type, domain, opset, &attrs, inputs)
        }
    };
    // The parser's refusal is not an error of the model: the float group it would replace
    // is correct, so it stays.
    let Ok((op, onnx, inputs, types)) = built else {
        return Ok(false);
    };
    let q_out = ValueId {
        node: group.q,
        slot: 0,
    };
    if types.len() != 1 || types[0] != *graph.ty(q_out) {
        return Err(PassError {
            pass: "qdq",
            node: float_op.name.clone(),
            op: float_op.onnx,
            source: Box::new(OpError::shape(format!(
                "the integer {op_type} infers to [{}], not the QuantizeLinear's {}",
                types
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                graph.ty(q_out)
            ))),
        });
    }
    // The integer node takes the float op's place in the file order, so the schedule
    // (which keeps file order where it can) runs it where the float op ran, and in the
    // same `If` branch.
    replace_output(graph, q_out, &float_op, (op, onnx, inputs, types));
    let mut gone = vec![group.q];
    gone.extend(group.act);
    gone.extend(group.bias_add);
    gone.push(group.op);
    for id in gone {
        graph.remove_node(id);
    }
    drop_unused(graph, &group.dqs);
    Ok(true)
}

/// Removes the nodes of `nodes` still in the graph whose output nothing reads (the DQs
/// of a rewritten group; a DQ with other readers stays).
fn drop_unused(graph: &mut Graph, nodes: &[NodeId]) {
    for &id in nodes {
        if graph.contains(id) && !graph.is_used(ValueId { node: id, slot: 0 }) {
            graph.remove_node(id);
        }
    }
}

/// Rewrites a [`match_split`] group: the Split of the DQ's 8-bit input, its outputs taking
/// the Qs' places. `false` (the group stays in float) where the types do not agree.
fn apply_split(graph: &mut Graph, split: NodeId, dq: NodeId, qs: &[NodeId]) -> bool {
    let Some(x) = graph.node(dq).inputs[0] else {
        return false;
    };
    let place = graph.node(split).clone();
    let outputs: Vec<Value> = qs
        .iter()
        .map(|&q| graph.node(q).outputs[0].clone())
        .collect();
    let x_ty = graph.ty(x).clone();
    let Ok(types) = place.op.infer(&[Some(&x_ty)]) else {
        return false;
    };
    if types.len() != outputs.len() || types.iter().zip(&outputs).any(|(t, v)| *t != v.ty) {
        return false;
    }
    let node = graph.add_node(
        place.name.clone(),
        place.op.clone(),
        place.onnx,
        vec![Some(x)],
        outputs,
    );
    graph.node_mut(node).order = place.order;
    graph.node_mut(node).guard = place.guard;
    for (slot, &q) in (0u32..).zip(qs) {
        graph.replace_all_uses(ValueId { node: q, slot: 0 }, ValueId { node, slot });
        graph.remove_node(q);
    }
    graph.remove_node(split);
    drop_unused(graph, &[dq]);
    true
}

/// Rewrites a [`match_concat`] group: each input requantized by a table where its
/// quantization differs from the Q's, then the Concat on the 8-bit data. `false` (the
/// group stays in float) when a table or the op table's parser fails.
fn apply_concat(graph: &mut Graph, concat: NodeId, dqs: &[NodeId], q: NodeId) -> bool {
    let Some(out) = qparams(graph, q, false) else {
        return false;
    };
    let mut plan = Vec::new();
    for &dq in dqs {
        let Some(p) = qparams(graph, dq, true) else {
            return false;
        };
        let table = if p.same_as(&out) {
            None
        } else {
            let Some(table) = lookup_table(graph, &[dq, q], p.dtype()) else {
                return false;
            };
            Some(table)
        };
        plan.push((p.x, table));
    }
    let place = graph.node(concat).clone();
    let mut inputs = Vec::new();
    for (i, (x, table)) in plan.into_iter().enumerate() {
        let Some(table) = table else {
            inputs.push(Some(x));
            continue;
        };
        let name = format!("{}.requantize{i}", place.name);
        let table = graph.add_const(format!("{name}.table"), table);
        let lookup_inputs = vec![Some(x), Some(table)];
        let Ok(built) = build(
            graph,
            "QLookup",
            "ai.zant",
            1,
            &Attrs::default(),
            lookup_inputs,
        ) else {
            return false;
        };
        inputs.push(Some(add_beside(graph, &place, name.clone(), name, built)));
    }
    let attrs = place.op.attrs();
    let Ok(built) = build(graph, "Concat", "", place.onnx.opset, &attrs, inputs) else {
        return false;
    };
    let q_out = ValueId { node: q, slot: 0 };
    if built.3.len() != 1 || built.3[0] != *graph.ty(q_out) {
        return false;
    }
    replace_output(graph, q_out, &place, built);
    graph.remove_node(q);
    graph.remove_node(concat);
    drop_unused(graph, dqs);
    true
}

/// A node ready to add: op, ONNX op, inputs (absorbed ones dropped) and output types.
type Built = (Op, OnnxOp, Vec<Option<ValueId>>, Vec<TensorType>);

/// Adds `built` (one output, of `q_out`'s type) with `q_out`'s name, in `place`'s name,
/// file order and `If` branch, and makes every reader of `q_out` read it instead
/// (`ternary` puts its ops in place with it too).
pub(super) fn replace_output(
    graph: &mut Graph,
    q_out: ValueId,
    place: &crate::ir::Node,
    built: Built,
) {
    let value_name = graph.value(q_out).name.clone();
    let new = add_beside(graph, place, place.name.clone(), value_name, built);
    graph.replace_all_uses(q_out, new);
}

/// Builds `op_type` on `inputs` through the op table's parser, as import would: the
/// inputs it absorbs are dropped from the node. `ternary` builds its ops with it too.
pub(super) fn build(
    graph: &Graph,
    op_type: &str,
    domain: &str,
    opset: i64,
    attrs: &Attrs,
    mut inputs: Vec<Option<ValueId>>,
) -> Result<Built, OpError> {
    let spec = ops::lookup(domain, op_type)
        .ok_or_else(|| OpError::unsupported(format!("{op_type} is not in the op table")))?;
    let attrs: BTreeMap<String, Attribute> = attrs
        .to_map()
        .map_err(|e| OpError::unsupported(format!("attributes: {}", e.0)))?;
    let opset = opset.clamp(spec.opsets.0, spec.opsets.1);
    while inputs.last() == Some(&None) {
        inputs.pop();
    }
    let types: Vec<Option<&TensorType>> = inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
    let consts = inputs
        .iter()
        .map(|v| v.and_then(|v| graph.const_value(v)))
        .collect();
    let ctx = ParseCtx::new(spec.name, opset, &attrs, types, consts);
    let op = (spec.parse)(&ctx)?;
    let absorbed = ctx.absorbed();
    drop(ctx);
    for (i, input) in inputs.iter_mut().enumerate() {
        if absorbed & (1 << i) != 0 {
            *input = None;
        }
    }
    while inputs.last() == Some(&None) {
        inputs.pop();
    }
    let types: Vec<Option<&TensorType>> = inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
    let out = op.infer(&types)?;
    Ok((op, OnnxOp::new(spec, opset), inputs, out))
}
