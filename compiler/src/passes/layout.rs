//! Weight layouts for the kernels: a QGemm of one row by a constant matrix (an int8 fully
//! connected layer) gets its `B` transposed at compile time, `[k, n]` → `[n, k]` with
//! `transB = 1`, so that each output is a dot product of two contiguous runs of `k`
//! bytes. On a Cortex-M with the DSP extension the kernel then reads four weights a word
//! and adds their products with two `SMLAD`s (`qlinear::qmatmul`); with `B` as `[k, n]`
//! a row of one activation times 32 columns of weights keeps its sums in memory. The
//! weight bytes are the same, in another order. Products of more rows keep `[k, n]`,
//! whose column tiles reuse each weight across the rows.

use super::{Changed, PassError};
use crate::ir::{Data, Graph, Tensor};
use crate::ops::Op;

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    let mut rewrites = Vec::new();
    for id in graph.node_ids() {
        let node = graph.node(id);
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
        if let Op::QMatMul(q) = &mut graph.node_mut(id).op {
            q.shape.b_transposed = true;
        }
    }
    Ok(changed)
}
