//! Weight layouts for the kernels: a QGemm of one row by a constant matrix (an int8 fully
//! connected layer) gets its `B` transposed at compile time, `[k, n]` → `[n, k]` with
//! `transB = 1`, so that each output is a dot product of two contiguous runs of `k`
//! bytes. On a Cortex-M with the DSP extension the kernel then reads four weights a word
//! and adds their products with two `SMLAD`s (`qlinear::qmatmul`); with `B` as `[k, n]`
//! a row of one activation times 32 columns of weights keeps its sums in memory. The
//! weight bytes are the same, in another order. Products of more rows keep `[k, n]`,
//! whose column tiles reuse each weight across the rows.
//!
//! In a crate for vector targets alone, an integer matrix product (QGemm, QLinearMatMul,
//! MatMulInteger) by a constant, unbatched `B` whose values less their zero points fit
//! `i8` gets `B` packed instead (`rt::qlinear::pack_qmatmul_b`, printed `b_packed=N`,
//! the constant `i8[⌈N/16⌉, ⌈K/4⌉, 64]` with no zero points left): 16 columns' four
//! depths a 64-byte vector, so each `VPDPBUSD` takes one broadcast word of a row of `A`
//! and adds four products to each of 16 columns' sums, with no sums across lanes; the
//! share of `A`'s zero point goes into each column's starting sum at compile time.
//! An integer 1×1 Conv of stride 1 on a plane of at most 12 positions, its channels in
//! 16s and 4s, gets its weights packed the same way (`B = wᵀ`, printed
//! `weights_packed=1`, the shape unchanged): `qlinear::qconv2d_pointwise_packed` runs its
//! positions as rows, where vectors of positions would be mostly empty.
//! An integer k×k Conv (one group, stride 1 or 2, input channels in 4s, output channels
//! in 8s, `i8` weights with zero points 0) gets its weights in the groups of
//! `rt::qconv::qconv2d_pack_framed` (printed `weights_framed=1`, the same bytes in
//! another order): for each tap and quad of input channels, eight output channels' four
//! weights side by side, the words the frame kernel's `VPDPBUSD` broadcasts, which it
//! otherwise reordered on every inference (a tenth of mlperf-ic-int8's time on a Zen 4).
//! In a crate for a Cortex-M core with the DSP extension and without Helium
//! (`target::Target::pairs_weights`: the M4F, M7 and M33), an integer convolution that
//! is not depthwise (each group's output channels in 4s, an even number of `i8` weights
//! per channel, zero points 0) gets its weights in the tiles of `rt::qconv::qconv2d_pack_paired` (printed
//! `weights_paired=1`, the same bytes in another order): per four output channels and
//! pair of reduction terms, two words whose `SXTB16` and `SXTB16 … ROR #8` are the four
//! channels' `i16` pairs, so the gathered blocks widen a tile's weights a word at a time
//! (channel by channel from ONNX's order it took about three instructions a weight on
//! the Cortex-M7, once per block of positions).
//!
//! A float Conv that runs as a GEMM with no copy (`ConvKernel::Pointwise`, a 1×1
//! convolution) gets its constant weights transposed and blocked: the output channels
//! are cut into the row blocks of `conv::pointwise_block` (at most 48, the AVX-512 narrow
//! tiles' blocks), and each block is stored `[c_in, rows]`, one after the other, so that
//! the weights of one input channel for a block's outputs are contiguous (the GEMM's
//! `Aᵀ`) and a block's weights are one run. With at most 48 outputs that is the
//! transpose `[c_in, c_out, 1, 1]`, the shape the constant gets in any case (printed
//! `weights_blocked=1`). On AVX-512 the narrow tiles read a block in place (vectors of 16
//! outputs, one input channel apart) instead of packing it on every inference;
//! elsewhere the kernels pack `Aᵀ` into their panels by plain copies, each depth's
//! values of a panel being adjacent already. Only the order changes.
//!
//! A float RNN, GRU or LSTM over a batch of one gets its constant recurrent weights `R`
//! in the column panels of `rt::recurrent::pack_r` (printed `r_panels=1`): each gate's
//! outputs in panels of 16 padded with zeros, up to eight panels interleaved depth by
//! depth, so the matrix-vector product of every step reads `R` once, front to back, as
//! one stream, a vector of 16 outputs per load, with no sums across lanes. A larger
//! batch keeps ONNX's layout for its steps' GEMMs. Its constant input weights `W` get
//! panels of 16 at any batch, each stored depth by depth (`pack_w`, `w_panels=1`): the
//! input projection of all steps is then a register
//! tile of rows of `X` by panels that loads each weight vector once per tile, not a
//! GEMM that packs `Wᵀ` on every inference.
//!
//! A float k×k Conv that runs as an implicit GEMM (`ConvKernel::Gemm`) gets the same
//! blocks where `conv::gemm_blocks_pay_for` the crate's targets (one group, output
//! channels in whole vectors of 16, at least 32 of them; for a crate that may also run
//! on targets without SIMD, a geometry their windowed kernel covers): each block
//! `[c_in · k_h · k_w, rows]`, in a constant shaped `[c_in, c_out, k_h, k_w]`, read by
//! `conv2d_gemm_blocked`. With SIMD the frame's narrow tiles read a block in place, as
//! the packed panel they had built on every inference; without SIMD the kernel puts 16
//! channels at a time back into rows in its scratch. Which Convs are blocked is
//! `ops::conv::blocks_fit_for`; the Conv parser accepts `weights_blocked=1` where some
//! target would block (`blocks_fit`), the emitter where the crate's targets do.
//!
//! A float MatMul of two or more rows by a constant `[K, N]` matrix, in a crate for
//! vector targets alone, and a Gemm of the same kind (no `transA`, `alpha = 1`, a bias
//! per column if any, `transB` undone by the packing), gets `B` in the column panels of
//! `rt::gemm::panels` (printed
//! `b_panels=N`, the constant shaped `[⌈N/16⌉, K, 16]`): register tiles of rows of `A`,
//! read in place, by panels load each weight vector once per tile, where the blocked
//! GEMM packed `A` into panels on every inference (a transformer's projections: about
//! 65 → 100 G multiply-adds a second on one AVX-512 core). Without SIMD the scalar
//! blocked kernel keeps ONNX's `B`.

use super::{Changed, PassError};
use zant_runtime::conv::{pointwise_block, pointwise_blocks};
use zant_runtime::gemm::panels::{pack_b, packed_len, PANEL};
use zant_runtime::qconv::{qconv2d_framed_packs, qconv2d_pack_framed, qconv2d_pack_paired};
use zant_runtime::qlinear::{
    pack_qmatmul_b, qconv2d_packs, qpacked_len, QCONV_PACKED_MAX_POSITIONS, QPACK_COLS, QPACK_DEPTH,
};
use zant_runtime::recurrent::{pack_r, pack_w, packed_r_len, packed_w_len};
use zant_runtime::target::KernelSet;

use crate::ir::{Data, Graph, NodeId, Tensor};
use crate::ops::gemm::BiasKind;
use crate::ops::recurrent::{r_shape, w_shape};
use crate::ops::Op;
use crate::tensor::DType;

pub fn run(graph: &mut Graph) -> Result<Changed, PassError> {
    run_for(graph, KernelSet::ANY, false)
}

/// [`run`] for a crate built for the targets of `kernels`: a k×k convolution's weights
/// are blocked only where vector kernels read them so (`conv::gemm_blocks_pay_for`).
/// With `pairs` (a crate for a DSP core without Helium, `target::Target::pairs_weights`),
/// integer convolutions get the paired layout.
pub fn run_for(graph: &mut Graph, kernels: KernelSet, pairs: bool) -> Result<Changed, PassError> {
    // Each rewrite replaces one input of a node; its flag marks a Conv whose weights were
    // transformed for Winograd (any other Conv's were blocked).
    let mut rewrites = Vec::new();
    for id in graph.node_ids() {
        let node = graph.node(id);
        if let Some(rewrite) = winograd_conv(graph, id, kernels) {
            rewrites.push((rewrite, true));
            continue;
        }
        if let Some(rewrite) = blocked_conv(graph, id, kernels) {
            rewrites.push((rewrite, false));
            continue;
        }
        if let Some(rewrite) = paneled_gemm(graph, id, kernels) {
            rewrites.push((rewrite, false));
            continue;
        }
        if let Some(rewrite) = paneled_matmul(graph, id, kernels) {
            rewrites.push((rewrite, false));
            continue;
        }
        if let Some(rewrite) = packed_qconv(graph, id, kernels) {
            rewrites.push((rewrite, false));
            continue;
        }
        if let Some(rewrite) = framed_qconv(graph, id, kernels) {
            rewrites.push((rewrite, false));
            continue;
        }
        if let Some(rewrite) = paired_qconv(graph, id, kernels, pairs) {
            rewrites.push((rewrite, false));
            continue;
        }
        if let Some(rewrite) = packed_qmatmul(graph, id, kernels) {
            rewrites.push((rewrite, false));
            continue;
        }
        let recurrent = paneled_recurrent(graph, id);
        if !recurrent.is_empty() {
            rewrites.extend(recurrent.into_iter().map(|r| (r, false)));
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
        let Some(data) = transposed(weights, s.k, s.n) else {
            continue;
        };
        let name = format!("{}_transposed", graph.value(b).name);
        rewrites.push(((id, slot, name, Tensor::new(vec![s.n, s.k], data)), false));
    }
    let changed = !rewrites.is_empty();
    for ((id, slot, name, tensor), winograd) in rewrites {
        // A MatMul's `N`, before its `B` is replaced.
        let columns = graph.node(id).inputs[slot].map(|b| graph.ty(b).shape.last().copied());
        let tensor_rank = tensor.shape.len();
        let value = graph.add_const(name, tensor);
        graph.set_input(id, slot, Some(value));
        match &mut graph.node_mut(id).op {
            // A packed `B` (three dimensions) carries its zero points in its values.
            Op::QMatMul(q) if tensor_rank == 3 => {
                q.b_packed = true;
                q.shape.b_transposed = false;
                q.consts.remove("b_zero_point");
            }
            Op::QMatMul(q) => q.shape.b_transposed = true,
            // `packed_qconv` takes 1×1 convolutions at stride 1, `framed_qconv` larger
            // kernels and strides (the two sets do not meet), both for vector crates;
            // `paired_qconv` those of scalar crates.
            Op::QConv(q) => {
                if pairs {
                    q.w_paired = true;
                } else if qconv2d_framed_packs(&q.params) {
                    q.w_framed = true;
                } else {
                    q.w_packed = true;
                }
                q.consts.remove("w_zero_point");
            }
            Op::Conv(c) if winograd => c.weights_winograd = true,
            Op::Conv(c) => c.weights_blocked = true,
            Op::Recurrent(r) if slot == RECURRENT_R => r.params.r_panels = true,
            Op::Recurrent(r) => r.params.w_panels = true,
            Op::MatMul(m) => m.b_panels = columns.flatten().unwrap_or(0),
            Op::Gemm(g) => {
                g.b_panels = true;
                g.trans_b = false;
            }
            _ => {}
        }
    }
    Ok(changed)
}

/// The constant `B` of a float MatMul `id` in the column panels of
/// `rt::gemm::panels::pack_b`, as a rewrite of that input, for a crate that runs only
/// vector kernels: `B` a `[K, N]` matrix with at least one panel's worth of columns, `A`
/// at least two rows (a single row stays a matrix-vector product). Without SIMD the
/// blocked scalar kernel keeps ONNX's `B`.
fn paneled_matmul(
    graph: &Graph,
    id: NodeId,
    kernels: KernelSet,
) -> Option<(NodeId, usize, String, Tensor)> {
    let node = graph.node(id);
    let Op::MatMul(mm) = &node.op else {
        return None;
    };
    if mm.b_panels > 0 || !kernels.vector || kernels.scalar {
        return None;
    }
    let a = graph.ty(node.inputs.first().copied().flatten()?);
    let b_value = node.inputs.get(1).copied().flatten()?;
    let b = graph.const_value(b_value)?;
    let [k, n] = *b.shape.as_slice() else {
        return None;
    };
    let rows = a.shape.iter().rev().skip(1).product::<usize>();
    if a.dtype != DType::F32 || a.shape.len() < 2 || a.shape.last() != Some(&k) || rows < 2 {
        return None;
    }
    if n < PANEL || k == 0 {
        return None;
    }
    let mut packed = vec![0.0; packed_len(k, n)];
    pack_b(k, n, b.as_f32()?, false, &mut packed);
    let name = format!("{}_panels", graph.value(b_value).name);
    let shape = vec![n.div_ceil(PANEL), k, PANEL];
    Some((id, 1, name, Tensor::new(shape, Data::F32(packed))))
}

/// The constant `B` of a float Gemm `id` in the column panels of `rt::gemm::panels`
/// (from `[K, N]`, or `[N, K]` with `transB`), as a rewrite of that input, for a crate
/// that runs only vector kernels: at least two rows of an untransposed `A`, `alpha = 1`,
/// no bias or one per column with `beta = 1`, and at least one panel's worth of columns
/// (a fully connected layer over a batch, or PyTorch's `Linear` on 2-D inputs).
fn paneled_gemm(
    graph: &Graph,
    id: NodeId,
    kernels: KernelSet,
) -> Option<(NodeId, usize, String, Tensor)> {
    let node = graph.node(id);
    let Op::Gemm(g) = &node.op else {
        return None;
    };
    if g.b_panels || !kernels.vector || kernels.scalar {
        return None;
    }
    let bias_fits = match g.bias {
        BiasKind::None => true,
        BiasKind::Row => g.beta == 1.0,
        _ => false,
    };
    if g.trans_a || g.alpha != 1.0 || !bias_fits || g.m < 2 || g.n < PANEL || g.k == 0 {
        return None;
    }
    let b_value = node.inputs.get(1).copied().flatten()?;
    let b = graph.const_value(b_value)?;
    let values = b.as_f32()?;
    if values.len() != g.k * g.n {
        return None;
    }
    let mut packed = vec![0.0; packed_len(g.k, g.n)];
    pack_b(g.k, g.n, values, g.trans_b, &mut packed);
    let name = format!("{}_panels", graph.value(b_value).name);
    let shape = vec![g.n.div_ceil(PANEL), g.k, PANEL];
    Some((id, 1, name, Tensor::new(shape, Data::F32(packed))))
}

/// The constant `B` of an integer matrix product (QGemm, QLinearMatMul, MatMulInteger)
/// in the blocks of `rt::qlinear::pack_qmatmul_b`, its zero points taken out, as a
/// rewrite of that input, for a crate that runs only vector kernels: an unbatched `B`
/// whose every `b − b_zero` fits `i8` (signed weights with zero points of 0, or unsigned
/// ones with 128), and an `A` zero point known at compile time. Each row of `A` then
/// takes 16 columns' four products an instruction on AVX-512 VNNI, with no sums across
/// lanes, where the rows of a transposed `B` took one `VPDPBUSD` per row and 64 bytes
/// and a sum across lanes for each column (mlperf-ad-int8's 128 → 128 layers on a
/// Zen 4: 537 → 180 ns). Without SIMD, `B` stays as ONNX has it (transposed for one
/// row, above).
fn packed_qmatmul(
    graph: &Graph,
    id: NodeId,
    kernels: KernelSet,
) -> Option<(NodeId, usize, String, Tensor)> {
    let node = graph.node(id);
    let Op::QMatMul(q) = &node.op else {
        return None;
    };
    if q.b_packed || q.runtime_zero || q.shape.b_batched || !kernels.vector || kernels.scalar {
        return None;
    }
    let s = q.shape;
    // Absorbed inputs leave gaps: `B` is the first input after `A`.
    let (slot, b_value) = node
        .inputs
        .iter()
        .enumerate()
        .skip(1)
        .find_map(|(i, v)| v.map(|v| (i, v)))?;
    let b = graph.const_value(b_value)?;
    let values = b.data.to_i64_vec();
    if s.k == 0 || s.n == 0 || values.len() != s.k * s.n {
        return None;
    }
    let zeros = q.b_zeros()?;
    let at = |kk: usize, j: usize| {
        let i = if s.b_transposed {
            j * s.k + kk
        } else {
            kk * s.n + j
        };
        values[i] as i32
    };
    let zero = |j: usize| zeros[if zeros.len() == 1 { 0 } else { j }];
    let mut packed = vec![0i8; qpacked_len(s.k, s.n)];
    if !pack_qmatmul_b(s.k, s.n, at, zero, &mut packed) {
        return None;
    }
    let name = format!("{}_packed", graph.value(b_value).name);
    let shape = vec![s.n.div_ceil(QPACK_COLS), s.k.div_ceil(QPACK_DEPTH), 64];
    Some((id, slot, name, Tensor::new(shape, Data::I8(packed))))
}

/// The constant weights of an integer 1×1 convolution on a plane of at most
/// `rt::qlinear::QCONV_PACKED_MAX_POSITIONS` positions in the blocks of
/// `rt::qlinear::pack_qmatmul_b` (`B = wᵀ`, zero points taken out), as a rewrite of that
/// input, for a crate that runs only vector kernels: output channels in whole blocks of
/// 16, input channels in groups of 4 (so that the packed bytes keep the weights' shape),
/// and every `w − w_zero` within `i8`.
fn packed_qconv(
    graph: &Graph,
    id: NodeId,
    kernels: KernelSet,
) -> Option<(NodeId, usize, String, Tensor)> {
    let node = graph.node(id);
    let Op::QConv(q) = &node.op else {
        return None;
    };
    let p = q.params;
    if q.w_packed || q.runtime_zero || !kernels.vector || kernels.scalar {
        return None;
    }
    if !qconv2d_packs(&p)
        || p.h_out * p.w_out > QCONV_PACKED_MAX_POSITIONS
        || p.c_out % QPACK_COLS != 0
        || p.c_in % QPACK_DEPTH != 0
    {
        return None;
    }
    let slot = if q.linear { 3 } else { 1 };
    let w_value = node.inputs.get(slot).copied().flatten()?;
    let w = graph.const_value(w_value)?;
    let values = w.data.to_i64_vec();
    if values.len() != p.c_out * p.c_in {
        return None;
    }
    let zeros = q.w_zeros()?;
    let at = |kk: usize, j: usize| values[j * p.c_in + kk] as i32;
    let zero = |j: usize| zeros[if zeros.len() == 1 { 0 } else { j }];
    let mut packed = vec![0i8; qpacked_len(p.c_in, p.c_out)];
    if !pack_qmatmul_b(p.c_in, p.c_out, at, zero, &mut packed) {
        return None;
    }
    let name = format!("{}_packed", graph.value(w_value).name);
    Some((
        id,
        slot,
        name,
        Tensor::new(w.shape.clone(), Data::I8(packed)),
    ))
}

/// The constant weights of an integer k×k convolution in the groups of
/// `rt::qconv::qconv2d_pack_framed`, as a rewrite of that input, for a crate that runs
/// only vector kernels, where `rt::qconv::qconv2d_framed_packs` holds: `i8` weights whose
/// zero points are all 0 (ONNX Runtime's quantizer writes symmetric weights), the same
/// bytes in another order.
fn framed_qconv(
    graph: &Graph,
    id: NodeId,
    kernels: KernelSet,
) -> Option<(NodeId, usize, String, Tensor)> {
    if !kernels.vector || kernels.scalar {
        return None;
    }
    permuted_qconv(graph, id, qconv2d_pack_framed::<i8>, "framed")
}

/// The constant weights of an integer convolution (not depthwise) in the tiles of
/// `rt::qconv::qconv2d_pack_paired`, as a rewrite of that input, for a crate of the
/// scalar kernels on a DSP core without Helium (`pairs`), where
/// `rt::qconv::qconv2d_paired_packs` holds: `i8` weights whose zero points are all 0,
/// the same bytes in another order.
fn paired_qconv(
    graph: &Graph,
    id: NodeId,
    kernels: KernelSet,
    pairs: bool,
) -> Option<(NodeId, usize, String, Tensor)> {
    if !pairs || kernels.vector {
        return None;
    }
    permuted_qconv(graph, id, qconv2d_pack_paired::<i8>, "paired")
}

/// An integer convolution's constant `i8` weights, all of whose zero points are 0,
/// permuted by `pack` (which returns false, having written nothing, where its layout
/// does not take the convolution), as a rewrite of that input named with `suffix`.
fn permuted_qconv(
    graph: &Graph,
    id: NodeId,
    pack: fn(&zant_runtime::conv::Conv2d, &[i8], &mut [i8]) -> bool,
    suffix: &str,
) -> Option<(NodeId, usize, String, Tensor)> {
    let node = graph.node(id);
    let Op::QConv(q) = &node.op else {
        return None;
    };
    if q.w_packed || q.w_framed || q.w_paired || q.runtime_zero {
        return None;
    }
    if q.w_zeros()?.iter().any(|&z| z != 0) {
        return None;
    }
    let slot = if q.linear { 3 } else { 1 };
    let w_value = node.inputs.get(slot).copied().flatten()?;
    let w = graph.const_value(w_value)?;
    let Data::I8(values) = &w.data else {
        return None;
    };
    let mut packed = vec![0i8; values.len()];
    if !pack(&q.params, values, &mut packed) {
        return None;
    }
    let name = format!("{}_{suffix}", graph.value(w_value).name);
    Some((
        id,
        slot,
        name,
        Tensor::new(w.shape.clone(), Data::I8(packed)),
    ))
}

/// Input slots of an RNN, GRU or LSTM.
const RECURRENT_W: usize = 1;
const RECURRENT_R: usize = 2;

/// The weights of an RNN, GRU or LSTM, when constant, in the column panels of
/// `rt::recurrent::pack_w` and `pack_r`, as rewrites of those inputs: `W` always (the
/// input projection of all steps reads it so), `R` over a batch of one (a larger batch
/// keeps ONNX's layout, which its steps' GEMMs read).
fn paneled_recurrent(graph: &Graph, id: NodeId) -> Vec<(NodeId, usize, String, Tensor)> {
    let node = graph.node(id);
    let Op::Recurrent(op) = &node.op else {
        return Vec::new();
    };
    let p = &op.params;
    let directions = p.direction.count();
    let mut rewrites = Vec::new();
    if p.hidden == 0 {
        return rewrites;
    }
    let constant = |slot: usize, shape: &[usize]| {
        let value = node.inputs.get(slot).copied().flatten()?;
        let weights = graph.const_value(value)?;
        (weights.shape == shape).then_some(())?;
        Some((value, weights.as_f32()?))
    };
    if !p.w_panels && p.input_size > 0 {
        let onnx = w_shape(p.cell, directions, p.hidden, p.input_size, false);
        if let Some((value, w)) = constant(RECURRENT_W, &onnx) {
            let mut packed = vec![0.0; directions * packed_w_len(p.cell, p.hidden, p.input_size)];
            pack_w(p.cell, directions, p.hidden, p.input_size, w, &mut packed);
            let shape = w_shape(p.cell, directions, p.hidden, p.input_size, true);
            let name = format!("{}_panels", graph.value(value).name);
            rewrites.push((id, RECURRENT_W, name, Tensor::new(shape, Data::F32(packed))));
        }
    }
    if !p.r_panels && p.batch == 1 {
        let onnx = r_shape(p.cell, directions, p.hidden, false);
        if let Some((value, r)) = constant(RECURRENT_R, &onnx) {
            let mut packed = vec![0.0; directions * packed_r_len(p.cell, p.hidden)];
            pack_r(p.cell, directions, p.hidden, r, &mut packed);
            let shape = r_shape(p.cell, directions, p.hidden, true);
            let name = format!("{}_panels", graph.value(value).name);
            rewrites.push((id, RECURRENT_R, name, Tensor::new(shape, Data::F32(packed))));
        }
    }
    rewrites
}

/// The blocked weights of a pointwise Conv `id` (input 1 is a constant `f32`
/// `[c_out, c_in, 1, 1]`, or `[c_out, c_in, 1]`) or of a k×k one where
/// `gemm_blocks_pay_for` the targets (`[c_out, c_in, k_h, k_w]`), as a rewrite of that
/// input.
fn blocked_conv(
    graph: &Graph,
    id: NodeId,
    kernels: KernelSet,
) -> Option<(NodeId, usize, String, Tensor)> {
    let node = graph.node(id);
    let Op::Conv(c) = &node.op else {
        return None;
    };
    let p = &c.params;
    if c.weights_blocked || !crate::ops::conv::blocks_fit_for(p, kernels) {
        return None;
    }
    let w = node.inputs.get(1).copied().flatten()?;
    let weights = graph.const_value(w)?;
    let (c_out, c_in) = (p.c_out, p.c_in);
    let depth = c_in * p.k_h * p.k_w;
    if weights.as_f32()?.len() != c_out * depth
        || weights.shape.first() != Some(&c_out)
        || weights.shape.get(1) != Some(&c_in)
    {
        return None;
    }
    let data = blocked(weights, c_out, depth)?;
    let mut shape = weights.shape.clone();
    shape.swap(0, 1);
    let name = format!("{}_blocked", graph.value(w).name);
    Some((id, 1, name, Tensor::new(shape, data)))
}

/// The weights of a 3 × 3 Conv `id` (input 1 a constant `f32` `[c_out, c_in, 3, 3]`)
/// transformed for `conv2d_winograd` where `conv::winograd_pays_for` the targets
/// (`conv::winograd_weights`, shaped `[c_out, c_in, 4, 4]`), as a rewrite of that input.
fn winograd_conv(
    graph: &Graph,
    id: NodeId,
    kernels: KernelSet,
) -> Option<(NodeId, usize, String, Tensor)> {
    let node = graph.node(id);
    let Op::Conv(c) = &node.op else {
        return None;
    };
    let p = &c.params;
    if c.weights_blocked || c.weights_winograd || !zant_runtime::conv::winograd_pays_for(p, kernels)
    {
        return None;
    }
    let w = node.inputs.get(1).copied().flatten()?;
    let weights = graph.const_value(w)?;
    if weights.shape != [p.c_out, p.c_in, 3, 3] {
        return None;
    }
    let mut u = vec![0.0; zant_runtime::conv::winograd_weights_len(p.c_out, p.c_in)];
    zant_runtime::conv::winograd_weights(weights.as_f32()?, p.c_out, p.c_in, &mut u);
    let name = format!("{}_winograd", graph.value(w).name);
    Some((
        id,
        1,
        name,
        Tensor::new(vec![p.c_out, p.c_in, 4, 4], Data::F32(u)),
    ))
}

/// The elements of `weights`, a row-major `c_out × depth` matrix (a Conv's weights, each
/// output channel's `c_in · k_h · k_w` in a row), in the row blocks of
/// `conv::pointwise_block`, each block transposed (`[depth, rows]`); `None` when the
/// element type has no byte form.
fn blocked(weights: &Tensor, c_out: usize, depth: usize) -> Option<Data> {
    let (bytes, width) = weights.data.element_bytes();
    let mut blocked = Vec::with_capacity(bytes.len());
    for b in 0..pointwise_blocks(c_out) {
        let (row0, rows) = pointwise_block(c_out, b);
        for i in 0..depth {
            for o in row0..row0 + rows {
                blocked.extend_from_slice(bytes.get((o * depth + i) * width..)?.get(..width)?);
            }
        }
    }
    Data::from_element_bytes(weights.dtype(), &blocked)
}

/// The elements of `weights`, a row-major `rows × cols` matrix (trailing dimensions of
/// one aside), as its `cols × rows` transpose; `None` when the element type has no byte
/// form.
fn transposed(weights: &Tensor, rows: usize, cols: usize) -> Option<Data> {
    let (bytes, width) = weights.data.element_bytes();
    let mut transposed = vec![0u8; bytes.len()];
    for (r, row) in bytes.chunks_exact(cols * width).enumerate() {
        for (c, element) in row.chunks_exact(width).enumerate() {
            transposed[(c * rows + r) * width..][..width].copy_from_slice(element);
        }
    }
    Data::from_element_bytes(weights.dtype(), &transposed)
}
