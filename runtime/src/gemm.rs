//! Dense matrix products: ONNX `Gemm` and `MatMul`, and the GEMM behind 1×1 convolutions
//! and fully connected layers.
//!
//! The f32 kernel is blocked for the caches and register-tiled for the core, in plain safe
//! Rust that LLVM vectorises:
//!
//! * `k` is cut into blocks of [`KC`] so one `KC × NR` sliver of `B` stays in L1 while
//!   every row tile of an `MC`-row block of `A` streams past it;
//! * the microkernel keeps an `MR × NR` tile of `C` in registers for a whole `k` block
//!   (`MR = 4`; `NR` is 16 with AVX or on AArch64, 8 with SSE, 4 on 32-bit Arm, whose
//!   scalar FPU has 32 registers), so each loaded element of `A` and `B` feeds several
//!   multiply-adds;
//! * a transposed `A` needs no copy (the tile's `MR` values for one `k` are adjacent); a
//!   transposed `B` is packed, one sliver at a time, into a stack buffer of
//!   `KC · NR` floats (at most 16 KiB), so no heap and a bounded stack;
//! * `m = 1` and `n = 1` are matrix-vector products and go to dedicated loops.
//!
//! Bias, `alpha`, `beta` and the fused activation are applied while a tile of `C` is
//! stored, so the output is written once per `k` block and never swept again.

use crate::scalar::Scalar;
use crate::shape::Broadcast;
use crate::Activation;

/// The rows of `C` in one register tile.
pub(crate) const MR: usize = 4;
/// The columns of `C` in one register tile: four vectors wide where there are enough
/// vector registers, one 4-lane row of scalars on 32-bit Arm (Cortex-M).
pub(crate) const NR: usize = if cfg!(target_arch = "arm") {
    4
} else if cfg!(any(target_feature = "avx", target_arch = "aarch64")) {
    16
} else {
    8
};
/// The depth of one `k` block: a `KC × NR` sliver of `B` is 4–16 KiB, at most half of L1.
const KC: usize = 256;
/// The rows of `A` that share one pass over `B` (an `MC × KC` block of `A` is 256 KiB,
/// a typical L2).
const MC: usize = 256;

/// The bias added to the product, before the activation (ONNX `Gemm`'s `C`, already
/// classified by how it broadcasts over the `m × n` output).
#[derive(Clone, Copy, Debug)]
pub enum Bias<'a> {
    /// No bias.
    None,
    /// One value for every element.
    Scalar(f32),
    /// Length `n`, the same for every row.
    Row(&'a [f32]),
    /// Length `m`, one value per row.
    Col(&'a [f32]),
    /// The full `m × n` matrix.
    Full(&'a [f32]),
}

/// y[m×n] = act(alpha · op(A)·op(B) + beta · bias). A is m×k row-major (k×m if trans_a);
/// B is k×n row-major (n×k if trans_b).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    trans_a: bool,
    b: &[f32],
    trans_b: bool,
    alpha: f32,
    beta: f32,
    bias: Bias<'_>,
    act: Activation,
    y: &mut [f32],
) {
    let y = &mut y[..m * n];
    let (a, b) = (&a[..m * k], &b[..k * n]);
    if m == 0 || n == 0 {
        return;
    }
    let epilogue = Epilogue {
        n,
        alpha,
        beta,
        bias,
        act,
    };
    if k == 0 {
        y.fill(0.0);
        epilogue.finish(y);
        return;
    }
    if m == 1 {
        // A row vector times a matrix: with B as k × n each output is an axpy down the
        // rows of B, with B as n × k each output is a dot product with a row of B.
        if trans_b {
            gemv_dot(b, k, a, y);
        } else {
            gemv_axpy(b, n, a, y);
        }
        epilogue.finish(y);
        return;
    }
    if n == 1 {
        // A matrix times a column vector; B is contiguous in either layout.
        if trans_a {
            gemv_axpy(a, m, b, y);
        } else {
            gemv_dot(a, k, b, y);
        }
        epilogue.finish(y);
        return;
    }
    let operands = Operands {
        m,
        n,
        k,
        a,
        trans_a,
        b,
    };
    if trans_b {
        gemm_blocked::<true>(&operands, &epilogue, y);
    } else {
        gemm_blocked::<false>(&operands, &epilogue, y);
    }
}

/// numpy matmul: a_shape, b_shape rank >= 2 (the caller turns 1-D operands into [1,k] /
/// [k,1]), batch dims broadcast; y_shape is the broadcast batch dims + [m, n]. `bias`
/// (len n) is added to every row before `act` (a fused Add).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
    y_shape: &[usize],
) {
    let bias = bias.map_or(Bias::None, Bias::Row);
    for_each_matrix(a_shape, b_shape, y_shape, |product| {
        let MatrixProduct { m, n, k, .. } = product;
        gemm(
            m,
            n,
            k,
            &a[product.a_offset..][..m * k],
            false,
            &b[product.b_offset..][..k * n],
            false,
            1.0,
            1.0,
            bias,
            act,
            &mut y[product.y_offset..][..m * n],
        );
    });
}

/// Integer/other-dtype matmul without bias/activation, same shape rules, wrapping arithmetic.
pub fn matmul_generic<T: Scalar>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    y: &mut [T],
    y_shape: &[usize],
) {
    for_each_matrix(a_shape, b_shape, y_shape, |product| {
        let MatrixProduct { m, n, k, .. } = product;
        let a = &a[product.a_offset..][..m * k];
        let b = &b[product.b_offset..][..k * n];
        let y = &mut y[product.y_offset..][..m * n];
        if n == 0 {
            return;
        }
        // i-p-j order keeps the innermost loop on contiguous rows of B and Y.
        for (row_idx, y_row) in y.chunks_exact_mut(n).enumerate() {
            y_row.fill(T::ZERO);
            for (p, &a_value) in a[row_idx * k..][..k].iter().enumerate() {
                for (out, &b_value) in y_row.iter_mut().zip(&b[p * n..][..n]) {
                    *out = out.add(a_value.mul(b_value));
                }
            }
        }
    });
}

/// One `m × k` by `k × n` product inside a batched matmul, with its element offsets.
#[derive(Clone, Copy, Debug)]
struct MatrixProduct {
    m: usize,
    n: usize,
    k: usize,
    a_offset: usize,
    b_offset: usize,
    y_offset: usize,
}

/// Splits a batched, broadcasting matmul into single matrix products.
fn for_each_matrix(
    a_shape: &[usize],
    b_shape: &[usize],
    y_shape: &[usize],
    mut visit: impl FnMut(MatrixProduct),
) {
    let (a_rank, b_rank, y_rank) = (a_shape.len(), b_shape.len(), y_shape.len());
    assert!(
        a_rank >= 2 && b_rank >= 2 && y_rank >= 2,
        "matmul operands need rank >= 2"
    );
    let (m, k) = (a_shape[a_rank - 2], a_shape[a_rank - 1]);
    let n = b_shape[b_rank - 1];
    assert_eq!(b_shape[b_rank - 2], k, "matmul inner dimensions differ");
    assert_eq!(
        &y_shape[y_rank - 2..],
        &[m, n],
        "matmul output shape is wrong"
    );
    let (a_batch, b_batch, y_batch) = (
        &a_shape[..a_rank - 2],
        &b_shape[..b_rank - 2],
        &y_shape[..y_rank - 2],
    );
    let y_count: usize = y_batch.iter().product();
    let a_count: usize = a_batch.iter().product();
    let b_count: usize = b_batch.iter().product();
    if y_count == 0 {
        return;
    }
    if b_count == 1 && a_count == y_count {
        // Every batch entry multiplies the same B, and A's entries are stacked in output
        // order: one tall product does them all and keeps the blocking efficient.
        visit(MatrixProduct {
            m: y_count * m,
            n,
            k,
            a_offset: 0,
            b_offset: 0,
            y_offset: 0,
        });
        return;
    }
    let walker = Broadcast::new([a_batch, b_batch], y_batch);
    let run_len = walker.inner_len();
    let [a_stride, b_stride] = walker.inner_strides();
    walker.for_each_run(|y_entry, [a_entry, b_entry]| {
        for t in 0..run_len {
            visit(MatrixProduct {
                m,
                n,
                k,
                a_offset: (a_entry + t * a_stride) * m * k,
                b_offset: (b_entry + t * b_stride) * k * n,
                y_offset: (y_entry + t) * m * n,
            });
        }
    });
}

/// The inputs of one blocked product; `b` is `k × n`, or `n × k` when the kernel is
/// instantiated with `TRANS_B`.
struct Operands<'a> {
    m: usize,
    n: usize,
    k: usize,
    a: &'a [f32],
    trans_a: bool,
    b: &'a [f32],
}

/// Everything applied to a tile of `C` as it is stored.
#[derive(Clone, Copy)]
struct Epilogue<'a> {
    n: usize,
    alpha: f32,
    beta: f32,
    bias: Bias<'a>,
    act: Activation,
}

impl Epilogue<'_> {
    /// `row = alpha·row + beta·bias` for the segment of output row `row_idx` that starts
    /// at column `column0`.
    #[inline(always)]
    fn scale_and_add_bias(&self, row: &mut [f32], row_idx: usize, column0: usize) {
        let (alpha, beta) = (self.alpha, self.beta);
        let len = row.len();
        match self.bias {
            Bias::None => row.iter_mut().for_each(|v| *v *= alpha),
            Bias::Scalar(value) => {
                let offset = beta * value;
                row.iter_mut().for_each(|v| *v = alpha * *v + offset);
            }
            Bias::Col(values) => {
                let offset = beta * values[row_idx];
                row.iter_mut().for_each(|v| *v = alpha * *v + offset);
            }
            Bias::Row(values) => {
                for (v, &b) in row.iter_mut().zip(&values[column0..column0 + len]) {
                    *v = alpha * *v + beta * b;
                }
            }
            Bias::Full(values) => {
                let start = row_idx * self.n + column0;
                for (v, &b) in row.iter_mut().zip(&values[start..start + len]) {
                    *v = alpha * *v + beta * b;
                }
            }
        }
    }

    /// Applies alpha, bias and activation to a whole `m × n` output of raw products.
    fn finish(&self, y: &mut [f32]) {
        for (row_idx, row) in y.chunks_exact_mut(self.n).enumerate() {
            self.scale_and_add_bias(row, row_idx, 0);
            self.act.apply_slice(row);
        }
    }

    /// Stores a `ROWS × NR` accumulator tile (of which `row.len()` columns are real) at
    /// rows `row0..`, column `column0` of `y`. The first `k` block overwrites and adds the
    /// bias, later ones accumulate, and the last one applies the activation.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn store<const ROWS: usize>(
        &self,
        y: &mut [f32],
        row0: usize,
        column0: usize,
        width: usize,
        tile: &[[f32; NR]; ROWS],
        first: bool,
        last: bool,
    ) {
        for (i, tile_row) in tile.iter().enumerate() {
            let start = (row0 + i) * self.n + column0;
            let row = &mut y[start..start + width];
            let tile_row = &tile_row[..width];
            if first {
                row.copy_from_slice(tile_row);
                self.scale_and_add_bias(row, row0 + i, column0);
            } else {
                let alpha = self.alpha;
                for (v, &t) in row.iter_mut().zip(tile_row) {
                    *v += alpha * t;
                }
            }
            if last {
                self.act.apply_slice(row);
            }
        }
    }
}

/// The blocked product for `m, n ≥ 2`.
fn gemm_blocked<const TRANS_B: bool>(ops: &Operands<'_>, epilogue: &Epilogue<'_>, y: &mut [f32]) {
    let (m, n, k) = (ops.m, ops.n, ops.k);
    // Only a transposed B is packed; the buffer is not even zeroed otherwise.
    let mut packed_b = if TRANS_B {
        Some([0.0f32; KC * NR])
    } else {
        None
    };
    for k0 in (0..k).step_by(KC) {
        let depth = KC.min(k - k0);
        let (first, last) = (k0 == 0, k0 + depth == k);
        for block_row0 in (0..m).step_by(MC) {
            let block_rows = MC.min(m - block_row0);
            for column0 in (0..n).step_by(NR) {
                let width = NR.min(n - column0);
                let sliver = match packed_b.as_mut() {
                    Some(buffer) => {
                        pack_transposed_b(ops.b, k, k0, depth, column0, width, buffer);
                        BSliver::Packed(&buffer[..depth * NR])
                    }
                    None if width == NR => BSliver::Rows(&ops.b[k0 * n + column0..], n),
                    None => BSliver::Edge(&ops.b[k0 * n + column0..], n, width),
                };
                let mut row0 = block_row0;
                let block_end = block_row0 + block_rows;
                while row0 + MR <= block_end {
                    let tile = row_tile::<MR>(ops, row0, k0, depth, sliver);
                    epilogue.store(y, row0, column0, width, &tile, first, last);
                    row0 += MR;
                }
                // Two leftover rows still share each loaded sliver row.
                if row0 + 2 <= block_end {
                    let tile = row_tile::<2>(ops, row0, k0, depth, sliver);
                    epilogue.store(y, row0, column0, width, &tile, first, last);
                    row0 += 2;
                }
                while row0 < block_end {
                    let tile = row_tile::<1>(ops, row0, k0, depth, sliver);
                    epilogue.store(y, row0, column0, width, &tile, first, last);
                    row0 += 1;
                }
            }
        }
    }
}

/// Copies columns `column0..column0 + width` of `Bᵀ` (rows of the `n × k` matrix `b`),
/// depths `k0..k0 + depth`, into `buffer` as `depth` rows of `NR`, zero-padded.
fn pack_transposed_b(
    b: &[f32],
    k: usize,
    k0: usize,
    depth: usize,
    column0: usize,
    width: usize,
    buffer: &mut [f32; KC * NR],
) {
    let buffer = &mut buffer[..depth * NR];
    if width < NR {
        buffer.fill(0.0);
    }
    for j in 0..width {
        let source = &b[(column0 + j) * k + k0..][..depth];
        for (packed_row, &value) in buffer.chunks_exact_mut(NR).zip(source) {
            packed_row[j] = value;
        }
    }
}

/// Where the microkernel reads its `depth × NR` sliver of `B`.
#[derive(Clone, Copy)]
enum BSliver<'a> {
    /// `NR` columns of a row-major `B`, rows `stride` apart.
    Rows(&'a [f32], usize),
    /// The last, narrower columns of a row-major `B`: rows `stride` apart, `width` wide.
    Edge(&'a [f32], usize, usize),
    /// A packed sliver, `NR` floats per row.
    Packed(&'a [f32]),
}

/// Computes the `ROWS × NR` tile at `row0` for depths `k0..k0 + depth`, choosing the
/// loads for A's layout and B's sliver once, outside the loop.
#[inline(always)]
fn row_tile<const ROWS: usize>(
    ops: &Operands<'_>,
    row0: usize,
    k0: usize,
    depth: usize,
    sliver: BSliver<'_>,
) -> [[f32; NR]; ROWS] {
    if ops.trans_a {
        // Aᵀ is k × m: the tile's ROWS values for one depth are adjacent.
        let m = ops.m;
        let a = &ops.a[k0 * m + row0..];
        let load_a =
            |p: usize| -> [f32; ROWS] { a[p * m..p * m + ROWS].try_into().unwrap_or([0.0; ROWS]) };
        tile_with_b(depth, load_a, sliver)
    } else {
        let k = ops.k;
        let a_rows: [&[f32]; ROWS] =
            core::array::from_fn(|i| &ops.a[(row0 + i) * k + k0..][..depth]);
        let load_a = |p: usize| -> [f32; ROWS] { core::array::from_fn(|i| a_rows[i][p]) };
        tile_with_b(depth, load_a, sliver)
    }
}

#[inline(always)]
fn tile_with_b<const ROWS: usize>(
    depth: usize,
    load_a: impl Fn(usize) -> [f32; ROWS],
    sliver: BSliver<'_>,
) -> [[f32; NR]; ROWS] {
    match sliver {
        BSliver::Rows(b, stride) => {
            let b = &b[..(depth - 1) * stride + NR];
            microkernel(depth, load_a, |p| {
                b[p * stride..p * stride + NR]
                    .try_into()
                    .unwrap_or([0.0; NR])
            })
        }
        BSliver::Edge(b, stride, width) => {
            let b = &b[..(depth - 1) * stride + width];
            microkernel(depth, load_a, |p| {
                let mut row = [0.0; NR];
                row[..width].copy_from_slice(&b[p * stride..p * stride + width]);
                row
            })
        }
        BSliver::Packed(b) => {
            let b = &b[..depth * NR];
            microkernel(depth, load_a, |p| {
                b[p * NR..p * NR + NR].try_into().unwrap_or([0.0; NR])
            })
        }
    }
}

/// The register-tiled inner product: `ROWS × NR` accumulators, one rank-1 update per
/// depth. After inlining, `acc` lives in vector registers.
#[inline(always)]
fn microkernel<const ROWS: usize>(
    depth: usize,
    load_a: impl Fn(usize) -> [f32; ROWS],
    load_b: impl Fn(usize) -> [f32; NR],
) -> [[f32; NR]; ROWS] {
    let mut acc = [[0.0f32; NR]; ROWS];
    for p in 0..depth {
        let a = load_a(p);
        let b = load_b(p);
        for (acc_row, &a_value) in acc.iter_mut().zip(&a) {
            for (acc_value, &b_value) in acc_row.iter_mut().zip(&b) {
                *acc_value += a_value * b_value;
            }
        }
    }
    acc
}

/// `out[j] = Σ_p vector[p] · matrix[p][j]` for a row-major `vector.len() × columns`
/// matrix: one row at a time into the output, which stays in L1.
///
/// Each step is a fused multiply-add in `p` order, the order and rounding of ONNX
/// Runtime's SGEMM on FMA hardware. Matrix-vector products are memory-bound, so the exact
/// product costs little here, and recurrent models (whose state amplifies every rounding
/// difference) then track the reference step for step.
fn gemv_axpy(matrix: &[f32], columns: usize, vector: &[f32], out: &mut [f32]) {
    let out = &mut out[..columns];
    out.fill(0.0);
    for (row, &v) in matrix.chunks_exact(columns).zip(vector) {
        for (o, &x) in out.iter_mut().zip(row) {
            *o = crate::scalar::fmadd(v, x, *o);
        }
    }
}

/// `out[i] = dot(matrix[i], vector)` for a row-major `out.len() × len` matrix, four rows
/// at a time so each loaded chunk of the vector serves four rows.
fn gemv_dot(matrix: &[f32], len: usize, vector: &[f32], out: &mut [f32]) {
    let vector = &vector[..len];
    let rows = out.len();
    let row = |i: usize| &matrix[i * len..][..len];
    let mut i = 0;
    while i + 4 <= rows {
        let sums = dot4([row(i), row(i + 1), row(i + 2), row(i + 3)], vector);
        out[i..i + 4].copy_from_slice(&sums);
        i += 4;
    }
    while i < rows {
        out[i] = dot(row(i), vector);
        i += 1;
    }
}

/// Independent lanes per dot product: enough to hide the latency of the adds.
const DOT_LANES: usize = 8;

/// Four dot products against one vector; `rows[r].len() == vector.len()`.
#[inline]
fn dot4(rows: [&[f32]; 4], vector: &[f32]) -> [f32; 4] {
    let len = vector.len();
    let full = len - len % DOT_LANES;
    let mut acc = [[0.0f32; DOT_LANES]; 4];
    for c in (0..full).step_by(DOT_LANES) {
        let v: &[f32; DOT_LANES] = vector[c..c + DOT_LANES]
            .try_into()
            .unwrap_or(&[0.0; DOT_LANES]);
        for (acc_row, row) in acc.iter_mut().zip(&rows) {
            let r: &[f32; DOT_LANES] = row[c..c + DOT_LANES]
                .try_into()
                .unwrap_or(&[0.0; DOT_LANES]);
            for l in 0..DOT_LANES {
                acc_row[l] += r[l] * v[l];
            }
        }
    }
    core::array::from_fn(|r| {
        let tail: f32 = rows[r][full..len]
            .iter()
            .zip(&vector[full..])
            .map(|(a, b)| a * b)
            .sum();
        horizontal_sum(&acc[r]) + tail
    })
}

/// One dot product of equal-length slices.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 2 * DOT_LANES];
    let a_chunks = a.chunks_exact(2 * DOT_LANES);
    let b_chunks = b.chunks_exact(2 * DOT_LANES);
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for l in 0..2 * DOT_LANES {
            acc[l] += x[l] * y[l];
        }
    }
    horizontal_sum(&acc) + tail
}

/// Sums lanes pairwise, which is both faster and more accurate than left to right.
#[inline(always)]
fn horizontal_sum<const LANES: usize>(lanes: &[f32; LANES]) -> f32 {
    let mut lanes = *lanes;
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            lanes[l] += lanes[l + width];
        }
    }
    lanes[0]
}

/// ONNX `Einsum` by brute force over the label space: `labels` holds each label's extent;
/// `strides[k][l]` is input `k`'s element stride along label `l` (0 when the input lacks
/// it or broadcasts it) and `out_strides[l]` the output's (0 for summed labels).
pub fn einsum<T: crate::scalar::Scalar>(
    inputs: &[&[T]],
    strides: &[&[usize]],
    labels: &[usize],
    out_strides: &[usize],
    y: &mut [T],
) {
    y.fill(T::ZERO);
    let n_labels = labels.len();
    if labels.contains(&0) {
        return;
    }
    let mut index = [0usize; 32];
    assert!(n_labels <= index.len(), "too many Einsum labels");
    let mut offsets = [0usize; 8];
    assert!(inputs.len() <= offsets.len(), "too many Einsum inputs");
    let mut out = 0usize;
    loop {
        let mut product = T::ONE;
        for (k, x) in inputs.iter().enumerate() {
            product = product.mul(x[offsets[k]]);
        }
        y[out] = y[out].add(product);
        // Next point of the label space.
        let mut l = n_labels;
        loop {
            if l == 0 {
                return;
            }
            l -= 1;
            index[l] += 1;
            out += out_strides[l];
            for (k, s) in strides.iter().enumerate() {
                offsets[k] += s[l];
            }
            if index[l] < labels[l] {
                break;
            }
            index[l] = 0;
            out -= out_strides[l] * labels[l];
            for (k, s) in strides.iter().enumerate() {
                offsets[k] -= s[l] * labels[l];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    /// Deterministic test values in [-1, 1) that are not all representable round numbers.
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5) - 1.0)
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn naive_gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        trans_a: bool,
        b: &[f32],
        trans_b: bool,
        alpha: f32,
        beta: f32,
        bias: Bias<'_>,
        act: Activation,
    ) -> Vec<f32> {
        let mut y = std::vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut sum = 0.0f64;
                for p in 0..k {
                    let a_value = if trans_a { a[p * m + i] } else { a[i * k + p] };
                    let b_value = if trans_b { b[j * k + p] } else { b[p * n + j] };
                    sum += a_value as f64 * b_value as f64;
                }
                let bias_value = match bias {
                    Bias::None => 0.0,
                    Bias::Scalar(v) => v,
                    Bias::Row(v) => v[j],
                    Bias::Col(v) => v[i],
                    Bias::Full(v) => v[i * n + j],
                };
                y[i * n + j] = act.apply(alpha * sum as f32 + beta * bias_value);
            }
        }
        y
    }

    fn assert_close(actual: &[f32], expected: &[f32], tolerance: f32, context: &str) {
        assert_eq!(actual.len(), expected.len(), "{context}");
        for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (a - e).abs() <= tolerance * e.abs().max(1.0),
                "{context}: element {i}: {a} vs {e}"
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        m: usize,
        n: usize,
        k: usize,
        trans_a: bool,
        trans_b: bool,
        alpha: f32,
        beta: f32,
        bias: Bias<'_>,
        act: Activation,
    ) {
        let a = values(m * k, 1);
        let b = values(k * n, 2);
        let mut y = std::vec![f32::NAN; m * n];
        gemm(
            m, n, k, &a, trans_a, &b, trans_b, alpha, beta, bias, act, &mut y,
        );
        let expected = naive_gemm(m, n, k, &a, trans_a, &b, trans_b, alpha, beta, bias, act);
        // The kernel sums in f32 in a different order than the f64 reference.
        let tolerance = 1e-5 * (k as f32).max(1.0).sqrt();
        let context =
            std::format!("m={m} n={n} k={k} trans_a={trans_a} trans_b={trans_b} bias={bias:?}");
        assert_close(&y, &expected, tolerance, &context);
    }

    #[test]
    fn gemm_matches_naive_for_odd_sizes_and_all_transposes() {
        for m in 1..=17 {
            for n in [1, 2, 3, 5, 8, 9, 15, 16, 17] {
                for k in [1, 2, 3, 7, 16, 17] {
                    for (trans_a, trans_b) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        check(
                            m,
                            n,
                            k,
                            trans_a,
                            trans_b,
                            1.0,
                            1.0,
                            Bias::None,
                            Activation::None,
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn gemm_crosses_k_and_m_blocks() {
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
            check(
                5,
                19,
                KC + 37,
                trans_a,
                trans_b,
                1.0,
                1.0,
                Bias::None,
                Activation::None,
            );
            check(
                MC + 6,
                21,
                9,
                trans_a,
                trans_b,
                1.0,
                1.0,
                Bias::None,
                Activation::None,
            );
            check(
                1,
                40,
                2 * KC + 3,
                trans_a,
                trans_b,
                1.0,
                1.0,
                Bias::None,
                Activation::None,
            );
            check(
                33,
                1,
                1100,
                trans_a,
                trans_b,
                1.0,
                1.0,
                Bias::None,
                Activation::None,
            );
        }
        check(
            2,
            1030,
            5,
            false,
            false,
            1.0,
            1.0,
            Bias::None,
            Activation::None,
        );
        check(
            1,
            1030,
            5,
            false,
            false,
            1.0,
            1.0,
            Bias::None,
            Activation::None,
        );
    }

    #[test]
    fn gemm_applies_every_bias_kind_alpha_beta_and_activation() {
        let (m, n) = (6, 11);
        let row = values(n, 3);
        let col = values(m, 4);
        let full = values(m * n, 5);
        let biases = [
            Bias::None,
            Bias::Scalar(0.25),
            Bias::Row(&row),
            Bias::Col(&col),
            Bias::Full(&full),
        ];
        let acts = [
            Activation::None,
            Activation::Relu,
            Activation::Clip {
                min: -0.5,
                max: 0.5,
            },
        ];
        for bias in biases {
            for act in acts {
                for (mm, nn, k) in [(m, n, 7), (1, n, 7), (m, 1, 7), (m, n, KC + 1), (m, n, 0)] {
                    let bias = match bias {
                        Bias::Row(v) => Bias::Row(&v[..nn]),
                        Bias::Col(v) => Bias::Col(&v[..mm]),
                        Bias::Full(v) => Bias::Full(&v[..mm * nn]),
                        other => other,
                    };
                    for (trans_a, trans_b) in [(false, false), (true, true)] {
                        check(mm, nn, k, trans_a, trans_b, 0.5, -2.0, bias, act);
                    }
                }
            }
        }
    }

    #[test]
    fn gemm_with_empty_dims_writes_nothing() {
        let mut y: [f32; 0] = [];
        gemm(
            0,
            3,
            2,
            &[],
            false,
            &[0.0; 6],
            false,
            1.0,
            1.0,
            Bias::None,
            Activation::None,
            &mut y,
        );
    }

    #[test]
    fn matmul_broadcasts_batches() {
        // a [2, 1, 2, 3] × b [3, 3, 2] → y [2, 3, 2, 2].
        let a = values(12, 6);
        let b = values(18, 7);
        let mut y = std::vec![0.0; 24];
        matmul(
            &a,
            &[2, 1, 2, 3],
            &b,
            &[3, 3, 2],
            None,
            Activation::None,
            &mut y,
            &[2, 3, 2, 2],
        );
        for batch0 in 0..2 {
            for batch1 in 0..3 {
                let expected = naive_gemm(
                    2,
                    2,
                    3,
                    &a[batch0 * 6..][..6],
                    false,
                    &b[batch1 * 6..][..6],
                    false,
                    1.0,
                    0.0,
                    Bias::None,
                    Activation::None,
                );
                let offset = (batch0 * 3 + batch1) * 4;
                assert_close(&y[offset..offset + 4], &expected, 1e-6, "batched matmul");
            }
        }
    }

    #[test]
    fn matmul_folds_an_unbatched_b_and_fuses_bias_and_relu() {
        // a [2, 3, 4] × b [4, 5] + bias [5], relu.
        let a = values(24, 8);
        let b = values(20, 9);
        let bias = values(5, 10);
        let mut y = std::vec![0.0; 30];
        matmul(
            &a,
            &[2, 3, 4],
            &b,
            &[4, 5],
            Some(&bias),
            Activation::Relu,
            &mut y,
            &[2, 3, 5],
        );
        let expected = naive_gemm(
            6,
            5,
            4,
            &a,
            false,
            &b,
            false,
            1.0,
            1.0,
            Bias::Row(&bias),
            Activation::Relu,
        );
        assert_close(&y, &expected, 1e-6, "folded matmul");
    }

    #[test]
    fn matmul_generic_wraps_integers() {
        // [2, 2] × [2, 2] in i8 with an overflowing product.
        let mut y = [0i8; 4];
        matmul_generic(
            &[100i8, 1, 2, 3],
            &[2, 2],
            &[2i8, 0, 0, 1],
            &[2, 2],
            &mut y,
            &[2, 2],
        );
        assert_eq!(y, [200u8 as i8, 1, 4, 3]);
        // Batched: a [2, 1, 2] × b [2, 1] broadcast → y [2, 1, 1].
        let mut y = [0i32; 2];
        matmul_generic(
            &[1, 2, 3, 4],
            &[2, 1, 2],
            &[10, 100],
            &[2, 1],
            &mut y,
            &[2, 1, 1],
        );
        assert_eq!(y, [210, 430]);
        // b batched, a not: a [1, 2] × b [3, 2, 1].
        let mut y = [0i64; 3];
        matmul_generic(
            &[1, 1],
            &[1, 2],
            &[1, 2, 3, 4, 5, 6],
            &[3, 2, 1],
            &mut y,
            &[3, 1, 1],
        );
        assert_eq!(y, [3, 7, 11]);
    }

    #[test]
    fn dot_handles_every_tail_length() {
        for len in 0..40 {
            let a = values(len, 11);
            let b = values(len, 12);
            let expected: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            assert!((dot(&a, &b) as f64 - expected).abs() < 1e-5, "len {len}");
        }
    }
}
