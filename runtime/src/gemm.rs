//! Dense matrix products: ONNX `Gemm` and `MatMul`, and the GEMM behind 1×1 convolutions
//! and fully connected layers.
//!
//! Products with `m, n ≥ 2` run on one of two blocked kernels, chosen by the target at
//! compile time:
//!
//! * [`packed`] (x86_64, AArch64): packed panels of `A` and `B` in fixed stack buffers and
//!   an explicit-SIMD `6 × 16` microkernel of vector fused multiply-adds;
//! * [`scalar`] (everything else, such as Cortex-M): the register-tiled scalar kernel.
//!
//! `m = 1` and `n = 1` are matrix-vector products and go to dedicated loops whose
//! summation order is fixed (see [`gemv_axpy`]).
//!
//! Bias, `alpha`, `beta` and the fused activation are applied while a tile of `C` is
//! stored, so the output is written once per `k` block and never swept again.
//!
//! The blocked kernels pack panels into caller-provided scratch ([`gemm_with_scratch`]):
//! generated code passes a slice of its arena, sized by [`scratch_len`], which the memory
//! planner reserves for the node. [`gemm`] keeps a fixed stack buffer for the runtime's
//! own callers (batched `matmul`, constant folding).

use crate::scalar::Scalar;
use crate::shape::Broadcast;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
use crate::unroll::array;
use crate::unroll::unroll;
use crate::Activation;

/// The rows of `C` in one register tile of the scalar kernel (and of the direct
/// convolution, which shares its tile shape).
pub(crate) const MR: usize = 4;
/// The columns of `C` in one register tile of the scalar kernel: four vectors wide where
/// there are enough vector registers, one 4-lane row of scalars on 32-bit Arm (Cortex-M).
/// SIMD targets compile the scalar kernel only for its tests.
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
pub(crate) const NR: usize = if cfg!(target_arch = "arm") {
    4
} else if cfg!(any(target_feature = "avx", target_arch = "aarch64")) {
    16
} else {
    8
};

/// The depth of one `k` block, in every blocked kernel.
pub(crate) const KC: usize = 256;
/// The rows of one packed register tile of `A` in the SIMD kernel.
const PACKED_MR: usize = 6;
/// The rows of one panel of `A` in the SIMD kernel's narrow tiles (two 8-lane vectors).
const NARROW_PANEL_ROWS: usize = 16;
/// The shallowest product the narrow tiles take: they store lane by lane, which fewer
/// depths do not amortise.
const NARROW_MIN_DEPTH: usize = 32;
/// The rows of one packed block of `A` in the SIMD kernel: eight register tiles.
const PACKED_MC: usize = 8 * PACKED_MR;
/// The widest sliver of `B` any kernel packs (the SIMD kernel with AVX or on AArch64);
/// scratch is sized for it so one figure serves every target.
pub(crate) const MAX_SLIVER_COLUMNS: usize = 16;

/// The floats of scratch [`gemm_with_scratch`] needs for an `m × n × k` product, on every
/// target: the packed block of `A` (at most [`PACKED_MC`] rows, rounded up to whole
/// register tiles, of one `k` block) and one packed sliver of `B`. Matrix-vector products
/// and empty ones need none.
pub const fn scratch_len(m: usize, n: usize, k: usize) -> usize {
    if m < 2 || n < 2 || k == 0 {
        return 0;
    }
    blocked_scratch_len(m, k)
}

/// The scratch of the blocked product with `m ≥ 1` rows of `A` and depth `k ≥ 1`,
/// whatever `n` is (the implicit GEMM packs `B` even for one column).
pub(crate) const fn blocked_scratch_len(m: usize, k: usize) -> usize {
    let depth = if k < KC { k } else { KC };
    let rows = if m < PACKED_MC {
        m.div_ceil(PACKED_MR) * PACKED_MR
    } else {
        PACKED_MC
    };
    (rows + MAX_SLIVER_COLUMNS) * depth
}

/// The most scratch any blocked product needs: one block of `A` and one sliver of `B`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) const MAX_BLOCKED_SCRATCH: usize = (PACKED_MC + MAX_SLIVER_COLUMNS) * KC;

/// The stack buffer [`gemm`] lends the blocked kernel: the largest scratch of the SIMD
/// kernel (64 KiB), or one sliver of `B` for the scalar kernel (4 KiB on Cortex-M).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) const STACK_SCRATCH: usize = MAX_BLOCKED_SCRATCH;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub(crate) const STACK_SCRATCH: usize = KC * NR;

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod packed;
pub mod panels;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) use packed::{frame_takes_narrow, narrow_block_vectors, BSource, Frame, SLIVER_COLUMNS};
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
mod scalar;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) mod simd;

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
/// B is k×n row-major (n×k if trans_b). The blocked kernels pack into a stack buffer;
/// generated code calls [`gemm_with_scratch`] with arena scratch instead.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
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
    if scratch_len(m, n, k) == 0 {
        gemm_with_scratch(
            m,
            n,
            k,
            a,
            trans_a,
            b,
            trans_b,
            alpha,
            beta,
            bias,
            act,
            &mut [],
            y,
        );
        return;
    }
    let mut scratch = [0.0f32; STACK_SCRATCH];
    gemm_with_scratch(
        m,
        n,
        k,
        a,
        trans_a,
        b,
        trans_b,
        alpha,
        beta,
        bias,
        act,
        &mut scratch,
        y,
    );
}

/// [`gemm`] with the blocked kernels' packing buffers in `scratch`, which needs at least
/// [`scratch_len`]`(m, n, k)` floats; its contents on entry do not matter (every packed
/// value is written before it is read, so nothing is zero-filled up front).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn gemm_with_scratch(
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
    scratch: &mut [f32],
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
    blocked(&operands, trans_b, &epilogue, scratch, y);
}

/// `y[m × n] = act(A·B + bias)` with `A` row-major `m × k` (or `k × m`, its transpose,
/// with `trans_a`) and `B` never in memory: the
/// product packs each sliver of `B` through `source` (an implicit GEMM, such as a
/// convolution's im2col matrix built tile by tile). `scratch` holds at least
/// `blocked_scratch_len(m, k)` floats. SIMD targets only.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_implicit(
    m: usize,
    n: usize,
    k: usize,
    (a, trans_a): (&[f32], bool),
    bias: Bias<'_>,
    act: Activation,
    source: &impl BSource,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let y = &mut y[..m * n];
    let a = &a[..m * k];
    let epilogue = Epilogue {
        n,
        alpha: 1.0,
        beta: 1.0,
        bias,
        act,
    };
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        y.fill(0.0);
        epilogue.finish(y);
        return;
    }
    let operands = Operands {
        m,
        n,
        k,
        a,
        trans_a,
        b: &[],
    };
    packed::gemm_packed_source(&operands, source, &epilogue, scratch, y);
}

/// The floats of the packed block of `A` alone (without a sliver of `B`) for `m ≥ 1`
/// rows and depth `k ≥ 1`: what [`gemm_frame`] takes from the front of its scratch.
pub(crate) const fn packed_a_len(m: usize, k: usize) -> usize {
    let depth = if k < KC { k } else { KC };
    // The sliver kernel's panels of `PACKED_MR` rows or, deep enough for it, the narrow
    // kernel's.
    let wide = m.div_ceil(PACKED_MR) * PACKED_MR;
    let narrow = if k < NARROW_MIN_DEPTH {
        0
    } else {
        m.div_ceil(NARROW_PANEL_ROWS) * NARROW_PANEL_ROWS
    };
    let rows = if wide > narrow { wide } else { narrow };
    let rows = if rows < PACKED_MC { rows } else { PACKED_MC };
    rows * depth
}

/// What the front of a framed product's scratch holds (see [`gemm_frame`]).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Packed {
    /// Nothing a later call may reuse.
    Nothing,
    /// All of `A`, in the sliver kernel's panels.
    Wide,
    /// All of `A`, in the narrow kernel's panels.
    Narrow,
    /// All of `A`, in the 8-row panels of AVX-512 frames.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    Eight,
}

/// `y = act(A·B + bias)` with `A` row-major `m × k` (or `k × m`, its transpose, with
/// `trans_a`: a convolution's weights as the compiler blocks them), `bias` per row, and `B` read in
/// place from `frame` (depth `p`'s row at the offset `taps` writes for it: `taps(k0, out)`
/// fills `out[i]` with depth `k0 + i`'s, see [`Frame`]); `y` holds `m`
/// rows of `n` columns, of which the frame writes its own. `scratch` holds at least
/// [`packed_a_len`]`(m, k)` floats. SIMD targets only.
///
/// `packed` says what the front of `scratch` holds from the previous call with the same
/// `A` (a convolution's earlier band), and is updated: a product whose `A` is one packed
/// block is packed once for all its bands.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_frame(
    m: usize,
    n: usize,
    k: usize,
    (a, trans_a): (&[f32], bool),
    bias: Bias<'_>,
    act: Activation,
    frame: &Frame<'_>,
    taps: impl Fn(usize, &mut [usize]),
    packed: &mut Packed,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let y = &mut y[..m * n];
    let a = &a[..m * k];
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let epilogue = Epilogue {
        n,
        alpha: 1.0,
        beta: 1.0,
        bias,
        act,
    };
    let operands = Operands {
        m,
        n,
        k,
        a,
        trans_a,
        b: &[],
    };
    if packed::narrow_pays(m, k, frame, false) {
        let depths = packed::Depths::Taps(taps);
        packed::gemm_packed_narrow(&operands, frame, depths, &epilogue, (packed, scratch), y);
        return;
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    if packed::eights_pay(m, k, &epilogue) {
        packed::gemm_frame_eights(&operands, frame, taps, &epilogue, (packed, scratch), y);
    } else {
        packed::gemm_packed_frame(&operands, frame, taps, &epilogue, (packed, scratch), y);
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    {
        packed::gemm_packed_frame(&operands, frame, taps, &epilogue, (packed, scratch), y);
    }
}

/// The blocked product for `m, n ≥ 2` on a target with SIMD.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn blocked(
    operands: &Operands<'_>,
    trans_b: bool,
    epilogue: &Epilogue<'_>,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    // A row-major `B` is a frame of one row whose depth `p` starts at `p · n`: few
    // columns and many rows take the narrow tiles (its panels fit the scratch reserved
    // for the wide ones and a sliver of `B`).
    let frame = Frame {
        data: operands.b,
        rows: 1,
        pitch: operands.n,
        width: operands.n,
        column0: 0,
        run: 1,
        step: 1,
    };
    if trans_b {
        packed::gemm_packed::<true>(operands, epilogue, scratch, y);
    } else if packed::narrow_pays(operands.m, operands.k, &frame, true)
        || packed::narrow_in_place_pays(operands)
    {
        let n = operands.n;
        let depths = packed::Depths::<fn(usize, &mut [usize])>::Strided(n);
        let mut packed = Packed::Nothing;
        packed::gemm_packed_narrow(
            operands,
            &frame,
            depths,
            epilogue,
            (&mut packed, scratch),
            y,
        );
    } else {
        packed::gemm_packed::<false>(operands, epilogue, scratch, y);
    }
}

/// The blocked product for `m, n ≥ 2` on a target without SIMD.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn blocked(
    operands: &Operands<'_>,
    trans_b: bool,
    epilogue: &Epilogue<'_>,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    if trans_b {
        scalar::gemm_blocked::<true>(operands, epilogue, scratch, y);
    } else {
        scalar::gemm_blocked::<false>(operands, epilogue, scratch, y);
    }
}

/// numpy matmul: a_shape, b_shape rank >= 2 (the caller turns 1-D operands into [1,k] /
/// [k,1]), batch dims broadcast; y_shape is the broadcast batch dims + [m, n]. `bias`
/// (len n) is added to every row before `act` (a fused Add).
/// The blocked products pack into a stack buffer; generated code calls
/// [`matmul_with_scratch`] with arena scratch instead.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
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
    if matmul_scratch_len(a_shape, b_shape, y_shape) == 0 {
        matmul_with_scratch(a, a_shape, b, b_shape, bias, act, &mut [], y, y_shape);
        return;
    }
    let mut scratch = [0.0f32; STACK_SCRATCH];
    matmul_with_scratch(a, a_shape, b, b_shape, bias, act, &mut scratch, y, y_shape);
}

/// The floats of scratch [`matmul_with_scratch`] needs for the products it runs (the
/// whole batch stacked over one `B`, or one product per batch entry), on every target.
/// The shapes are [`matmul`]'s.
pub fn matmul_scratch_len(a_shape: &[usize], b_shape: &[usize], y_shape: &[usize]) -> usize {
    let (Some((a_batch, &[_, k])), Some((b_batch, &[_, n])), Some((y_batch, &[m, _]))) = (
        a_shape.split_last_chunk::<2>(),
        b_shape.split_last_chunk::<2>(),
        y_shape.split_last_chunk::<2>(),
    ) else {
        return 0;
    };
    let count = |dims: &[usize]| dims.iter().product::<usize>();
    // `for_each_matrix`'s rule: one tall product when every entry shares one B and A's
    // entries are stacked in output order, one product per entry otherwise.
    if count(b_batch) == 1 && count(a_batch) == count(y_batch) {
        scratch_len(count(y_batch).saturating_mul(m), n, k)
    } else {
        scratch_len(m, n, k)
    }
}

/// [`matmul`] with the blocked products' packing buffers in `scratch`, which needs at
/// least [`matmul_scratch_len`] floats; its contents on entry do not matter.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn matmul_with_scratch(
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
    y_shape: &[usize],
) {
    let bias = bias.map_or(Bias::None, Bias::Row);
    // A plain 2-D product (a fully connected layer) needs no batch walk. At a generated
    // call, where the shapes are constants, this leaves one GEMM call whose kernel choice
    // folds too; through the walk's closure it would not.
    if let ([m, k], [k_b, n], [m_y, n_y]) = (a_shape, b_shape, y_shape) {
        assert!(
            k == k_b && m == m_y && n == n_y,
            "matmul shapes do not agree"
        );
        if panels::row_major_pays(*m, *n, *k) {
            let bias = bias_row(bias);
            panels::gemm_row_major((*m, *n, *k), a, b, bias, act, y);
            return;
        }
        gemm(*m, *n, *k, a, false, b, false, 1.0, 1.0, bias, act, y);
        return;
    }
    for_each_matrix(a_shape, b_shape, y_shape, |product| {
        let MatrixProduct { m, n, k, .. } = product;
        if panels::row_major_pays(m, n, k) {
            panels::gemm_row_major(
                (m, n, k),
                &a[product.a_offset..][..m * k],
                &b[product.b_offset..][..k * n],
                bias_row(bias),
                act,
                &mut y[product.y_offset..][..m * n],
            );
            return;
        }
        gemm_with_scratch(
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
            scratch,
            &mut y[product.y_offset..][..m * n],
        );
    });
}

/// The per-column bias of a MatMul, back from its [`Bias`].
#[inline(always)]
fn bias_row(bias: Bias<'_>) -> Option<&[f32]> {
    match bias {
        Bias::Row(values) => Some(values),
        _ => None,
    }
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
#[inline(always)]
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

    /// Stores a segment of output row `row_idx` from column `column0` in scalar code:
    /// the first `k` block writes `values` scaled and biased, later ones add `alpha ·
    /// values` to the partial sums in `out`, and the last applies the activation.
    #[inline(always)]
    fn store_segment(
        &self,
        out: &mut [f32],
        values: &[f32],
        (row_idx, column0): (usize, usize),
        (first, last): (bool, bool),
    ) {
        if first {
            out.copy_from_slice(values);
            self.scale_and_add_bias(out, row_idx, column0);
        } else {
            let alpha = self.alpha;
            for (o, &v) in out.iter_mut().zip(values) {
                *o += alpha * v;
            }
        }
        if last {
            self.act.apply_slice(out);
        }
    }

    /// Applies alpha, bias and activation to a whole `m × n` output of raw products.
    fn finish(&self, y: &mut [f32]) {
        for (row_idx, row) in y.chunks_exact_mut(self.n).enumerate() {
            self.scale_and_add_bias(row, row_idx, 0);
            self.act.apply_slice(row);
        }
    }
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
    let done = gemv_axpy_vectors(matrix, columns, vector, out);
    let out = &mut out[done..];
    out.fill(0.0);
    for (row, &v) in matrix.chunks_exact(columns).zip(vector) {
        for (o, &x) in out.iter_mut().zip(&row[done..]) {
            *o = crate::scalar::fmadd(v, x, *o);
        }
    }
}

/// The leading columns of [`gemv_axpy`] in vectors of fused multiply-adds, on targets
/// whose vectors fuse them (the same single rounding that `scalar::fmadd` emulates), four
/// vectors of columns held across all rows. Written out for every opt level: at "z"
/// LLVM neither vectorises the scalar loop nor inlines its iterators. Returns how many
/// columns it wrote.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn gemv_axpy_vectors(matrix: &[f32], columns: usize, vector: &[f32], out: &mut [f32]) -> usize {
    use simd::{load_at, store_at, F32x8, LANES};
    const BLOCK: usize = 4;
    let rows = vector.len().min(matrix.len() / columns.max(1));
    let mut done = 0;
    while done + LANES <= columns {
        let vectors = if done + BLOCK * LANES <= columns {
            BLOCK
        } else {
            1
        };
        let mut acc = [F32x8::splat(0.0); BLOCK];
        // An index loop: an enumerating iterator stays a call at "z".
        #[allow(clippy::needless_range_loop)]
        for p in 0..rows {
            let v = F32x8::splat(vector[p]);
            let at = p * columns + done;
            if vectors == BLOCK {
                unroll!(BLOCK, |b| acc[b] =
                    v.mul_add(load_at(matrix, at + b * LANES), acc[b]));
            } else {
                acc[0] = v.mul_add(load_at(matrix, at), acc[0]);
            }
        }
        unroll!(BLOCK, |b| if b < vectors {
            store_at(acc[b], out, done + b * LANES);
        });
        done += vectors * LANES;
    }
    done
}

/// Without fused vectors every column takes the scalar loop.
#[cfg(not(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
)))]
#[inline(always)]
fn gemv_axpy_vectors(_matrix: &[f32], _columns: usize, _vector: &[f32], _out: &mut [f32]) -> usize {
    0
}

/// `out[i] = dot(matrix[i], vector)` for a row-major `out.len() × len` matrix, four rows
/// at a time so each loaded chunk of the vector serves four rows.
fn gemv_dot(matrix: &[f32], len: usize, vector: &[f32], out: &mut [f32]) {
    let vector = &vector[..len];
    let rows = out.len();
    let matrix = &matrix[..rows * len];
    let mut i = 0;
    while i + 4 <= rows {
        let mut four: [&[f32]; 4] = [&[]; 4];
        unroll!(4, |r| four[r] = &matrix[(i + r) * len..(i + r + 1) * len]);
        let sums = dot4(four, vector);
        unroll!(4, |r| out[i + r] = sums[r]);
        i += 4;
    }
    while i < rows {
        out[i] = dot(&matrix[i * len..(i + 1) * len], vector);
        i += 1;
    }
}

/// Independent lanes per dot product: enough to hide the latency of the adds. Two on
/// 32-bit Arm, where four rows of them plus their operands must fit the FPU's 32
/// registers; eight elsewhere (one vector).
const DOT_LANES: usize = if cfg!(target_arch = "arm") { 2 } else { 8 };

/// Four dot products against one vector; `rows[r].len() == vector.len()`. The lanes are
/// written out by [`unroll!`] and the tails are index loops, so the accumulators stay in
/// registers and nothing is left as a call at opt-level "z".
#[inline]
fn dot4(rows: [&[f32]; 4], vector: &[f32]) -> [f32; 4] {
    let len = vector.len();
    let full = len - len % DOT_LANES;
    let mut acc = [[0.0f32; DOT_LANES]; 4];
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        // One vector of lanes per row: the same products and sums lane by lane.
        use simd::{load_at, F32x8};
        let mut lanes = [F32x8::splat(0.0); 4];
        let mut c = 0;
        while c < full {
            let v = load_at(vector, c);
            unroll!(4, |r| lanes[r] = lanes[r].add(load_at(rows[r], c).mul(v)));
            c += DOT_LANES;
        }
        unroll!(4, |r| acc[r] = lanes[r].to_array());
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let mut c = 0;
        while c < full {
            let v: [f32; DOT_LANES] = array(&vector[c..c + DOT_LANES]);
            unroll!(4, |r| {
                let x: [f32; DOT_LANES] = array(&rows[r][c..c + DOT_LANES]);
                unroll!(DOT_LANES, |l| acc[r][l] += x[l] * v[l]);
            });
            c += DOT_LANES;
        }
    }
    let mut sums = [0.0; 4];
    unroll!(4, |r| {
        let row = &rows[r][..len];
        let mut tail = 0.0f32;
        // An index loop: a zipped iterator stays a call at "z".
        #[allow(clippy::needless_range_loop)]
        for j in full..len {
            tail += row[j] * vector[j];
        }
        sums[r] = horizontal_sum(&acc[r]) + tail;
    });
    sums
}

/// One dot product of equal-length slices.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 2 * DOT_LANES;
    let len = a.len().min(b.len());
    let full = len - len % LANES;
    let mut acc = [0.0f32; LANES];
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        // Two vectors of lanes: the same products and sums lane by lane.
        use simd::{load_at, F32x8, LANES as WIDTH};
        let mut lanes = [F32x8::splat(0.0); 2];
        let mut c = 0;
        while c < full {
            unroll!(2, |h| {
                let at = c + h * WIDTH;
                lanes[h] = lanes[h].add(load_at(a, at).mul(load_at(b, at)));
            });
            c += LANES;
        }
        unroll!(2, |h| {
            let values = lanes[h].to_array();
            unroll!(WIDTH, |l| acc[h * WIDTH + l] = values[l]);
        });
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let mut c = 0;
        while c < full {
            let x: [f32; LANES] = array(&a[c..c + LANES]);
            let y: [f32; LANES] = array(&b[c..c + LANES]);
            unroll!(LANES, |l| acc[l] += x[l] * y[l]);
            c += LANES;
        }
    }
    let mut tail = 0.0f32;
    // An index loop: a zipped iterator stays a call at "z".
    #[allow(clippy::needless_range_loop)]
    for j in full..len {
        tail += a[j] * b[j];
    }
    horizontal_sum(&acc) + tail
}

/// Sums lanes pairwise, which is both faster and more accurate than left to right.
#[inline(always)]
pub(crate) fn horizontal_sum<const LANES: usize>(lanes: &[f32; LANES]) -> f32 {
    const { assert!(LANES.is_power_of_two() && LANES <= 16) };
    let mut lanes = *lanes;
    // Four halvings at most, written out: `width` is a constant at every step once
    // unrolled, so every index is too and the lanes stay in registers at "z".
    let mut width = LANES;
    unroll!(4, |_step| if width > 1 {
        width /= 2;
        unroll!(8, |l| if l < width {
            lanes[l] += lanes[l + width];
        });
    });
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

    /// The depth of one `k` block in both blocked kernels.
    const KC: usize = 256;
    /// More rows than one row block of either blocked kernel (48 packed, 256 scalar).
    const MC: usize = 256;

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
            Activation::Sigmoid,
            Activation::Swish { alpha: 1.0 },
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

    /// Whether an `m × n × k` product with a row-major `B` takes the narrow tiles.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
    fn narrow_on_row_major(m: usize, n: usize, k: usize) -> bool {
        let b = values(k * n, 9);
        let frame = Frame {
            data: &b,
            rows: 1,
            pitch: n,
            width: n,
            column0: 0,
            run: 1,
            step: 1,
        };
        packed::narrow_pays(m, k, &frame, true)
    }

    /// Few columns, many rows and depths of 32 or more take the narrow tiles on AVX
    /// (asserted): row blocks of `A` and panels cut short, `k` blocks, every bias kind,
    /// alpha, beta and activation, each row's tile of 1 to 6 columns.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
    #[test]
    fn narrow_tiles_match_naive() {
        for (m, n, k) in [
            (40, 5, KC + 37),
            (MC + 20, 9, 64),
            (17, 2, 40),
            (100, 10, 33),
            (MC + 10, 8, 140),
            (96, 7, KC + 44),
            // In place, two `k` blocks of 550.
            (48, 11, 1100),
        ] {
            assert!(narrow_on_row_major(m, n, k), "{m} × {n} × {k}");
            let (row, col, full) = (values(n, 3), values(m, 4), values(m * n, 5));
            for bias in [
                Bias::None,
                Bias::Scalar(0.25),
                Bias::Row(&row),
                Bias::Col(&col),
                Bias::Full(&full),
            ] {
                let clip = Activation::Clip {
                    min: -0.5,
                    max: 0.75,
                };
                for act in [Activation::None, Activation::Relu, clip] {
                    check(m, n, k, false, false, 0.5, -2.0, bias, act);
                    // A transposed `A`, read in place where its rows are whole vectors.
                    check(m, n, k, true, false, 0.5, -2.0, bias, act);
                }
            }
        }
    }

    /// Without AVX-512, a transposed `A` of whole vectors (a 1 × 1 convolution's blocked
    /// weights) against a row-major `B` of at most 256 columns takes the narrow tiles,
    /// which read it in place, where the 6 × 16 tiles would idle too rarely for
    /// `narrow_pays` (asserted); one vector of rows, more columns or rows not in whole
    /// vectors keep the other tiles. Each product against the naive one.
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx",
        not(target_feature = "avx512f")
    ))]
    #[test]
    fn in_place_products_over_few_columns_take_the_narrow_tiles() {
        for (m, n, k, narrow) in [
            (64, 196, 96, true),
            (96, 144, 64, true),
            (32, 256, 40, true),
            (64, 300, 96, false),
            (16, 196, 96, false),
            (40, 196, 96, false),
            (64, 196, 20, false),
        ] {
            let (a, b) = (values(m * k, 1), values(k * n, 2));
            let ops = Operands {
                m,
                n,
                k,
                a: &a,
                trans_a: true,
                b: &b,
            };
            if narrow {
                assert!(
                    !narrow_on_row_major(m, n, k),
                    "{m} × {n} × {k}: narrow anyway"
                );
            }
            let taken = packed::narrow_in_place_pays(&ops);
            assert_eq!(taken, narrow, "{m} × {n} × {k}");
            let col = values(m, 4);
            check(
                m,
                n,
                k,
                true,
                false,
                1.0,
                1.0,
                Bias::Col(&col),
                Activation::Relu,
            );
            check(
                m,
                n,
                k,
                true,
                false,
                0.5,
                -2.0,
                Bias::None,
                Activation::None,
            );
        }
    }

    /// With AVX-512, a row-major `B` of many columns takes the wide tiles where the
    /// narrow tiles would compute more rows (24 rows are 32 narrow ones) or the product
    /// is one `k` block (asserted), on `k` blocks of one size (144 depths: one block;
    /// 300: two of 150); a deeper product of whole vectors keeps the narrow tiles, and with
    /// a transposed `A` reads it in place in one `k` block (600 depths) or in blocks of
    /// one size (1100: two of 550).
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    #[test]
    fn many_columns_pick_tiles_and_blocks() {
        for (m, n, k, narrow) in [
            (24, 300, 144, false),
            (24, 300, 300, false),
            (40, 270, 40, false),
            (32, 300, 40, false),
            (32, 300, 64, false),
            (32, 300, 256, false),
            (32, 300, 300, true),
            (32, 20, 600, true),
            (16 * 3, 9, 1100, true),
            // Rows of 49 and 17 columns: tiles of eight that give their last one or
            // two columns to tiles of nine.
            (48, 49, 320, true),
            (64, 17, 96, true),
        ] {
            assert_eq!(narrow_on_row_major(m, n, k), narrow, "{m} × {n} × {k}");
            let col = values(m, 4);
            for bias in [Bias::None, Bias::Col(&col)] {
                for act in [Activation::None, Activation::Relu] {
                    check(m, n, k, false, false, 1.0, 1.0, bias, act);
                    check(m, n, k, true, false, 1.0, 1.0, bias, act);
                    check(m, n, k, true, false, 0.5, -2.0, bias, act);
                }
            }
        }
    }

    /// With AVX-512, a frame (a k × k convolution) whose rows are two or three whole
    /// vectors takes the narrow tiles on any plane; one vector, or rows the 6-row panels
    /// compute fewer of (24 and 40 output channels), keep the wide tiles on a plane of
    /// 16 × 16. The products themselves are checked by the convolution tests.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    #[test]
    fn frames_of_whole_vectors_take_the_narrow_tiles() {
        let data = values(32 * 18 * 18, 9);
        let frame = Frame {
            data: &data,
            rows: 8,
            pitch: 18,
            width: 16,
            column0: 0,
            run: 1,
            step: 1,
        };
        for (m, narrow) in [
            (16, false),
            (24, false),
            (32, true),
            (40, false),
            (48, true),
        ] {
            assert_eq!(
                packed::narrow_pays(m, 288, &frame, false),
                narrow,
                "{m} rows"
            );
        }
        assert!(!packed::narrow_pays(32, 27, &frame, false), "27 depths");
    }

    /// With AVX-512, frames of 8, 16, 32 or 40 rows (fewer in panels of 8 than of 6) of
    /// one `k` block and a bias per row take the 8-row panels; 24 rows (as many either
    /// way), two `k` blocks or another epilogue keep the 6-row ones. The products are
    /// checked by the convolution tests.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    #[test]
    fn frames_of_eights_take_the_8_row_panels() {
        let bias = values(64, 3);
        let epilogue = |bias| Epilogue {
            n: 100,
            alpha: 1.0,
            beta: 1.0,
            bias,
            act: Activation::Relu,
        };
        let col = epilogue(Bias::Col(&bias));
        for (m, k, eights) in [
            (8, 27, true),
            (16, 144, true),
            (40, 256, true),
            (24, 144, false),
            (16, 300, false),
            (12, 144, false),
        ] {
            assert_eq!(packed::eights_pay(m, k, &col), eights, "{m} × {k}");
        }
        assert!(packed::eights_pay(16, 144, &epilogue(Bias::None)));
        assert!(!packed::eights_pay(16, 144, &epilogue(Bias::Full(&bias))));
    }

    /// A row-major `B` of whole slivers under the 8-row panels (`packed::eights_pay`):
    /// row counts of one and two blocks of `MC` rows, column counts ending on tiles of
    /// three, two and one slivers, a bias per row, no bias, and a ReLU or a clip.
    #[test]
    fn row_major_products_of_eights_match_naive() {
        for m in [8, 16, 32, 56, 64] {
            for n in [48, 80, 96, 112] {
                for k in [1, 9, 40] {
                    let bias = values(m, 4);
                    check(
                        m,
                        n,
                        k,
                        false,
                        false,
                        1.0,
                        1.0,
                        Bias::Col(&bias),
                        Activation::Relu,
                    );
                    let clip = Activation::Clip {
                        min: -0.5,
                        max: 0.75,
                    };
                    check(m, n, k, false, false, 1.0, 1.0, Bias::None, clip);
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

    /// The scalar blocked kernel, called directly: on SIMD hosts `gemm` never reaches it,
    /// but it is what Cortex-M runs. Needs `m, n, k ≥ 1`.
    #[allow(clippy::too_many_arguments)]
    fn scalar_gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        trans_a: bool,
        b: &[f32],
        trans_b: bool,
        (alpha, beta): (f32, f32),
        bias: Bias<'_>,
        act: Activation,
        y: &mut [f32],
    ) {
        let operands = Operands {
            m,
            n,
            k,
            a,
            trans_a,
            b,
        };
        let epilogue = Epilogue {
            n,
            alpha,
            beta,
            bias,
            act,
        };
        // NaN scratch of exactly the advertised size: a packed value read before it is
        // written, or a buffer too short, would show in the result.
        let mut scratch = std::vec![f32::NAN; blocked_scratch_len(m, k)];
        if trans_b {
            scalar::gemm_blocked::<true>(&operands, &epilogue, &mut scratch, y);
        } else {
            // Without scratch a row-major `B` is read in place and `A` by rows: the same
            // products in the same order, so the same bits as the packed run.
            let mut y_unpacked = y.to_vec();
            scalar::gemm_blocked::<false>(&operands, &epilogue, &mut [], &mut y_unpacked);
            scalar::gemm_blocked::<false>(&operands, &epilogue, &mut scratch, y);
            let same = y
                .iter()
                .zip(&y_unpacked)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{m} x {n} x {k}: packed and unpacked B differ");
        }
    }

    #[test]
    fn blocked_kernels_match_naive_on_awkward_sizes() {
        // Sizes that are not multiples of any tile (6 × 16 packed, 4 × NR scalar) or block
        // (48 rows, 256 depths): primes, 1 and 2 (matrix-vector products), exact tiles,
        // and one past them.
        let sizes = [
            (2, 2, 1),
            (2, 17, 3),
            (7, 13, 5),
            (6, 16, 256),
            // Few rows and enough depth for the narrow tiles: with AVX-512, 6 × 32
            // tiles over two slivers, then one 16-column sliver and a narrow one.
            (16, 70, 40),
            (13, 31, 257),
            (53, 17, 3),
            (49, 97, 11),
            (47, 33, 513),
            (97, 2, 29),
            (1, 37, 19),
            (37, 1, 19),
        ];
        let act = Activation::Clip {
            min: -0.75,
            max: 0.5,
        };
        for (m, n, k) in sizes {
            let row = values(n, 13);
            let col = values(m, 14);
            let full = values(m * n, 15);
            for bias in [
                Bias::None,
                Bias::Scalar(0.125),
                Bias::Row(&row),
                Bias::Col(&col),
                Bias::Full(&full),
            ] {
                for (trans_a, trans_b) in
                    [(false, false), (true, false), (false, true), (true, true)]
                {
                    // The public entry point (the packed kernel on SIMD hosts), with alpha
                    // and beta.
                    check(m, n, k, trans_a, trans_b, 0.5, 1.5, bias, act);
                    check(m, n, k, trans_a, trans_b, 1.0, 1.0, bias, Activation::Relu);
                    if m < 2 || n < 2 {
                        continue;
                    }
                    let a = values(m * k, 1);
                    let b = values(k * n, 2);
                    for (alpha, beta) in [(1.0, 1.0), (0.5, 1.5)] {
                        let mut y = std::vec![f32::NAN; m * n];
                        let scale = (alpha, beta);
                        scalar_gemm(m, n, k, &a, trans_a, &b, trans_b, scale, bias, act, &mut y);
                        let expected =
                            naive_gemm(m, n, k, &a, trans_a, &b, trans_b, alpha, beta, bias, act);
                        // f32 sums in another order than the f64 reference: the error
                        // grows like the square root of the depth.
                        let tolerance = 1e-5 * (k as f32).sqrt();
                        let context = std::format!(
                            "scalar kernel m={m} n={n} k={k} alpha={alpha} beta={beta} {bias:?}"
                        );
                        assert_close(&y, &expected, tolerance, &context);
                    }
                }
            }
        }
    }

    #[test]
    fn arena_scratch_of_the_advertised_size_gives_the_stack_result() {
        // NaN scratch of exactly `scratch_len` floats, and a longer dirty one: the result
        // must equal `gemm`'s bit for bit, so nothing reads scratch before writing it and
        // the advertised size is enough on this target.
        for (m, n, k) in [
            (2, 2, 1),
            (7, 13, 5),
            (49, 97, 300),
            (47, 33, 513),
            (97, 2, 29),
            // The narrow tiles (AVX): `A` in 16-row panels.
            (8, 5, 300),
            (20, 7, 64),
        ] {
            for trans_b in [false, true] {
                let a = values(m * k, 31);
                let b = values(k * n, 32);
                let bias = values(m, 33);
                let run = |scratch: Option<&mut [f32]>| {
                    let mut y = std::vec![0.0; m * n];
                    let args = (m, n, k, &a[..], false, &b[..], trans_b, 1.0, 1.0);
                    let (m, n, k, a, trans_a, b, trans_b, alpha, beta) = args;
                    match scratch {
                        Some(scratch) => gemm_with_scratch(
                            m,
                            n,
                            k,
                            a,
                            trans_a,
                            b,
                            trans_b,
                            alpha,
                            beta,
                            Bias::Col(&bias),
                            Activation::Relu,
                            scratch,
                            &mut y,
                        ),
                        None => gemm(
                            m,
                            n,
                            k,
                            a,
                            trans_a,
                            b,
                            trans_b,
                            alpha,
                            beta,
                            Bias::Col(&bias),
                            Activation::Relu,
                            &mut y,
                        ),
                    }
                    y
                };
                let expected = run(None);
                let mut exact = std::vec![f32::NAN; scratch_len(m, n, k)];
                let mut dirty = std::vec![1e30f32; scratch_len(m, n, k) + 100];
                for (name, actual) in [
                    ("exact", run(Some(&mut exact))),
                    ("dirty", run(Some(&mut dirty))),
                ] {
                    let same = actual
                        .iter()
                        .zip(&expected)
                        .all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{name} scratch m={m} n={n} k={k} trans_b={trans_b}");
                }
            }
        }
        assert_eq!(scratch_len(1, 50, 50), 0);
        assert_eq!(scratch_len(50, 1, 50), 0);
        // 50 rows round up to 54 (nine tiles of six) and stop at one block of 48.
        assert_eq!(scratch_len(50, 50, 300), (48 + 16) * 256);
        assert_eq!(scratch_len(7, 50, 10), (12 + 16) * 10);
    }

    #[test]
    fn batched_matmul_runs_in_the_scratch_it_advertises() {
        // One B for a stacked batch (one tall product) and a broadcast batch (a product
        // per entry): NaN scratch of exactly `matmul_scratch_len` gives `matmul`'s result.
        for (a_shape, b_shape, y_shape) in [
            (&[3, 7, 20][..], &[20, 9][..], &[3, 7, 9][..]),
            (&[2, 1, 5, 30][..], &[3, 30, 18][..], &[2, 3, 5, 18][..]),
        ] {
            let a = values(a_shape.iter().product(), 41);
            let b = values(b_shape.iter().product(), 42);
            let n_out: usize = y_shape.iter().product();
            let mut expected = std::vec![0.0; n_out];
            matmul(
                &a,
                a_shape,
                &b,
                b_shape,
                None,
                Activation::Relu,
                &mut expected,
                y_shape,
            );
            let len = matmul_scratch_len(a_shape, b_shape, y_shape);
            assert!(len > 0, "{y_shape:?} needs packing scratch");
            let mut scratch = std::vec![f32::NAN; len];
            let mut y = std::vec![0.0; n_out];
            matmul_with_scratch(
                &a,
                a_shape,
                &b,
                b_shape,
                None,
                Activation::Relu,
                &mut scratch,
                &mut y,
                y_shape,
            );
            let same = y
                .iter()
                .zip(&expected)
                .all(|(x, e)| x.to_bits() == e.to_bits());
            assert!(same, "{y_shape:?}");
        }
        // The stacked batch is one 21-row product; the broadcast one runs 5-row products.
        assert_eq!(
            matmul_scratch_len(&[3, 7, 20], &[20, 9], &[3, 7, 9]),
            scratch_len(21, 9, 20)
        );
        assert_eq!(
            matmul_scratch_len(&[2, 1, 5, 30], &[3, 30, 18], &[2, 3, 5, 18]),
            scratch_len(5, 18, 30)
        );
        // Row vectors times matrices, batched or not, are matrix-vector products.
        assert_eq!(matmul_scratch_len(&[1, 256], &[256, 10], &[1, 10]), 0);
        assert_eq!(
            matmul_scratch_len(&[4, 1, 256], &[4, 256, 10], &[4, 1, 10]),
            0
        );
    }

    #[test]
    fn matrix_vector_products_accumulate_in_k_order_with_fused_multiply_adds() {
        // m = 1 with B as k × n must equal a left-to-right chain of fused multiply-adds
        // bit for bit: recurrent models rely on it to track ONNX Runtime. 45 columns
        // take every path: a block of four vectors, one vector and a scalar tail.
        let (n, k) = (45, 41);
        let a = values(k, 21);
        let b = values(k * n, 22);
        let mut y = std::vec![0.0; n];
        gemm(
            1,
            n,
            k,
            &a,
            false,
            &b,
            false,
            1.0,
            1.0,
            Bias::None,
            Activation::None,
            &mut y,
        );
        for (j, &actual) in y.iter().enumerate() {
            let expected = (0..k).fold(0.0f32, |sum, p| {
                crate::scalar::fmadd(a[p], b[p * n + j], sum)
            });
            assert_eq!(actual.to_bits(), expected.to_bits(), "column {j}");
        }
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
