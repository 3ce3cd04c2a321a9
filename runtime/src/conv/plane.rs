//! Depthwise 3×3 convolution on small planes, each plane flattened into one vector loop.
//!
//! The row kernels of `depthwise_3x3` run eight outputs per vector step along a row, so a
//! plane of 14 columns gets one vector and six scalar outputs per row, and one of 7
//! columns none: MobileNet's late layers, with hundreds of such channels, ran at a fifth
//! of the speed of its wide ones. Here each channel's plane is copied, zero-padded, into
//! scratch with a row pitch `W`, so that every tap `(r, c)` of output `(oh, ow)` is the
//! same flat offset from `oh · W + ow`: the whole plane is then one loop of nine fused
//! multiply-adds per eight outputs, over `(h_out − 1) · W + w_out` flat positions, of which
//! the `W − w_out` per row that fall in the padding are computed and dropped.
//!
//! * Stride 1: the padded plane itself, pitch `W = w_out + 2`; tap `(r, c)` is at offset
//!   `r · W + c`.
//! * Stride 2: the padded plane split into its four phases (even and odd rows × even and
//!   odd columns), each with pitch `W = w_out + 1`; tap `(r, c)` reads phase
//!   `(r mod 2, c mod 2)` at offset `⌊r/2⌋ · W + ⌊c/2⌋`, so the loop stays unit-stride.
//!
//! The outputs land in scratch at pitch `W` and are copied to `y` row by row, with the
//! bias already in and the activation applied there.
//!
//! It runs on SIMD targets only, as a fallback of the channel-vector kernel; without
//! SIMD, `rows.rs` takes every 3×3, and only the sizes here are compiled (the scratch
//! reserved is the same on every target).

use super::Conv2d;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use {crate::copy, crate::Activation};

/// The widest output plane this kernel takes: from 32 columns on, the row kernels run
/// four or more full vectors per row and the copy here would not pay.
const MAX_COLUMNS: usize = 32;

/// The most scratch (floats) it takes, which also bounds the stack buffer of the
/// scratch-free `conv2d` entry point (32 KiB).
pub(super) const MAX_SCRATCH: usize = 8192;

/// The flat outputs are computed in whole vectors of this many lanes, past the last real
/// output when need be, so no scalar tail runs; the planes get as many floats of slack.
const LANES: usize = 8;

/// Floats of padded plane (or of the four phase planes, plus slack) and of flat outputs
/// (rounded up to whole vectors).
const fn sizes(p: &Conv2d) -> (usize, usize) {
    if p.h_out == 0 || p.w_out == 0 {
        return (0, 0);
    }
    let (planes, pitch) = if p.stride_h == 1 {
        let pitch = p.w_out + 2;
        ((p.h_out + 2) * pitch, pitch)
    } else {
        let pitch = p.w_out + 1;
        (4 * (p.h_out + 1) * pitch, pitch)
    };
    let flat = ((p.h_out - 1) * pitch + p.w_out).div_ceil(LANES) * LANES;
    (planes + LANES, flat)
}

/// Whether a depthwise 3×3 with dilation 1 of geometry `p` runs here.
pub(super) const fn fits(p: &Conv2d) -> bool {
    let (planes, outputs) = sizes(p);
    p.stride_h == p.stride_w
        && (p.stride_h == 1 || p.stride_h == 2)
        && p.w_out <= MAX_COLUMNS
        && p.h_out > 0
        && p.w_out > 0
        && planes + outputs <= MAX_SCRATCH
}

/// The scratch (floats) [`depthwise_3x3`] needs for `p`; 0 when it does not run here.
pub(super) const fn scratch_len(p: &Conv2d) -> usize {
    if fits(p) {
        let (planes, outputs) = sizes(p);
        planes + outputs
    } else {
        0
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// The convolution, for a geometry that [`fits`]; `x`, `w`, `bias` and `y` cut to it.
pub(super) fn depthwise_3x3(
    p: &Conv2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (planes_len, flat_len) = sizes(p);
    if scratch.len() < planes_len + flat_len || !fits(p) {
        // Generated code sizes the scratch from `scratch_len`; a hand-written caller that
        // does not gets the row kernels instead of a panic.
        super::depthwise_3x3(p, x, w, bias, act, y);
        return;
    }
    let (planes, rest) = scratch.split_at_mut(planes_len);
    let flat = &mut rest[..flat_len];
    // The slack is read by the last vector's garbage lanes only; keep it finite.
    planes[planes_len - LANES..].fill(0.0);
    let stride_1 = p.stride_h == 1;
    let pitch = if stride_1 { p.w_out + 2 } else { p.w_out + 1 };
    // Where each tap reads in `planes`: a plane's start plus the tap's offset.
    let offsets: [usize; 9] = core::array::from_fn(|t| {
        let (r, c) = (t / 3, t % 3);
        if stride_1 {
            r * pitch + c
        } else {
            let phase = (r % 2) * 2 + c % 2;
            phase * (p.h_out + 1) * pitch + (r / 2) * pitch + c / 2
        }
    });
    // The planes proper, without the slack that the last vector may read into.
    let image_len = planes_len - LANES;
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    for (plane_idx, y_plane) in y.chunks_exact_mut(out_plane).enumerate() {
        let channel = plane_idx % p.c_in;
        let x_plane = &x[plane_idx * in_plane..][..in_plane];
        let kernel: &[f32; 9] = w[channel * 9..channel * 9 + 9]
            .try_into()
            .unwrap_or(&[0.0; 9]);
        let bias = bias.map_or(0.0, |b| b[channel]);
        if stride_1 {
            fill_padded(p, x_plane, pitch, &mut planes[..image_len]);
        } else {
            fill_phases(p, x_plane, pitch, &mut planes[..image_len]);
        }
        let taps: [&[f32]; 9] = core::array::from_fn(|t| &planes[offsets[t]..][..flat_len]);
        super::depthwise_3x3_taps(&taps, kernel, bias, flat);
        #[cfg(not(zant_size))]
        for (oh, y_row) in y_plane.chunks_exact_mut(p.w_out).enumerate() {
            y_row.copy_from_slice(&flat[oh * pitch..][..p.w_out]);
        }
        // Index loops: `enumerate`, range indices and `copy_from_slice` stay calls
        // per row at opt-level "z".
        #[cfg(zant_size)]
        for oh in 0..p.h_out {
            if let (Some(y_row), Some(row)) = (
                y_plane.get_mut(oh * p.w_out..(oh + 1) * p.w_out),
                flat.get(oh * pitch..oh * pitch + p.w_out),
            ) {
                copy::copy(y_row, row);
            }
        }
        act.apply_slice(y_plane);
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// The plane padded to `(h_out + 2) × pitch`: input row `i` at row `i + pad_top`, column
/// `pad_left`, zeros elsewhere. Input beyond the padded plane (a bottom or right pad
/// smaller than the top or left one) is never read by an output and is left out.
fn fill_padded(p: &Conv2d, x_plane: &[f32], pitch: usize, plane: &mut [f32]) {
    plane.fill(0.0);
    let columns = p.w_in.min(pitch.saturating_sub(p.pad_left));
    #[cfg(not(zant_size))]
    for (i, row) in x_plane.chunks_exact(p.w_in).enumerate() {
        let Some(dst) = plane.get_mut((i + p.pad_top) * pitch + p.pad_left..) else {
            break;
        };
        if let (Some(dst), Some(src)) = (dst.get_mut(..columns), row.get(..columns)) {
            dst.copy_from_slice(src);
        }
    }
    // Index loops, as in `depthwise_3x3`.
    #[cfg(zant_size)]
    for i in 0..x_plane.len() / p.w_in.max(1) {
        let start = (i + p.pad_top) * pitch + p.pad_left;
        if start > plane.len() {
            break;
        }
        if let (Some(dst), Some(src)) = (
            plane.get_mut(start..start + columns),
            x_plane.get(i * p.w_in..i * p.w_in + columns),
        ) {
            copy::copy(dst, src);
        }
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
/// The four phases of the padded plane, each `(h_out + 1) × pitch`: phase `(a, b)` holds
/// padded rows `2i + a` and columns `2j + b` at `(i, j)`.
fn fill_phases(p: &Conv2d, x_plane: &[f32], pitch: usize, planes: &mut [f32]) {
    planes.fill(0.0);
    let rows = p.h_out + 1;
    let phase_len = rows * pitch;
    for (i, row) in x_plane.chunks_exact(p.w_in).enumerate() {
        let padded_row = i + p.pad_top;
        let (a, pi) = (padded_row % 2, padded_row / 2);
        if pi >= rows {
            break;
        }
        for b in 0..2 {
            // The first input column whose padded column has parity `b`.
            let first = (b + 2 - p.pad_left % 2) % 2;
            let j0 = (first + p.pad_left) / 2;
            let start = (a * 2 + b) * phase_len + pi * pitch + j0;
            let Some(dst) = planes.get_mut(start..(a * 2 + b) * phase_len + (pi + 1) * pitch)
            else {
                continue;
            };
            // Every other input from `first`.
            copy::gather_strided(dst, row.get(first..).unwrap_or(&[]), 2);
        }
    }
}
