//! Integer kernels for quantized models: int8/uint8 convolution, matrix product, add, mul
//! and global average pooling, with `i32` accumulators.
//!
//! A real value `r` is stored as `q` with `r = scale · (q - zero_point)`. A kernel sums
//! products of `q - zero_point` terms in `i32` and then requantizes each sum the way ONNX
//! Runtime does: multiply by one `f32` scale (`x_scale · w_scale / y_scale`, computed by the
//! compiler in that order), clamp to the output type's range around its zero point, round
//! half to even and add the zero point. Doing exactly these steps, in `f32`, is what lets
//! outputs match ONNX Runtime's to the last bit.
//!
//! Weights are compile-time constants, so the compiler folds what does not depend on the
//! data into the `i32` bias: `bias - x_zero · Σ (w - w_zero)` for a convolution. The kernels
//! then multiply raw activations and add the input zero point back only where a tap falls
//! into padding, which is rare.

use crate::conv::Conv2d;
use crate::shape::zip_broadcast;
use crate::tokens::tokens;

/// Output elements a convolution accumulates at once along one output row: a stack tile
/// that stays in registers or L1 on every target, so no scratch buffer is needed.
const TILE: usize = 32;

/// Columns a matrix product accumulates at once: four 8-lane vectors where the target
/// has SIMD. On a Cortex-M7 the sums cannot all stay in registers whatever the width
/// (at 8 LLVM still spills them), so the wide tile wins there too by loading each
/// activation once per 32 columns: mlperf-ad-int8 takes 1.32 M instructions at 32,
/// 1.47 M at 16 and 1.81 M at 8.
const MATMUL_TILE: usize = 32;

/// An 8-bit quantized element type.
pub trait QInt: bytemuck::Pod {
    const MIN: i32;
    const MAX: i32;
    fn to_i32(self) -> i32;
    /// `v` converted, saturating at the type's bounds.
    fn saturate(v: i32) -> Self;
    /// Four consecutive elements, little-endian in one word.
    #[inline(always)]
    fn word(four: &[Self]) -> u32 {
        let bytes: &[u8] = bytemuck::cast_slice(four);
        bytes
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map_or(0, u32::from_le_bytes)
    }
    /// The elements of a [`QInt::word`], widened to `i16` pairs: (0, 2) and (1, 3).
    fn widen(word: u32) -> (u32, u32);
}

impl QInt for u8 {
    const MIN: i32 = 0;
    const MAX: i32 = 255;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn saturate(v: i32) -> Self {
        v.clamp(<Self as QInt>::MIN, <Self as QInt>::MAX) as u8
    }
    #[inline(always)]
    fn widen(word: u32) -> (u32, u32) {
        (crate::dsp::uxtb16(word), crate::dsp::uxtb16_ror8(word))
    }
}

impl QInt for i8 {
    const MIN: i32 = -128;
    const MAX: i32 = 127;
    #[inline(always)]
    fn to_i32(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn saturate(v: i32) -> Self {
        v.clamp(<Self as QInt>::MIN, <Self as QInt>::MAX) as i8
    }
    #[inline(always)]
    fn widen(word: u32) -> (u32, u32) {
        (crate::dsp::sxtb16(word), crate::dsp::sxtb16_ror8(word))
    }
}

/// What a finished `i32` accumulator becomes: a requantized 8-bit value, the raw sum
/// (ConvInteger, MatMulInteger) or a dequantized `f32` (QGemm without an output scale).
pub trait QOut: bytemuck::Pod {
    /// The bounds of a requantized 8-bit type; `None` for a raw or dequantized output.
    const REQUANTIZED: Option<(i32, i32)> = None;

    fn finish(acc: i32, scale: f32, zero: i32) -> Self;

    /// A value [`QOut::finish`] has requantized, in range, as the output type (for a
    /// type with [`QOut::REQUANTIZED`] bounds).
    fn from_requantized(v: i32) -> Self;

    /// `out[i] = finish(base + acc[i], scale, zero)` over a run of one output channel.
    /// `_small` says that [`small_products`] bounds the sums, so that a requantized type
    /// can skip its clamp in `f32` (with the same results).
    #[inline(always)]
    fn finish_run(acc: &[i32], base: i32, scale: f32, zero: i32, _small: bool, out: &mut [Self]) {
        for (o, &a) in out.iter_mut().zip(acc) {
            *o = Self::finish(base.wrapping_add(a), scale, zero);
        }
    }
}

/// Whether every sum of `depth` products of two 8-bit differences (each at most 255 in
/// magnitude) plus a bias of magnitude at most `bias`, times `scale`, stays below 2^21 in
/// magnitude (false for a NaN scale). Then rounding with [`ROUND_MAGIC`] is exact without
/// clamping the product first, and clamping the rounded integer gives what clamping the
/// product would: the bounds are integers and rounding is monotonic.
#[inline(always)]
pub fn small_products(depth: usize, bias: i32, scale: f32) -> bool {
    let sum = depth as f32 * 65_025.0 + bias.unsigned_abs() as f32;
    sum * scale.abs() < 2_097_152.0
}

impl QOut for u8 {
    const REQUANTIZED: Option<(i32, i32)> = Some((<Self as QInt>::MIN, <Self as QInt>::MAX));

    #[inline(always)]
    fn finish(acc: i32, scale: f32, zero: i32) -> Self {
        requantize(acc, scale, zero)
    }

    #[inline(always)]
    fn from_requantized(v: i32) -> Self {
        v as u8
    }

    #[inline(always)]
    fn finish_run(acc: &[i32], base: i32, scale: f32, zero: i32, small: bool, out: &mut [Self]) {
        requantize_run(acc, base, scale, zero, small, out);
    }
}

impl QOut for i8 {
    const REQUANTIZED: Option<(i32, i32)> = Some((<Self as QInt>::MIN, <Self as QInt>::MAX));

    #[inline(always)]
    fn finish(acc: i32, scale: f32, zero: i32) -> Self {
        requantize(acc, scale, zero)
    }

    #[inline(always)]
    fn from_requantized(v: i32) -> Self {
        v as i8
    }

    #[inline(always)]
    fn finish_run(acc: &[i32], base: i32, scale: f32, zero: i32, small: bool, out: &mut [Self]) {
        requantize_run(acc, base, scale, zero, small, out);
    }
}

/// [`requantize`] over a run, `base` added to each sum: eight lanes at a time where the
/// target has SIMD, with the same `f32` steps in the same order, so every lane equals the
/// scalar result. With `small` (sums that [`small_products`] bounds) the product is
/// rounded as it is and only the integer saturates: the same results, in about half the
/// instructions on a Cortex-M7 (no `f32` compare-and-select pairs).
#[inline(always)]
fn requantize_run<Y: QInt>(
    acc: &[i32],
    base: i32,
    scale: f32,
    zero: i32,
    small: bool,
    out: &mut [Y],
) {
    if small {
        requantize_run_as::<Y, false>(acc, base, scale, zero, out);
    } else {
        requantize_run_as::<Y, true>(acc, base, scale, zero, out);
    }
}

/// [`requantize_run`] with the clamp chosen at compile time, so each loop has no branch.
#[inline(always)]
fn requantize_run_as<Y: QInt, const CLAMP: bool>(
    acc: &[i32],
    base: i32,
    scale: f32,
    zero: i32,
    out: &mut [Y],
) {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    let (acc, out) = if base == 0 {
        packed_runs::<Y, CLAMP, false>(acc, base, scale, zero, out)
    } else {
        packed_runs::<Y, CLAMP, true>(acc, base, scale, zero, out)
    };
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    let (acc, out) = {
        use wide::{f32x8, i32x8};
        let (scale_v, base_v) = (f32x8::splat(scale), i32x8::splat(base));
        let whole = acc.len().min(out.len()) / 8 * 8;
        for (o, a) in out[..whole].chunks_exact_mut(8).zip(acc.chunks_exact(8)) {
            let lanes: [i32; 8] = a.try_into().unwrap_or([0; 8]);
            let rounded = requantize_lanes::<CLAMP>(
                i32x8::from(lanes) + base_v,
                scale_v,
                zero,
                (Y::MIN, Y::MAX),
            );
            for (y, r) in o.iter_mut().zip(rounded.to_array()) {
                *y = Y::saturate(r);
            }
        }
        (&acc[whole..], &mut out[whole..])
    };
    for (o, &a) in out.iter_mut().zip(acc) {
        let sum = base.wrapping_add(a);
        *o = if CLAMP {
            requantize(sum, scale, zero)
        } else {
            Y::saturate(round_even(sum as f32 * scale).wrapping_add(zero))
        };
    }
}

/// The whole 32-element chunks of [`requantize_run_as`] on AVX2, narrowed by
/// [`narrow32`] into one 32-byte store. Lane by lane the results are
/// [`requantize_lanes`]'s, which a narrowing store per eight lanes took 16 instructions
/// (two of them slow stores on AMD's Zen 4) to write. `BASE` false skips adding a `base`
/// of 0 (the VNNI convolution starts its sums at their bases). Returns the rest of the
/// run.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
#[inline(always)]
fn packed_runs<'a, Y: QInt, const CLAMP: bool, const BASE: bool>(
    acc: &'a [i32],
    base: i32,
    scale: f32,
    zero: i32,
    out: &'a mut [Y],
) -> (&'a [i32], &'a mut [Y]) {
    use wide::{f32x8, i32x8};
    let (scale_v, base_v) = (f32x8::splat(scale), i32x8::splat(base));
    let whole = acc.len().min(out.len()) / 32 * 32;
    let (head, rest) = out.split_at_mut(whole);
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(head);
    for (o, a) in bytes.chunks_exact_mut(32).zip(acc.chunks_exact(32)) {
        let v: [i32x8; 4] = core::array::from_fn(|i| {
            let lanes: [i32; 8] = a[i * 8..][..8].try_into().unwrap_or([0; 8]);
            let sums = i32x8::from(lanes);
            requantize_lanes::<CLAMP>(
                if BASE { sums + base_v } else { sums },
                scale_v,
                zero,
                (Y::MIN, Y::MAX),
            )
        });
        o.copy_from_slice(&narrow32::<Y>(v));
    }
    (&acc[whole..], rest)
}

/// Four vectors of eight `i32` lanes as 32 bytes of `Y` in lane order, each saturated:
/// two saturating packs (to `i16`, then to `Y`) and one permutation. Saturating twice
/// clamps as saturating once does (both are monotonic and the `i16` bounds hold the
/// 8-bit ones).
#[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
#[inline(always)]
fn narrow32<Y: QInt>(v: [wide::i32x8; 4]) -> [u8; 32] {
    use safe_arch::{
        m256i, pack_i16_to_i8_m256i, pack_i16_to_u8_m256i, pack_i32_to_i16_m256i,
        shuffle_av_i32_all_m256i,
    };
    let v = v.map(|lanes| m256i::from(lanes.to_array()));
    let (lo, hi) = (
        pack_i32_to_i16_m256i(v[0], v[1]),
        pack_i32_to_i16_m256i(v[2], v[3]),
    );
    let narrow = if Y::MIN == 0 {
        pack_i16_to_u8_m256i(lo, hi)
    } else {
        pack_i16_to_i8_m256i(lo, hi)
    };
    // The packs interleave 4-byte groups across the 128-bit halves: back into order.
    let order = m256i::from([0, 4, 1, 5, 2, 6, 3, 7]);
    shuffle_av_i32_all_m256i(narrow, order).into()
}

impl QOut for i32 {
    #[inline(always)]
    fn finish(acc: i32, _scale: f32, _zero: i32) -> Self {
        acc
    }

    #[inline(always)]
    fn from_requantized(v: i32) -> Self {
        v
    }
}

impl QOut for f32 {
    #[inline(always)]
    fn finish(acc: i32, scale: f32, _zero: i32) -> Self {
        acc as f32 * scale
    }

    #[inline(always)]
    fn from_requantized(v: i32) -> Self {
        v as f32
    }
}

/// [`requantize`] on eight lanes, each with its own scale, the same `f32` steps in the
/// same order, so every lane equals the scalar result once saturated to `bounds`
/// (already in range `CLAMP`ed; without it the caller's sums must be [`small_products`]).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub(crate) fn requantize_lanes<const CLAMP: bool>(
    acc: wide::i32x8,
    scale: wide::f32x8,
    zero: i32,
    (min, max): (i32, i32),
) -> wide::i32x8 {
    use wide::{f32x8, i32x8, CmpGe, CmpLe};
    let mut v = f32x8::from_i32x8(acc) * scale;
    if CLAMP {
        // As the scalar comparisons: a NaN fails the first and becomes `lo`.
        let (lo, hi) = (
            f32x8::splat((min - zero) as f32),
            f32x8::splat((max - zero) as f32),
        );
        v = v.cmp_ge(lo).blend(v, lo);
        v = v.cmp_le(hi).blend(v, hi);
    }
    round_even_lanes(v) + i32x8::splat(zero)
}

/// [`round_even`] on eight lanes, each within ±2^22.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub(crate) fn round_even_lanes(v: wide::f32x8) -> wide::i32x8 {
    use wide::{f32x8, i32x8};
    let magic_bits = i32x8::splat(ROUND_MAGIC.to_bits() as i32);
    bytemuck::cast::<f32x8, i32x8>(v + f32x8::splat(ROUND_MAGIC)) - magic_bits
}

/// Adding 1.5 · 2^23 to an `f32` below 2^22 in magnitude leaves the integer part, rounded
/// half to even by the FPU, in the low mantissa bits (ONNX Runtime's MLAS does the same).
pub(crate) const ROUND_MAGIC: f32 = 12_582_912.0;

/// `v` rounded half to even; `v` must lie within ±2^22, which every caller clamps to.
#[inline(always)]
pub(crate) fn round_even(v: f32) -> i32 {
    (v + ROUND_MAGIC).to_bits() as i32 - ROUND_MAGIC.to_bits() as i32
}

/// `saturate(round_half_even(acc · scale) + zero)`, as ONNX Runtime's
/// `MlasRequantizeOutput`: the product is clamped to the output range around `zero` in
/// `f32` before rounding. A NaN scale gives the lower bound rather than a panic.
#[inline(always)]
pub fn requantize<Y: QInt>(acc: i32, scale: f32, zero: i32) -> Y {
    let lo = (Y::MIN - zero) as f32;
    let hi = (Y::MAX - zero) as f32;
    // Comparisons rather than `max`/`min`: the same result (a NaN fails the first and
    // becomes `lo`), and on a Cortex-M a compare and select per bound, where LLVM
    // expands `maxnum` in an unrolled loop into a NaN test on each operand.
    let v = acc as f32 * scale;
    let v = if v >= lo { v } else { lo };
    let v = if v <= hi { v } else { hi };
    Y::saturate(round_even(v).wrapping_add(zero))
}

/// `saturate(round_half_even(v))` for a value that already includes the zero point.
#[inline(always)]
fn quantize_value<Y: QInt>(v: f32) -> Y {
    Y::saturate(round_even(v.max(Y::MIN as f32).min(Y::MAX as f32)))
}

/// Element `i` of a per-channel list, or its only element for a per-tensor one.
#[inline(always)]
pub(crate) fn pick<T: Copy>(values: &[T], i: usize) -> T {
    if values.len() == 1 {
        values[0]
    } else {
        values[i]
    }
}

/// How the accumulators of a convolution or matrix product become outputs: one `f32`
/// scale per tensor or per output channel, and the output zero point.
#[derive(Clone, Copy, Debug)]
pub struct Requant<'a> {
    pub scale: &'a [f32],
    pub zero: i32,
}

/// Quantized 2-D convolution (QLinearConv, ConvInteger): for each output channel `oc`,
/// `y = finish(bias[oc] + Σ x · (w - w_zero[oc]) + Σ_padding x_zero · (w - w_zero[oc]))`.
///
/// `bias` must already hold `B - x_zero · Σ (w - w_zero)` over all taps of the channel (the
/// compiler folds it), so the sum over real taps of raw `x` plus the padded taps' `x_zero`
/// is `Σ (x - x_zero) · (w - w_zero)`, the exact integer convolution; an empty `bias` adds
/// nothing. `w_zero` and `rq.scale` hold one value or one per output channel. Sums wrap on
/// `i32` overflow rather than panic.
#[allow(clippy::too_many_arguments)]
pub fn qconv2d<X: QInt, W: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[W],
    w_zero: &[i32],
    bias: &[i32],
    rq: Requant<'_>,
    y: &mut [Y],
) {
    let p = *p;
    // A 1×1 convolution without stride or padding reads each input plane as one long
    // row, so its tiles span rows and stay full.
    let pointwise = crate::conv::is_pointwise(&p);
    let (h_in, w_in, h_out, w_out) = if pointwise {
        (1, p.h_in * p.w_in, 1, p.h_out * p.w_out)
    } else {
        (p.h_in, p.w_in, p.h_out, p.w_out)
    };
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    let w_per_oc = c_in_group * p.k_h * p.k_w;
    let (plane_in, plane_out) = (h_in * w_in, h_out * w_out);
    for b in 0..p.batch {
        for oc in 0..p.c_out {
            let group = oc / c_out_group;
            let wz = pick(w_zero, oc);
            let scale = pick(rq.scale, oc);
            let w_oc = &w[oc * w_per_oc..(oc + 1) * w_per_oc];
            let x_group =
                &x[(b * p.c_in + group * c_in_group) * plane_in..][..c_in_group * plane_in];
            let y_oc = &mut y[(b * p.c_out + oc) * plane_out..][..plane_out];
            for oh in 0..h_out {
                let mut ow0 = 0;
                while ow0 < w_out {
                    let n = TILE.min(w_out - ow0);
                    let mut acc = [if bias.is_empty() { 0 } else { bias[oc] }; TILE];
                    let acc = &mut acc[..n];
                    for (ci, x_c) in x_group.chunks_exact(plane_in).enumerate() {
                        for kh in 0..p.k_h {
                            let ih = (oh * p.stride_h + kh * p.dil_h) as isize - p.pad_top as isize;
                            let row = (0..h_in as isize)
                                .contains(&ih)
                                .then(|| &x_c[ih as usize * w_in..][..w_in]);
                            for kw in 0..p.k_w {
                                let wv = w_oc[(ci * p.k_h + kh) * p.k_w + kw].to_i32() - wz;
                                if wv == 0 {
                                    continue;
                                }
                                let offset = (kw * p.dil_w) as isize - p.pad_left as isize;
                                tap(acc, row, ow0, p.stride_w, offset, x_zero, wv);
                            }
                        }
                    }
                    let out = &mut y_oc[oh * w_out + ow0..][..n];
                    for (o, &a) in out.iter_mut().zip(acc.iter()) {
                        *o = Y::finish(a, scale, rq.zero);
                    }
                    ow0 += n;
                }
            }
        }
    }
}

/// ConvInteger whose input zero point comes at run time (DynamicQuantizeLinear's output,
/// one element): `y = Σ (x - x_zero) · (w - w_zero[oc])`, the raw `i32` sums.
///
/// The zero point's share, `x_zero · taps[oc]` with `taps[oc] = Σ (w - w_zero[oc])` over
/// the channel's taps (constants the compiler computes), cannot be folded into a bias at
/// compile time, so it is taken off each output channel after [`qconv2d`] has summed the
/// raw activations.
#[allow(clippy::too_many_arguments)]
pub fn conv_integer_runtime_zero<X: QInt, W: QInt>(
    p: &Conv2d,
    x: &[X],
    x_zero: &[X],
    w: &[W],
    w_zero: &[i32],
    taps: &[i32],
    y: &mut [i32],
) {
    let zero = x_zero.first().map_or(0, |z| z.to_i32());
    let rq = Requant {
        scale: &[1.0],
        zero: 0,
    };
    qconv2d(p, x, zero, w, w_zero, &[], rq, y);
    let plane = p.h_out * p.w_out;
    for (c, y_c) in y.chunks_exact_mut(plane.max(1)).enumerate() {
        let share = zero.wrapping_mul(taps[c % p.c_out]);
        for v in y_c {
            *v = v.wrapping_sub(share);
        }
    }
}

/// Adds one kernel tap to a tile of accumulators for outputs `ow0..ow0 + acc.len()` of a
/// row: `x · wv` where the tap reads the input row at `ow · stride + offset`, and
/// `x_zero · wv` where that falls into padding (or the whole row is padding, `row` None).
#[inline(always)]
fn tap<X: QInt>(
    acc: &mut [i32],
    row: Option<&[X]>,
    ow0: usize,
    stride: usize,
    offset: isize,
    x_zero: i32,
    wv: i32,
) {
    let n = acc.len();
    let pad = x_zero * wv;
    let Some(row) = row else {
        for a in acc.iter_mut() {
            *a = a.wrapping_add(pad);
        }
        return;
    };
    // Output j reads column (ow0 + j)·stride + offset, valid in 0..row.len().
    let (s, o0, len) = (stride as isize, ow0 as isize, row.len() as isize);
    // Stride 1 (every pointwise and most k×k layers) needs no division, which would
    // cost more than the tap's multiply-adds on a short row.
    let (first, end) = if stride == 1 {
        (-offset - o0, len - offset - o0)
    } else {
        let first = if offset >= 0 {
            0
        } else {
            (-offset + s - 1) / s - o0
        };
        (first, (len - offset + s - 1) / s - o0)
    };
    let lo = first.clamp(0, n as isize) as usize;
    let hi = end.clamp(lo as isize, n as isize) as usize;
    let (head, rest) = acc.split_at_mut(lo);
    for a in head.iter_mut().chain(rest[hi - lo..].iter_mut()) {
        *a = a.wrapping_add(pad);
    }
    if lo == hi {
        return;
    }
    let start = ((ow0 + lo) as isize * s + offset) as usize;
    if stride == 1 {
        for (a, &v) in acc[lo..hi].iter_mut().zip(&row[start..start + (hi - lo)]) {
            *a = a.wrapping_add(v.to_i32() * wv);
        }
    } else {
        for (a, &v) in acc[lo..hi]
            .iter_mut()
            .zip(row[start..].iter().step_by(stride))
        {
            *a = a.wrapping_add(v.to_i32() * wv);
        }
    }
}

tokens! {
    rt::qlinear;
    /// The shape of a quantized matrix product `[batch, m, k] × [k, n]`: `b` is `[k, n]`,
    /// or `[n, k]` when `b_transposed`, and holds `batch` matrices when `b_batched`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct QMatMul {
        pub batch: usize,
        pub m: usize,
        pub k: usize,
        pub n: usize,
        pub b_transposed: bool,
        pub b_batched: bool,
    }
}

/// Quantized matrix product (QLinearMatMul, MatMulInteger, QGemm):
/// `y[m, n] = finish(bias[n] + Σ_k (a[m, k] - a_zero) · (b[k, n] - b_zero[n]))`.
///
/// `bias` holds one value, one per column, or is empty; the compiler may fold the
/// `a_zero` term into it (then passing 0). `b_zero` and `rq.scale` hold one value or one
/// per column. Sums wrap on `i32` overflow rather than panic.
#[allow(clippy::too_many_arguments)]
pub fn qmatmul<A: QInt, B: QInt, Y: QOut>(
    p: &QMatMul,
    a: &[A],
    a_zero: i32,
    b: &[B],
    b_zero: &[i32],
    bias: &[i32],
    rq: Requant<'_>,
    y: &mut [Y],
) {
    let QMatMul { batch, m, k, n, .. } = *p;
    let bias_at = |j: usize| if bias.is_empty() { 0 } else { pick(bias, j) };
    for bi in 0..batch {
        let a_batch = &a[bi * m * k..][..m * k];
        let b_batch = &b[if p.b_batched { bi * k * n } else { 0 }..][..k * n];
        let y_batch = &mut y[bi * m * n..][..m * n];
        for (a_row, y_row) in a_batch
            .chunks_exact(k.max(1))
            .zip(y_batch.chunks_exact_mut(n.max(1)))
        {
            #[cfg(all(
                target_arch = "x86_64",
                target_feature = "avx512vnni",
                target_feature = "avx512bw"
            ))]
            if p.b_transposed && rows_vnni(a_row, a_zero, b_batch, b_zero, &bias_at, rq, y_row) {
                continue;
            }
            if p.b_transposed {
                // Each output is a dot product of two contiguous rows, `Σ a' · b` less
                // `b_zero · Σ a'`, four rows of `b` at a time where the target has the DSP
                // extension, else (and for the last rows) two.
                // `Σ a'` only matters where a weight's zero point is not 0 (never for a
                // symmetric quantizer's weights).
                let a_sum = if b_zero.iter().any(|&z| z != 0) {
                    a_row
                        .iter()
                        .fold(0i32, |s, &v| s.wrapping_add(v.to_i32() - a_zero))
                } else {
                    0
                };
                let finish = |j: usize, sum: i32| {
                    let corrected = sum
                        .wrapping_add(bias_at(j))
                        .wrapping_sub(pick(b_zero, j).wrapping_mul(a_sum));
                    Y::finish(corrected, pick(rq.scale, j), rq.zero)
                };
                let mut j = 0;
                // Four rows a pass share each word of `a` and its widening ([`dot4`]).
                if crate::dsp::HAS_DSP && a_zero == 0 {
                    while j + 4 <= n {
                        let Some(block) = b_batch.get(j * k..).and_then(|b| b.get(..4 * k)) else {
                            break;
                        };
                        let sums = dot4(a_row, block);
                        if let Some(ys) = y_row.get_mut(j..j + 4) {
                            for (t, (y, &sum)) in ys.iter_mut().zip(&sums).enumerate() {
                                *y = finish(j + t, sum);
                            }
                        }
                        j += 4;
                    }
                }
                let mut rows = b_batch.get(j * k..).unwrap_or(&[]).chunks_exact(k.max(1));
                while j < n {
                    let (Some(r0), r1) = (rows.next(), if j + 1 < n { rows.next() } else { None })
                    else {
                        break;
                    };
                    let sums = dot2(a_row, a_zero, r0, r1.unwrap_or(&[]));
                    for (t, &sum) in sums.iter().enumerate().take(n - j) {
                        y_row[j + t] = finish(j + t, sum);
                    }
                    j += 2;
                }
                continue;
            }
            // A tile of columns accumulates one row of `b` at a time, which it reads
            // contiguously. Whole tiles have a constant width, so their sums stay in
            // registers; the last, narrower one takes the same loop at its own width.
            let mut j0 = 0;
            while j0 + MATMUL_TILE <= n {
                let acc = column_tile::<A, B, MATMUL_TILE>(
                    a_row, a_zero, b_batch, n, j0, b_zero, &bias_at,
                );
                for (t, (out, &a)) in y_row[j0..][..MATMUL_TILE].iter_mut().zip(&acc).enumerate() {
                    *out = Y::finish(a, pick(rq.scale, j0 + t), rq.zero);
                }
                j0 += MATMUL_TILE;
            }
            if j0 < n {
                let acc = column_tile::<A, B, MATMUL_TILE>(
                    a_row, a_zero, b_batch, n, j0, b_zero, &bias_at,
                );
                for (t, (out, &a)) in y_row[j0..].iter_mut().zip(&acc).enumerate() {
                    *out = Y::finish(a, pick(rq.scale, j0 + t), rq.zero);
                }
            }
        }
    }
}

/// Columns of a block of a packed `B` ([`pack_qmatmul_b`]).
pub const QPACK_COLS: usize = 16;

/// Depth of a group of a packed `B`: one `VPDPBUSD` lane's four products.
pub const QPACK_DEPTH: usize = 4;

/// The bytes of a `[k, n]` matrix packed by [`pack_qmatmul_b`]: `⌈n / 16⌉` blocks of
/// `⌈k / 4⌉` groups of 64 bytes.
pub const fn qpacked_len(k: usize, n: usize) -> usize {
    n.div_ceil(QPACK_COLS) * k.div_ceil(QPACK_DEPTH) * QPACK_COLS * QPACK_DEPTH
}

/// Packs `b(kk, j) - zero(j)` for a `[k, n]` matrix of 8-bit weights into the order
/// [`qmatmul_packed`] reads: columns in blocks of 16, each block's depth in groups of 4,
/// group `g` of block `jb` at byte `(jb · ⌈k/4⌉ + g) · 64` holding, column by column,
/// the column's four values of depths `4g..4g + 4` (zeros past `k` and `n`). One group
/// is one 64-byte vector of four products for each of 16 columns, so a row of `A` needs
/// no sums across lanes. Returns false, with `out` unspecified, where a difference does
/// not fit `i8` or `out` is not [`qpacked_len`] long.
pub fn pack_qmatmul_b(
    k: usize,
    n: usize,
    b: impl Fn(usize, usize) -> i32,
    zero: impl Fn(usize) -> i32,
    out: &mut [i8],
) -> bool {
    let groups = k.div_ceil(QPACK_DEPTH);
    if out.len() != qpacked_len(k, n) {
        return false;
    }
    for (jb, block) in out.chunks_exact_mut(groups * 64).enumerate() {
        for (g, group) in block.chunks_exact_mut(64).enumerate() {
            for (c, four) in group.chunks_exact_mut(QPACK_DEPTH).enumerate() {
                let j = jb * QPACK_COLS + c;
                for (d, slot) in four.iter_mut().enumerate() {
                    let kk = g * QPACK_DEPTH + d;
                    *slot = if j < n && kk < k {
                        match i8::try_from(b(kk, j).wrapping_sub(zero(j))) {
                            Ok(v) => v,
                            Err(_) => return false,
                        }
                    } else {
                        0
                    };
                }
            }
        }
    }
    true
}

/// The constant each column's sum starts from in [`qmatmul_packed`]: the bias less
/// `(a_zero − A::MIN) · Σ_k b'(k, j)`, the share of the offset that makes `A` unsigned,
/// for the packed weights `b'` ([`pack_qmatmul_b`]'s output, read back), into `out`
/// (one per column).
pub fn qpacked_bias(
    k: usize,
    packed: &[i8],
    bias: impl Fn(usize) -> i32,
    offset: i32,
    out: &mut [i32],
) {
    let groups = k.div_ceil(QPACK_DEPTH);
    for (j, slot) in out.iter_mut().enumerate() {
        let (jb, c) = (j / QPACK_COLS, j % QPACK_COLS);
        let column: i32 = packed
            .get(jb * groups * 64..)
            .unwrap_or(&[])
            .chunks_exact(64)
            .take(groups)
            .flat_map(|group| &group[c * QPACK_DEPTH..][..QPACK_DEPTH])
            .map(|&v| i32::from(v))
            .sum();
        *slot = bias(j).wrapping_sub(offset.wrapping_mul(column));
    }
}

/// Blocks of a packed `B` a pass of [`qmatmul_packed`] takes: eight 16-column sums
/// stay in registers, enough independent chains to cover `VPDPBUSD`'s latency.
const QPACK_PASS: usize = 8;

/// Quantized matrix product by a constant `B` packed by [`pack_qmatmul_b`] (the zero
/// points already taken out), for the rows of `A` (`batch · m` rows of `k`):
/// `y[r, j] = finish(base[j] + Σ_k (a[r, k] − A::MIN) · b'(k, j))`, where `base` (one
/// value per column, [`qpacked_bias`]) carries the bias and the zero points' share.
/// `A` is read as unsigned bytes, which `VPDPBUSD` multiplies by the signed weights:
/// 16 columns of four products an instruction and no sums across lanes. Sums wrap on
/// `i32` overflow. Operands shorter than `p` leave `y` as it was.
pub fn qmatmul_packed<A: QInt, Y: QOut>(
    p: &QMatMul,
    a: &[A],
    b: &[i8],
    base: &[i32],
    rq: Requant<'_>,
    y: &mut [Y],
) {
    let QMatMul { batch, m, k, n, .. } = *p;
    let rows = batch * m;
    if k == 0
        || n == 0
        || y.len() < rows * n
        || base.len() != n
        || !(rq.scale.len() == 1 || rq.scale.len() == n)
    {
        return;
    }
    let (Some(a), Some(b)) = (a.get(..rows * k), b.get(..qpacked_len(k, n))) else {
        return;
    };
    let a: &[u8] = bytemuck::cast_slice(a);
    let flip = if A::MIN < 0 { 0x8080_8080 } else { 0 };
    packed_product(a, k, flip, b, base, |r, j0, sums| {
        if let Some(out) = y.get_mut(r * n + j0..(r + 1) * n) {
            finish_columns(sums, j0, rq, out);
        }
    });
}

/// The `f32` words of scratch [`qmatmul_dynamic`] needs: one matrix of `B` packed by
/// [`pack_qmatmul_b`] and one base per column.
pub const fn qmatmul_dynamic_scratch_len(p: &QMatMul) -> usize {
    qpacked_len(p.k, p.n).div_ceil(4) + p.n + p.m
}

/// Quantized matrix product of two activations (QLinearMatMul with a `B` computed at run
/// time: attention's `Q·Kᵀ` and `weights·V`) through [`qmatmul_packed`]'s kernel. Each of
/// `B`'s matrices is packed into `scratch` ([`qmatmul_dynamic_scratch_len`] words) as the
/// signed bytes `b_o = b − B::MIN − 128` (the byte with its top bit flipped for `u8`, so it
/// always fits), and `b − b_zero = b_o + off` with `off = B::MIN + 128 − b_zero`; with
/// `a' = a − A::MIN` and `c = a_zero − A::MIN`, each sum
/// `Σ (a' − c)(b_o + off) = Σ a'·b_o − c·Σ b_o − c·off·k + off·Σ a'` is the packed
/// product, a base per column and, where `off` is not 0, `off` times the row's `Σ a'`.
/// `b_zero` holds one value or one per column; the rows' `Σ a'` are summed once per
/// matrix, into the scratch's last `m` words. Exact in `i32` (wrapping), so the
/// outputs equal [`qmatmul`]'s. A short `scratch` or operands leave `y` as it was.
#[allow(clippy::too_many_arguments)]
pub fn qmatmul_dynamic<A: QInt, B: QInt, Y: QOut>(
    p: &QMatMul,
    a: &[A],
    a_zero: i32,
    b: &[B],
    b_zero: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    let QMatMul { batch, m, k, n, .. } = *p;
    let packed_words = qpacked_len(k, n).div_ceil(4);
    let b_len = if p.b_batched { batch * k * n } else { k * n };
    if k == 0
        || n == 0
        || b_zero.is_empty()
        || scratch.len() < packed_words + n + m
        || a.len() < batch * m * k
        || b.len() < b_len
        || y.len() < batch * m * n
    {
        return;
    }
    let (packed, rest) = scratch.split_at_mut(packed_words);
    let packed: &mut [i8] = &mut bytemuck::cast_slice_mut(packed)[..qpacked_len(k, n)];
    let (base, totals) = rest.split_at_mut(n);
    let base: &mut [i32] = bytemuck::cast_slice_mut(base);
    let totals: &mut [i32] = bytemuck::cast_slice_mut(&mut totals[..m]);
    let off = |j: usize| B::MIN + 128 - pick(b_zero, j);
    let c = a_zero - A::MIN;
    let flip = if A::MIN < 0 { 0x8080_8080 } else { 0 };
    let any_off = (0..b_zero.len()).any(|j| off(j) != 0);
    let a: &[u8] = bytemuck::cast_slice(&a[..batch * m * k]);
    for bi in 0..batch {
        if bi == 0 || p.b_batched {
            let mat = &b[if p.b_batched { bi * k * n } else { 0 }..][..k * n];
            let at = |kk: usize, j: usize| {
                let v = if p.b_transposed {
                    mat[j * k + kk]
                } else {
                    mat[kk * n + j]
                };
                v.to_i32() - B::MIN - 128
            };
            pack_qmatmul_b(k, n, at, |_| 0, packed);
            let k_i32 = k as i32;
            qpacked_bias(
                k,
                packed,
                |j| c.wrapping_mul(off(j)).wrapping_mul(k_i32).wrapping_neg(),
                c,
                base,
            );
        }
        let a_batch = &a[bi * m * k..][..m * k];
        let y_batch = &mut y[bi * m * n..][..m * n];
        if any_off {
            let flip = flip as u8;
            for (total, row) in totals.iter_mut().zip(a_batch.chunks_exact(k)) {
                *total = row.iter().fold(0i32, |s, &v| s + i32::from(v ^ flip));
            }
        }
        packed_product(a_batch, k, flip, packed, base, |r, j0, sums| {
            if any_off {
                let total = totals.get(r).copied().unwrap_or(0);
                for (t, s) in sums.iter_mut().enumerate() {
                    *s = s.wrapping_add(off(j0 + t).wrapping_mul(total));
                }
            }
            if let Some(out) = y_batch.get_mut(r * n + j0..(r + 1) * n) {
                finish_columns(sums, j0, rq, out);
            }
        });
    }
}

/// Requantizes the sums of columns `j0..` of a packed product into `out` (as far as
/// both reach): as one run where `rq` has one scale, else each by its column's.
#[inline(always)]
fn finish_columns<Y: QOut>(sums: &[i32], j0: usize, rq: Requant<'_>, out: &mut [Y]) {
    let len = out.len().min(sums.len());
    match rq.scale {
        &[scale] => Y::finish_run(&sums[..len], 0, scale, rq.zero, false, &mut out[..len]),
        scales => {
            let scales = scales.get(j0..).unwrap_or(&[]);
            for ((o, &s), &scale) in out.iter_mut().zip(sums).zip(scales) {
                *o = Y::finish(s, scale, rq.zero);
            }
        }
    }
}

/// The `f32` words of scratch [`qconv2d_pointwise_packed`] needs: the input of one image
/// with its positions as rows (`h · w · c_in` bytes).
pub const fn qconv2d_pointwise_packed_scratch_len(p: &Conv2d) -> usize {
    (p.h_in * p.w_in * p.c_in).div_ceil(4)
}

/// The most positions of a 1×1 convolution that `passes::layout` hands to
/// [`qconv2d_pointwise_packed`]: below one vector of 16 positions the gathered blocks of
/// `qconv2d_im2col` leave lanes empty (on a Zen 4, 256 → 256 channels at 3 × 3: 9.7 µs
/// there, 5.6 µs as rows), while from 6 × 6 on they win (5.6 µs against 8.1 µs), the
/// transposes into and out of rows costing more than the lanes they fill.
pub const QCONV_PACKED_MAX_POSITIONS: usize = 12;

/// A 1×1 convolution (stride 1, no padding, one group) as [`qmatmul_packed`]: each
/// output position is a row of `A`, its `c_in` input bytes, which the scratch holds
/// transposed out of the channel planes (at least
/// [`qconv2d_pointwise_packed_scratch_len`] words), and `w` is the `[c_out, c_in]`
/// weights packed by [`pack_qmatmul_b`] (`B = wᵀ`, the zero points taken out), `base`
/// [`qpacked_bias`]'s per channel. The outputs go back into their channel planes. For
/// planes of a few positions ([`QCONV_PACKED_MAX_POSITIONS`]: a MobileNet's last stage,
/// a squeeze-and-excitation block's 1 × 1), where vectors of positions would be mostly
/// empty. Operands shorter than `p` leave `y` as it was.
pub fn qconv2d_pointwise_packed<X: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    w: &[i8],
    base: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    let (k, n) = (p.c_in, p.c_out);
    let plane = p.h_in * p.w_in;
    let rows: &mut [u8] = bytemuck::cast_slice_mut(scratch);
    if !qconv2d_packs(p)
        || x.len() < p.batch * k * plane
        || y.len() < p.batch * n * plane
        || w.len() < qpacked_len(k, n)
        || base.len() != n
        || rows.len() < plane * k
        || !(rq.scale.len() == 1 || rq.scale.len() == n)
    {
        return;
    }
    let rows = &mut rows[..plane * k];
    let flip = if X::MIN < 0 { 0x8080_8080 } else { 0 };
    for (x, y) in x
        .chunks_exact(k * plane)
        .zip(y.chunks_exact_mut(n * plane))
        .take(p.batch)
    {
        // The planes into rows: position `q`'s channels at `rows[q · k..]`.
        let x: &[u8] = bytemuck::cast_slice(x);
        for (c, channel) in x.chunks_exact(plane).enumerate() {
            for (slot, &v) in rows[c..].iter_mut().step_by(k).zip(channel) {
                *slot = v;
            }
        }
        packed_product(rows, k, flip, w, base, |q, j0, sums| {
            // Requantized as a run, then each into its channel's plane.
            let mut done = [Y::zeroed(); QPACK_PASS * QPACK_COLS];
            let len = sums.len().min(done.len());
            finish_columns(sums, j0, rq, &mut done[..len]);
            let outs = y.get_mut(j0 * plane + q..).unwrap_or(&mut []);
            for (o, &v) in outs.iter_mut().step_by(plane).zip(&done[..len]) {
                *o = v;
            }
        });
    }
}

/// Whether [`qconv2d_pointwise_packed`] takes `p`: a 1×1 convolution of stride 1, no
/// padding and one group, with at least one input and output channel and position.
pub const fn qconv2d_packs(p: &Conv2d) -> bool {
    crate::conv::is_pointwise(p)
        && p.groups == 1
        && p.c_in > 0
        && p.c_out > 0
        && p.h_in * p.w_in > 0
}

/// Rows and blocks of a register tile of [`packed_product`] with more than one row:
/// four rows share each weight vector, sixteen independent sums.
const QPACK_TILE_ROWS: usize = 4;
const QPACK_TILE_BLOCKS: usize = 4;

/// The sums of the rows of `a` (`k` bytes each, XORed with `flip`'s byte) against a
/// packed `b`, plus `base` (one per column), handed to `store(row, j0, sums)` one pass of
/// columns at a time (`sums[t]` is column `j0 + t`'s). One row goes eight blocks a pass;
/// more go in tiles of four rows by four blocks, each pass's weights read from the cache
/// for every tile of rows.
#[inline(always)]
fn packed_product(
    a: &[u8],
    k: usize,
    flip: u32,
    b: &[i8],
    base: &[i32],
    mut store: impl FnMut(usize, usize, &mut [i32]),
) {
    let groups = k.div_ceil(QPACK_DEPTH);
    let block = groups * 64;
    if k == 0 {
        return;
    }
    // A row's sums of one pass, its columns' bases added, to `store`.
    let mut finish = |r: usize, j0: usize, sums: &mut [i32], base: &[i32]| {
        for (s, &c) in sums.iter_mut().zip(base) {
            *s = s.wrapping_add(c);
        }
        let len = base.len().min(sums.len());
        store(r, j0, &mut sums[..len]);
    };
    if a.len() == k {
        let passes = b
            .chunks(QPACK_PASS * block)
            .zip(base.chunks(QPACK_PASS * QPACK_COLS));
        for (pass, (b_pass, base)) in passes.enumerate() {
            let nb = (b_pass.len() / block).min(QPACK_PASS);
            let mut sums = [[0i32; QPACK_COLS]; QPACK_PASS];
            packed_pass(a, flip, b_pass, groups, &mut sums[..nb]);
            finish(
                0,
                pass * QPACK_PASS * QPACK_COLS,
                sums.as_flattened_mut(),
                base,
            );
        }
        return;
    }
    let pass_cols = QPACK_TILE_BLOCKS * QPACK_COLS;
    let passes = b
        .chunks(QPACK_TILE_BLOCKS * block)
        .zip(base.chunks(pass_cols));
    for (pass, (b_pass, base)) in passes.enumerate() {
        for (t, rows) in a.chunks(QPACK_TILE_ROWS * k).enumerate() {
            let mut sums = [[[0i32; QPACK_COLS]; QPACK_TILE_BLOCKS]; QPACK_TILE_ROWS];
            packed_tile(rows, k, flip, b_pass, groups, &mut sums);
            for (r, sums) in sums.iter_mut().take(rows.len() / k).enumerate() {
                finish(
                    t * QPACK_TILE_ROWS + r,
                    pass * pass_cols,
                    sums.as_flattened_mut(),
                    base,
                );
            }
        }
    }
}

/// One tile of [`packed_product`]: up to four rows of `k` bytes in `rows` against the
/// up to four blocks of `b`, into `sums[row][block]`.
#[inline(always)]
fn packed_tile(
    rows: &[u8],
    k: usize,
    flip: u32,
    b: &[i8],
    groups: usize,
    sums: &mut [[[i32; QPACK_COLS]; QPACK_TILE_BLOCKS]; QPACK_TILE_ROWS],
) {
    let nb = (b.len() / (groups * 64)).min(QPACK_TILE_BLOCKS);
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512vnni",
        target_feature = "avx512bw"
    ))]
    {
        use crate::dsp::dpbusd_tile;
        let row = |r: usize| rows.get(r * k..(r + 1) * k).unwrap_or(&[]);
        if rows.len() == QPACK_TILE_ROWS * k && nb == QPACK_TILE_BLOCKS {
            return dpbusd_tile::<4, 4>(core::array::from_fn(row), flip, b, groups, sums);
        }
        // A partial tile: its rows one by one, each through the one-row passes.
        for (r, sums) in sums.iter_mut().enumerate().take(rows.len() / k) {
            packed_pass(row(r), flip, b, groups, &mut sums[..nb]);
        }
        return;
    }
    #[allow(unreachable_code)]
    for (row, sums) in rows.chunks_exact(k).zip(sums.iter_mut()) {
        packed_pass(row, flip, b, groups, &mut sums[..nb]);
    }
}

/// The first `NB` blocks of `sums` for one row ([`crate::dsp::dpbusd_tile`] of one row);
/// returns `NB`.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512bw"
))]
#[inline(always)]
fn row_blocks<const NB: usize>(
    row: &[u8],
    flip: u32,
    b: &[i8],
    groups: usize,
    sums: &mut [[i32; QPACK_COLS]],
) -> usize {
    if let Some(first) = sums.first_chunk_mut::<NB>() {
        crate::dsp::dpbusd_tile::<1, NB>([row], flip, b, groups, core::array::from_mut(first));
    }
    NB
}

/// The sums of one row of `A` (bytes, each XORed with `flip`'s byte to make it
/// unsigned) against `sums.len()` consecutive blocks of `b`: `VPDPBUSD` where the
/// target has AVX-512 VNNI, else `i16` multiply-adds of pairs.
#[inline(always)]
fn packed_pass(row: &[u8], flip: u32, b: &[i8], groups: usize, sums: &mut [[i32; QPACK_COLS]]) {
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512vnni",
        target_feature = "avx512bw"
    ))]
    {
        // Eight blocks a pass where there are, then four, two, one.
        let mut at = 0;
        while at < sums.len() {
            let (Some(b), Some(rest)) = (b.get(at * groups * 64..), sums.get_mut(at..)) else {
                return;
            };
            at += match rest.len() {
                8.. => row_blocks::<8>(row, flip, b, groups, rest),
                4.. => row_blocks::<4>(row, flip, b, groups, rest),
                2.. => row_blocks::<2>(row, flip, b, groups, rest),
                _ => row_blocks::<1>(row, flip, b, groups, rest),
            };
        }
        return;
    }
    // Targets without SIMD never get a packed `B` (`passes::layout`); plain sums.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    for (block, out) in b.chunks_exact(groups * 64).zip(sums.iter_mut()) {
        *out = [0; QPACK_COLS];
        for (g, group) in block.chunks_exact(64).enumerate() {
            for (c, four) in group.chunks_exact(QPACK_DEPTH).enumerate() {
                for (d, &w) in four.iter().enumerate() {
                    let x = row
                        .get(g * QPACK_DEPTH + d)
                        .map_or(0, |&x| i32::from(x ^ flip as u8));
                    out[c] = out[c].wrapping_add(x * i32::from(w));
                }
            }
        }
    }
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[allow(unreachable_code)]
    {
        use wide::{i16x16, i32x8, i8x16};
        // The row's four bytes of group `g`, zeros past its end.
        let word = |g: usize| {
            let mut four = [0u8; 4];
            for (d, v) in four.iter_mut().enumerate() {
                if let Some(&x) = row.get(g * QPACK_DEPTH + d) {
                    *v = x ^ flip as u8;
                }
            }
            u32::from_le_bytes(four)
        };
        for (block, out) in b.chunks_exact(groups * 64).zip(sums.iter_mut()) {
            // Lane pairs: column `4q + c` of the block sums lanes `2c` and `2c + 1` of
            // `acc[q]`.
            let mut acc = [i32x8::ZERO; 4];
            for (g, group) in block.chunks_exact(64).enumerate() {
                // The four bytes as `i16` pairs, `(u0, u1)` and `(u2, u3)`, repeated.
                let w = word(g);
                let (lo, hi) = (
                    (w & 0xff) | (w & 0xff00) << 8,
                    (w >> 16 & 0xff) | (w >> 24) << 16,
                );
                let x: i16x16 = bytemuck::cast(i32x8::from(
                    [lo, hi, lo, hi, lo, hi, lo, hi].map(|v| v as i32),
                ));
                for (a, sixteen) in acc.iter_mut().zip(group.chunks_exact(16)) {
                    let bytes: [i8; 16] = sixteen.try_into().unwrap_or([0; 16]);
                    *a += i16x16::from_i8x16(i8x16::from(bytes)).dot(x);
                }
            }
            for (q, v) in acc.iter().enumerate() {
                let lanes = v.to_array();
                for c in 0..4 {
                    out[4 * q + c] = lanes[2 * c].wrapping_add(lanes[2 * c + 1]);
                }
            }
        }
    }
}

/// One row of [`qmatmul`] against `b`'s rows (`y.len()` rows of `a.len()` signed bytes,
/// `b_transposed`) on `VPDPBUSD` ([`crate::dsp::dpbusd_rows8`]), where the operands are
/// bytes, `b` signed and every `b_zero` 0: `Σ (a − a_zero) · b = Σ u · b − c · Σ b` with
/// `u = a − A::MIN` unsigned and `c = a_zero − A::MIN`. Returns false, having written
/// nothing, where it does not apply.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512bw"
))]
fn rows_vnni<A: QInt, B: QInt, Y: QOut>(
    a: &[A],
    a_zero: i32,
    b: &[B],
    b_zero: &[i32],
    bias_at: &impl Fn(usize) -> i32,
    rq: Requant<'_>,
    y: &mut [Y],
) -> bool {
    let (k, n) = (a.len(), y.len());
    if core::mem::size_of::<A>() != 1
        || core::mem::size_of::<B>() != 1
        || B::MIN != -128
        || b_zero.iter().any(|&z| z != 0)
        || k == 0
        || b.len() < k * n
    {
        return false;
    }
    let a_bytes: &[u8] = bytemuck::cast_slice(a);
    let b: &[i8] = bytemuck::cast_slice(&b[..k * n]);
    let flip = if A::MIN < 0 { 0x80 } else { 0 };
    let c = a_zero.wrapping_sub(A::MIN);
    let mut rows = b.chunks_exact(k);
    // Sums of up to 64 columns, requantized as a run where the scale is one for all.
    let mut sums = [0i32; 64];
    for (j0, out) in (0..n).step_by(64).zip(y.chunks_mut(64)) {
        let len = out.len();
        for (t0, eight_sums) in (0..len).step_by(8).zip(sums.chunks_exact_mut(8)) {
            let eight: [&[i8]; 8] = core::array::from_fn(|_| rows.next().unwrap_or(&[]));
            // Fewer than eight rows left: the missing ones repeat the first.
            let eight = eight.map(|r| if r.is_empty() { eight[0] } else { r });
            let (products, weights) = crate::dsp::dpbusd_rows8(a_bytes, flip, eight);
            let columns = eight_sums.iter_mut().zip(products.iter().zip(&weights));
            for (t, (slot, (&products, &weights))) in columns.take(len - t0).enumerate() {
                *slot = products
                    .wrapping_sub(c.wrapping_mul(weights))
                    .wrapping_add(bias_at(j0 + t0 + t));
            }
        }
        match rq.scale {
            &[scale] => Y::finish_run(&sums[..len], 0, scale, rq.zero, false, out),
            _ => {
                for (t, (o, &sum)) in out.iter_mut().zip(&sums).enumerate() {
                    *o = Y::finish(sum, pick(rq.scale, j0 + t), rq.zero);
                }
            }
        }
    }
    true
}

/// `Σ (a[i] - a_zero) · r[i]` for two rows `r0`, `r1` as long as `a` (an empty `r1`
/// sums to 0).
///
/// On a Cortex-M with the DSP extension and `a_zero = 0` (the compiler folds a constant
/// matrix's `a_zero` term into the bias), four elements are one word: `SXTB16`/`UXTB16`
/// widen it to two `i16` pairs and two `SMLAD`s add its four products, about 1.9
/// instructions a multiply-accumulate over two rows against 5 for the column tiles.
#[inline(always)]
fn dot2<A: QInt, B: QInt>(a: &[A], a_zero: i32, r0: &[B], r1: &[B]) -> [i32; 2] {
    let (mut acc, mut done) = ([0i32; 2], 0);
    if crate::dsp::HAS_DSP && a_zero == 0 {
        (acc, done) = dot2_words(a, r0, r1);
    }
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx512vnni",
        target_feature = "avx512vl"
    ))]
    if A::MIN == 0 && a_zero == 0 && B::MIN == -128 && (r1.is_empty() || r1.len() == r0.len()) {
        (acc, done) = dot2_vnni(bytemuck::cast_slice(a), r0, r1);
    }
    if done < a.len() {
        for (row, sum) in [r0, r1].into_iter().zip(&mut acc) {
            let row = row.get(done..).unwrap_or(&[]);
            for (&av, &bv) in a.get(done..).unwrap_or(&[]).iter().zip(row) {
                *sum = sum.wrapping_add((av.to_i32() - a_zero) * bv.to_i32());
            }
        }
    }
    acc
}

/// `Σ a[i] · rows[r · k + i]` for the four rows `r` of `k = a.len()` elements that
/// `rows` holds one after another (`a_zero = 0`; rows past the end of `rows` sum to
/// 0).
///
/// With signed weights on the DSP extension the whole words are one `asm!` loop that
/// widens each word of `a` once for the four rows ([`crate::dsp::dot4_rows`], 1.5
/// instructions a multiply-accumulate against 2 for [`dot2_words`]: a batch-1 fully
/// connected layer on a Cortex-M). Otherwise the rows go by pairs through [`dot2`].
#[inline(always)]
fn dot4<A: QInt, B: QInt>(a: &[A], rows: &[B]) -> [i32; 4] {
    let k = a.len();
    let row = |r: usize| {
        rows.get(r * k..)
            .map_or(&[][..], |rest| rest.get(..k).unwrap_or(rest))
    };
    if crate::dsp::HAS_DSP && B::MIN < 0 {
        let (a_bytes, row_bytes) = (bytemuck::cast_slice(a), bytemuck::cast_slice(rows));
        if let Some(mut acc) = crate::dsp::dot4_rows(a_bytes, A::MIN < 0, row_bytes) {
            // The bytes past the whole words (none for most layers: guarded, since the
            // loop's set-up costs about 20 instructions a row even when it runs no step).
            let done = k / 4 * 4;
            if done < k {
                for (r, sum) in acc.iter_mut().enumerate() {
                    let tail = row(r).get(done..).unwrap_or(&[]);
                    for (&av, &bv) in a.get(done..).unwrap_or(&[]).iter().zip(tail) {
                        *sum = sum.wrapping_add(av.to_i32() * bv.to_i32());
                    }
                }
            }
            return acc;
        }
    }
    let [s0, s1] = dot2(a, 0, row(0), row(1));
    let [s2, s3] = dot2(a, 0, row(2), row(3));
    [s0, s1, s2, s3]
}

/// The first `32 · ⌊len / 32⌋` elements of [`dot2`] for unsigned activations with
/// `a_zero = 0` and signed weights: 32 products and their sum a [`crate::dsp::dpbusd`]
/// per row (mobilenet_v2-int8's classifier, 1,280 × 1,000, 55 µs widening to `i16`
/// pairs), and that count.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx512vnni",
    target_feature = "avx512vl"
))]
#[inline(always)]
fn dot2_vnni<B: QInt>(a: &[u8], r0: &[B], r1: &[B]) -> ([i32; 2], usize) {
    use crate::dsp::dpbusd;
    use safe_arch::m256i;
    let (r0, r1): (&[u8], &[u8]) = (bytemuck::cast_slice(r0), bytemuck::cast_slice(r1));
    let whole = a.len().min(r0.len()) / 32 * 32;
    let mut acc = [m256i::default(); 2];
    let chunk = |s: &[u8], at: usize| {
        m256i::from(
            s.get(at..)
                .and_then(<[u8]>::first_chunk::<32>)
                .copied()
                .unwrap_or([0; 32]),
        )
    };
    for at in (0..whole).step_by(32) {
        let x = chunk(a, at);
        acc[0] = dpbusd(acc[0], x, chunk(r0, at));
        acc[1] = dpbusd(acc[1], x, chunk(r1, at));
    }
    let sums = acc.map(|v| {
        <[i32; 8]>::from(v)
            .iter()
            .fold(0i32, |s, &l| s.wrapping_add(l))
    });
    (sums, whole)
}

/// The whole words of [`dot2`] with `a_zero = 0`: the two sums over the first
/// `4 · ⌊len / 4⌋` elements, and that count (0 when a row's length differs from `a`'s,
/// but an empty `r1`).
#[inline(always)]
fn dot2_words<A: QInt, B: QInt>(a: &[A], r0: &[B], r1: &[B]) -> ([i32; 2], usize) {
    use crate::dsp::smlad;
    let mut acc = [0i32; 2];
    if r0.len() != a.len() || !(r1.is_empty() || r1.len() == a.len()) {
        return (acc, 0);
    }
    let quads = a.chunks_exact(4).zip(r0.chunks_exact(4));
    if r1.is_empty() {
        for (a4, b4) in quads {
            let (a02, a13) = A::widen(A::word(a4));
            let (b02, b13) = B::widen(B::word(b4));
            acc[0] = smlad(a13, b13, smlad(a02, b02, acc[0]));
        }
    } else {
        for ((a4, b4), c4) in quads.zip(r1.chunks_exact(4)) {
            let (a02, a13) = A::widen(A::word(a4));
            let (b02, b13) = B::widen(B::word(b4));
            let (c02, c13) = B::widen(B::word(c4));
            acc[0] = smlad(a13, b13, smlad(a02, b02, acc[0]));
            acc[1] = smlad(a13, c13, smlad(a02, c02, acc[1]));
        }
    }
    (acc, a.len() / 4 * 4)
}

/// The sums of columns `j0..j0 + T` of one row of a matrix product (`b` is `[k, n]`),
/// starting from the bias; columns at or past `n` stay 0.
///
/// The weights' zero points come out of the loop: `Σ a' · (b - b_zero) = Σ a' · b -
/// b_zero · Σ a'` with `a' = a - a_zero`, so the inner loop is one multiply-add per
/// weight (in registers where the target has vectors for a whole tile).
#[inline(always)]
fn column_tile<A: QInt, B: QInt, const T: usize>(
    a_row: &[A],
    a_zero: i32,
    b: &[B],
    n: usize,
    j0: usize,
    b_zero: &[i32],
    bias_at: &impl Fn(usize) -> i32,
) -> [i32; T] {
    let width = T.min(n - j0);
    let (mut acc, a_sum) = if width == T {
        whole_tile::<A, B, T>(a_row, a_zero, b, n, j0)
    } else {
        ragged_tile::<A, B, T>(a_row, a_zero, b, n, j0, width)
    };
    for (t, a) in acc.iter_mut().enumerate().take(width) {
        let correction = pick(b_zero, j0 + t).wrapping_mul(a_sum);
        *a = a.wrapping_add(bias_at(j0 + t)).wrapping_sub(correction);
    }
    acc
}

/// `Σ a' · b` over columns `j0..j0 + T`, all inside the row, and `Σ a'`.
#[inline(never)]
fn whole_tile<A: QInt, B: QInt, const T: usize>(
    a_row: &[A],
    a_zero: i32,
    b: &[B],
    n: usize,
    j0: usize,
) -> ([i32; T], i32) {
    let mut acc = [0i32; T];
    let mut a_sum = 0i32;
    for (&av, b_row) in a_row.iter().zip(b.chunks_exact(n.max(1))) {
        let av = av.to_i32() - a_zero;
        // Activations after a ReLU are often at their zero point.
        if av == 0 {
            continue;
        }
        a_sum = a_sum.wrapping_add(av);
        if let Some(run) = b_row
            .get(j0..j0 + T)
            .and_then(|r| <&[B; T]>::try_from(r).ok())
        {
            for (a, &bv) in acc.iter_mut().zip(run) {
                *a = a.wrapping_add(av * bv.to_i32());
            }
        }
    }
    (acc, a_sum)
}

/// [`whole_tile`] for the last `width < T` columns of a row.
#[inline(never)]
fn ragged_tile<A: QInt, B: QInt, const T: usize>(
    a_row: &[A],
    a_zero: i32,
    b: &[B],
    n: usize,
    j0: usize,
    width: usize,
) -> ([i32; T], i32) {
    let mut acc = [0i32; T];
    let mut a_sum = 0i32;
    for (&av, b_row) in a_row.iter().zip(b.chunks_exact(n.max(1))) {
        let av = av.to_i32() - a_zero;
        a_sum = a_sum.wrapping_add(av);
        for (a, &bv) in acc.iter_mut().zip(&b_row[j0..j0 + width]) {
            *a = a.wrapping_add(av * bv.to_i32());
        }
    }
    (acc, a_sum)
}

tokens! {
    rt::qlinear;
    /// Which element-wise operation [`qbinary`] computes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum QBinaryOp {
        Add,
        Mul,
    }
}

tokens! {
    rt::qlinear;
    /// The quantization of the operands and the output of [`qbinary`].
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct QBinary {
        pub op: QBinaryOp,
        pub a_scale: f32,
        pub a_zero: i32,
        pub b_scale: f32,
        pub b_zero: i32,
        pub y_scale: f32,
        pub y_zero: i32,
    }
}

/// com.microsoft QLinearAdd and QLinearMul with numpy broadcasting, in `f32` as ONNX
/// Runtime's MLAS computes them:
/// - Add: `y = zc - (sa/sc·za + sb/sc·zb) + sa/sc·a + sb/sc·b`;
/// - Mul: `y = (a - za)·(b - zb) · (sa·sb/sc) + zc`;
///
/// each rounded half to even and saturated.
pub fn qbinary<T: QInt>(
    p: &QBinary,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    y: &mut [T],
    y_shape: &[usize],
) {
    let result: Result<(), core::convert::Infallible> = match p.op {
        QBinaryOp::Add => {
            let ratio_a = p.a_scale / p.y_scale;
            let ratio_b = p.b_scale / p.y_scale;
            let fixed = p.y_zero as f32 - (ratio_a * p.a_zero as f32 + ratio_b * p.b_zero as f32);
            // Two fused multiply-adds, as MLAS computes it on CPUs with FMA (separately
            // rounded products and sums differ in the last bit now and then, and one
            // output in ten thousand then rounds to its neighbour).
            let add = |av: T, bv: T| {
                let v = crate::scalar::fmadd(av.to_i32() as f32, ratio_a, fixed);
                quantize_value(crate::scalar::fmadd(bv.to_i32() as f32, ratio_b, v))
            };
            if a.len() == y.len() && b.len() == y.len() && a_shape == b_shape {
                // Equal shapes (a residual connection): one contiguous zip.
                let done = add_lanes(a, b, y, (ratio_a, ratio_b, fixed));
                for ((out, &av), &bv) in y.iter_mut().zip(a).zip(b).skip(done) {
                    *out = add(av, bv);
                }
                return;
            }
            zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |av, bv| Ok(add(av, bv)))
        }
        QBinaryOp::Mul => {
            let ratio = p.a_scale * p.b_scale / p.y_scale;
            let zero = p.y_zero;
            zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |av, bv| {
                let product = (av.to_i32() - p.a_zero) * (bv.to_i32() - p.b_zero);
                Ok(requantize(product, ratio, zero))
            })
        }
    };
    let Ok(()) = result;
}

/// The equal-shape QLinearAdd of [`qbinary`] eight elements at a time, with the
/// instruction's fused multiply-adds where the target has them (x86-64 with FMA); returns
/// how many leading elements it wrote. [`crate::scalar::fmadd`], which the other
/// elements take, rounds its `f64` sum to `f32`, one rounding as the instruction's: the
/// sum of an 8-bit value times an `f32` and an `f32` is exact in `f64` unless their
/// magnitudes lie 2^21 apart.
#[cfg(all(target_arch = "x86_64", target_feature = "fma"))]
#[inline(always)]
fn add_lanes<T: QInt>(a: &[T], b: &[T], y: &mut [T], (ra, rb, fixed): (f32, f32, f32)) -> usize {
    use wide::{f32x8, i32x8};
    let (ra, rb, fixed) = (f32x8::splat(ra), f32x8::splat(rb), f32x8::splat(fixed));
    let (lo, hi) = (f32x8::splat(T::MIN as f32), f32x8::splat(T::MAX as f32));
    let lanes = |v: &[T]| {
        let mut out = [0i32; 8];
        for (o, &x) in out.iter_mut().zip(v) {
            *o = x.to_i32();
        }
        f32x8::from_i32x8(i32x8::from(out))
    };
    // As `quantize_value`: `max` then `min` (a NaN becomes the lower bound).
    let add = |av: &[T], bv: &[T]| {
        let v = lanes(av).mul_add(ra, fixed);
        round_even_lanes(lanes(bv).mul_add(rb, v).max(lo).min(hi))
    };
    let len = y.len().min(a.len()).min(b.len());
    // With AVX-512, sixteen at a time, the same steps on 512-bit vectors (mlperf-ic-int8's
    // three residual adds 4.5 → 2.9 µs on Zen 4).
    #[cfg(target_feature = "avx512f")]
    {
        use safe_arch::{
            add_m512, cast_to_m512i_from_m512, convert_to_m512_from_i32_m512i, fused_mul_add_m512,
            max_m512, min_m512, set_splat_i32_m512i, set_splat_m512, sub_i32_m512i,
        };
        let whole = len / 16 * 16;
        let splat = |v: f32x8| set_splat_m512(v.to_array()[0]);
        let (ra, rb, fixed, lo, hi) = (splat(ra), splat(rb), splat(fixed), splat(lo), splat(hi));
        let magic_bits = set_splat_i32_m512i(ROUND_MAGIC.to_bits() as i32);
        let lanes = |v: &[T]| {
            let bytes: &[u8] = bytemuck::cast_slice(v);
            let bytes =
                <[u8; 16]>::try_from(bytes.get(..16).unwrap_or(&[0; 16])).unwrap_or([0; 16]);
            convert_to_m512_from_i32_m512i(crate::dsp::widen_bytes512(bytes, T::MIN < 0))
        };
        let out_bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut y[..whole]);
        for ((out, av), bv) in out_bytes
            .chunks_exact_mut(16)
            .zip(a.chunks_exact(16))
            .zip(b.chunks_exact(16))
        {
            let v = fused_mul_add_m512(lanes(av), ra, fixed);
            let v = min_m512(max_m512(fused_mul_add_m512(lanes(bv), rb, v), lo), hi);
            let rounded = sub_i32_m512i(
                cast_to_m512i_from_m512(add_m512(v, set_splat_m512(ROUND_MAGIC))),
                magic_bits,
            );
            out.copy_from_slice(&crate::dsp::low_bytes512(rounded));
        }
        // The rest as below, from `whole` on.
        let (a, b, y) = (&a[whole..], &b[whole..], &mut y[whole..]);
        whole + add_lanes_narrow(a, b, y, add, len - whole)
    }
    #[cfg(not(target_feature = "avx512f"))]
    add_lanes_narrow(a, b, y, add, len)
}

/// The part of [`add_lanes`] on eight lanes: the first `len` elements' whole groups of
/// eight (of 32 first where the target has AVX2); returns how many it wrote.
#[cfg(all(target_arch = "x86_64", target_feature = "fma"))]
#[inline(always)]
fn add_lanes_narrow<T: QInt>(
    a: &[T],
    b: &[T],
    y: &mut [T],
    add: impl Fn(&[T], &[T]) -> wide::i32x8,
    len: usize,
) -> usize {
    use wide::i32x8;
    // 32 at a time, narrowed in registers into one store (a narrowing store per eight
    // was slow on Zen 4), then eight at a time.
    #[cfg(not(target_feature = "avx2"))]
    let done = 0;
    #[cfg(target_feature = "avx2")]
    let done = {
        let done = len / 32 * 32;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut y[..done]);
        for ((out, av), bv) in bytes
            .chunks_exact_mut(32)
            .zip(a.chunks_exact(32))
            .zip(b.chunks_exact(32))
        {
            let q: [i32x8; 4] = core::array::from_fn(|i| add(&av[i * 8..], &bv[i * 8..]));
            out.copy_from_slice(&narrow32::<T>(q));
        }
        done
    };
    let whole = len / 8 * 8;
    for ((out, av), bv) in y[done..whole]
        .chunks_exact_mut(8)
        .zip(a[done..].chunks_exact(8))
        .zip(b[done..].chunks_exact(8))
    {
        for (o, &r) in out.iter_mut().zip(&add(av, bv).to_array()) {
            *o = T::saturate(r);
        }
    }
    whole
}

/// Without FMA, no element: all take [`crate::scalar::fmadd`].
#[cfg(not(all(target_arch = "x86_64", target_feature = "fma")))]
#[inline(always)]
fn add_lanes<T: QInt>(_: &[T], _: &[T], _: &mut [T], _: (f32, f32, f32)) -> usize {
    0
}

/// `y = table[x - X::MIN]`: an 8-bit tensor through a 256-entry table (ai.zant.QLookup,
/// the compiler's form of an element-wise float island between 8-bit tensors). A
/// shorter table leaves `y` as it is.
pub fn lookup<X: QInt, Y: QInt>(x: &[X], table: &[Y], y: &mut [Y]) {
    let Some(table) = table.first_chunk::<256>() else {
        return;
    };
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512vbmi"))]
    if core::mem::size_of::<X>() == 1 && core::mem::size_of::<Y>() == 1 {
        // The table by the input's raw byte: entry `b` is `table[b - X::MIN]`, which for
        // `i8` swaps the halves.
        let flip = (-X::MIN) as usize & 0x80;
        let bytes: [u8; 256] =
            core::array::from_fn(|b| bytemuck::cast::<Y, [u8; 1]>(table[b ^ flip])[0]);
        done =
            crate::dsp::lookup_bytes(bytemuck::cast_slice(x), &bytes, bytemuck::cast_slice_mut(y));
    }
    for (out, &v) in y.iter_mut().zip(x).skip(done) {
        *out = table[((v.to_i32() - X::MIN) & 0xff) as usize];
    }
}

/// com.microsoft QLinearGlobalAveragePool on `[channels, size]` (NCHW with the batch
/// folded into the channels): `y = requantize(Σ x - size · x_zero, scale, y_zero)` where
/// the compiler computes `scale = x_scale / (y_scale · size)` as ONNX Runtime does.
pub fn qglobal_average_pool<T: QInt>(
    channels: usize,
    size: usize,
    x: &[T],
    x_zero: i32,
    scale: f32,
    y_zero: i32,
    y: &mut [T],
) {
    let offset = (size as i32).wrapping_mul(x_zero);
    for (out, plane) in y[..channels].iter_mut().zip(x.chunks_exact(size.max(1))) {
        let sum = plane.iter().fold(0i32, |s, &v| s.wrapping_add(v.to_i32()));
        *out = requantize(sum.wrapping_sub(offset), scale, y_zero);
    }
}

/// com.microsoft QLinearSoftmax as ONNX Runtime computes it, along an axis of length `len`
/// between `outer` and `inner` elements. `table[i]` is the compiler's `exp((i - 255) ·
/// x_scale + shift)` in `f32` (the shift keeps a sum of `len` entries finite), so an
/// element `x` of a row whose maximum is `m` reads `table[255 - (m - x)]`; the row's entries
/// are summed in `f32` in axis order, and each output is
/// `saturate(round_half_even(entry · y_scale / sum) + y_zero)` with `y_scale` the
/// compiler's `floor(1 / Y_scale)`. A row whose sum is not positive (a table the compiler
/// would not build) gives `y_zero`.
#[allow(clippy::too_many_arguments)]
pub fn qsoftmax<T: QInt>(
    outer: usize,
    len: usize,
    inner: usize,
    x: &[T],
    table: &[f32; 256],
    y_scale: f32,
    y_zero: i32,
    y: &mut [T],
) {
    let (len, inner) = (len.max(1), inner.max(1));
    let entry = |m: i32, v: T| table[(255 - (m - v.to_i32())) as usize & 0xff];
    // The quotient is at most `y_scale`; past 512 every output saturates, and below 2^22
    // `round_even` is exact.
    let out = |e: f32, sum: f32| -> T {
        let q = (e * y_scale) / sum;
        let q = if q <= 512.0 { q } else { 512.0 };
        T::saturate(round_even(q).wrapping_add(y_zero))
    };
    for (xs, ys) in x
        .chunks_exact(len * inner)
        .zip(y.chunks_exact_mut(len * inner))
        .take(outer)
    {
        for i in 0..inner {
            let row = || xs.iter().skip(i).step_by(inner);
            let m = row().fold(T::MIN, |m, v| m.max(v.to_i32()));
            let sum = row().fold(0.0f32, |s, &v| s + entry(m, v));
            let dst = ys.iter_mut().skip(i).step_by(inner);
            if sum > 0.0 {
                for (d, &v) in dst.zip(row()) {
                    *d = out(entry(m, v), sum);
                }
            } else {
                for d in dst {
                    *d = T::saturate(y_zero);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integer convolution written the obvious way, for comparison.
    fn reference(p: &Conv2d, x: &[u8], xz: i32, w: &[i8], wz: i32, b: &[i32]) -> [i32; 64] {
        let mut out = [0i32; 64];
        let (cig, cog) = (p.c_in / p.groups, p.c_out / p.groups);
        for oc in 0..p.c_out {
            for oh in 0..p.h_out {
                for ow in 0..p.w_out {
                    let mut acc = b[oc];
                    for ci in 0..cig {
                        let c = (oc / cog) * cig + ci;
                        for kh in 0..p.k_h {
                            for kw in 0..p.k_w {
                                let ih =
                                    (oh * p.stride_h + kh * p.dil_h) as isize - p.pad_top as isize;
                                let iw =
                                    (ow * p.stride_w + kw * p.dil_w) as isize - p.pad_left as isize;
                                let inside = (0..p.h_in as isize).contains(&ih)
                                    && (0..p.w_in as isize).contains(&iw);
                                let xv = if inside {
                                    i32::from(x[(c * p.h_in + ih as usize) * p.w_in + iw as usize])
                                } else {
                                    xz
                                };
                                let wv = i32::from(w[((oc * cig + ci) * p.k_h + kh) * p.k_w + kw]);
                                acc += (xv - xz) * (wv - wz);
                            }
                        }
                    }
                    out[(oc * p.h_out + oh) * p.w_out + ow] = acc;
                }
            }
        }
        out
    }

    #[test]
    fn convolution_matches_the_direct_sum() {
        let base = Conv2d {
            batch: 1,
            c_in: 2,
            h_in: 5,
            w_in: 5,
            c_out: 2,
            h_out: 3,
            w_out: 3,
            k_h: 3,
            k_w: 3,
            stride_h: 2,
            stride_w: 2,
            dil_h: 1,
            dil_w: 1,
            pad_top: 1,
            pad_left: 1,
            groups: 2,
        };
        // Strided depthwise with padding; dense with dilation and padding at stride 1;
        // pointwise, which reads each plane as one row.
        let dilated = Conv2d {
            h_out: 3,
            w_out: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 2,
            dil_w: 2,
            groups: 1,
            ..base
        };
        let pointwise = Conv2d {
            h_out: 5,
            w_out: 5,
            k_h: 1,
            k_w: 1,
            stride_h: 1,
            stride_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
            ..base
        };
        let x: [u8; 50] = core::array::from_fn(|i| (i * 37 % 251) as u8);
        let w: [i8; 36] = core::array::from_fn(|i| (i as i8).wrapping_mul(29) ^ 0x55);
        let (xz, wz, b) = (7, 3, [100, -50]);
        for p in [base, dilated, pointwise] {
            let per_oc = p.c_in / p.groups * p.k_h * p.k_w;
            // The compiler's fold: bias - x_zero · Σ (w - w_zero) per output channel.
            let folded: [i32; 2] = core::array::from_fn(|oc| {
                let taps = &w[oc * per_oc..][..per_oc];
                b[oc] - xz * taps.iter().map(|&v| i32::from(v) - wz).sum::<i32>()
            });
            let n = p.c_out * p.h_out * p.w_out;
            let mut y = [0i32; 64];
            let rq = Requant {
                scale: &[1.0],
                zero: 0,
            };
            qconv2d(&p, &x, xz, &w, &[wz], &folded, rq, &mut y[..n]);
            assert_eq!(y[..n], reference(&p, &x, xz, &w, wz, &b)[..n], "{p:?}");
            // ConvInteger with the zero point at run time: the same sums without a bias.
            let taps: [i32; 2] = core::array::from_fn(|oc| {
                w[oc * per_oc..][..per_oc]
                    .iter()
                    .map(|&v| i32::from(v) - wz)
                    .sum()
            });
            let mut dynamic = [0i32; 64];
            conv_integer_runtime_zero(&p, &x, &[xz as u8], &w, &[wz], &taps, &mut dynamic[..n]);
            assert_eq!(
                dynamic[..n],
                reference(&p, &x, xz, &w, wz, &[0, 0])[..n],
                "{p:?}"
            );
        }
    }

    #[test]
    fn requantize_runs_equal_the_scalar_steps() {
        // Sums around every rounding tie and both saturation bounds, at several scales
        // (a NaN one included), runs long enough for the vector lanes and a scalar tail.
        let acc: [i32; 43] = core::array::from_fn(|i| (i as i32 - 21) * 977 + (i as i32 % 3));
        for (scale, zero) in [(0.5f32, 3), (0.0123, -128), (1.0, 127), (f32::NAN, 10)] {
            for base in [0, -40_000, 123] {
                let mut run8 = [0i8; 43];
                i8::finish_run(&acc, base, scale, zero, false, &mut run8);
                let mut run_u = [0u8; 43];
                u8::finish_run(&acc, base, scale, zero.clamp(0, 255), false, &mut run_u);
                // These sums times these scales stay far below 2^21, the precondition
                // of the unclamped path, which must then give the same bytes.
                if !scale.is_nan() {
                    let mut small8 = [0i8; 43];
                    i8::finish_run(&acc, base, scale, zero, true, &mut small8);
                    assert_eq!(small8, run8, "{scale} {base}");
                    let mut small_u = [0u8; 43];
                    u8::finish_run(&acc, base, scale, zero.clamp(0, 255), true, &mut small_u);
                    assert_eq!(small_u, run_u, "{scale} {base}");
                }
                for (i, &a) in acc.iter().enumerate() {
                    let sum = base.wrapping_add(a);
                    assert_eq!(run8[i], requantize::<i8>(sum, scale, zero), "{i} {scale}");
                    let want = requantize::<u8>(sum, scale, zero.clamp(0, 255));
                    assert_eq!(run_u[i], want, "{i} {scale}");
                }
            }
        }
    }

    #[test]
    fn lookups_of_long_runs_equal_the_formula() {
        // 300 elements: 64-byte blocks (AVX-512 VBMI, where the build has it) and a tail.
        let table: [i8; 256] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) as i8);
        let x: [u8; 300] = core::array::from_fn(|i| (i as u8).wrapping_mul(11) ^ 0x5a);
        let mut y = [0i8; 300];
        lookup(&x, &table, &mut y);
        for (i, &v) in x.iter().enumerate() {
            assert_eq!(y[i], table[usize::from(v)], "u8 input {i}");
        }
        let x: [i8; 300] = x.map(|b| b as i8);
        lookup(&x, &table, &mut y);
        for (i, &v) in x.iter().enumerate() {
            assert_eq!(y[i], table[(i32::from(v) + 128) as usize], "i8 input {i}");
        }
    }

    #[test]
    fn lookup_indexes_from_the_type_minimum() {
        let table: [u8; 256] = core::array::from_fn(|i| (255 - i) as u8);
        let mut y = [0u8; 4];
        lookup(&[-128i8, -1, 0, 127], &table, &mut y);
        assert_eq!(y, [255, 128, 127, 0]);
        lookup(&[0u8, 1, 254, 255], &table, &mut y);
        assert_eq!(y, [255, 254, 1, 0]);
        // A short table leaves the output alone rather than panic.
        lookup(&[5u8], &table[..10], &mut y[..1]);
        assert_eq!(y[0], 255);
    }

    #[test]
    fn small_products_bounds_the_unclamped_path() {
        assert!(small_products(64, 10_000, 0.003));
        // 1,024 products of 255 · 255 at scale 0.05: 3.3 M > 2^21.
        assert!(!small_products(1024, 0, 0.05));
        assert!(!small_products(1, 0, f32::NAN));
        assert!(!small_products(1, i32::MIN, 1.0));
    }

    #[test]
    fn requantize_rounds_half_to_even_and_saturates() {
        assert_eq!(requantize::<u8>(5, 0.5, 10), 12); // 2.5 rounds to 2
        assert_eq!(requantize::<u8>(7, 0.5, 10), 14); // 3.5 rounds to 4
        assert_eq!(requantize::<i8>(-1000, 1.0, 0), -128);
        assert_eq!(requantize::<u8>(1000, 1.0, 100), 255);
        assert_eq!(requantize::<u8>(1, f32::NAN, 3), 0);
    }

    #[test]
    fn matmul_subtracts_zero_points_in_both_layouts() {
        // a = [[1, 2], [3, 4]] - 1, b = [[5, 6], [7, 8]] - 2.
        let a = [2u8, 3, 4, 5];
        let b = [7i8, 8, 9, 10];
        let bt = [7i8, 9, 8, 10];
        let rq = Requant {
            scale: &[1.0],
            zero: 0,
        };
        let mut p = QMatMul {
            batch: 1,
            m: 2,
            k: 2,
            n: 2,
            b_transposed: false,
            b_batched: false,
        };
        let mut y = [0i32; 4];
        qmatmul(&p, &a, 1, &b, &[2], &[], rq, &mut y);
        assert_eq!(y, [19, 22, 43, 50]);
        p.b_transposed = true;
        let mut yt = [0i32; 4];
        qmatmul(&p, &a, 1, &bt, &[2], &[1], rq, &mut yt);
        assert_eq!(yt, [20, 23, 44, 51]);
    }

    #[test]
    fn word_dot_products_equal_the_scalar_sums() {
        fn check<A: QInt, B: QInt>(a: &[A], r0: &[B], r1: &[B]) {
            let sum = |r: &[B], len: usize| {
                a.iter()
                    .zip(r)
                    .take(len)
                    .map(|(&x, &y)| x.to_i32() * y.to_i32())
                    .sum::<i32>()
            };
            let (acc, done) = dot2_words(a, r0, r1);
            assert_eq!(done, a.len() / 4 * 4);
            assert_eq!(acc, [sum(r0, done), sum(r1, done)]);
            assert_eq!(dot2(a, 0, r0, r1), [sum(r0, a.len()), sum(r1, a.len())]);
        }
        let bytes: [u8; 3 * 11] = core::array::from_fn(|i| (i as u8).wrapping_mul(97) ^ 0x5a);
        let (a, rest) = bytes.split_at(11);
        let (r0, r1) = rest.split_at(11);
        let signed = |b: &[u8]| -> [i8; 11] { core::array::from_fn(|i| b[i] as i8) };
        let edges_a = [255u8, 0, 128, 127, 255, 1, 200, 255, 17, 0, 255];
        let edges_b = [-128i8, 127, -128, -1, 0, 127, -128, -128, 5, -7, 127];
        check(a, &signed(r0), &signed(r1));
        check(&signed(a), &signed(r0), &signed(r1));
        check(a, r0, r1);
        check(&edges_a, &edges_b, &edges_b[..0]);
        check(&signed(&edges_a), &edges_b, &signed(r1));
        // A row of another length takes the scalar loop.
        assert_eq!(dot2_words(a, &r0[..7], &[] as &[u8]), ([0, 0], 0));
    }

    #[test]
    fn four_row_dot_products_equal_the_scalar_sums() {
        // Whole words and a tail, extreme bytes included, `u8` and `i8` inputs and
        // weights; rows past the end of the block sum to 0.
        let a: [u8; 23] = core::array::from_fn(|i| match i % 6 {
            0 => 255,
            1 => 0,
            _ => (i as u8).wrapping_mul(97) ^ 0x5a,
        });
        let block: [u8; 4 * 23] = core::array::from_fn(|i| match i % 5 {
            0 => 128,
            1 => 127,
            _ => (i as u8).wrapping_mul(53) ^ 0x21,
        });
        fn sums<A: QInt, B: QInt>(a: &[A], rows: &[B]) -> [i32; 4] {
            let k = a.len();
            core::array::from_fn(|r| {
                let row = rows
                    .get(r * k..)
                    .map_or(&[][..], |rest| &rest[..k.min(rest.len())]);
                a.iter()
                    .zip(row)
                    .map(|(&x, &y)| x.to_i32() * y.to_i32())
                    .sum()
            })
        }
        let a_signed: [i8; 23] = a.map(|v| v as i8);
        let b_signed: [i8; 4 * 23] = block.map(|v| v as i8);
        for len in [0, 3, 4, 16, 23] {
            let (au, ai) = (&a[..len], &a_signed[..len]);
            let (bu, bi) = (&block[..4 * len], &b_signed[..4 * len]);
            assert_eq!(dot4(au, bi), sums(au, bi), "u8 × i8, {len}");
            assert_eq!(dot4(ai, bi), sums(ai, bi), "i8 × i8, {len}");
            assert_eq!(dot4(au, bu), sums(au, bu), "u8 × u8, {len}");
            assert_eq!(dot4(ai, bu), sums(ai, bu), "i8 × u8, {len}");
        }
        let short = &b_signed[..3 * 23];
        assert_eq!(dot4(&a, short), sums(&a, short));
        assert_eq!(sums(&a, short)[3], 0);
    }

    #[test]
    fn long_dot_products_equal_the_scalar_sums() {
        // Two whole 32-byte chunks and a tail (the VNNI loop where the target has it),
        // extreme bytes included, with a second row and without.
        let a: [u8; 75] = core::array::from_fn(|i| match i % 7 {
            0 => 255,
            1 => 0,
            _ => (i as u8).wrapping_mul(97) ^ 0x5a,
        });
        let r0: [i8; 75] = core::array::from_fn(|i| match i % 5 {
            0 => -128,
            1 => 127,
            _ => (i as i8).wrapping_mul(53) ^ 0x21,
        });
        let r1: [i8; 75] = core::array::from_fn(|i| r0[74 - i]);
        let sum = |r: &[i8], a_zero: i32| -> i32 {
            a.iter()
                .zip(r)
                .map(|(&x, &y)| (i32::from(x) - a_zero) * i32::from(y))
                .sum()
        };
        assert_eq!(dot2(&a, 0, &r0, &r1), [sum(&r0, 0), sum(&r1, 0)]);
        assert_eq!(dot2(&a, 0, &r0, &[]), [sum(&r0, 0), 0]);
        assert_eq!(dot2(&a, 3, &r0, &r1), [sum(&r0, 3), sum(&r1, 3)]);
    }

    /// Transposed `b` of signed bytes with zero points 0 (the layout and the operands of
    /// the `VPDPBUSD` rows where the host has them): every depth around a 64-byte step,
    /// row counts around the eight-row group and the 64-column run, `u8` and `i8` inputs
    /// with zero points at their extremes, against the formula.
    #[test]
    fn transposed_byte_rows_equal_the_formula() {
        extern crate std;
        use std::vec::Vec;
        fn check<A: QInt>(a: &[A], a_zero: i32, k: usize, n: usize) {
            let b: Vec<i8> = (0..k * n)
                .map(|i| (i as u32).wrapping_mul(0x9e37_79b9).to_le_bytes()[3] as i8)
                .collect();
            let bias: Vec<i32> = (0..n as i32).map(|j| 77 * j - 500).collect();
            let p = QMatMul {
                batch: 1,
                m: 1,
                k,
                n,
                b_transposed: true,
                b_batched: false,
            };
            let rq = Requant {
                scale: &[1.0],
                zero: 0,
            };
            let mut y = std::vec![0i32; n];
            qmatmul(&p, &a[..k], a_zero, &b, &[0], &bias, rq, &mut y);
            for j in 0..n {
                let sum: i32 = (0..k)
                    .map(|i| (a[i].to_i32() - a_zero) * i32::from(b[j * k + i]))
                    .sum();
                assert_eq!(y[j], bias[j] + sum, "k {k}, n {n}, column {j}");
            }
        }
        let a_u8: Vec<u8> = (0..700u32)
            .map(|i| (i.wrapping_mul(97) ^ 0x5a) as u8)
            .collect();
        let a_i8: Vec<i8> = a_u8.iter().map(|&v| v as i8).collect();
        for k in [1, 3, 63, 64, 65, 128, 130, 640] {
            for n in [1, 3, 7, 8, 9, 17, 70] {
                check(&a_u8, 0, k, n);
                check(&a_u8, 255, k, n);
                check(&a_i8, -128, k, n);
                check(&a_i8, 17, k, n);
            }
        }
    }

    #[test]
    fn matmul_tiles_cover_wide_and_ragged_rows() {
        // n = 37 spans whole tiles of every target and a ragged last one.
        const M: usize = 2;
        const K: usize = 5;
        const N: usize = 37;
        let a: [i8; M * K] = core::array::from_fn(|i| (i as i8).wrapping_mul(37) ^ 0x21);
        let b: [i8; K * N] = core::array::from_fn(|i| (i as i8).wrapping_mul(53) ^ 0x5a);
        let b_zero: [i32; N] = core::array::from_fn(|j| j as i32 % 5 - 2);
        let bias: [i32; N] = core::array::from_fn(|j| 1000 - 37 * j as i32);
        let a_zero = -3;
        let p = QMatMul {
            batch: 1,
            m: M,
            k: K,
            n: N,
            b_transposed: false,
            b_batched: false,
        };
        let rq = Requant {
            scale: &[1.0],
            zero: 0,
        };
        let mut y = [0i32; M * N];
        qmatmul(&p, &a, a_zero, &b, &b_zero, &bias, rq, &mut y);
        for i in 0..M {
            for j in 0..N {
                let sum: i32 = (0..K)
                    .map(|kk| {
                        (i32::from(a[i * K + kk]) - a_zero) * (i32::from(b[kk * N + j]) - b_zero[j])
                    })
                    .sum();
                assert_eq!(y[i * N + j], bias[j] + sum, "row {i}, column {j}");
            }
        }
    }

    /// A packed `B` ([`pack_qmatmul_b`], [`qpacked_bias`], [`qmatmul_packed`]) gives
    /// [`qmatmul`]'s outputs: unsigned and signed `A` with zero points, `B` of both types
    /// whose differences fit `i8`, depths and widths off the groups and blocks (and past
    /// one pass of eight blocks), several rows, one scale or one per column.
    #[test]
    fn packed_matmul_matches_the_plain_one() {
        extern crate std;
        use std::{vec, vec::Vec};
        fn case<A: QInt, B: QInt>(
            m: usize,
            k: usize,
            n: usize,
            a_zero: i32,
            b_zero: &[i32],
            per_column: bool,
        ) {
            let a: Vec<A> = (0..m * k)
                .map(|i| A::saturate((i as i32 * 73 + 11) % 256 + A::MIN))
                .collect();
            let zero = |j: usize| pick(b_zero, j);
            // Weights within 127 of their zero point, so that the differences fit `i8`.
            let b: Vec<B> = (0..k * n)
                .map(|i| B::saturate(zero(i % n) + (i as i32 * 89 + 5) % 255 - 127))
                .collect();
            let bias: Vec<i32> = (0..n as i32).map(|j| 500 - 91 * j).collect();
            let scales: Vec<f32> = if per_column {
                (0..n).map(|j| 0.0007 + j as f32 * 0.00003).collect()
            } else {
                vec![0.0011]
            };
            let rq = Requant {
                scale: &scales,
                zero: 4,
            };
            let p = QMatMul {
                batch: 1,
                m,
                k,
                n,
                b_transposed: false,
                b_batched: false,
            };
            let mut want = vec![0i8; m * n];
            qmatmul(&p, &a, a_zero, &b, b_zero, &bias, rq, &mut want);
            let mut packed = vec![0i8; qpacked_len(k, n)];
            let at = |kk: usize, j: usize| b[kk * n + j].to_i32();
            assert!(pack_qmatmul_b(k, n, at, zero, &mut packed));
            let mut base = vec![0i32; n];
            qpacked_bias(k, &packed, |j| bias[j], a_zero - A::MIN, &mut base);
            let mut got = vec![0i8; m * n];
            qmatmul_packed::<A, i8>(&p, &a, &packed, &base, rq, &mut got);
            assert_eq!(got, want, "{m} × {k} × {n}");
            // The raw sums too, where no requantization hides a difference.
            let raw = Requant {
                scale: &[1.0],
                zero: 0,
            };
            let mut want = vec![0i32; m * n];
            qmatmul(&p, &a, a_zero, &b, b_zero, &bias, raw, &mut want);
            let mut got = vec![0i32; m * n];
            qmatmul_packed::<A, i32>(&p, &a, &packed, &base, raw, &mut got);
            assert_eq!(got, want, "{m} × {k} × {n}, raw");
        }
        case::<i8, i8>(1, 640, 128, 0, &[0], false);
        case::<i8, i8>(1, 7, 5, -3, &[0], true);
        case::<i8, i8>(3, 130, 150, 9, &[0], true);
        case::<i8, i8>(9, 256, 150, -2, &[0], false);
        case::<u8, i8>(8, 37, 64, 0, &[0], true);
        case::<u8, u8>(2, 66, 33, 131, &[128], false);
        case::<u8, i8>(1, 9, 17, 0, &[0], true);
        case::<u8, u8>(1, 20, 3, 7, &[120, 128, 135], true);
        // A difference past `i8` does not pack.
        let mut packed = vec![0i8; qpacked_len(2, 1)];
        assert!(!pack_qmatmul_b(
            2,
            1,
            |kk, _| 200 * kk as i32,
            |_| 0,
            &mut packed
        ));
        assert!(!pack_qmatmul_b(2, 1, |_, _| 0, |_| 0, &mut packed[1..]));
    }

    #[test]
    fn dynamic_matmul_matches_the_plain_one() {
        extern crate std;
        use std::{vec, vec::Vec};
        // Every operand byte of both types, any zero points (the packed bytes always fit),
        // `B` plain, transposed, batched or shared across the batch.
        fn case<A: QInt, B: QInt>(p: QMatMul, a_zero: i32, b_zero: &[i32]) {
            let QMatMul { batch, m, k, n, .. } = p;
            let a: Vec<A> = (0..batch * m * k)
                .map(|i| A::saturate((i as i32 * 73 + 11) % 256 + A::MIN))
                .collect();
            let b_len = if p.b_batched { batch * k * n } else { k * n };
            let b: Vec<B> = (0..b_len)
                .map(|i| B::saturate((i as i32 * 89 + 5) % 256 + B::MIN))
                .collect();
            for (scale, zero) in [(0.0009f32, 3), (1.0, 0)] {
                let rq = Requant {
                    scale: &[scale],
                    zero,
                };
                let mut want = vec![0i32; batch * m * n];
                qmatmul(&p, &a, a_zero, &b, b_zero, &[], rq, &mut want);
                let mut scratch = vec![0f32; qmatmul_dynamic_scratch_len(&p)];
                let mut got = vec![0i32; batch * m * n];
                qmatmul_dynamic::<A, B, i32>(
                    &p,
                    &a,
                    a_zero,
                    &b,
                    b_zero,
                    rq,
                    &mut scratch,
                    &mut got,
                );
                assert_eq!(got, want, "{p:?}, a_zero {a_zero}, b_zero {b_zero:?}");
                let mut want = vec![0u8; batch * m * n];
                qmatmul(&p, &a, a_zero, &b, b_zero, &[], rq, &mut want);
                let mut got = vec![0u8; batch * m * n];
                qmatmul_dynamic::<A, B, u8>(&p, &a, a_zero, &b, b_zero, rq, &mut scratch, &mut got);
                assert_eq!(got, want, "{p:?}, requantized");
            }
        }
        let p = |batch, m, k, n, b_transposed, b_batched| QMatMul {
            batch,
            m,
            k,
            n,
            b_transposed,
            b_batched,
        };
        case::<u8, u8>(p(4, 16, 48, 40, false, true), 131, &[126]);
        case::<u8, u8>(p(2, 5, 33, 17, true, true), 0, &[0]);
        case::<u8, u8>(p(1, 1, 130, 70, false, false), 255, &[255]);
        case::<i8, i8>(p(3, 7, 20, 19, false, false), -5, &[9]);
        case::<i8, u8>(p(2, 9, 64, 16, true, true), 0, &[128]);
        case::<u8, i8>(p(1, 4, 9, 5, false, true), 17, &[-3, 0, 2, 100, -128]);
        // Too little scratch leaves the output as it was.
        let q = p(1, 2, 4, 3, false, false);
        let mut y = [7i32; 6];
        let rq = Requant {
            scale: &[1.0],
            zero: 0,
        };
        qmatmul_dynamic::<u8, u8, i32>(&q, &[1; 8], 0, &[1; 12], &[0], rq, &mut [0.0; 2], &mut y);
        assert_eq!(y, [7; 6]);
    }

    #[test]
    fn qsoftmax_follows_the_table_and_the_row_maximum() {
        // Entries are exp((i - 255) · s) up to a common factor: a row of one value gives
        // every element `y_scale / len`; a row of a large and small values gives the
        // large ones nearly all of it, as the float softmax does.
        let s = 0.1f32;
        let table: [f32; 256] = core::array::from_fn(|i| libm::expf((i as f32 - 255.0) * s));
        let mut y = [0u8; 8];
        qsoftmax(2, 4, 1, &[9u8; 8], &table, 256.0, 0, &mut y);
        assert_eq!(y, [64; 8]);
        let x = [200u8, 0, 200, 0, 1, 2, 3, 4];
        qsoftmax(2, 4, 1, &x, &table, 255.0, 0, &mut y);
        assert_eq!(&y[..4], &[128, 0, 128, 0]);
        // exp(0.1 · (v − 4)) normalised: 0.2138, 0.2363, 0.2612, 0.2887 of 255.
        assert_eq!(&y[4..], &[55, 60, 67, 74]);
        // Along a middle axis (inner 2), and in int8 with zero point −128.
        // Rows (5, 4) and (−5, −5): 255 · (1, e^−0.1) / (1 + e^−0.1) = 133.9, 121.1.
        let x = [5i8, -5, 4, -5];
        let mut y = [0i8; 4];
        qsoftmax(1, 2, 2, &x, &table, 255.0, -128, &mut y);
        assert_eq!(y, [6, 0, -7, 0]);
        // A table that sums to nothing gives the zero point.
        let mut y = [1u8; 4];
        qsoftmax(1, 4, 1, &[3u8; 4], &[0.0; 256], 255.0, 9, &mut y);
        assert_eq!(y, [9; 4]);
    }

    #[test]
    fn add_mul_and_pooling_requantize() {
        let p = QBinary {
            op: QBinaryOp::Add,
            a_scale: 0.5,
            a_zero: 10,
            b_scale: 0.25,
            b_zero: 0,
            y_scale: 1.0,
            y_zero: 5,
        };
        let mut y = [0u8; 2];
        qbinary(&p, &[14u8, 20], &[2], &[8u8], &[1], &mut y, &[2]);
        // 0.5·4 + 0.25·8 + 5 = 9; 0.5·10 + 2 + 5 = 12.
        assert_eq!(y, [9, 12]);
        let mul = QBinary {
            op: QBinaryOp::Mul,
            ..p
        };
        qbinary(&mul, &[14u8, 20], &[2], &[8u8], &[1], &mut y, &[2]);
        // 4·8·0.125 + 5 = 9; 10·8·0.125 + 5 = 15.
        assert_eq!(y, [9, 15]);
        let mut pooled = [0i8; 2];
        qglobal_average_pool(2, 3, &[1i8, 2, 3, -4, -5, -9], 1, 0.5, 0, &mut pooled);
        // (6 - 3)·0.5 = 1.5 rounds to 2; (-18 - 3)·0.5 = -10.5 rounds to -10.
        assert_eq!(pooled, [2, -10]);
    }

    /// Equal shapes, 8-bit values of every kind and a tail past the last eight: each
    /// output is the two fused multiply-adds of the formula, rounded and saturated (on
    /// hosts with FMA the first 152 come from the vector lanes: with AVX-512, 144 of
    /// them sixteen at a time), for `u8` and `i8`.
    #[test]
    fn equal_shape_adds_are_the_fused_formula() {
        let p = QBinary {
            op: QBinaryOp::Add,
            a_scale: 0.031_7,
            a_zero: 131,
            b_scale: 0.052_9,
            b_zero: 97,
            y_scale: 0.043_1,
            y_zero: 120,
        };
        let (ra, rb) = (p.a_scale / p.y_scale, p.b_scale / p.y_scale);
        let fixed = p.y_zero as f32 - (ra * p.a_zero as f32 + rb * p.b_zero as f32);
        let want = |a: i32, b: i32| {
            let v = crate::scalar::fmadd(a as f32, ra, fixed);
            quantize_value::<u8>(crate::scalar::fmadd(b as f32, rb, v))
        };
        let a: [u8; 157] = core::array::from_fn(|i| (i as u8).wrapping_mul(101) ^ 0x35);
        let b: [u8; 157] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(200));
        let mut y = [0u8; 157];
        qbinary(&p, &a, &[157], &b, &[157], &mut y, &[157]);
        for i in 0..157 {
            assert_eq!(y[i], want(i32::from(a[i]), i32::from(b[i])), "u8 {i}");
        }
        let (a, b) = (a.map(|v| v as i8), b.map(|v| v as i8));
        let q = QBinary {
            a_zero: 3,
            b_zero: -7,
            y_zero: -2,
            ..p
        };
        let fixed = q.y_zero as f32 - (ra * q.a_zero as f32 + rb * q.b_zero as f32);
        let mut y = [0i8; 157];
        qbinary(&q, &a, &[157], &b, &[157], &mut y, &[157]);
        for i in 0..157 {
            let v = crate::scalar::fmadd(f32::from(a[i]), ra, fixed);
            let v = quantize_value::<i8>(crate::scalar::fmadd(f32::from(b[i]), rb, v));
            assert_eq!(y[i], v, "i8 {i}");
        }
    }
}
