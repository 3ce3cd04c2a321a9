//! Fusion into the producing kernel:
//! - `MatMul → Add(bias)` where the bias is a constant of N values broadcast along rows;
//! - `Conv → Add(bias)` where the bias is a constant of one value per output channel
//!   (exporters such as the ONNX model zoo's MNIST write the bias that way);
//! - `Mul(x, Sigmoid(x))` (SiLU as exporters write it before opset 24's Swish) → one
//!   Swish, one pass over the tensor instead of two and no buffer for the sigmoid;
//! - `Conv | Gemm | MatMul → Relu | Clip`, applied while the output is still in registers,
//!   and `→ Sigmoid | Swish` for an `f32` output, applied in vectors as each block of the
//!   output is stored (register tiles, or finished rows);
//! - `Add → Relu | Clip` for an `f32` Add of two operands of the output's shape (a
//!   residual connection), one pass instead of two (`elementwise::add_activated`).
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
    let a = fuse_matmul_bias(graph);
    let b = fuse_conv_bias(graph);
    let silu = fuse_silu(graph);
    let c = fuse_activations(graph);
    Ok(a || b || silu || c)
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
        let Some(t) = graph
            .const_value(addend)
            .and_then(|t| t.as_f32().map(|v| (t.shape.clone(), v)))
        else {
            continue;
        };
        let y = &graph.node(id).outputs[0].ty;
        let c_out = y.shape[1];
        // Per channel: right-aligned against the output, every dim is 1 but the channel's.
        let (shape, values) = t;
        let per_channel = values.len() == c_out
            && shape.len() <= y.rank()
            && shape.iter().rev().enumerate().all(|(i, &d)| {
                let axis = y.rank() - 1 - i;
                d == 1 || (axis == 1 && d == c_out)
            });
        if !per_channel || graph.node(add).outputs[0].ty != *y {
            continue;
        }
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
