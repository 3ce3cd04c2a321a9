//! The implicit-GEMM convolution for targets with SIMD: `W[c_out × K] · im2col(X)[K × HW]`
//! on the packed GEMM's microkernel, with the im2col matrix never materialised.
//!
//! The GEMM asks for one sliver of the im2col matrix at a time (`KC` depths × `NR`
//! output positions, flattened over the output plane), and [`Im2col`] packs it straight
//! from the input into the GEMM's packed sliver in scratch: each run of the sliver that lies in
//! one output row is, per tap, a contiguous (stride 1) or strided copy of one input row,
//! with zeros where the tap lands in the padding. So padding, stride and dilation cost
//! only in the packing, the microkernel is the GEMM's (6 × 16 vector FMAs per depth with
//! AVX), and bias and activation are applied as each tile is stored. `K` is ordered
//! (input channel, kernel row, kernel column), the layout of ONNX weights, so `A` is the
//! weight tensor as it is.

use super::{for_each_group, outputs_for_tap, Conv2d};
#[cfg(not(zant_size))]
use crate::copy;
use crate::gemm::{gemm_implicit, BSource, SLIVER_COLUMNS};
use crate::Activation;

/// Kernel columns whose valid output range is computed once per convolution; wider
/// kernels compute the rest per packed row.
const CACHED_TAPS: usize = 16;

/// `y = act(conv(x, w) + bias)` through the implicit GEMM, one product per image and
/// group, packing into `scratch` (at least [`super::ConvKernel::scratch_len`] floats).
/// The caller has checked the slices' lengths against `p`.
pub(super) fn conv2d_implicit(
    p: &Conv2d,
    x: &[f32],
    (w, blocked): (&[f32], bool),
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let out_plane = p.h_out * p.w_out;
    let c_out_group = p.c_out / p.groups;
    let depth = p.c_in / p.groups * p.k_h * p.k_w;
    let tap_outputs =
        |kw: usize| outputs_for_tap(kw, p.stride_w, p.dil_w, p.pad_left, p.w_in, p.w_out);
    let cached_taps: [(usize, usize); CACHED_TAPS] = core::array::from_fn(tap_outputs);
    for_each_group(p, x, w, bias, y, |mut group| {
        let source = Im2col {
            geometry: p,
            x_group: group.x,
            cached_taps,
        };
        if !blocked {
            gemm_implicit(
                c_out_group,
                out_plane,
                depth,
                (group.w, false),
                group.bias,
                act,
                &source,
                scratch,
                group.y,
            );
            return;
        }
        // Weights as the compiler blocks them: one product a block of output channels,
        // whose `A` is transposed.
        for b in 0..super::pointwise_blocks(c_out_group) {
            let (row0, rows) = super::pointwise_block(c_out_group, b);
            let Some((a, bias, y)) = group.rows((row0, rows), depth, out_plane) else {
                return;
            };
            gemm_implicit(
                rows,
                out_plane,
                depth,
                (a, true),
                bias,
                act,
                &source,
                scratch,
                y,
            );
        }
    });
}

/// The im2col matrix of one image and group, `K × HW`, packed sliver by sliver.
struct Im2col<'a> {
    geometry: &'a Conv2d,
    /// The group's input planes.
    x_group: &'a [f32],
    /// For kernel column `kw < CACHED_TAPS`, the output columns whose tap lands inside
    /// the input (see [`outputs_for_tap`]).
    cached_taps: [(usize, usize); CACHED_TAPS],
}

impl BSource for Im2col<'_> {
    fn pack(&self, k0: usize, depth: usize, column0: usize, width: usize, packed: &mut [f32]) {
        let w_out = self.geometry.w_out;
        let packed = &mut packed[..depth * SLIVER_COLUMNS];
        // The sliver's output positions, cut into runs that each lie in one output row.
        let mut lane = 0;
        while lane < width {
            let flat = column0 + lane;
            let (oh, ow0) = (flat / w_out, flat % w_out);
            let len = (w_out - ow0).min(width - lane);
            self.pack_run(k0, oh, ow0, lane, len, packed);
            lane += len;
        }
        if width < SLIVER_COLUMNS {
            for row in packed.chunks_exact_mut(SLIVER_COLUMNS) {
                row[width..].fill(0.0);
            }
        }
    }
}

impl Im2col<'_> {
    /// Packs lanes `lane..lane + len` of every depth row: output row `oh`, columns
    /// `ow0..ow0 + len`.
    #[inline(always)]
    fn pack_run(
        &self,
        k0: usize,
        oh: usize,
        ow0: usize,
        lane: usize,
        len: usize,
        packed: &mut [f32],
    ) {
        let p = self.geometry;
        let in_plane = p.h_in * p.w_in;
        // The depth `k0` as (input channel, kernel row, kernel column), stepped below
        // without divisions.
        let mut kw = k0 % p.k_w;
        let mut kh = (k0 / p.k_w) % p.k_h;
        let mut channel = k0 / (p.k_w * p.k_h);
        let whole_sliver = lane == 0 && len == SLIVER_COLUMNS && p.stride_w == 1;
        for row in packed.chunks_exact_mut(SLIVER_COLUMNS) {
            let dst = &mut row[lane..lane + len];
            // The input row in padded coordinates: inside when `pad_top ≤ ih < pad_top + h_in`.
            let ih = oh * p.stride_h + kh * p.dil_h;
            if ih >= p.pad_top && ih - p.pad_top < p.h_in {
                let input_row =
                    &self.x_group[channel * in_plane + (ih - p.pad_top) * p.w_in..][..p.w_in];
                let (lo, hi) = self.cached_taps.get(kw).copied().unwrap_or_else(|| {
                    outputs_for_tap(kw, p.stride_w, p.dil_w, p.pad_left, p.w_in, p.w_out)
                });
                // `max` and `min` rather than `clamp`, whose bound check stays a call at
                // "z"; the bounds are ordered, so the result is the same.
                let valid_lo = lo.max(ow0).min(ow0 + len);
                let valid_hi = hi.max(valid_lo).min(ow0 + len);
                // Only used when the valid range is not empty; then it is in the row.
                let start = (valid_lo * p.stride_w + kw * p.dil_w).saturating_sub(p.pad_left);
                if whole_sliver && valid_lo == ow0 && valid_hi == ow0 + len {
                    // The common case on wide rows: one fixed-size copy the compiler
                    // turns into a few vector moves.
                    if let (Some(out), Some(input)) = (
                        row.first_chunk_mut::<SLIVER_COLUMNS>(),
                        input_row
                            .get(start..)
                            .and_then(|s| s.first_chunk::<SLIVER_COLUMNS>()),
                    ) {
                        *out = *input;
                    }
                } else {
                    #[cfg(not(zant_size))]
                    {
                        let (before, rest) = dst.split_at_mut(valid_lo - ow0);
                        let (valid, after) = rest.split_at_mut(valid_hi - valid_lo);
                        before.fill(0.0);
                        after.fill(0.0);
                        if valid.is_empty() {
                            // Every output of the run reads this tap from the padding.
                        } else if p.stride_w == 1 {
                            valid.copy_from_slice(&input_row[start..start + valid.len()]);
                        } else {
                            copy::strided_run(valid, &input_row[start..], p.stride_w);
                        }
                    }
                    // Index loops: the splits, fills and copies stay calls at "z",
                    // several per tap on small planes.
                    #[cfg(zant_size)]
                    #[allow(clippy::needless_range_loop)]
                    {
                        let (lo, hi) = (valid_lo - ow0, valid_hi - ow0);
                        for j in 0..lo {
                            dst[j] = 0.0;
                        }
                        let mut at = start;
                        for j in lo..hi {
                            dst[j] = input_row[at];
                            at += p.stride_w;
                        }
                        for j in hi..dst.len() {
                            dst[j] = 0.0;
                        }
                    }
                }
            } else {
                dst.fill(0.0);
            }
            kw += 1;
            if kw == p.k_w {
                kw = 0;
                kh += 1;
                if kh == p.k_h {
                    kh = 0;
                    channel += 1;
                }
            }
        }
    }
}
