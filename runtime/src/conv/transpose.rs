//! The fast 1-D and 2-D transposed convolutions (ONNX `ConvTranspose`): a GEMM into
//! columns and a col2im scatter, or per-channel row scatters for few input channels per
//! group. The N-D reference, [`super::conv_transpose`], keeps every other geometry.
//!
//! A transposed convolution of one group is a product and a scatter. With the weights
//! `w[c_in, c_out · k_h · k_w]` (ONNX's layout, read as they are: `A = wᵀ`, a transposed
//! `A` for the GEMM) and the input `x[c_in, h_in · w_in]`, the columns
//! `wᵀ · x[c_out · k_h · k_w, h_in · w_in]` hold every product `x · w` summed over the input
//! channels; col2im then adds column `(oc, kh, kw)` of input position `(ih, iw)` into
//! output `(oc, ih · s_h + kh · d_h − pad_top, iw · s_w + kw · d_w − pad_left)`. All the
//! multiply-adds run on the blocked GEMM (its packed SIMD tiles where the target has
//! them); the scatter is one add per column element, `c_in / groups` times fewer than the
//! multiply-adds. The columns of a band of [`ConvTranspose2d::band`] input positions at a
//! time live in scratch, so the scratch is bounded whatever the plane
//! ([`transpose_band_for`] picks the band from the target's family), and the GEMM's `B`
//! is the band's input copied into scratch (the whole plane is read in place).
//!
//! When the kernel tiles the output exactly (kernel equal to stride, no dilation, no
//! padding, no `output_padding`: the 2 × 2, stride-2 upsampling of U-Nets and text
//! detectors), every output gets exactly one column element, and col2im stores
//! `column + bias` instead of adding into an output filled with the bias first. At
//! stride 2 without dilation, taps `kw` and `kw + 1` are added as pairs of neighbouring
//! outputs, a pass LLVM vectorises, where a tap alone adds into every other output.
//!
//! Neither kernel panics on what the compiler emits: slices too short for the geometry,
//! or a geometry with an empty dim, leave the output alone, and the GEMM kernel given
//! less scratch than it needs runs the rows kernel.
//!
//! The phase decomposition (stride² small convolutions with sub-kernels, through the
//! convolution kernels) was the alternative: it needs no columns, but a sub-kernel per
//! phase (weights re-laid out at compile time), an output written with the stride (a
//! scatter anyway), and for kernel == stride it is `stride²` pointwise products of
//! `c_out` rows each, which the one product of `c_out · stride²` rows here packs better.

use super::ConvTranspose;
use crate::gemm::{gemm_with_scratch, Bias};
use crate::target::{KernelSet, Kernels};
use crate::tokens::tokens;
use crate::Activation;

tokens! {
    rt::conv;
    /// The geometry of a 1-D or 2-D transposed convolution, for the fast kernels (a 1-D
    /// one is one row: `h_in = h_out = k_h = 1`). `w` is `[c_in, c_out / groups, k_h, k_w]`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct ConvTranspose2d {
        pub batch: usize,
        pub c_in: usize,
        pub h_in: usize,
        pub w_in: usize,
        pub c_out: usize,
        pub h_out: usize,
        pub w_out: usize,
        pub k_h: usize,
        pub k_w: usize,
        pub stride_h: usize,
        pub stride_w: usize,
        pub dil_h: usize,
        pub dil_w: usize,
        /// Output rows cut from the top (negative: zero rows added).
        pub pad_top: i64,
        /// Output columns cut from the left (negative: zero columns added).
        pub pad_left: i64,
        pub groups: usize,
        /// Input positions (flattened over the plane) whose columns
        /// [`conv_transpose2d_gemm`] computes at a time: the GEMM's `n`. Chosen by
        /// [`transpose_band_for`]; the rows kernel ignores it.
        pub band: usize,
    }
}

/// The kernel a transposed convolution runs on, chosen by [`transpose_kernel_for`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransposeKernel {
    /// [`conv_transpose2d_gemm`]: the GEMM into a band of columns, then col2im.
    Gemm,
    /// [`conv_transpose2d_rows`]: row scatters, for one or two input channels per group
    /// (a depthwise layer): a GEMM that shallow stores about as much as it multiplies.
    Rows,
}

/// The fewest input channels per group (the GEMM's depth) that take the GEMM. Measured
/// (AVX-512, 2 × 2 stride 2 on 80 × 80 into 16 channels, best of 10): the rows kernel
/// took 82, 119 and 215 µs for 1, 2 and 3 input channels, the GEMM 125, 109 and 120 µs;
/// two channels gain too little for the scratch they cost.
const GEMM_MIN_DEPTH: usize = 3;

/// The floats of columns and copied input a band holds at most on SIMD targets: 256 KiB,
/// within a typical L2 next to the GEMM's packed panels.
const VECTOR_BAND_FLOATS: usize = 64 * 1024;

/// The floats of columns and copied input a band holds at most on the scalar targets:
/// 16 KiB of a microcontroller's SRAM.
const SCALAR_BAND_FLOATS: usize = 4 * 1024;

/// Whether `p`'s sizes are all positive and its groups divide its channels, so that
/// the fast kernels can walk it (the compiler's geometries always are).
const fn is_walkable(p: &ConvTranspose2d) -> bool {
    p.batch > 0
        && p.c_in > 0
        && p.c_out > 0
        && p.h_in > 0
        && p.w_in > 0
        && p.h_out > 0
        && p.w_out > 0
        && p.k_h > 0
        && p.k_w > 0
        && p.stride_h > 0
        && p.stride_w > 0
        && p.dil_h > 0
        && p.dil_w > 0
        && p.groups > 0
        && p.c_in.is_multiple_of(p.groups)
        && p.c_out.is_multiple_of(p.groups)
}

/// The kernel for a transposed convolution of geometry `p`.
pub const fn transpose_kernel_for(p: &ConvTranspose2d) -> TransposeKernel {
    if is_walkable(p) && p.c_in / p.groups >= GEMM_MIN_DEPTH {
        TransposeKernel::Gemm
    } else {
        TransposeKernel::Rows
    }
}

/// The rows of the GEMM's columns: one per output channel of a group and tap.
const fn column_rows(p: &ConvTranspose2d) -> usize {
    p.c_out / p.groups * p.k_h * p.k_w
}

/// Whether every output of `p` gets exactly one column element: kernel equal to stride
/// in both dims, no dilation (or a one-tap kernel), no padding, and an output exactly
/// `input · stride` long.
const fn tiles_exactly(p: &ConvTranspose2d) -> bool {
    p.k_h == p.stride_h
        && p.k_w == p.stride_w
        && (p.dil_h == 1 || p.k_h == 1)
        && (p.dil_w == 1 || p.k_w == 1)
        && p.pad_top == 0
        && p.pad_left == 0
        && p.h_out == p.h_in * p.stride_h
        && p.w_out == p.w_in * p.stride_w
}

/// The band (input positions whose columns [`conv_transpose2d_gemm`] computes at once)
/// for `p` on the targets of `kernels`: the whole plane where its columns fit the
/// family's budget (256 KiB with SIMD, 16 KiB on the scalar targets), else as many
/// positions as their columns and the band's copy of the input fit, in whole input rows
/// where one fits; at least one position. A crate for both families takes the SIMD
/// band, as every kernel's scratch there is the larger of the two families' needs.
pub const fn transpose_band_for(p: &ConvTranspose2d, kernels: KernelSet) -> usize {
    let plane = p.h_in * p.w_in;
    if plane == 0 || p.groups == 0 {
        return 1;
    }
    let budget = if kernels.vector {
        VECTOR_BAND_FLOATS
    } else {
        SCALAR_BAND_FLOATS
    };
    let rows = column_rows(p);
    if plane.saturating_mul(rows) <= budget {
        return plane;
    }
    let band = min(max(budget / (rows + p.c_in / p.groups), 1), plane);
    if band >= p.w_in {
        band / p.w_in * p.w_in
    } else {
        band
    }
}

/// The floats of scratch `kernel` needs for `p` on the targets of `kernels` (the larger
/// need where both): the rows kernel none; the GEMM a band of columns
/// (`c_out / groups · k_h · k_w · band`), the band's copy of the input (unless the band
/// is the whole plane, read in place), then the GEMM's packing buffers: with SIMD
/// [`crate::gemm::scratch_len`], on the scalar targets one sliver of `B` (the scalar
/// GEMM reads `A` in place when it has no room for panels).
pub const fn transpose_scratch_len_for(
    kernel: TransposeKernel,
    p: &ConvTranspose2d,
    kernels: KernelSet,
) -> usize {
    if matches!(kernel, TransposeKernel::Rows) || !is_walkable(p) {
        return 0;
    }
    let band = band_of(p);
    let rows = column_rows(p);
    let depth = p.c_in / p.groups;
    let copy = if band < p.h_in * p.w_in {
        depth * band
    } else {
        0
    };
    let vector = crate::gemm::scratch_len(rows, band, depth);
    let scalar = crate::gemm::MAX_SLIVER_COLUMNS * min(depth, crate::gemm::KC);
    rows * band + copy + kernels.most(vector, scalar)
}

/// `p.band` within `1..=plane` (a band of 0 means the whole plane).
const fn band_of(p: &ConvTranspose2d) -> usize {
    let plane = p.h_in * p.w_in;
    if p.band == 0 || p.band > plane {
        plane
    } else {
        p.band
    }
}

const fn min(a: usize, b: usize) -> usize {
    if a < b {
        a
    } else {
        b
    }
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// `y = conv_transpose(x, w) + bias` on the kernel [`transpose_kernel_for`] picks, for
/// the runtime's own callers and constant folding: with SIMD the GEMM kernel in a stack
/// buffer of 128 KiB (its band halved until it fits, the rows kernel when even one
/// position does not), the rows kernel elsewhere, where stacks are small. Generated code
/// calls the kernel itself with arena scratch.
pub fn conv_transpose2d(
    p: &ConvTranspose2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if transpose_kernel_for(p) == TransposeKernel::Gemm {
        const STACK: usize = 32 * 1024;
        let native = KernelSet::only(Kernels::NATIVE);
        let mut fitted = *p;
        fitted.band = transpose_band_for(p, native);
        let needs =
            |q: &ConvTranspose2d| transpose_scratch_len_for(TransposeKernel::Gemm, q, native);
        while needs(&fitted) > STACK && fitted.band > 1 {
            fitted.band /= 2;
        }
        if needs(&fitted) <= STACK {
            let mut scratch = [0.0f32; STACK];
            conv_transpose2d_gemm(&fitted, x, w, bias, &mut scratch, y);
            return;
        }
    }
    conv_transpose2d_rows(p, x, w, bias, y);
}

/// The operands cut to the lengths `p` implies, or `None` when `p` cannot be walked or
/// a slice is too short (the compiler never emits such a call).
#[allow(clippy::type_complexity)]
fn operands<'a>(
    p: &ConvTranspose2d,
    x: &'a [f32],
    w: &'a [f32],
    bias: Option<&'a [f32]>,
    y: &'a mut [f32],
) -> Option<(&'a [f32], &'a [f32], Option<&'a [f32]>, &'a mut [f32])> {
    if !is_walkable(p) {
        return None;
    }
    let x = x.get(..p.batch * p.c_in * p.h_in * p.w_in)?;
    let w = w.get(..p.c_in * column_rows(p))?;
    let bias = match bias {
        Some(b) => Some(b.get(..p.c_out)?),
        None => None,
    };
    let y = y.get_mut(..p.batch * p.c_out * p.h_out * p.w_out)?;
    Some((x, w, bias, y))
}

/// The GEMM kernel ([`TransposeKernel::Gemm`]): per image and group, band by band, the
/// columns of `band` input positions into `scratch` (at least
/// [`transpose_scratch_len_for`] floats for the family this build runs), then col2im
/// into `y`. With less scratch than that it runs [`conv_transpose2d_rows`].
pub fn conv_transpose2d_gemm(
    p: &ConvTranspose2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let needed =
        transpose_scratch_len_for(TransposeKernel::Gemm, p, KernelSet::only(Kernels::NATIVE));
    if scratch.len() < needed || needed == 0 {
        conv_transpose2d_rows(p, x, w, bias, y);
        return;
    }
    gemm_bands(p, (x, w, bias), scratch, y);
}

/// [`conv_transpose2d_gemm`]'s loops over images, groups and bands.
fn gemm_bands(
    p: &ConvTranspose2d,
    (x, w, bias): (&[f32], &[f32], Option<&[f32]>),
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let Some((x, w, bias, y)) = operands(p, x, w, bias, y) else {
        return;
    };
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let (c_in_group, c_out_group) = (p.c_in / p.groups, p.c_out / p.groups);
    let rows = column_rows(p);
    let band = band_of(p);
    let exact = tiles_exactly(p);
    let (columns, rest) = scratch.split_at_mut(rows * band);
    for image in 0..p.batch {
        for group in 0..p.groups {
            let first_in = image * p.c_in + group * c_in_group;
            let first_out = group * c_out_group;
            let x_group = &x[first_in * in_plane..][..c_in_group * in_plane];
            let w_group = &w[group * c_in_group * rows..][..c_in_group * rows];
            let bias_group = bias.map(|b| &b[first_out..][..c_out_group]);
            let y_group =
                &mut y[(image * p.c_out + first_out) * out_plane..][..c_out_group * out_plane];
            if !exact {
                fill_bias(y_group, bias_group, out_plane);
            }
            for start in (0..in_plane).step_by(band) {
                let n = band.min(in_plane - start);
                let columns = &mut columns[..rows * n];
                product(p, x_group, w_group, (start, n), rest, columns);
                col2im(p, columns, (start, n), bias_group, exact, y_group);
            }
        }
    }
}

/// Each output channel's plane of `y` set to its bias (zero without one).
fn fill_bias(y: &mut [f32], bias: Option<&[f32]>, plane: usize) {
    for (c, y_plane) in y.chunks_exact_mut(plane).enumerate() {
        y_plane.fill(bias.map_or(0.0, |b| b[c]));
    }
}

/// The columns of input positions `start..start + n` of one group:
/// `columns[rows × n] = w_groupᵀ · x_group[:, start..start + n]` on the blocked GEMM,
/// `B` the band's input copied into the front of `scratch` (the whole plane is read in
/// place), the GEMM's packing buffers after it.
///
/// Packing the band's slivers straight from the input planes (an implicit `B`, as the
/// implicit-GEMM convolution does) saves the copy, but takes only the 6 × 16 tiles: on
/// the AVX-512 host the copied band's product, which the GEMM gives its widest tiles,
/// ran the 64 → 64 2 × 2 layer's products in 1.7 ms where the implicit ones took 2.6 ms.
fn product(
    p: &ConvTranspose2d,
    x_group: &[f32],
    w_group: &[f32],
    (start, n): (usize, usize),
    scratch: &mut [f32],
    columns: &mut [f32],
) {
    let depth = p.c_in / p.groups;
    let rows = column_rows(p);
    let in_plane = p.h_in * p.w_in;
    let (b, gemm_scratch): (&[f32], &mut [f32]) = if n == in_plane {
        (x_group, scratch)
    } else {
        let (copy, rest) = scratch.split_at_mut(depth * n);
        for (channel, row) in copy.chunks_exact_mut(n).enumerate() {
            row.copy_from_slice(&x_group[channel * in_plane + start..][..n]);
        }
        (copy, rest)
    };
    gemm_with_scratch(
        rows,
        n,
        depth,
        w_group,
        true,
        b,
        false,
        1.0,
        1.0,
        Bias::None,
        Activation::None,
        gemm_scratch,
        columns,
    );
}

/// The input positions `lo..hi` (within `0..in_len`) that tap `t` sends inside the
/// output: `0 ≤ i · stride + t · dil − pad < out_len`.
#[inline]
fn inputs_for_tap(
    t: usize,
    (stride, dil, pad): (usize, usize, i64),
    in_len: usize,
    out_len: usize,
) -> (usize, usize) {
    // i · stride ≥ pad − t · dil  and  i · stride < out_len + pad − t · dil.
    let offset = pad - (t * dil) as i64;
    let stride_i = stride as i64;
    let lo = if offset > 0 {
        (offset + stride_i - 1) / stride_i
    } else {
        0
    };
    let end = out_len as i64 + offset;
    let hi = if end > 0 {
        (end + stride_i - 1) / stride_i
    } else {
        0
    };
    let lo = (lo as usize).min(in_len);
    (lo, (hi as usize).clamp(lo, in_len))
}

/// Adds (or, where `p` tiles its output exactly, stores with the bias) the columns of
/// input positions `start..start + n` of one group into `y_group`: row `(oc, kh, kw)`
/// of the columns goes to channel `oc`'s plane, input row by input row.
fn col2im(
    p: &ConvTranspose2d,
    columns: &[f32],
    (start, n): (usize, usize),
    bias: Option<&[f32]>,
    exact: bool,
    y_group: &mut [f32],
) {
    if exact {
        col2im_exact(p, columns, (start, n), bias, y_group);
        return;
    }
    let out_plane = p.h_out * p.w_out;
    let (k_h, k_w) = (p.k_h, p.k_w);
    // At stride 2 without dilation, taps `kw` and `kw + 1` land on neighbouring outputs:
    // added as a pair they are one pass over whole pairs of outputs, which vectorises,
    // where a tap alone adds into every other output.
    let pairs = p.stride_w == 2 && p.dil_w == 1;
    for (oc, channel) in columns.chunks_exact(n * k_h * k_w).enumerate() {
        let y_plane = &mut y_group[oc * out_plane..][..out_plane];
        for (kh, kernel_row) in channel.chunks_exact(n * k_w).enumerate() {
            let (ih_lo, ih_hi) =
                inputs_for_tap(kh, (p.stride_h, p.dil_h, p.pad_top), p.h_in, p.h_out);
            // The runs of the band that lie in one input row.
            let mut done = 0;
            while done < n {
                let flat = start + done;
                let (ih, iw0) = (flat / p.w_in, flat % p.w_in);
                let len = (p.w_in - iw0).min(n - done);
                if ih >= ih_lo && ih < ih_hi {
                    let oh = (ih * p.stride_h + kh * p.dil_h) as i64 - p.pad_top;
                    let y_row = &mut y_plane[oh as usize * p.w_out..][..p.w_out];
                    let run = Run {
                        columns: kernel_row,
                        n,
                        iw0,
                        done,
                        len,
                    };
                    let mut kw = 0;
                    while kw < k_w {
                        if pairs && kw + 1 < k_w {
                            run.add_pair(p, kw, y_row);
                            kw += 2;
                        } else {
                            run.add_tap(p, kw, run.inputs(p, kw), y_row);
                            kw += 1;
                        }
                    }
                }
                done += len;
            }
        }
    }
}

/// The part of a band in one input row, for one output channel and kernel row:
/// `columns` holds the `k_w` column rows of `n` positions, of which this run is
/// positions `done..done + len`, input columns `iw0..iw0 + len`.
struct Run<'a> {
    columns: &'a [f32],
    n: usize,
    iw0: usize,
    done: usize,
    len: usize,
}

impl Run<'_> {
    /// The input columns of the run that tap `kw` sends inside the output row.
    #[inline(always)]
    fn inputs(&self, p: &ConvTranspose2d, kw: usize) -> (usize, usize) {
        let (lo, hi) = inputs_for_tap(kw, (p.stride_w, p.dil_w, p.pad_left), p.w_in, p.w_out);
        (lo.max(self.iw0), hi.min(self.iw0 + self.len))
    }

    /// The column row of tap `kw` for input columns `lo..hi`.
    #[inline(always)]
    fn source(&self, kw: usize, (lo, hi): (usize, usize)) -> &[f32] {
        &self.columns[kw * self.n + self.done + lo - self.iw0..][..hi - lo]
    }

    /// The output column input column `iw` of tap `kw` lands on (inside the row).
    #[inline(always)]
    fn output(p: &ConvTranspose2d, kw: usize, iw: usize) -> usize {
        ((iw * p.stride_w + kw * p.dil_w) as i64 - p.pad_left) as usize
    }

    /// Adds tap `kw`'s columns of input columns `lo..hi` (within [`Run::inputs`]).
    #[inline(always)]
    fn add_tap(&self, p: &ConvTranspose2d, kw: usize, (lo, hi): (usize, usize), y: &mut [f32]) {
        if lo < hi {
            let source = self.source(kw, (lo, hi));
            scatter_row(y, Self::output(p, kw, lo), p.stride_w, source, None);
        }
    }

    /// Adds taps `kw` and `kw + 1` at stride 2 without dilation: where both land inside
    /// the row, as pairs of neighbouring outputs; the ends each tap alone.
    #[inline(always)]
    fn add_pair(&self, p: &ConvTranspose2d, kw: usize, y: &mut [f32]) {
        let (first, second) = (self.inputs(p, kw), self.inputs(p, kw + 1));
        let (lo, hi) = (first.0.max(second.0), first.1.min(second.1));
        if lo >= hi {
            self.add_tap(p, kw, first, y);
            self.add_tap(p, kw + 1, second, y);
            return;
        }
        let (a, b) = (self.source(kw, (lo, hi)), self.source(kw + 1, (lo, hi)));
        let segment = &mut y[Self::output(p, kw, lo)..][..2 * (hi - lo)];
        for ((pair, &a), &b) in segment.chunks_exact_mut(2).zip(a).zip(b) {
            pair[0] += a;
            pair[1] += b;
        }
        for tap in [(kw, first), (kw + 1, second)] {
            let (k, (from, to)) = tap;
            self.add_tap(p, k, (from, lo.min(to)), y);
            self.add_tap(p, k, (hi.max(from), to), y);
        }
    }
}

/// [`col2im`] where `p` tiles its output exactly ([`tiles_exactly`]): a run of input
/// row `ih` and kernel row `kh` fills a segment of output row `ih · k_h + kh` whole, its
/// `k_w` column rows interleaved, so each segment is stored once, in order, with the
/// bias (two column rows a pair for the common `k_w = 2`).
fn col2im_exact(
    p: &ConvTranspose2d,
    columns: &[f32],
    (start, n): (usize, usize),
    bias: Option<&[f32]>,
    y_group: &mut [f32],
) {
    let out_plane = p.h_out * p.w_out;
    let (k_h, k_w) = (p.k_h, p.k_w);
    for (oc, channel) in columns.chunks_exact(n * k_h * k_w).enumerate() {
        let b = bias.map_or(0.0, |b| b[oc]);
        let y_plane = &mut y_group[oc * out_plane..][..out_plane];
        for (kh, kernel_row) in channel.chunks_exact(n * k_w).enumerate() {
            let mut done = 0;
            while done < n {
                let flat = start + done;
                let (ih, iw0) = (flat / p.w_in, flat % p.w_in);
                let len = (p.w_in - iw0).min(n - done);
                let segment = &mut y_plane[(ih * k_h + kh) * p.w_out + iw0 * k_w..][..len * k_w];
                if k_w == 2 {
                    let even = &kernel_row[done..][..len];
                    let odd = &kernel_row[n + done..][..len];
                    for ((pair, &e), &o) in segment.chunks_exact_mut(2).zip(even).zip(odd) {
                        pair[0] = e + b;
                        pair[1] = o + b;
                    }
                } else {
                    for (kw, column) in kernel_row.chunks_exact(n).enumerate() {
                        let source = &column[done..][..len];
                        scatter_row(segment, kw, k_w, source, Some(b));
                    }
                }
                done += len;
            }
        }
    }
}

/// `y[at + i · stride] += source[i]`, or `= source[i] + bias` when `store` holds the
/// bias. Strides 1 and 2 are loops of their own, so that LLVM vectorises them.
#[inline(always)]
fn scatter_row(y: &mut [f32], at: usize, stride: usize, source: &[f32], store: Option<f32>) {
    let y = &mut y[at..];
    match (stride, store) {
        (1, None) => {
            for (o, &v) in y[..source.len()].iter_mut().zip(source) {
                *o += v;
            }
        }
        (1, Some(b)) => {
            for (o, &v) in y[..source.len()].iter_mut().zip(source) {
                *o = v + b;
            }
        }
        (_, None) => {
            for (o, &v) in y.iter_mut().step_by(stride).zip(source) {
                *o += v;
            }
        }
        (_, Some(b)) => {
            for (o, &v) in y.iter_mut().step_by(stride).zip(source) {
                *o = v + b;
            }
        }
    }
}

/// The rows kernel ([`TransposeKernel::Rows`]): the output filled with the bias, then
/// for every input channel, output channel of its group, input row and tap, one row of
/// `x · w` added into an output row (with the stride). It needs no scratch and fits
/// every 1-D and 2-D geometry.
pub fn conv_transpose2d_rows(
    p: &ConvTranspose2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let Some((x, w, bias, y)) = operands(p, x, w, bias, y) else {
        return;
    };
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let (c_in_group, c_out_group) = (p.c_in / p.groups, p.c_out / p.groups);
    let taps = p.k_h * p.k_w;
    for image in 0..p.batch {
        let y_image = &mut y[image * p.c_out * out_plane..][..p.c_out * out_plane];
        fill_bias(y_image, bias, out_plane);
        for ic in 0..p.c_in {
            let group = ic / c_in_group;
            let x_plane = &x[(image * p.c_in + ic) * in_plane..][..in_plane];
            for ocg in 0..c_out_group {
                let oc = group * c_out_group + ocg;
                let kernel = &w[(ic * c_out_group + ocg) * taps..][..taps];
                let y_plane = &mut y_image[oc * out_plane..][..out_plane];
                scatter_plane(p, x_plane, kernel, y_plane);
            }
        }
    }
}

/// Adds one input plane times one `k_h × k_w` kernel into one output plane.
fn scatter_plane(p: &ConvTranspose2d, x_plane: &[f32], kernel: &[f32], y_plane: &mut [f32]) {
    // As in `col2im`: at stride 2 without dilation taps `kw` and `kw + 1` of one input
    // land on neighbouring outputs, so a pair of them is one pass over whole pairs.
    let pairs = p.stride_w == 2 && p.dil_w == 1;
    let range = |kw: usize| inputs_for_tap(kw, (p.stride_w, p.dil_w, p.pad_left), p.w_in, p.w_out);
    let output =
        |kw: usize, iw: usize| ((iw * p.stride_w + kw * p.dil_w) as i64 - p.pad_left) as usize;
    for kh in 0..p.k_h {
        let (ih_lo, ih_hi) = inputs_for_tap(kh, (p.stride_h, p.dil_h, p.pad_top), p.h_in, p.h_out);
        let weights = &kernel[kh * p.k_w..][..p.k_w];
        for ih in ih_lo..ih_hi {
            let oh = ((ih * p.stride_h + kh * p.dil_h) as i64 - p.pad_top) as usize;
            let x_row = &x_plane[ih * p.w_in..][..p.w_in];
            let y_row = &mut y_plane[oh * p.w_out..][..p.w_out];
            let tap = |kw: usize, (lo, hi): (usize, usize), y_row: &mut [f32]| {
                if lo < hi {
                    axpy_row(
                        y_row,
                        output(kw, lo),
                        p.stride_w,
                        weights[kw],
                        &x_row[lo..hi],
                    );
                }
            };
            let mut kw = 0;
            while kw < p.k_w {
                if !(pairs && kw + 1 < p.k_w) {
                    tap(kw, range(kw), y_row);
                    kw += 1;
                    continue;
                }
                let (first, second) = (range(kw), range(kw + 1));
                let (lo, hi) = (first.0.max(second.0), first.1.min(second.1));
                if lo < hi {
                    let (w0, w1) = (weights[kw], weights[kw + 1]);
                    let segment = &mut y_row[output(kw, lo)..][..2 * (hi - lo)];
                    for (pair, &v) in segment.chunks_exact_mut(2).zip(&x_row[lo..hi]) {
                        pair[0] += w0 * v;
                        pair[1] += w1 * v;
                    }
                    for (k, (from, to)) in [(kw, first), (kw + 1, second)] {
                        tap(k, (from, lo), y_row);
                        tap(k, (hi, to), y_row);
                    }
                } else {
                    tap(kw, first, y_row);
                    tap(kw + 1, second, y_row);
                }
                kw += 2;
            }
        }
    }
}

/// `y[at + i · stride] += weight · x[i]`, stride 1 on a loop of its own.
#[inline(always)]
fn axpy_row(y: &mut [f32], at: usize, stride: usize, weight: f32, x: &[f32]) {
    let y = &mut y[at..];
    if stride == 1 {
        for (o, &v) in y[..x.len()].iter_mut().zip(x) {
            *o += weight * v;
        }
    } else {
        for (o, &v) in y.iter_mut().step_by(stride).zip(x) {
            *o += weight * v;
        }
    }
}

impl ConvTranspose2d {
    /// The 1-D or 2-D geometry of the N-D `p`, with `band` positions a band, or `None`
    /// for three or more spatial dims (or a geometry the fast kernels cannot walk).
    pub fn from_nd(p: &ConvTranspose<'_>, band: usize) -> Option<ConvTranspose2d> {
        let two = |dims: &[usize]| -> Option<(usize, usize)> {
            match *dims {
                [w] => Some((1, w)),
                [h, w] => Some((h, w)),
                _ => None,
            }
        };
        let (h_in, w_in) = two(p.in_dims)?;
        let (h_out, w_out) = two(p.out_dims)?;
        let (k_h, k_w) = two(p.kernel)?;
        let (stride_h, stride_w) = two(p.strides)?;
        let (dil_h, dil_w) = two(p.dilations)?;
        let (pad_top, pad_left) = match *p.pads_begin {
            [w] => (0, w),
            [h, w] => (h, w),
            _ => return None,
        };
        let geometry = ConvTranspose2d {
            batch: p.batch,
            c_in: p.c_in,
            h_in,
            w_in,
            c_out: p.c_out,
            h_out,
            w_out,
            k_h,
            k_w,
            stride_h,
            stride_w,
            dil_h,
            dil_w,
            pad_top,
            pad_left,
            groups: p.groups,
            band,
        };
        is_walkable(&geometry).then_some(geometry)
    }
}

/// The N-D reference on `p`'s geometry, for the tests.
#[cfg(test)]
fn reference_2d(p: &ConvTranspose2d, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let nd = ConvTranspose {
        batch: p.batch,
        c_in: p.c_in,
        c_out: p.c_out,
        groups: p.groups,
        in_dims: &[p.h_in, p.w_in],
        out_dims: &[p.h_out, p.w_out],
        kernel: &[p.k_h, p.k_w],
        strides: &[p.stride_h, p.stride_w],
        dilations: &[p.dil_h, p.dil_w],
        pads_begin: &[p.pad_top, p.pad_left],
    };
    super::conv_transpose(&nd, x, w, bias, y);
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;

    /// A seeded xorshift generator, so that every run checks the same geometries.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// A value in `lo..=hi`.
        fn range(&mut self, lo: usize, hi: usize) -> usize {
            lo + (self.next() % (hi - lo + 1) as u64) as usize
        }

        /// A value in `[-1, 1)`.
        fn unit(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }

        fn values(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.unit()).collect()
        }
    }

    /// One dim of a random geometry: `(in, out, kernel, stride, dilation, pad_begin)`,
    /// about one in four tiling the output exactly (kernel == stride, no padding), the
    /// others with pads, `output_padding` (below the stride or the dilation, as ONNX
    /// requires) and sometimes zeros added at the start (a negative pad, as `output_shape`
    /// gives).
    fn dim(rng: &mut Rng) -> (usize, usize, usize, usize, usize, i64) {
        let len = rng.range(1, 9);
        if rng.range(0, 3) == 0 {
            let k = rng.range(1, 4);
            return (len, len * k, k, k, 1, 0);
        }
        let (k, stride, dil) = (rng.range(1, 5), rng.range(1, 4), rng.range(1, 3));
        let full = (stride * (len - 1) + dil * (k - 1) + 1) as i64;
        let output_padding = rng.range(0, stride.max(dil) - 1) as i64;
        let (mut begin, end) = (rng.range(0, k - 1) as i64, rng.range(0, k - 1) as i64);
        if rng.range(0, 7) == 0 {
            begin = -(rng.range(1, 2) as i64);
        }
        let out = (full + output_padding - begin - end).max(1);
        (len, out as usize, k, stride, dil, begin)
    }

    fn geometry(rng: &mut Rng) -> ConvTranspose2d {
        let one_d = rng.range(0, 3) == 0;
        let (h_in, h_out, k_h, stride_h, dil_h, pad_top) =
            if one_d { (1, 1, 1, 1, 1, 0) } else { dim(rng) };
        let (w_in, w_out, k_w, stride_w, dil_w, pad_left) = dim(rng);
        let (groups, c_in, c_out) = match rng.range(0, 3) {
            // Depthwise.
            0 => {
                let c = rng.range(1, 5);
                (c, c, c * rng.range(1, 2))
            }
            // Grouped, odd channel counts per group included.
            1 => {
                let g = rng.range(2, 3);
                (g, g * rng.range(1, 5), g * rng.range(1, 3))
            }
            _ => (1, rng.range(1, 13), rng.range(1, 7)),
        };
        let mut p = ConvTranspose2d {
            batch: rng.range(1, 2),
            c_in,
            h_in,
            w_in,
            c_out,
            h_out,
            w_out,
            k_h,
            k_w,
            stride_h,
            stride_w,
            dil_h,
            dil_w,
            pad_top,
            pad_left,
            groups,
            band: 0,
        };
        p.band = rng.range(1, h_in * w_in);
        p
    }

    /// A kernel under test: `(x, w, bias, y)`.
    type Kernel<'a> = dyn FnMut(&[f32], &[f32], Option<&[f32]>, &mut [f32]) + 'a;

    /// Runs `kernel` and the N-D reference on random operands of `p` and checks that
    /// every output is within `1e-5` of the sum of the absolute values of its terms
    /// (plus `1e-6`) of the reference's: each output is a sum of at most
    /// `c_in / groups · k_h · k_w` products plus the bias, and the kernels add them in
    /// different orders.
    fn check(rng: &mut Rng, p: &ConvTranspose2d, kernel: &mut Kernel<'_>) {
        let x = rng.values(p.batch * p.c_in * p.h_in * p.w_in);
        let w = rng.values(p.c_in * column_rows(p));
        let bias = (rng.range(0, 1) == 1).then(|| rng.values(p.c_out));
        let n_out = p.batch * p.c_out * p.h_out * p.w_out;
        let mut expected = vec![0.0; n_out];
        reference_2d(p, &x, &w, bias.as_deref(), &mut expected);
        let abs = |v: &[f32]| v.iter().map(|v| v.abs()).collect::<Vec<_>>();
        let mut magnitude = vec![0.0; n_out];
        let abs_bias = bias.as_deref().map(abs);
        reference_2d(p, &abs(&x), &abs(&w), abs_bias.as_deref(), &mut magnitude);
        // NaN-filled, so that an output the kernel never writes fails.
        let mut actual = vec![f32::NAN; n_out];
        kernel(&x, &w, bias.as_deref(), &mut actual);
        for (i, ((&a, &e), &m)) in actual.iter().zip(&expected).zip(&magnitude).enumerate() {
            assert!(
                (a - e).abs() <= 1e-5 * m + 1e-6,
                "{p:?}: output {i} is {a}, the reference {e}"
            );
        }
    }

    /// The fast kernels against the N-D reference over 1,500 random geometries each:
    /// kernel 1 to 5, stride 1 to 4, dilation 1 to 3, pads, `output_padding`, zeros
    /// added at the start, groups (depthwise among them), odd channel counts, 1-D and
    /// 2-D, batch 1 and 2, and random bands (whole rows, partial rows, one position).
    #[test]
    fn fast_kernels_match_the_reference() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let native = KernelSet::only(Kernels::NATIVE);
        let (mut exact, mut gemm_picked) = (0, 0);
        for _ in 0..1500 {
            let p = geometry(&mut rng);
            exact += usize::from(tiles_exactly(&p));
            gemm_picked += usize::from(transpose_kernel_for(&p) == TransposeKernel::Gemm);
            let needed = transpose_scratch_len_for(TransposeKernel::Gemm, &p, native);
            check(&mut rng, &p, &mut |x, w, b, y| {
                // Exactly the scratch the plan would give, so the kernel cannot fall back.
                let mut scratch = vec![f32::NAN; needed];
                conv_transpose2d_gemm(&p, x, w, b, &mut scratch, y);
            });
            check(&mut rng, &p, &mut |x, w, b, y| {
                conv_transpose2d_rows(&p, x, w, b, y);
            });
            check(&mut rng, &p, &mut |x, w, b, y| {
                conv_transpose2d(&p, x, w, b, y);
            });
        }
        // The generator reaches both kinds of scatter and both kernels' picks.
        assert!(exact > 100, "{exact} exact geometries");
        assert!(gemm_picked > 100, "{gemm_picked} geometries pick the GEMM");
    }

    /// The DBNet head's layers, at sizes that take several bands: the exact 2 × 2
    /// upsampling and the overlapping 3 × 3 with `output_padding`.
    #[test]
    fn detector_layers_match_the_reference() {
        let mut rng = Rng(7);
        let base = ConvTranspose2d {
            batch: 1,
            c_in: 16,
            h_in: 20,
            w_in: 20,
            c_out: 8,
            h_out: 40,
            w_out: 40,
            k_h: 2,
            k_w: 2,
            stride_h: 2,
            stride_w: 2,
            dil_h: 1,
            dil_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
            band: 0,
        };
        let three = ConvTranspose2d {
            k_h: 3,
            k_w: 3,
            pad_top: 1,
            pad_left: 1,
            ..base
        };
        for kernels in [
            KernelSet::ANY,
            KernelSet::only(Kernels::Vector),
            KernelSet::only(Kernels::Scalar),
        ] {
            for geometry in [base, three] {
                let mut p = geometry;
                p.band = transpose_band_for(&p, kernels);
                let needed = transpose_scratch_len_for(TransposeKernel::Gemm, &p, kernels);
                check(&mut rng, &p, &mut |x, w, b, y| {
                    let mut scratch = vec![f32::NAN; needed];
                    conv_transpose2d_gemm(&p, x, w, b, &mut scratch, y);
                });
            }
        }
    }

    #[test]
    fn bands_fit_the_budgets() {
        let p = ConvTranspose2d {
            batch: 1,
            c_in: 64,
            h_in: 80,
            w_in: 80,
            c_out: 64,
            h_out: 160,
            w_out: 160,
            k_h: 2,
            k_w: 2,
            stride_h: 2,
            stride_w: 2,
            dil_h: 1,
            dil_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
            band: 0,
        };
        // 256 columns and 64 inputs a position: two whole rows of 80 in 256 KiB.
        assert_eq!(
            transpose_band_for(&p, KernelSet::only(Kernels::Vector)),
            160
        );
        // 256 columns and 64 inputs a position: 12 positions in 16 KiB.
        assert_eq!(transpose_band_for(&p, KernelSet::only(Kernels::Scalar)), 12);
        assert_eq!(transpose_band_for(&p, KernelSet::ANY), 160);
        let scalar = ConvTranspose2d { band: 12, ..p };
        let bytes = 4 * transpose_scratch_len_for(
            TransposeKernel::Gemm,
            &scalar,
            KernelSet::only(Kernels::Scalar),
        );
        assert_eq!(bytes, 4 * (256 * 12 + 64 * 12 + 16 * 64));
        // One output channel: the whole plane of 64 × 64 in one band, read in place.
        let narrow = ConvTranspose2d {
            c_out: 1,
            h_in: 64,
            w_in: 64,
            h_out: 128,
            w_out: 128,
            ..p
        };
        assert_eq!(
            transpose_band_for(&narrow, KernelSet::only(Kernels::Vector)),
            4096
        );
        // At 160 × 160 its 64 inputs a position take the room: 960 positions, six rows.
        let wide = ConvTranspose2d {
            h_in: 160,
            w_in: 160,
            h_out: 320,
            w_out: 320,
            ..narrow
        };
        assert_eq!(
            transpose_band_for(&wide, KernelSet::only(Kernels::Vector)),
            960
        );
        // Depthwise layers scatter rows, with no scratch.
        let depthwise = ConvTranspose2d { groups: 64, ..p };
        assert_eq!(transpose_kernel_for(&depthwise), TransposeKernel::Rows);
        assert_eq!(
            transpose_scratch_len_for(TransposeKernel::Rows, &depthwise, KernelSet::ANY),
            0
        );
    }

    #[test]
    fn tap_input_ranges() {
        // Stride 2, pad 1, 3 inputs into 5 outputs: tap 0 of input 0 lands at -1.
        assert_eq!(inputs_for_tap(0, (2, 1, 1), 3, 5), (1, 3));
        assert_eq!(inputs_for_tap(1, (2, 1, 1), 3, 5), (0, 3));
        // Tap 2 of input 2 lands at 5, past the end.
        assert_eq!(inputs_for_tap(2, (2, 1, 1), 3, 5), (0, 2));
        // Zeros added at the start (pad −2) shift every output on.
        assert_eq!(inputs_for_tap(0, (1, 1, -2), 3, 4), (0, 2));
        // Everything cropped.
        assert_eq!(inputs_for_tap(0, (1, 1, 9), 3, 4), (3, 3));
    }

    /// A slice too short for the geometry is left alone, never indexed out of bounds.
    #[test]
    fn short_slices_do_not_panic() {
        let p = ConvTranspose2d {
            batch: 1,
            c_in: 4,
            h_in: 2,
            w_in: 2,
            c_out: 2,
            h_out: 4,
            w_out: 4,
            k_h: 2,
            k_w: 2,
            stride_h: 2,
            stride_w: 2,
            dil_h: 1,
            dil_w: 1,
            pad_top: 0,
            pad_left: 0,
            groups: 1,
            band: 4,
        };
        let mut y = [1.0f32; 8];
        conv_transpose2d_gemm(&p, &[0.0; 16], &[0.0; 32], None, &mut [0.0; 4096], &mut y);
        conv_transpose2d_rows(&p, &[0.0; 3], &[0.0; 32], None, &mut [0.0; 32]);
        assert_eq!(y, [1.0; 8]);
    }
}
