//! Depthwise 3×3 convolution without SIMD (Cortex-M): each output row straight from
//! three input rows, the nine weights and a sliding window in registers.
//!
//! A stride-1 output loads three new inputs (one a row) and a stride-2 output six, for
//! nine multiply-adds in one chain from the bias, the activation, and one store. Nothing
//! is copied: a padding row above or below the input is a row of zeros in scratch, and
//! the padding left and right of a row is read as zero by the first and last outputs,
//! which run outside the loop. The loop covers the outputs whose new inputs all lie in the
//! row. A left padding too wide for that (more than two columns at stride 1, one at
//! stride 2) or a stride of 3 or more takes a general loop that checks every tap; it
//! takes every 3×3, so a firmware links no other depthwise 3×3 kernel.
//!
//! The per-channel plane and row kernels that SIMD targets fall back to had cost
//! fomo-96's depthwise layers on the Cortex-M7 6.5 to 14.6 instructions a multiply-add
//! (border points through the general tile, a four-phase copy of each plane, eight-lane
//! loops run as scalars); a first version of this kernel, which copied each padded row
//! into a ring in scratch, spent a fifth of its instructions in `memcpy`.
//!
//! The loops are index loops over slices cut to their trip count, the taps unrolled and
//! the activation a constant parameter: written with iterators and closures, the kernel
//! ran 325 instructions an output at opt-level "z", where those stay calls.

use super::Conv2d;
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
use crate::{activation::Fixed, unroll::unroll, Activation};

/// The floats of scratch (one row of zeros, for the padding rows) for a 3×3 of geometry
/// `p`. [`super::ConvKernel::scratch_len`] reserves it on every target, as it reserves
/// the SIMD kernels' scratch on Cortex-M.
pub(super) const fn scratch_len(p: &Conv2d) -> usize {
    p.w_in
}

#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
/// The convolution, for any 3×3 with dilation 1; `x`, `w`, `bias` and `y` cut to it.
/// Scratch shorter than [`scratch_len`] (never at a generated call site) gets padding
/// rows as empty slices, which read as zeros too, only through the slower edge path.
pub(super) fn depthwise_3x3(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    // One kernel per activation and row loop, so that no loop branches on either: the
    // sliding loops where a loop output's new inputs cannot fall in the left padding,
    // the general one (every tap checked, the activation applied to the whole output
    // after it) elsewhere.
    let (kind, bounds) = act.fixed();
    let zeros: &[f32] = match scratch.get_mut(..p.w_in) {
        Some(zeros) => {
            zeros.fill(0.0);
            zeros
        }
        None => &[],
    };
    let operands = (x, w, bias, bounds);
    // The sliding loops need the zero row as long as the input rows.
    let stride = if zeros.len() == p.w_in {
        p.stride_w
    } else {
        GENERAL
    };
    match (stride, p.pad_left, kind) {
        (1, 0..=2, Fixed::RELU) => planes::<{ Fixed::RELU }, 1>(p, operands, zeros, y),
        (1, 0..=2, Fixed::CLIP) => planes::<{ Fixed::CLIP }, 1>(p, operands, zeros, y),
        (2, 0..=1, Fixed::RELU) => planes::<{ Fixed::RELU }, 2>(p, operands, zeros, y),
        (2, 0..=1, Fixed::CLIP) => planes::<{ Fixed::CLIP }, 2>(p, operands, zeros, y),
        (2, 0..=1, Fixed::IDENTITY) => planes::<{ Fixed::IDENTITY }, 2>(p, operands, zeros, y),
        (1, 0..=2, Fixed::IDENTITY) => planes::<{ Fixed::IDENTITY }, 1>(p, operands, zeros, y),
        (1, 0..=2, _) => {
            planes::<{ Fixed::IDENTITY }, 1>(p, operands, zeros, y);
            act.apply_slice(y);
        }
        (2, 0..=1, _) => {
            planes::<{ Fixed::IDENTITY }, 2>(p, operands, zeros, y);
            act.apply_slice(y);
        }
        _ => {
            planes::<{ Fixed::IDENTITY }, GENERAL>(p, operands, zeros, y);
            act.apply_slice(y);
        }
    }
}

/// The `STRIDE` of [`planes`] that runs [`Inputs::row_general`].
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
const GENERAL: usize = 0;

/// `x`, `w`, `bias` and the activation's bounds.
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
type Operands<'a> = (&'a [f32], &'a [f32], Option<&'a [f32]>, (f32, f32));

/// [`depthwise_3x3`] with activation `ACT` (see [`Fixed`]) and row loop `STRIDE` (1, 2
/// or [`GENERAL`]); `zeros` stands for the padding rows.
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
fn planes<const ACT: u8, const STRIDE: usize>(
    p: &Conv2d,
    (x, w, bias, bounds): Operands<'_>,
    zeros: &[f32],
    y: &mut [f32],
) {
    let in_plane = p.h_in * p.w_in;
    let out_plane = p.h_out * p.w_out;
    // Every row of the sliding loops `w_in` long, and LLVM told so: their bounds then
    // fold to one length (an unknown zero-row length cost 20 instructions an output on
    // fomo-96's 12-wide rows).
    let zeros = if STRIDE == GENERAL {
        zeros
    } else {
        &zeros[..p.w_in]
    };
    for (plane_idx, y_plane) in y.chunks_exact_mut(out_plane).enumerate() {
        let channel = plane_idx % p.c_in;
        let x_plane = &x[plane_idx * in_plane..][..in_plane];
        let kernel: [f32; 9] = crate::unroll::array(&w[channel * 9..]);
        let bias = bias.map_or(0.0, |b| b[channel]);
        for (oh, y_row) in y_plane.chunks_exact_mut(p.w_out).enumerate() {
            // Input row `oh · stride_h + r − pad_top`, or zeros where that is padding.
            let mut rows: [&[f32]; 3] = [zeros; 3];
            unroll!(3, |r| {
                if let Some(row) = (oh * p.stride_h + r).checked_sub(p.pad_top) {
                    if row < p.h_in {
                        rows[r] = &x_plane[row * p.w_in..][..p.w_in];
                    }
                }
            });
            let inputs = Inputs {
                rows,
                pad_left: p.pad_left,
                kernel,
                bias,
                bounds,
            };
            match STRIDE {
                1 => inputs.row_stride_1::<ACT>(y_row),
                2 => inputs.row_stride_2::<ACT>(y_row),
                _ => inputs.row_general::<ACT>(p.stride_w, y_row),
            }
        }
    }
}

/// What one output row reads: three input rows (`pad_left` padding columns on their
/// left, zeros past their end; a padding row is all zeros, or empty for the general
/// loop only, and the sliding loops take rows of one length), the kernel, the bias and the
/// activation's bounds.
#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
struct Inputs<'a> {
    rows: [&'a [f32]; 3],
    pad_left: usize,
    kernel: [f32; 9],
    bias: f32,
    bounds: (f32, f32),
}

#[cfg(any(test, not(any(target_arch = "x86_64", target_arch = "aarch64"))))]
impl Inputs<'_> {
    /// Padded column `column` of row `r`.
    #[inline(always)]
    fn padded(&self, r: usize, column: usize) -> f32 {
        match column.checked_sub(self.pad_left) {
            Some(c) if c < self.rows[r].len() => self.rows[r][c],
            _ => 0.0,
        }
    }

    /// The output of the nine `taps` (row by row): `bias + Σ kernel[t] · taps[t]` as one
    /// chain of multiply-adds from the bias (nine `vmla` on the Cortex-M7, where a sum
    /// per kernel row took three multiplies and three adds more), then activation `ACT`.
    #[inline(always)]
    fn output<const ACT: u8>(&self, taps: [f32; 9]) -> f32 {
        let mut sum = self.bias;
        unroll!(9, |t| sum += self.kernel[t] * taps[t]);
        Fixed::apply::<ACT>(sum, self.bounds)
    }

    /// One stride-1 output row: output `j` reads padded columns `j..j + 3`.
    #[inline(always)]
    fn row_stride_1<const ACT: u8>(&self, y: &mut [f32]) {
        // The window's first two columns; each output adds the third, padded column
        // `j + 2` (input column `j + 2 − pad_left`): in the row for the leading outputs,
        // past its end for the last one or two.
        let [mut t0, mut t1] = [self.padded(0, 0), self.padded(0, 1)];
        let [mut m0, mut m1] = [self.padded(1, 0), self.padded(1, 1)];
        let [mut b0, mut b1] = [self.padded(2, 0), self.padded(2, 1)];
        let first = 2 - self.pad_left;
        let len = self.rows[0].len();
        let inside = y.len().min(len.saturating_sub(first));
        let [top, middle, bottom] = self.rows.map(|row| &row[first.min(len)..][..inside]);
        let (y_inside, y_rest) = y.split_at_mut(inside);
        for j in 0..inside {
            let (t2, m2, b2) = (top[j], middle[j], bottom[j]);
            y_inside[j] = self.output::<ACT>([t0, t1, t2, m0, m1, m2, b0, b1, b2]);
            (t0, t1, m0, m1, b0, b1) = (t1, t2, m1, m2, b1, b2);
        }
        for (j, out) in y_rest.iter_mut().enumerate() {
            let column = inside + j + 2;
            let (t2, m2, b2) = (
                self.padded(0, column),
                self.padded(1, column),
                self.padded(2, column),
            );
            *out = self.output::<ACT>([t0, t1, t2, m0, m1, m2, b0, b1, b2]);
            (t0, t1, m0, m1, b0, b1) = (t1, t2, m1, m2, b1, b2);
        }
    }

    /// One stride-2 output row: output `j` reads padded columns `2j..2j + 3`.
    #[inline(always)]
    fn row_stride_2<const ACT: u8>(&self, y: &mut [f32]) {
        // Column `2j` is the previous output's last; each output adds padded columns
        // `2j + 1` and `2j + 2` (input `2j + 1 − pad_left` on): whole pairs in the row for
        // the leading outputs.
        let (mut t0, mut m0, mut b0) = (self.padded(0, 0), self.padded(1, 0), self.padded(2, 0));
        let first = 1 - self.pad_left;
        let len = self.rows[0].len();
        let inside = y.len().min(len.saturating_sub(first) / 2);
        // As arrays of pairs, so one index walks all three rows.
        let [top, middle, bottom] = self
            .rows
            .map(|row| &row[first.min(len)..][..2 * inside].as_chunks::<2>().0[..inside]);
        let (y_inside, y_rest) = y.split_at_mut(inside);
        for j in 0..inside {
            let ([t1, t2], [m1, m2], [b1, b2]) = (top[j], middle[j], bottom[j]);
            y_inside[j] = self.output::<ACT>([t0, t1, t2, m0, m1, m2, b0, b1, b2]);
            (t0, m0, b0) = (t2, m2, b2);
        }
        for (j, out) in y_rest.iter_mut().enumerate() {
            let column = 2 * (inside + j);
            let [t1, t2] = [self.padded(0, column + 1), self.padded(0, column + 2)];
            let [m1, m2] = [self.padded(1, column + 1), self.padded(1, column + 2)];
            let [b1, b2] = [self.padded(2, column + 1), self.padded(2, column + 2)];
            *out = self.output::<ACT>([t0, t1, t2, m0, m1, m2, b0, b1, b2]);
            (t0, m0, b0) = (t2, m2, b2);
        }
    }

    /// One output row at any stride and padding, every tap through [`Self::padded`]:
    /// output `j` reads padded columns `stride · j..stride · j + 3`.
    #[inline(always)]
    fn row_general<const ACT: u8>(&self, stride: usize, y: &mut [f32]) {
        for (j, out) in y.iter_mut().enumerate() {
            let mut taps = [0.0; 9];
            unroll!(9, |t| taps[t] = self.padded(t / 3, stride * j + t % 3));
            *out = self.output::<ACT>(taps);
        }
    }
}
