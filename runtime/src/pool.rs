//! Pooling on NC… tensors (ONNX `MaxPool`, `AveragePool`, `LpPool`, `GlobalAveragePool`,
//! `GlobalMaxPool`).
//!
//! The 1-D and 2-D max and average pools ([`Pool2d`]) work a whole output row at a
//! time: for each kernel tap they combine the output row with the input row shifted by
//! that tap, over exactly the outputs for which the tap lands inside the input. Padding
//! never enters a loop, and with stride 1 every inner loop is a contiguous zip that
//! vectorises. [`pool_nd`] takes what those do not: pools over 3 spatial dims and `LpPool`
//! of any rank, with scalar loops over each window's valid taps.

use crate::conv::{interior_range, outputs_for_tap, tap_range};
use crate::elementwise::max_of;
use crate::error::KernelError;
use crate::qlinear::QInt;
use crate::scalar::{at_least, Float};
use crate::tokens::tokens;
use crate::unroll::unroll;

tokens! {
    rt::pool;
    /// The geometry of one 2-D pooling, as the compiler resolved it (`h_out`/`w_out` include
    /// any `ceil_mode` overhang).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Pool2d {
        pub batch: usize,
        pub channels: usize,
        pub h_in: usize,
        pub w_in: usize,
        pub h_out: usize,
        pub w_out: usize,
        pub k_h: usize,
        pub k_w: usize,
        pub stride_h: usize,
        pub stride_w: usize,
        pub dil_h: usize,
        pub dil_w: usize,
        pub pad_top: usize,
        pub pad_left: usize,
        pub pad_bottom: usize,
        pub pad_right: usize,
    }
}

/// Max pooling; padded cells are ignored (a window entirely in padding gives −∞).
pub fn max_pool2d(p: &Pool2d, x: &[f32], y: &mut [f32]) {
    if !max_rows_replicated(p, x, y, f32::NEG_INFINITY) {
        pool_rows(p, x, y, f32::NEG_INFINITY, Max, |_, _| {});
    }
}

/// Max pooling of 8-bit quantized data (int8 or uint8), which commutes with quantization:
/// the QDQ pass runs a MaxPool whose input and output share one scale and zero point on
/// the 8-bit values. Padded cells are ignored (a window entirely in padding gives the
/// type's minimum).
pub fn max_pool2d_q<T: QInt + PartialOrd>(p: &Pool2d, x: &[T], y: &mut [T]) {
    if !max_rows_replicated(p, x, y, T::saturate(T::MIN)) {
        pool_rows(p, x, y, T::saturate(T::MIN), Max, |_, _| {});
    }
}

/// The widest padded input row [`max_rows_replicated`] holds on the stack.
const REPLICATED_ROW: usize = 512;
/// The tallest window [`max_rows_replicated`] takes: it keeps that many folded rows.
const REPLICATED_ROWS: usize = 5;

/// Max pooling of padded windows as windows inside the input, on targets with vectors:
/// a window of adjacent taps that reaches into the padding but holds an input also holds
/// the input nearest that padding, so repeating the edge inputs into the padding leaves
/// every maximum as it is. Each output row takes the maxima down the input rows its
/// windows read (contiguous runs, which vectorise), repeats that row's edges into the
/// padding and folds it across (`KW` adjacent values an output, no ranges to compute):
/// the strided windows are folded once per output row. Folding each input row across
/// first and combining the folded rows had taken twice as long at stride 2 (ResNet's
/// 3 × 3 stride-2 stem pool of 16 × 112 × 112, `examples/pool_resize`: 1.25 → 0.70 ns
/// an output). The general loop's ranges per tap cost more than the maxima on small planes (a
/// YOLO-style SPPF's 5 × 5 stride-1 pools of 64 × 8 × 8) and on strided ones (ResNet's
/// 3 × 3 stride-2 stem pool of 64 × 112 × 112); docs/performance.md has the figures.
/// Returns false, having done nothing, for the geometries it does not take:
/// dilation, a window wholly in the padding (or the `ceil_mode` overhang), rows wider
/// than [`REPLICATED_ROW`], windows taller than [`REPLICATED_ROWS`], or widths and
/// strides other than 2/2, 3/1, 3/2 and 5/1.
#[inline(always)]
fn max_rows_replicated<T: FoldAcross>(p: &Pool2d, x: &[T], y: &mut [T], init: T) -> bool {
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return false;
    }
    match (p.k_w, p.stride_w) {
        (2, 2) => max_replicated::<2, 2, T>(p, x, y, init),
        (3, 1) => max_replicated::<3, 1, T>(p, x, y, init),
        (3, 2) => max_replicated::<3, 2, T>(p, x, y, init),
        (5, 1) => max_replicated::<5, 1, T>(p, x, y, init),
        _ => false,
    }
}

/// [`max_rows_replicated`] for windows `KW` wide at horizontal stride `SW`.
#[inline(always)]
fn max_replicated<const KW: usize, const SW: usize, T: FoldAcross>(
    p: &Pool2d,
    x: &[T],
    y: &mut [T],
    init: T,
) -> bool {
    if p.w_out == 0 || p.h_out == 0 {
        return false;
    }
    let padded_w = p.pad_left + p.w_in + p.pad_right;
    // Every window must start and end within one kernel of the input (it then holds an
    // input), and the last one must fit the padded row.
    let fits = p.dil_h == 1
        && p.dil_w == 1
        && p.stride_h > 0
        && p.w_in > 0
        && p.h_in > 0
        && p.pad_left < KW
        && p.pad_right < KW
        && p.pad_top < p.k_h
        && p.pad_bottom < p.k_h
        && (p.w_out - 1) * SW + KW <= padded_w
        && (p.h_out - 1) * p.stride_h + p.k_h <= p.pad_top + p.h_in + p.pad_bottom
        && (p.w_out - 1) * SW < p.pad_left + p.w_in
        && (p.h_out - 1) * p.stride_h < p.pad_top + p.h_in
        && padded_w <= REPLICATED_ROW;
    if !fits {
        return false;
    }
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let planes = p.batch * p.channels;
    let (Some(x), Some(y)) = (x.get(..planes * in_plane), y.get_mut(..planes * out_plane)) else {
        return false;
    };
    if p.k_h > REPLICATED_ROWS {
        return false;
    }
    let w_out = p.w_out;
    let (w_in, pad_left) = (p.w_in, p.pad_left);
    // One output row's maxima down its windows, with the edges repeated.
    let mut row = [init; REPLICATED_ROW];
    for (y_plane, x_plane) in y.chunks_exact_mut(out_plane).zip(x.chunks_exact(in_plane)) {
        for (oh, y_row) in y_plane.chunks_exact_mut(w_out).enumerate() {
            // Down the window's input rows first (contiguous runs, which vectorise), then
            // across the one row of maxima with its edges repeated: the strided windows
            // are folded once per output row, not once per input row.
            let (kh_lo, kh_hi) = tap_range(oh, p.stride_h, 1, p.k_h, p.pad_top, p.h_in);
            let input_row = |kh: usize| {
                let ih = oh * p.stride_h + kh - p.pad_top;
                x_plane.get(ih * w_in..(ih + 1) * w_in).unwrap_or_default()
            };
            let maxima = &mut row[pad_left..pad_left + w_in];
            match kh_hi - kh_lo {
                1 => max_runs::<1, T>(maxima, [input_row(kh_lo)], init),
                2 => max_runs::<2, T>(maxima, [input_row(kh_lo), input_row(kh_lo + 1)], init),
                3 => max_runs::<3, T>(maxima, core::array::from_fn(|i| input_row(kh_lo + i)), init),
                4 => max_runs::<4, T>(maxima, core::array::from_fn(|i| input_row(kh_lo + i)), init),
                _ => max_runs::<5, T>(
                    maxima,
                    core::array::from_fn(|i: usize| input_row(kh_lo + i.min(kh_hi - kh_lo - 1))),
                    init,
                ),
            }
            let (first, last) = (row[pad_left], row[pad_left + w_in - 1]);
            row[..pad_left].fill(first);
            row[pad_left + w_in..padded_w].fill(last);
            let done = T::fold_across::<KW, SW>(&row, y_row);
            let rest = y_row.get_mut(done..).unwrap_or_default();
            for (i, out) in rest.iter_mut().enumerate() {
                let ow = done + i;
                let Some(window) = row.get(ow * SW..).and_then(<[T]>::first_chunk::<KW>) else {
                    break;
                };
                let mut value = init;
                unroll!(KW, |kw| value = Max.apply(value, window[kw]));
                *out = value;
            }
        }
    }
    true
}

/// The fold across [`max_replicated`]'s row of maxima in vectors where a type has them:
/// `out[ow]` the maximum of `row[ow · SW..][..KW]`, folded in the scalar loop's order.
/// Returns how many outputs from the first it computed; the scalar loop does the rest.
trait FoldAcross: Copy + PartialOrd {
    #[inline(always)]
    fn fold_across<const KW: usize, const SW: usize>(_row: &[Self], _out: &mut [Self]) -> usize {
        0
    }
}

impl<T: QInt + PartialOrd> FoldAcross for T {}

/// With AVX-512, windows of 2 or 3 at stride 2 sixteen outputs a step: the even and odd
/// inputs by two-source permutes (`F32x16::evens`, `odds`), the third tap the evens two
/// inputs on. Folded one output at a time, the across pass of a ResNet's 3 × 3 stride-2
/// stem pool had taken most of the pool (a DBNet's 16 × 160² at 1.5 times ONNX Runtime's
/// time).
impl FoldAcross for f32 {
    #[inline(always)]
    fn fold_across<const KW: usize, const SW: usize>(row: &[f32], out: &mut [f32]) -> usize {
        #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
        if SW == 2 && (KW == 2 || KW == 3) {
            use crate::gemm::simd::F32x16;
            let load = |at: usize| row.get(at..).and_then(<[f32]>::first_chunk::<16>);
            let mut ow = 0;
            while ow + 16 <= out.len() {
                let at = 2 * ow;
                let (Some(lo), Some(hi)) = (load(at), load(at + 16)) else {
                    break;
                };
                let (lo, hi) = (F32x16::load(lo), F32x16::load(hi));
                // `Max::apply(out, value)` is `value.max(out)` lane by lane, bit for bit.
                let mut value = F32x16::odds(lo, hi).max(F32x16::evens(lo, hi));
                if KW == 3 {
                    // The third tap, two inputs on: only a window of three reads it.
                    let (Some(next_lo), Some(next_hi)) = (load(at + 2), load(at + 18)) else {
                        break;
                    };
                    let third = F32x16::evens(F32x16::load(next_lo), F32x16::load(next_hi));
                    value = third.max(value);
                }
                value.store(&mut out[ow..]);
                ow += 16;
            }
            return ow;
        }
        let _ = (row, out);
        0
    }
}

/// `out[o] = max(runs[0][o], …, runs[R − 1][o])`, every run sliced to `out`'s length
/// first so the loop has no range check and vectorises; runs shorter than `out` leave it
/// as it is (the callers' ranges rule them out).
#[inline(always)]
fn max_runs<const R: usize, T: Copy + PartialOrd>(out: &mut [T], runs: [&[T]; R], init: T) {
    let n = out.len();
    if runs.iter().any(|run| run.len() < n) {
        return;
    }
    let runs: [&[T]; R] = core::array::from_fn(|r| &runs[r][..n]);
    for (o, slot) in out.iter_mut().enumerate() {
        // From `init`, so a NaN input is skipped as everywhere else.
        let mut value = init;
        unroll!(R, |r| value = Max.apply(value, runs[r][o]));
        *slot = value;
    }
}

/// Average pooling. count_include_pad: divisor counts padded cells inside
/// [−pad_top, h_in+pad_bottom) but never cells beyond that (ceil_mode overhang), as ONNX
/// Runtime does.
pub fn avg_pool2d(p: &Pool2d, count_include_pad: bool, x: &[f32], y: &mut [f32]) {
    // Which cells count, as (padding before, extent) of the counted region per axis.
    let (count_pad_h, count_len_h, count_pad_w, count_len_w) = if count_include_pad {
        (
            0,
            p.pad_top + p.h_in + p.pad_bottom,
            0,
            p.pad_left + p.w_in + p.pad_right,
        )
    } else {
        (p.pad_top, p.h_in, p.pad_left, p.w_in)
    };
    let (full_lo, full_hi) = interior_range(
        p.w_out,
        p.stride_w,
        p.dil_w,
        p.k_w,
        count_pad_w,
        count_len_w,
    );
    let column_count = |ow: usize| {
        let (lo, hi) = tap_range(ow, p.stride_w, p.dil_w, p.k_w, count_pad_w, count_len_w);
        hi - lo
    };
    pool_rows(p, x, y, 0.0, Sum, |oh, y_row| {
        let (lo, hi) = tap_range(oh, p.stride_h, p.dil_h, p.k_h, count_pad_h, count_len_h);
        let row_count = (hi - lo) as f32;
        for ow in (0..full_lo).chain(full_hi..p.w_out) {
            y_row[ow] /= row_count * column_count(ow) as f32;
        }
        // Every interior output has a full row of counted columns.
        let divisor = row_count * p.k_w as f32;
        y_row[full_lo..full_hi]
            .iter_mut()
            .for_each(|v| *v /= divisor);
    });
}

/// y[c] = mean of x[c, 0..spatial] for c in 0..channels (channels = N*C).
pub fn global_avg_pool(channels: usize, spatial: usize, x: &[f32], y: &mut [f32]) {
    let y = &mut y[..channels];
    if spatial == 0 {
        y.fill(f32::NAN);
        return;
    }
    for (out, plane) in y
        .iter_mut()
        .zip(x[..channels * spatial].chunks_exact(spatial))
    {
        *out = plane_mean(plane);
    }
}

/// The mean of one plane, out of line: with the plane's size a constant (a generated
/// call), LLVM unrolled the plane's sum and vectorised the loop over the planes instead,
/// sixteen planes a vector through gathers (`vgatherqps`, microcoded on Zen 4):
/// mobilenet_v2's 1280 × 7 × 7 took 24 µs in the model against 8 alone.
#[inline(never)]
fn plane_mean(plane: &[f32]) -> f32 {
    crate::reduce::sum_of(plane) / plane.len() as f32
}

/// y[c] = max of x[c, 0..spatial] for c in 0..channels (channels = N*C).
pub fn global_max_pool(channels: usize, spatial: usize, x: &[f32], y: &mut [f32]) {
    let y = &mut y[..channels];
    if spatial == 0 {
        y.fill(f32::NEG_INFINITY);
        return;
    }
    for (out, plane) in y
        .iter_mut()
        .zip(x[..channels * spatial].chunks_exact(spatial))
    {
        *out = max_of(plane);
    }
}

tokens! {
    rt::pool;
    /// The geometry of one pooling over 1 to 3 spatial dims, as the compiler resolved it
    /// (`output` includes any `ceil_mode` overhang). A pool over fewer dims has leading dims
    /// of one input, one kernel tap, stride 1, dilation 1 and no padding.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PoolNd {
        /// `batch × channels`: the pool runs on each plane alone.
        pub planes: usize,
        pub input: [usize; 3],
        pub output: [usize; 3],
        pub kernel: [usize; 3],
        pub strides: [usize; 3],
        pub dilations: [usize; 3],
        pub pads_begin: [usize; 3],
        pub pads_end: [usize; 3],
    }
}

impl PoolNd {
    /// The taps of output `o` along `axis` that land in the input.
    #[inline(always)]
    fn taps(&self, axis: usize, o: usize) -> (usize, usize) {
        tap_range(
            o,
            self.strides[axis],
            self.dilations[axis],
            self.kernel[axis],
            self.pads_begin[axis],
            self.input[axis],
        )
    }

    /// Where tap `t` of output `o` reads along `axis` (a tap of [`PoolNd::taps`], so
    /// inside the input).
    #[inline(always)]
    fn position(&self, axis: usize, o: usize, t: usize) -> usize {
        o * self.strides[axis] + t * self.dilations[axis] - self.pads_begin[axis]
    }

    /// The elements of one input plane and of one output plane, when every stride and
    /// dilation is positive and the whole tensors' sizes fit in `usize`.
    fn volumes(&self) -> Option<(usize, usize)> {
        if self.strides.contains(&0) || self.dilations.contains(&0) {
            return None;
        }
        let volume = |dims: [usize; 3]| {
            dims.iter()
                .try_fold(self.planes, |n, &d| n.checked_mul(d))
                .map(|_| dims.iter().product::<usize>())
        };
        Some((volume(self.input)?, volume(self.output)?))
    }

    /// The 1-D or 2-D pool `p` as an N-D one: a leading dim of one input, one tap,
    /// stride 1, dilation 1 and no padding.
    pub fn of_2d(p: &Pool2d) -> PoolNd {
        PoolNd {
            planes: p.batch * p.channels,
            input: [1, p.h_in, p.w_in],
            output: [1, p.h_out, p.w_out],
            kernel: [1, p.k_h, p.k_w],
            strides: [1, p.stride_h, p.stride_w],
            dilations: [1, p.dil_h, p.dil_w],
            pads_begin: [0, p.pad_top, p.pad_left],
            pads_end: [0, p.pad_bottom, p.pad_right],
        }
    }
}

tokens! {
    rt::pool;
    /// What [`pool_nd`] computes over each window.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum PoolOp {
        /// The largest input; padding is ignored, NaN inputs are skipped and a window wholly
        /// in the padding gives −∞, as [`max_pool2d`].
        Max,
        /// The mean of the inputs. `count_include_pad` counts the padded cells inside the
        /// explicit padding in the divisor, never those of the `ceil_mode` overhang, as
        /// [`avg_pool2d`].
        Average { count_include_pad: bool },
        /// `(Σ |x|^p)^(1/p)` over the window (ONNX `LpPool`); padding counts as zeros.
        Lp { p: u32 },
    }
}

/// Pools over 1 to 3 spatial dims: `y[plane, o] = op(x[plane, window(o)])`, visiting only
/// the taps of each window that land inside the input. Scalar loops, for the shapes the
/// row kernels of [`max_pool2d`] and [`avg_pool2d`] do not take (3-D pools, `LpPool`).
/// Leaves `y` as it is when `x` or `y` is shorter than the geometry says, or when a
/// stride or dilation is 0.
pub fn pool_nd(p: &PoolNd, op: PoolOp, x: &[f32], y: &mut [f32]) {
    let Some((in_volume, out_volume)) = p.volumes() else {
        return;
    };
    let (x_len, y_len) = (p.planes * in_volume, p.planes * out_volume);
    let (Some(x), Some(y)) = (x.get(..x_len), y.get_mut(..y_len)) else {
        return;
    };
    if y.is_empty() || in_volume == 0 {
        return;
    }
    // The taps the average counts along `axis` (the input, and the explicit padding when
    // asked).
    let counted = |axis: usize, o: usize| {
        let (lo, hi) = match op {
            PoolOp::Average {
                count_include_pad: true,
            } => tap_range(
                o,
                p.strides[axis],
                p.dilations[axis],
                p.kernel[axis],
                0,
                p.pads_begin[axis] + p.input[axis] + p.pads_end[axis],
            ),
            _ => p.taps(axis, o),
        };
        hi - lo
    };
    let [_, h_in, w_in] = p.input;
    let [d_out, h_out, w_out] = p.output;
    for (x_plane, y_plane) in x
        .chunks_exact(in_volume)
        .zip(y.chunks_exact_mut(out_volume))
    {
        let mut outputs = y_plane.iter_mut();
        for od in 0..d_out {
            let (d_lo, d_hi) = p.taps(0, od);
            for oh in 0..h_out {
                let (h_lo, h_hi) = p.taps(1, oh);
                for ow in 0..w_out {
                    let (w_lo, w_hi) = p.taps(2, ow);
                    let mut acc = match op {
                        PoolOp::Max => f32::NEG_INFINITY,
                        _ => 0.0,
                    };
                    for kd in d_lo..d_hi {
                        for kh in h_lo..h_hi {
                            let row = (p.position(0, od, kd) * h_in + p.position(1, oh, kh)) * w_in;
                            for kw in w_lo..w_hi {
                                let value = x_plane
                                    .get(row + p.position(2, ow, kw))
                                    .copied()
                                    .unwrap_or_default();
                                acc = match op {
                                    PoolOp::Max => at_least(value, acc),
                                    PoolOp::Average { .. } => acc + value,
                                    PoolOp::Lp { p: 1 } => acc + value.abs(),
                                    PoolOp::Lp { p: 2 } => acc + value * value,
                                    PoolOp::Lp { p } => acc + libm::powf(value.abs(), p as f32),
                                };
                            }
                        }
                    }
                    let value = match op {
                        PoolOp::Max | PoolOp::Lp { p: 1 } => acc,
                        PoolOp::Average { .. } => {
                            let count = counted(0, od) * counted(1, oh) * counted(2, ow);
                            acc / count as f32
                        }
                        PoolOp::Lp { p: 2 } => Float::sqrt(acc),
                        PoolOp::Lp { p } => libm::powf(acc, 1.0 / p as f32),
                    };
                    let Some(out) = outputs.next() else { return };
                    *out = value;
                }
            }
        }
    }
}

/// `MaxPool` with its `Indices` output over 1 to 3 spatial dims: `y` as
/// [`pool_nd`]'s [`PoolOp::Max`], and `indices` the flat position in `x` of each
/// maximum (the first of equal ones in the window's order), counted over the whole
/// tensor (`plane · in_volume` plus the position in the plane) and, with
/// `column_major` (`storage_order = 1`), with the spatial dims' order reversed in the
/// plane. A window without a number (all padding or NaN) gives −∞ and the index of its
/// first tap inside the input, or of the plane's start. Leaves both outputs as they are
/// when a buffer is shorter than the geometry says, or a stride or dilation is 0.
pub fn max_pool_with_indices(
    p: &PoolNd,
    column_major: bool,
    x: &[f32],
    y: &mut [f32],
    indices: &mut [i64],
) {
    let Some((in_volume, out_volume)) = p.volumes() else {
        return;
    };
    let (x_len, y_len) = (p.planes * in_volume, p.planes * out_volume);
    let (Some(x), Some(y), Some(indices)) =
        (x.get(..x_len), y.get_mut(..y_len), indices.get_mut(..y_len))
    else {
        return;
    };
    if y.is_empty() || in_volume == 0 {
        return;
    }
    let [d_in, h_in, w_in] = p.input;
    let [d_out, h_out, w_out] = p.output;
    // A position's index in its plane, row-major or (storage_order = 1) column-major.
    let in_plane = |d: usize, h: usize, w: usize| {
        if column_major {
            (w * h_in + h) * d_in + d
        } else {
            (d * h_in + h) * w_in + w
        }
    };
    let planes = x
        .chunks_exact(in_volume)
        .zip(y.chunks_exact_mut(out_volume))
        .zip(indices.chunks_exact_mut(out_volume));
    for (plane, ((x_plane, y_plane), i_plane)) in planes.enumerate() {
        let base = plane * in_volume;
        let mut outputs = y_plane.iter_mut().zip(i_plane.iter_mut());
        for od in 0..d_out {
            let (d_lo, d_hi) = p.taps(0, od);
            for oh in 0..h_out {
                let (h_lo, h_hi) = p.taps(1, oh);
                for ow in 0..w_out {
                    let (w_lo, w_hi) = p.taps(2, ow);
                    let mut best = f32::NEG_INFINITY;
                    let mut at = None;
                    for kd in d_lo..d_hi {
                        let d = p.position(0, od, kd);
                        for kh in h_lo..h_hi {
                            let h = p.position(1, oh, kh);
                            for kw in w_lo..w_hi {
                                let w = p.position(2, ow, kw);
                                let value = x_plane
                                    .get((d * h_in + h) * w_in + w)
                                    .copied()
                                    .unwrap_or(f32::NAN);
                                // The first tap stands until a larger number comes.
                                if value > best || at.is_none() {
                                    best = at_least(value, best);
                                    at = Some(in_plane(d, h, w));
                                }
                            }
                        }
                    }
                    let Some((out, index)) = outputs.next() else {
                        return;
                    };
                    *out = best;
                    *index = (base + at.unwrap_or(0)) as i64;
                }
            }
        }
    }
}

/// `MaxUnpool`: `y` zeroed, then each `x[i]` written where `indices[i]` points (a later
/// write to the same place wins). The indices count positions in planes of
/// `unpooled` (the spatial extents the pooling attributes give, widened to three with
/// leading ones); `y`'s planes are `output` (`output_shape`, each extent at least
/// `unpooled`'s), the unpooled plane sitting at its start, as if padded at the end.
/// An index past the unpooled tensor is an error.
pub fn max_unpool(
    unpooled: [usize; 3],
    output: [usize; 3],
    x: &[f32],
    indices: &[i64],
    y: &mut [f32],
) -> Result<(), KernelError> {
    y.fill(0.0);
    let [d_in, h_in, w_in] = unpooled;
    let [_, h_out, w_out] = output;
    let in_volume = d_in * h_in * w_in;
    let out_volume: usize = output.iter().product();
    let planes = y.len().checked_div(out_volume).unwrap_or(0);
    let len = planes * in_volume;
    for (&v, &i) in x.iter().zip(indices) {
        let at = usize::try_from(i).ok().filter(|&i| i < len).and_then(|i| {
            let (plane, rest) = (i / in_volume, i % in_volume);
            let (d, h, w) = (rest / (h_in * w_in), rest / w_in % h_in, rest % w_in);
            y.get_mut(plane * out_volume + (d * h_out + h) * w_out + w)
        });
        let Some(slot) = at else {
            return Err(KernelError::IndexOutOfRange { index: i, len });
        };
        *slot = v;
    }
    Ok(())
}

/// How a windowed pool folds one input into an output: a trait with an always-inlined
/// method rather than a closure, which opt-level "z" would leave as a call per element.
trait Combine<T>: Copy {
    fn apply(self, out: T, value: T) -> T;
}

/// The running maximum, which keeps its value when the input is NaN ([`at_least`]).
#[derive(Clone, Copy)]
struct Max;

impl<T: PartialOrd> Combine<T> for Max {
    #[inline(always)]
    fn apply(self, out: T, value: T) -> T {
        at_least(value, out)
    }
}

/// The running sum (average pooling divides afterwards).
#[derive(Clone, Copy)]
struct Sum;

impl Combine<f32> for Sum {
    #[inline(always)]
    fn apply(self, out: f32, value: f32) -> f32 {
        out + value
    }
}

/// Runs a windowed pool row by row: each output row starts at `init`, is combined with
/// every valid tap by `combine`, then handed to `finish_row(oh, row)`.
#[inline(always)]
fn pool_rows<T: Copy>(
    p: &Pool2d,
    x: &[T],
    y: &mut [T],
    init: T,
    combine: impl Combine<T>,
    mut finish_row: impl FnMut(usize, &mut [T]),
) {
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    let planes = p.batch * p.channels;
    let y = &mut y[..planes * out_plane];
    if y.is_empty() {
        return;
    }
    let x = &x[..planes * in_plane];
    // Windows that all lie inside the input, at the strides CNNs pool with: every output
    // reads `k_w` adjacent inputs, with no range to compute. Not when built for size
    // without a vector unit: mnist-8's two pools took its Cortex-M7 image from 31.9 to
    // 33.1 KiB at "z", past issue 11's 32 KiB. On the host the general loop made
    // mnist-8's pools 12 % of its inference at "z" (158 k instructions).
    let small = cfg!(zant_size) && !cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));
    let inside = !small
        && p.pad_top == 0
        && p.pad_left == 0
        && p.dil_h == 1
        && p.dil_w == 1
        && p.stride_h > 0
        && (p.h_out - 1) * p.stride_h + p.k_h <= p.h_in
        && (p.w_out - 1) * p.stride_w + p.k_w <= p.w_in;
    if inside {
        match (p.k_w, p.stride_w) {
            (2, 2) => return rows_inside::<2, 2, T>(p, x, y, init, combine, finish_row),
            (3, 3) => return rows_inside::<3, 3, T>(p, x, y, init, combine, finish_row),
            (3, 2) => return rows_inside::<3, 2, T>(p, x, y, init, combine, finish_row),
            _ => {}
        }
    }
    // The outputs each kernel column reaches depend on the column alone; computing
    // them once keeps two divisions per tap out of every row.
    const CACHED_TAPS: usize = 16;
    let tap_outputs =
        |kw: usize| outputs_for_tap(kw, p.stride_w, p.dil_w, p.pad_left, p.w_in, p.w_out);
    let mut cached = [(0, 0); CACHED_TAPS];
    for (kw, outputs) in cached.iter_mut().enumerate() {
        *outputs = tap_outputs(kw);
    }
    for (plane_idx, y_plane) in y.chunks_exact_mut(out_plane).enumerate() {
        let x_plane = &x[plane_idx * in_plane..][..in_plane];
        for (oh, y_row) in y_plane.chunks_exact_mut(p.w_out).enumerate() {
            y_row.fill(init);
            let (kh_lo, kh_hi) = tap_range(oh, p.stride_h, p.dil_h, p.k_h, p.pad_top, p.h_in);
            for kh in kh_lo..kh_hi {
                let ih = oh * p.stride_h + kh * p.dil_h - p.pad_top;
                let input_row = &x_plane[ih * p.w_in..][..p.w_in];
                if p.w_out == 1 && p.dil_w == 1 {
                    // One output column (a window as wide as the input, as in
                    // mlperf-kws's final pool): fold its valid inputs in one run.
                    let (lo, hi) = tap_range(0, p.stride_w, 1, p.k_w, p.pad_left, p.w_in);
                    // Taps `lo..hi` read inputs `lo − pad_left..hi − pad_left`, all inside.
                    let inputs = &input_row[lo - p.pad_left..hi - p.pad_left];
                    let mut out = y_row[0];
                    for &value in inputs {
                        out = combine.apply(out, value);
                    }
                    y_row[0] = out;
                    continue;
                }
                for kw in 0..p.k_w {
                    let (lo, hi) = cached.get(kw).copied().unwrap_or_else(|| tap_outputs(kw));
                    if lo == hi {
                        continue;
                    }
                    let outputs = &mut y_row[lo..hi];
                    let start = lo * p.stride_w + kw * p.dil_w - p.pad_left;
                    if p.stride_w == 1 {
                        let inputs = &input_row[start..start + outputs.len()];
                        for (out, &value) in outputs.iter_mut().zip(inputs) {
                            *out = combine.apply(*out, value);
                        }
                    } else if p.stride_w == 2 {
                        combine_strided::<2, T>(outputs, &input_row[start..], combine);
                    } else {
                        for (j, out) in outputs.iter_mut().enumerate() {
                            *out = combine.apply(*out, input_row[start + j * p.stride_w]);
                        }
                    }
                }
            }
            finish_row(oh, y_row);
        }
    }
}

/// [`pool_rows`] for windows of `KW` columns at horizontal stride `SW` that all lie inside
/// the input (no padding, undilated): per kernel row, each output folds its `KW`
/// adjacent inputs, in the order the general loop folds them (so sums round the same).
#[inline(always)]
fn rows_inside<const KW: usize, const SW: usize, T: Copy>(
    p: &Pool2d,
    x: &[T],
    y: &mut [T],
    init: T,
    combine: impl Combine<T>,
    mut finish_row: impl FnMut(usize, &mut [T]),
) {
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    for (y_plane, x_plane) in y.chunks_exact_mut(out_plane).zip(x.chunks_exact(in_plane)) {
        for (oh, y_row) in y_plane.chunks_exact_mut(p.w_out).enumerate() {
            y_row.fill(init);
            for kh in 0..p.k_h {
                let row = &x_plane[(oh * p.stride_h + kh) * p.w_in..][..p.w_in];
                if KW == SW {
                    for (out, window) in y_row.iter_mut().zip(row.chunks_exact(SW)) {
                        let mut value = *out;
                        unroll!(KW, |kw| value = combine.apply(value, window[kw]));
                        *out = value;
                    }
                } else {
                    for (ow, out) in y_row.iter_mut().enumerate() {
                        let window: [T; KW] = match row.get(ow * SW..).and_then(<[T]>::first_chunk)
                        {
                            Some(window) => *window,
                            None => break,
                        };
                        let mut value = *out;
                        unroll!(KW, |kw| value = combine.apply(value, window[kw]));
                        *out = value;
                    }
                }
            }
            finish_row(oh, y_row);
        }
    }
}

/// `outputs[j] = combine(outputs[j], inputs[j·STRIDE])`. With the stride known at
/// compile time, the loop over whole chunks vectorises (as loads and a de-interleave);
/// the last output may have fewer than `STRIDE` inputs left after it.
#[inline(always)]
fn combine_strided<const STRIDE: usize, T: Copy>(
    outputs: &mut [T],
    inputs: &[T],
    combine: impl Combine<T>,
) {
    let whole = (inputs.len() / STRIDE).min(outputs.len());
    let (head, tail) = outputs.split_at_mut(whole);
    for (out, chunk) in head.iter_mut().zip(inputs.chunks_exact(STRIDE)) {
        *out = combine.apply(*out, chunk[0]);
    }
    for (j, out) in tail.iter_mut().enumerate() {
        *out = combine.apply(*out, inputs[(whole + j) * STRIDE]);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    /// The indices of each window's maximum, row- and column-major, offset by the plane;
    /// the values those of `pool_nd`; `max_unpool` puts them back.
    #[test]
    fn max_pool_indices_point_at_the_maxima() {
        let p = PoolNd {
            planes: 2,
            input: [1, 2, 3],
            output: [1, 1, 2],
            kernel: [1, 2, 2],
            strides: [1, 1, 1],
            dilations: [1; 3],
            pads_begin: [0; 3],
            pads_end: [0; 3],
        };
        let x = [1.0, 5.0, 2.0, 4.0, 3.0, 6.0, 9.0, 0.0, 9.0, 0.0, 0.0, 0.0];
        let (mut y, mut indices) = ([0.0f32; 4], [0i64; 4]);
        max_pool_with_indices(&p, false, &x, &mut y, &mut indices);
        assert_eq!(y, [5.0, 6.0, 9.0, 9.0]);
        // The second plane's two windows both hold a 9: each takes its first.
        assert_eq!(indices, [1, 5, 6, 8]);
        let mut want = [0.0f32; 4];
        pool_nd(&p, PoolOp::Max, &x, &mut want);
        assert_eq!(y, want);
        max_pool_with_indices(&p, true, &x, &mut y, &mut indices);
        // Column-major in the plane: (h, w) is w · 2 + h.
        assert_eq!(indices, [2, 5, 6, 6 + 4]);
        let mut back = [f32::NAN; 12];
        max_pool_with_indices(&p, false, &x, &mut y, &mut indices);
        let plane = [1, 2, 3];
        max_unpool(plane, plane, &y, &indices, &mut back).unwrap();
        assert_eq!(
            back,
            [0.0, 5.0, 0.0, 0.0, 0.0, 6.0, 9.0, 0.0, 9.0, 0.0, 0.0, 0.0]
        );
        assert!(max_unpool(plane, plane, &y, &[0, 1, 2, 12], &mut back).is_err());
        assert!(max_unpool(plane, plane, &y, &[0, -1, 2, 3], &mut back).is_err());
        // Into planes of 3 × 4: each 2 × 3 plane at the start of its larger one.
        let mut wider = [f32::NAN; 24];
        max_unpool(plane, [1, 3, 4], &y, &indices, &mut wider).unwrap();
        let mut want = [0.0; 24];
        (want[1], want[6], want[12], want[14]) = (5.0, 6.0, 9.0, 9.0);
        assert_eq!(wider, want);
    }

    use super::*;

    fn values(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 % 2003) as f32 / 1001.5) - 1.0)
            .collect()
    }

    /// The output size ONNX gives, with or without `ceil_mode`.
    fn out_len(
        len: usize,
        k: usize,
        stride: usize,
        dil: usize,
        pads: (usize, usize),
        ceil: bool,
    ) -> usize {
        let span = len + pads.0 + pads.1 - dil * (k - 1) - 1;
        let mut out = if ceil {
            span.div_ceil(stride) + 1
        } else {
            span / stride + 1
        };
        // ONNX drops a last window that would start inside the end padding.
        if ceil && (out - 1) * stride >= len + pads.0 {
            out -= 1;
        }
        out
    }

    /// `[batch, channels, h, w, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pads(t, l, b, r), ceil]`.
    fn geometry(spec: [usize; 15]) -> Pool2d {
        let [batch, channels, h_in, w_in, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, pad_bottom, pad_right, ceil] =
            spec;
        Pool2d {
            batch,
            channels,
            h_in,
            w_in,
            h_out: out_len(h_in, k_h, stride_h, dil_h, (pad_top, pad_bottom), ceil == 1),
            w_out: out_len(w_in, k_w, stride_w, dil_w, (pad_left, pad_right), ceil == 1),
            k_h,
            k_w,
            stride_h,
            stride_w,
            dil_h,
            dil_w,
            pad_top,
            pad_left,
            pad_bottom,
            pad_right,
        }
    }

    /// The reference: every window cell visited, ONNX Runtime's counting rules.
    fn naive(p: &Pool2d, x: &[f32], op: Option<bool>) -> Vec<f32> {
        let mut y = Vec::new();
        for plane in 0..p.batch * p.channels {
            for oh in 0..p.h_out {
                for ow in 0..p.w_out {
                    let (mut max, mut sum, mut valid, mut counted) =
                        (f32::NEG_INFINITY, 0.0f64, 0, 0);
                    for kh in 0..p.k_h {
                        for kw in 0..p.k_w {
                            let ih = (oh * p.stride_h + kh * p.dil_h) as isize - p.pad_top as isize;
                            let iw =
                                (ow * p.stride_w + kw * p.dil_w) as isize - p.pad_left as isize;
                            let in_padded = ih < (p.h_in + p.pad_bottom) as isize
                                && iw < (p.w_in + p.pad_right) as isize;
                            if in_padded {
                                counted += 1;
                            }
                            if ih < 0 || iw < 0 || ih >= p.h_in as isize || iw >= p.w_in as isize {
                                continue;
                            }
                            let v = x[(plane * p.h_in + ih as usize) * p.w_in + iw as usize];
                            max = max.max(v);
                            sum += v as f64;
                            valid += 1;
                        }
                    }
                    y.push(match op {
                        None => max,
                        Some(true) => (sum / counted as f64) as f32,
                        Some(false) => (sum / valid as f64) as f32,
                    });
                }
            }
        }
        y
    }

    fn check(spec: [usize; 15]) {
        let p = geometry(spec);
        let x = values(p.batch * p.channels * p.h_in * p.w_in);
        let n_out = p.batch * p.channels * p.h_out * p.w_out;
        let mut y = std::vec![f32::NAN; n_out];
        max_pool2d(&p, &x, &mut y);
        assert_eq!(y, naive(&p, &x, None), "max {p:?}");
        // The 8-bit max pool takes the same maxima of values quantized monotonically.
        let quantize = |v: f32| (v * 100.0) as i8;
        let xq: Vec<i8> = x.iter().map(|&v| quantize(v)).collect();
        let mut yq = std::vec![0i8; n_out];
        max_pool2d_q(&p, &xq, &mut yq);
        let expected: Vec<i8> = naive(&p, &x, None).into_iter().map(quantize).collect();
        assert_eq!(yq, expected, "max int8 {p:?}");
        for include_pad in [false, true] {
            avg_pool2d(&p, include_pad, &x, &mut y);
            let expected = naive(&p, &x, Some(include_pad));
            for (i, (&a, &e)) in y.iter().zip(&expected).enumerate() {
                assert!(
                    (a - e).abs() <= 1e-6,
                    "avg include_pad={include_pad} {p:?}: element {i}: {a} vs {e}"
                );
            }
        }
    }

    #[test]
    fn pools_match_naive() {
        // 2×2 stride 2, the classic downsampling.
        check([1, 2, 8, 8, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0]);
        // 3×3 stride 2 pad 1 (ResNet's stem).
        check([2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0]);
        // 3×3 stride 1 same padding, wide rows.
        check([1, 1, 5, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        // ceil_mode overhang: the last window runs past the padded input.
        check([1, 2, 7, 7, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1]);
        check([1, 1, 8, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1]);
        // Asymmetric padding, dilation, rectangular kernel.
        check([1, 2, 10, 12, 3, 2, 2, 3, 2, 2, 2, 0, 1, 1, 1]);
        // SPPF's 5×5 stride 1 pad 2, on a plane smaller than the window, with an
        // asymmetric pad, and ResNet's stem pool on odd sizes: the padding taken as
        // repeated edges.
        check([1, 3, 8, 8, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0]);
        check([1, 2, 3, 2, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0]);
        check([2, 2, 6, 7, 5, 5, 1, 1, 1, 1, 1, 2, 3, 0, 0]);
        check([1, 2, 13, 15, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0]);
        check([1, 2, 13, 15, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, 1]);
        // Stride 3 (the general strided path).
        check([1, 1, 9, 13, 2, 3, 3, 3, 1, 1, 0, 1, 0, 1, 0]);
        // Windows inside the input at the strides with their own loops: 2×2 stride 2 on
        // odd sizes (the last column and row unread), mnist-8's 3×3 stride 3 on 14 × 14,
        // 3×3 stride 2 unpadded, and a taller-than-wide window.
        check([2, 3, 9, 11, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0]);
        check([1, 4, 14, 14, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0, 0]);
        check([1, 2, 9, 12, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 0]);
        check([1, 2, 9, 12, 4, 2, 1, 2, 1, 1, 0, 0, 0, 0, 0]);
        // One output column (mlperf-kws's final pool), without and with padding.
        check([1, 2, 6, 5, 3, 5, 1, 2, 1, 1, 0, 0, 0, 0, 0]);
        check([1, 2, 6, 4, 3, 5, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
        // Rows of 16 outputs and more at stride 2 (folded across sixteen a step with
        // AVX-512): 3 × 3 with padding on 35 and 17 outputs, 2 × 2 on 33.
        check([1, 2, 7, 70, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0]);
        check([1, 2, 5, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0]);
        check([2, 1, 4, 66, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn max_pools_skip_nan_inputs() {
        // A NaN input never wins a window, on the windows-inside loops and the general one
        // (padded); a window of NaN only gives −∞.
        for spec in [
            [1, 1, 4, 6, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0],
            [1, 1, 4, 6, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0],
        ] {
            let p = geometry(spec);
            let mut x = values(24);
            x[0] = f32::NAN;
            x[1] = f32::NAN;
            x[6] = f32::NAN;
            x[7] = f32::NAN;
            x[9] = f32::NAN;
            let mut y = std::vec![0.0; p.h_out * p.w_out];
            max_pool2d(&p, &x, &mut y);
            assert_eq!(y, naive(&p, &x, None), "{p:?}");
            assert!(y.iter().all(|v| !v.is_nan()), "{p:?}");
        }
        let p = geometry([1, 1, 2, 2, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0]);
        let mut y = [0.0];
        max_pool2d(&p, &[f32::NAN; 4], &mut y);
        assert_eq!(y, [f32::NEG_INFINITY]);
    }

    #[test]
    fn avg_pool_counts_padding_only_when_asked() {
        // x = [[1, 2], [3, 4]], 2×2 window, stride 1, pad 1 on every side → 3×3 output.
        let p = geometry([1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut y = [0.0; 9];
        avg_pool2d(&p, false, &x, &mut y);
        assert_eq!(y, [1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0]);
        avg_pool2d(&p, true, &x, &mut y);
        assert_eq!(y, [0.25, 0.75, 0.5, 1.0, 2.5, 1.5, 0.75, 1.75, 1.0]);
        max_pool2d(&p, &x, &mut y);
        assert_eq!(y, [1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 3.0, 4.0, 4.0]);
    }

    #[test]
    fn avg_pool_never_counts_the_ceil_overhang() {
        // x is 1×3, window 2 stride 2 with ceil_mode: the second window covers x[2] and
        // one cell beyond the (unpadded) input, which is not counted even with padding
        // counted.
        let p = geometry([1, 1, 1, 3, 1, 2, 1, 2, 1, 1, 0, 0, 0, 0, 1]);
        assert_eq!(p.w_out, 2);
        let mut y = [0.0; 2];
        avg_pool2d(&p, true, &[1.0, 3.0, 5.0], &mut y);
        assert_eq!(y, [2.0, 5.0]);
    }

    /// The 3-D reference: every window cell visited, with [`naive`]'s counting rules, and
    /// `Lp` summing `|x|^p` in `f64`.
    fn naive_nd(p: &PoolNd, x: &[f32], op: PoolOp) -> Vec<f32> {
        let mut y = Vec::new();
        let [d_in, h_in, w_in] = p.input;
        for plane in 0..p.planes {
            for od in 0..p.output[0] {
                for oh in 0..p.output[1] {
                    for ow in 0..p.output[2] {
                        let (mut max, mut sum, mut lp, mut valid, mut counted) =
                            (f32::NEG_INFINITY, 0.0f64, 0.0f64, 0, 0);
                        for kd in 0..p.kernel[0] {
                            for kh in 0..p.kernel[1] {
                                for kw in 0..p.kernel[2] {
                                    let at = |axis: usize, o: usize, k: usize| {
                                        (o * p.strides[axis] + k * p.dilations[axis]) as isize
                                            - p.pads_begin[axis] as isize
                                    };
                                    let pos = [at(0, od, kd), at(1, oh, kh), at(2, ow, kw)];
                                    if (0..3)
                                        .all(|a| pos[a] < (p.input[a] + p.pads_end[a]) as isize)
                                    {
                                        counted += 1;
                                    }
                                    if (0..3).any(|a| pos[a] < 0 || pos[a] >= p.input[a] as isize) {
                                        continue;
                                    }
                                    let [id, ih, iw] = pos.map(|v| v as usize);
                                    let v = x[((plane * d_in + id) * h_in + ih) * w_in + iw];
                                    max = max.max(v);
                                    sum += v as f64;
                                    if let PoolOp::Lp { p } = op {
                                        lp += (v.abs() as f64).powi(p as i32);
                                    }
                                    valid += 1;
                                }
                            }
                        }
                        y.push(match op {
                            PoolOp::Max => max,
                            PoolOp::Average {
                                count_include_pad: true,
                            } => (sum / counted as f64) as f32,
                            PoolOp::Average {
                                count_include_pad: false,
                            } => (sum / valid as f64) as f32,
                            PoolOp::Lp { p } => lp.powf(1.0 / p as f64) as f32,
                        });
                    }
                }
            }
        }
        y
    }

    /// `[planes, d, h, w, k_d, k_h, k_w, stride, dil, pad_begin, pad_end, ceil]`, the
    /// stride, dilation and pads the same on every axis.
    fn geometry_nd(spec: [usize; 12]) -> PoolNd {
        let [planes, d, h, w, k_d, k_h, k_w, stride, dil, pad_begin, pad_end, ceil] = spec;
        let input = [d, h, w];
        let kernel = [k_d, k_h, k_w];
        PoolNd {
            planes,
            input,
            output: core::array::from_fn(|a| {
                out_len(
                    input[a],
                    kernel[a],
                    stride,
                    dil,
                    (pad_begin, pad_end),
                    ceil == 1,
                )
            }),
            kernel,
            strides: [stride; 3],
            dilations: [dil; 3],
            pads_begin: [pad_begin; 3],
            pads_end: [pad_end; 3],
        }
    }

    #[test]
    fn nd_pools_match_naive() {
        let ops = [
            PoolOp::Max,
            PoolOp::Average {
                count_include_pad: false,
            },
            PoolOp::Average {
                count_include_pad: true,
            },
            PoolOp::Lp { p: 1 },
            PoolOp::Lp { p: 2 },
            PoolOp::Lp { p: 3 },
        ];
        for spec in [
            // The ONNX tests' shapes: 2×2×2 stride 1, and 5×5×5 dilated 2 at stride 3
            // with and without the ceil overhang.
            [2, 6, 5, 7, 2, 2, 2, 1, 1, 0, 0, 0],
            [1, 14, 14, 14, 5, 5, 5, 3, 2, 0, 0, 0],
            [1, 14, 14, 14, 5, 5, 5, 3, 2, 0, 0, 1],
            // Padding, with a window taller than the input, and uneven kernels.
            [2, 3, 5, 4, 3, 2, 4, 2, 1, 1, 2, 0],
            [1, 2, 6, 5, 3, 3, 3, 2, 1, 2, 1, 1],
            // A 2-D pool as a 3-D one with a depth of 1.
            [3, 1, 9, 11, 1, 3, 3, 2, 2, 1, 1, 0],
        ] {
            let p = geometry_nd(spec);
            let x = values(p.planes * p.input.iter().product::<usize>());
            let n_out = p.planes * p.output.iter().product::<usize>();
            for op in ops {
                let mut y = std::vec![f32::NAN; n_out];
                pool_nd(&p, op, &x, &mut y);
                let expected = naive_nd(&p, &x, op);
                for (i, (&a, &e)) in y.iter().zip(&expected).enumerate() {
                    // f32 sums of at most 125 terms of magnitude ≤ 1; a window wholly in
                    // the padding gives −∞ (max) or NaN (the mean of nothing) in both.
                    let same = a == e || a.is_nan() && e.is_nan();
                    assert!(
                        same || (a - e).abs() <= 1e-5 * e.abs().max(1.0),
                        "{op:?} {p:?}: element {i}: {a} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn nd_pools_agree_with_the_row_kernels() {
        // The same 2-D geometry through both: exactly the same maxima, averages to rounding.
        for spec in [
            [2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0],
            [1, 2, 10, 12, 3, 2, 2, 3, 2, 2, 2, 0, 1, 1, 1],
        ] {
            let p2 = geometry(spec);
            let p = PoolNd::of_2d(&p2);
            let x = values(p.planes * p2.h_in * p2.w_in);
            let n_out = p.planes * p2.h_out * p2.w_out;
            let (mut rows, mut nd) = (std::vec![0.0; n_out], std::vec![0.0; n_out]);
            max_pool2d(&p2, &x, &mut rows);
            pool_nd(&p, PoolOp::Max, &x, &mut nd);
            assert_eq!(rows, nd, "{p:?}");
            for count_include_pad in [false, true] {
                avg_pool2d(&p2, count_include_pad, &x, &mut rows);
                pool_nd(&p, PoolOp::Average { count_include_pad }, &x, &mut nd);
                for (&a, &b) in rows.iter().zip(&nd) {
                    assert!((a - b).abs() <= 1e-6, "{p:?}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn lp_pool_norms() {
        // One window of [3, −4] (with a zero of padding, which adds nothing): the 1-, 2-
        // and 3-norms.
        let p = PoolNd {
            planes: 1,
            input: [1, 1, 2],
            output: [1, 1, 1],
            kernel: [1, 1, 3],
            strides: [1, 1, 1],
            dilations: [1, 1, 1],
            pads_begin: [0, 0, 1],
            pads_end: [0, 0, 0],
        };
        let mut y = [0.0];
        pool_nd(&p, PoolOp::Lp { p: 1 }, &[3.0, -4.0], &mut y);
        assert_eq!(y, [7.0]);
        pool_nd(&p, PoolOp::Lp { p: 2 }, &[3.0, -4.0], &mut y);
        assert_eq!(y, [5.0]);
        pool_nd(&p, PoolOp::Lp { p: 3 }, &[3.0, -4.0], &mut y);
        assert!((y[0] - 91f32.cbrt()).abs() <= 1e-6, "{y:?}");
    }

    #[test]
    fn nd_pool_leaves_short_outputs_alone() {
        let p = geometry_nd([2, 2, 2, 2, 2, 2, 2, 1, 1, 0, 0, 0]);
        // Input one short, output one short, a zero stride: nothing is written.
        let mut y = [9.0; 2];
        pool_nd(&p, PoolOp::Max, &[1.0; 15], &mut y);
        assert_eq!(y, [9.0; 2]);
        let mut y = [9.0; 1];
        pool_nd(&p, PoolOp::Max, &[1.0; 16], &mut y);
        assert_eq!(y, [9.0]);
        let mut y = [9.0; 2];
        let zero_stride = PoolNd {
            strides: [1, 0, 1],
            ..p
        };
        pool_nd(&zero_stride, PoolOp::Max, &[1.0; 16], &mut y);
        assert_eq!(y, [9.0; 2]);
        pool_nd(&p, PoolOp::Max, &[1.0; 16], &mut y);
        assert_eq!(y, [1.0; 2]);
    }

    #[test]
    fn global_pools() {
        let x: Vec<f32> = (0..40).map(|v| v as f32).collect();
        let mut y = [0.0; 2];
        global_avg_pool(2, 20, &x, &mut y);
        assert_eq!(y, [9.5, 29.5]);
        global_max_pool(2, 20, &x, &mut y);
        assert_eq!(y, [19.0, 39.0]);
        let mut y = [0.0; 4];
        global_max_pool(4, 1, &[3.0, -1.0, 2.0, 0.0], &mut y);
        assert_eq!(y, [3.0, -1.0, 2.0, 0.0]);
    }
}
