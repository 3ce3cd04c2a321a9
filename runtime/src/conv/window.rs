//! The direct convolution for targets without SIMD (Cortex-M) built for speed: register
//! tiles of four output channels by four output columns that load each kernel row's
//! input window once and slide over it.
//!
//! The general direct kernel ([`super::direct`]) runs the border columns of a padded
//! layer as one-column tiles restricted to their valid taps, and loads `TW` inputs per
//! tap, bounds-checked, so a 5-tap kernel row loads 20 inputs for a 4-column tile. Here
//! every column runs in full tiles: a kernel row of a tile loads its
//! `(TW − 1)·stride + k_w` inputs once into registers, and every tap reads them at
//! constant offsets. Per kernel row of a 5×5 layer: 8 input loads, 20 weight loads and 80
//! multiply-adds. A layer that reads horizontal padding has its input copied,
//! zero-padded left and right, into arena scratch first (at most 64 KiB), so every tile
//! is an interior one. Rows keep their vertical padding: a border row runs fewer kernel
//! rows, which costs nothing.
//!
//! Where the copy would be larger the general kernel runs: its border columns are few on
//! such wide rows, and its interior tiles cost about what these do on short kernel rows.
//! Measured on the Cortex-M7: tiles that load their border windows with a compare per
//! input instead of copying took mnist-8 to 1.93 M instructions against 1.72 M with the
//! copy, and fomo-96's 96-column stem (3 input channels, 3×3, stride 2) from 2.55 M to
//! 3.11 M.
//!
//! The kernel width and the horizontal stride are compile-time parameters, so the taps
//! are written out; the layers it does not cover (other widths and strides, dilated
//! rows, rows narrower than two tiles) keep the general kernel, and a covered layer links
//! only this one. Built for size (`cfg(zant_size)`) a kernel row runs one tap body in a
//! loop, loading the tile's inputs per tap, and a group's last channels take one-channel
//! tiles only: on mnist-8 that keeps the image at "z" within issue 11's 32 KiB (31.9 KiB,
//! 2.72 M instructions, where the general kernel took 4.05 M). Targets with SIMD run the
//! implicit GEMM instead and use this kernel in tests only, but the scratch is reserved
//! on every target and at every opt level ([`scratch_len`]), so that a plan does not
//! depend on how its runtime was built.
#![cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), allow(dead_code))]

use super::{tap_range, Conv2d};
use crate::unroll::unroll;
use crate::Activation;

/// Output columns per register tile.
const TW: usize = 4;
/// Output channels per register tile: 4 × 4 accumulators, a window of at most 13 inputs
/// and one weight fit the Cortex-M7's 32 single-precision registers.
const OC: usize = 4;

/// The most floats of zero-padded input taken from scratch (64 KiB).
const MAX_PADDED: usize = 16 * 1024;

/// The geometry the tiles see for `p`, when the windowed kernel covers it: kernel
/// widths 1, 3, 5 and 7, horizontal strides 1 and 2, undilated rows of at least two tiles
/// (narrower rows would overlap their tiles more than the general kernel's narrow tiles
/// cost). A layer that reads no horizontal padding is its own geometry; one that does is
/// seen on its input zero-padded left and right (the columns its outputs read, no left
/// padding left to apply), and is covered only when that copy takes at most
/// [`MAX_PADDED`] floats.
#[inline(always)]
pub(super) const fn geometry(p: &Conv2d) -> Option<Conv2d> {
    let covered = matches!(p.k_w, 1 | 3 | 5 | 7)
        && matches!(p.stride_w, 1 | 2)
        && p.dil_w == 1
        && p.w_out >= 2 * TW
        && p.h_out > 0
        && p.k_h > 0
        && p.groups > 0
        && p.c_in.is_multiple_of(p.groups)
        && p.c_out.is_multiple_of(p.groups);
    if !covered {
        return None;
    }
    let width = (p.w_out - 1) * p.stride_w + p.k_w;
    if p.pad_left == 0 && width <= p.w_in {
        return Some(*p);
    }
    let padded = Conv2d {
        w_in: width,
        pad_left: 0,
        ..*p
    };
    if input_len(&padded) > MAX_PADDED {
        None
    } else {
        Some(padded)
    }
}

/// The floats of scratch [`conv2d`] uses for `p`: its padded input, or none.
#[inline(always)]
pub const fn scratch_len(p: &Conv2d) -> usize {
    match geometry(p) {
        Some(seen) if seen.w_in != p.w_in || seen.pad_left != p.pad_left => input_len(&seen),
        _ => 0,
    }
}

/// Floats of the input of geometry `p`.
const fn input_len(p: &Conv2d) -> usize {
    p.batch * p.c_in * p.h_in * p.w_in
}

/// The convolution `p`, which [`geometry`] covers, on the windowed kernel, with `x`,
/// `w`, `bias` and `y` cut to the lengths `p` implies and `scratch` of at least
/// [`scratch_len`] floats, as generated code passes. With a shorter `scratch` the
/// general kernel runs instead; built for size, where linking that second kernel would
/// cost the flash this one saves, `y` is filled with NaN instead.
#[inline(always)]
pub(super) fn conv2d(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let Some(seen) = geometry(p) else {
        return short_scratch(p, x, w, bias, act, y);
    };
    let input = match scratch_len(p) {
        0 => x,
        len => {
            let Some(padded) = scratch.get_mut(..len) else {
                return short_scratch(p, x, w, bias, act, y);
            };
            pad_input(p, &seen, x, padded);
            padded
        }
    };
    let g = &seen;
    match (p.k_w, p.stride_w) {
        (1, 1) => k1_s1(g, input, w, bias, act, y),
        (1, _) => k1_s2(g, input, w, bias, act, y),
        (3, 1) => k3_s1(g, input, w, bias, act, y),
        (3, _) => k3_s2(g, input, w, bias, act, y),
        (5, 1) => k5_s1(g, input, w, bias, act, y),
        (5, _) => k5_s2(g, input, w, bias, act, y),
        (7, 1) => k7_s1(g, input, w, bias, act, y),
        _ => k7_s2(g, input, w, bias, act, y),
    }
}

/// What [`conv2d`] does when it cannot run (see there). Always inlined, so that a
/// constant geometry picks the general kernel's one variant.
#[cfg_attr(zant_size, allow(unused_variables))]
#[inline(always)]
fn short_scratch(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    #[cfg(not(zant_size))]
    super::direct_variant(p, x, w, bias, act, y);
    #[cfg(zant_size)]
    y.fill(f32::NAN);
}

/// Copies `x` (geometry `p`) into `out` (geometry `padded`: the same rows, `pad_left`
/// zeros on the left and zeros up to the columns the outputs read on the right).
fn pad_input(p: &Conv2d, padded: &Conv2d, x: &[f32], out: &mut [f32]) {
    let pitch = padded.w_in;
    let columns = p.w_in.min(pitch.saturating_sub(p.pad_left));
    out.fill(0.0);
    let planes = out.chunks_exact_mut((p.h_in * pitch).max(1));
    for (plane, x_plane) in planes.zip(x.chunks_exact((p.h_in * p.w_in).max(1))) {
        let rows = plane.chunks_exact_mut(pitch.max(1));
        for (row, x_row) in rows.zip(x_plane.chunks_exact(p.w_in.max(1))) {
            row[p.pad_left..p.pad_left + columns].copy_from_slice(&x_row[..columns]);
        }
    }
}

/// The kernel's variants as plain functions, compiled in `zant-runtime` (so its opt
/// level reaches them, as for [`super::direct`]'s variants); a constant geometry links
/// only the one it runs.
macro_rules! variants {
    ($($name:ident = $kw:expr, $stride:expr;)*) => {$(
        #[inline(never)]
        fn $name(
            p: &Conv2d,
            x: &[f32],
            w: &[f32],
            bias: Option<&[f32]>,
            act: Activation,
            y: &mut [f32],
        ) {
            run::<{ $kw }, { $stride }>(p, x, w, bias, act, y)
        }
    )*};
}

variants! {
    k1_s1 = 1, 1;
    k1_s2 = 1, 2;
    k3_s1 = 3, 1;
    k3_s2 = 3, 2;
    k5_s1 = 5, 1;
    k5_s2 = 5, 2;
    k7_s1 = 7, 1;
    k7_s2 = 7, 2;
}

/// Every image, group and block of output channels: blocks of [`OC`], then of two (not
/// when built for size) and one for the group's last channels.
#[inline(always)]
fn run<const KW: usize, const STRIDE: usize>(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    let in_plane = p.h_in * p.w_in;
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    for image in 0..p.batch {
        for group in 0..p.groups {
            let first_in = image * p.c_in + group * c_in_group;
            let block = Block {
                geometry: p,
                x_group: &x[first_in * in_plane..][..c_in_group * in_plane],
                w,
                bias,
                act,
                image,
            };
            let mut channel = group * c_out_group;
            let group_end = channel + c_out_group;
            while channel + OC <= group_end {
                block.run::<OC, KW, STRIDE>(channel, y);
                channel += OC;
            }
            // Built for size, single channels finish a group: one tile shape less.
            #[cfg(not(zant_size))]
            if channel + 2 <= group_end {
                block.run::<2, KW, STRIDE>(channel, y);
                channel += 2;
            }
            while channel < group_end {
                block.run::<1, KW, STRIDE>(channel, y);
                channel += 1;
            }
        }
    }
}

/// One image's group of input channels, and what every block of its output channels
/// shares.
struct Block<'a> {
    geometry: &'a Conv2d,
    /// The group's input planes (padded, when the layer reads horizontal padding).
    x_group: &'a [f32],
    w: &'a [f32],
    bias: Option<&'a [f32]>,
    act: Activation,
    image: usize,
}

impl Block<'_> {
    /// Every output row of the `N` channels from `channel0`: full tiles along the row,
    /// the last one overlapping its predecessor when the width is not a multiple of
    /// [`TW`] (stores overwrite, so recomputed columns are harmless), then the bias and
    /// the activation over the finished row.
    #[inline(always)]
    fn run<const N: usize, const KW: usize, const STRIDE: usize>(
        &self,
        channel0: usize,
        y: &mut [f32],
    ) {
        let p = self.geometry;
        let out_plane = p.h_out * p.w_out;
        let per_channel = p.c_in / p.groups * p.k_h * KW;
        let weights: [&[f32]; N] =
            core::array::from_fn(|o| &self.w[(channel0 + o) * per_channel..][..per_channel]);
        let biases: [f32; N] = core::array::from_fn(|o| self.bias.map_or(0.0, |b| b[channel0 + o]));
        let y_offset = (self.image * p.c_out + channel0) * out_plane;
        for oh in 0..p.h_out {
            let rows = tap_range(oh, p.stride_h, p.dil_h, p.k_h, p.pad_top, p.h_in);
            let mut ow = 0;
            while ow < p.w_out {
                let start = ow.min(p.w_out - TW);
                let acc = self.tile::<N, KW, STRIDE>(&weights, oh, start, rows);
                unroll!(N, |o| {
                    let at = y_offset + o * out_plane + oh * p.w_out + start;
                    let out = &mut y[at..at + TW];
                    unroll!(TW, |j| out[j] = acc[o][j] + biases[o]);
                });
                ow += TW;
            }
            for o in 0..N {
                let at = y_offset + o * out_plane + oh * p.w_out;
                self.act.apply_slice(&mut y[at..at + p.w_out]);
            }
        }
    }

    /// The `N × TW` sums (without bias) for output row `oh`, columns `ow0..ow0 + TW`,
    /// over the kernel rows `rows` (those inside the input).
    #[inline(always)]
    fn tile<const N: usize, const KW: usize, const STRIDE: usize>(
        &self,
        weights: &[&[f32]; N],
        oh: usize,
        ow0: usize,
        rows: (usize, usize),
    ) -> [[f32; TW]; N] {
        let p = self.geometry;
        let in_plane = p.h_in * p.w_in;
        let kernel_plane = p.k_h * KW;
        // The inputs one kernel row of the tile reads.
        let span = (TW - 1) * STRIDE + KW;
        let mut acc = [[0.0f32; TW]; N];
        for (channel, plane) in self.x_group.chunks_exact(in_plane).enumerate() {
            for kh in rows.0..rows.1 {
                let ih = oh * p.stride_h + kh * p.dil_h - p.pad_top;
                let window = &plane[ih * p.w_in + ow0 * STRIDE..][..span];
                let base = channel * kernel_plane + kh * KW;
                let mut taps: [&[f32]; N] = [&[]; N];
                unroll!(N, |o| taps[o] = &weights[o][base..base + KW]);
                // Built for speed, the window in registers and every tap written out.
                #[cfg(not(zant_size))]
                {
                    let mut inputs = [0.0f32; 16];
                    unroll!((TW - 1) * STRIDE + KW, |i| inputs[i] = window[i]);
                    unroll!(KW, |kw| unroll!(N, |o| {
                        let weight = taps[o][kw];
                        unroll!(TW, |j| acc[o][j] += weight * inputs[kw + j * STRIDE]);
                    }));
                }
                // Built for size, one tap body in a loop, which loads the tile's `TW`
                // inputs per tap: a fifth of the code of a 5×5 layer's kernel row.
                #[cfg(zant_size)]
                for kw in 0..KW {
                    let mut inputs = [0.0f32; TW];
                    unroll!(TW, |j| inputs[j] = window[kw + j * STRIDE]);
                    unroll!(N, |o| {
                        let weight = taps[o][kw];
                        unroll!(TW, |j| acc[o][j] += weight * inputs[j]);
                    });
                }
            }
        }
        acc
    }
}
