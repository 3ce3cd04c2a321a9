//! Weight layouts for the kernels: a QGemm of one row by a constant matrix (an int8 fully
//! connected layer) gets its `B` transposed at compile time, `[k, n]` → `[n, k]` with
//! `transB = 1`, so that each output is a dot product of two contiguous runs of `k`
//! bytes. On a Cortex-M with the DSP extension the kernel then reads four weights a word
//! and adds their products with two `SMLAD`s (`qlinear::qmatmul`); with `B` as `[k, n]`
//! a row of one activation times 32 columns of weights keeps its sums in memory. The
//! weight bytes are the same, in another order. Products of more rows keep `[k, n]`,
//! whose column tiles reuse each weight across the rows.
//!
//! A float Conv that runs as a GEMM with no copy (`ConvKernel::Pointwise`, a 1×1
//! convolution) gets its constant weights transposed, `[c_out, c_in, 1, 1]` →
//! `[c_in, c_out, 1, 1]`, so that the weights of one input channel for every output are
//! contiguous: the GEMM's `Aᵀ`. On AVX-512 the narrow tiles then read them in place
//! (vectors of 16 outputs, one input channel apart) instead of packing them on every
//! inference, and the scalar kernel reads `Aᵀ` in place too. Only the order changes.

use super::{Changed, PassError};
use zant_runtime::conv::{kernel_for, ConvKernel};

use crate::ir::{Data, Graph, NodeId, Tensor};
use crate::ops::Op;

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    let mut rewrites = Vec::new();
    for id in graph.node_ids() {
        let node = graph.node(id);
        if let Some(rewrite) = pointwise(graph, id) {
            rewrites.push(rewrite);
            continue;
        }
        let Op::QMatMul(q) = &node.op else {
            continue;
        };
        let s = q.shape;
        // Only QGemm spells `transB`; QLinearMatMul and MatMulInteger have no such attribute.
        if node.onnx.op_type != "QGemm" || s.b_transposed || s.b_batched || s.batch * s.m != 1 {
            continue;
        }
        // Absorbed inputs leave gaps: `B` is the first input after `A`.
        let Some((slot, b)) = node
            .inputs
            .iter()
            .enumerate()
            .skip(1)
            .find_map(|(i, v)| v.map(|v| (i, v)))
        else {
            continue;
        };
        let Some(weights) = graph.const_value(b) else {
            continue;
        };
        if weights.shape != [s.k, s.n] {
            continue;
        }
        let (bytes, width) = weights.data.element_bytes();
        let mut transposed = vec![0u8; bytes.len()];
        for (kk, row) in bytes.chunks_exact(s.n * width).enumerate() {
            for (j, element) in row.chunks_exact(width).enumerate() {
                transposed[(j * s.k + kk) * width..][..width].copy_from_slice(element);
            }
        }
        let Some(data) = Data::from_element_bytes(weights.dtype(), &transposed) else {
            continue;
        };
        let name = format!("{}_transposed", graph.value(b).name);
        rewrites.push((id, slot, name, Tensor::new(vec![s.n, s.k], data)));
    }
    let changed = !rewrites.is_empty();
    for (id, slot, name, tensor) in rewrites {
        let value = graph.add_const(name, tensor);
        graph.set_input(id, slot, Some(value));
        match &mut graph.node_mut(id).op {
            Op::QMatMul(q) => q.shape.b_transposed = true,
            Op::Conv(c) => c.weights_transposed = true,
            _ => {}
        }
    }
    Ok(changed)
}

/// The transposed weights of a pointwise Conv `id` (input 1 is a constant `f32`
/// `[c_out, c_in, 1, 1]`, or `[c_out, c_in, 1]`), as a rewrite of that input.
fn pointwise(graph: &Graph, id: NodeId) -> Option<(NodeId, usize, String, Tensor)> {
    let node = graph.node(id);
    let Op::Conv(c) = &node.op else {
        return None;
    };
    let p = &c.params;
    if c.weights_transposed || kernel_for(p) != ConvKernel::Pointwise || p.groups != 1 {
        return None;
    }
    let w = node.inputs.get(1).copied().flatten()?;
    let weights = graph.const_value(w)?;
    let values = weights.as_f32()?;
    let (c_out, c_in) = (p.c_out, p.c_in);
    if weights.shape.first() != Some(&c_out)
        || weights.shape.get(1) != Some(&c_in)
        || values.len() != c_out * c_in
    {
        return None;
    }
    let mut transposed = vec![0.0f32; values.len()];
    for (o, row) in values.chunks_exact(c_in).enumerate() {
        for (i, &value) in row.iter().enumerate() {
            transposed[i * c_out + o] = value;
        }
    }
    let mut shape = weights.shape.clone();
    shape.swap(0, 1);
    let name = format!("{}_transposed", graph.value(w).name);
    Some((id, 1, name, Tensor::new(shape, Data::F32(transposed))))
}
