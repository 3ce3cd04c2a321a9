//! A depthwise convolution that overwrites its own input.
//!
//! Each output channel of a depthwise layer reads only its own input channel, so the
//! output can take the input's place as the channels are consumed. The caller holds one
//! buffer: the output's first element at its start and the input `shift` elements after
//! it, `shift` at least [`depthwise_in_place_shift`] (a caller may round it up to align
//! the output, or lengthen it). The layer runs in groups of `G = shift / out_plane`
//! channels (at least [`IN_PLACE_GROUP`]), each an ordinary depthwise call whose output
//! lands wholly before its own input group: output group `g` ends at `(g + 1) · G ·
//! out_plane ≤ shift + g · G · in_plane`, where input group `g` starts, as `out_plane ≤
//! in_plane`. So the buffer needs `shift + c · in_plane` elements where an input and a
//! separate output need `c · (in_plane + out_plane)`: for a stride-2 layer a quarter of
//! the input plus one group, for a stride-1 layer one
//! group (TinyEngine's in-place depthwise, Lin et al. 2020, reaches the same by copying
//! each channel through a buffer; here nothing is copied).

use super::Conv2d;

/// The fewest channels per call of an in-place depthwise layer: two vectors of the
/// eight-channel kernels, one of the AVX-512 ones. A longer lead runs `shift /
/// out_plane` channels a call. The same on every target, so a plan holds for any.
pub const IN_PLACE_GROUP: usize = 16;

/// Whether a depthwise layer of geometry `p` (one input and one output channel per
/// group) can overwrite its input: one image, and no output plane larger than an input
/// plane.
pub const fn depthwise_in_place_fits(p: &Conv2d) -> bool {
    p.batch == 1
        && p.groups == p.c_in
        && p.c_out == p.c_in
        && p.c_in > 0
        && p.h_out * p.w_out > 0
        && p.h_out * p.w_out <= p.h_in * p.w_in
}

/// The fewest elements by which the output may lead the input in the shared buffer: one
/// group of output planes (fewer for a layer of fewer channels).
pub const fn depthwise_in_place_shift(p: &Conv2d) -> usize {
    let group = if p.c_in < IN_PLACE_GROUP {
        p.c_in
    } else {
        IN_PLACE_GROUP
    };
    group * p.h_out * p.w_out
}

/// The elements of the shared buffer with the output `shift` elements ahead: the shift,
/// then the whole input.
pub const fn depthwise_in_place_len(p: &Conv2d, shift: usize) -> usize {
    shift + p.c_in * p.h_in * p.w_in
}

/// Runs `layer(sub, first_channel, x, y)` for each group of [`IN_PLACE_GROUP`] channels
/// of `buf` (laid out as the module says, the input `shift` elements in), `sub` being `p`
/// narrowed to the group. Does nothing when `p` does not [`depthwise_in_place_fits`],
/// `shift` is short of [`depthwise_in_place_shift`] or `buf` is short.
#[inline(always)]
pub(crate) fn by_groups<T>(
    p: &Conv2d,
    buf: &mut [T],
    shift: usize,
    mut layer: impl FnMut(&Conv2d, usize, &[T], &mut [T]),
) {
    if !depthwise_in_place_fits(p)
        || shift < depthwise_in_place_shift(p)
        || buf.len() < depthwise_in_place_len(p, shift)
    {
        return;
    }
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    // As many channels a call as the lead holds output planes: fewer calls where the
    // planner could give a longer lead.
    let group = shift / out_plane;
    let mut c0 = 0;
    while c0 < p.c_in {
        let g = group.min(p.c_in - c0);
        let sub = Conv2d {
            c_in: g,
            c_out: g,
            groups: g,
            ..*p
        };
        // Output group `c0 / G` ends at or before input group `c0 / G` begins.
        let (head, tail) = buf.split_at_mut(shift + c0 * in_plane);
        layer(
            &sub,
            c0,
            &tail[..g * in_plane],
            &mut head[c0 * out_plane..(c0 + g) * out_plane],
        );
        c0 += g;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::conv::{conv2d_depthwise, conv2d_depthwise_in_place, ConvKernel};
    use crate::qconv::{
        qconv2d_depthwise, qconv2d_depthwise_in_place, qconv2d_depthwise_scratch_len,
    };
    use crate::qlinear::Requant;
    use crate::Activation;
    use std::vec;
    use std::vec::Vec;

    /// Depthwise geometries: channels, input plane, kernel, stride, padding, dilation.
    const CASES: &[(usize, usize, usize, usize, usize, usize, usize)] = &[
        (1, 5, 7, 3, 1, 1, 1),
        (5, 9, 9, 3, 2, 1, 1),
        (16, 8, 8, 3, 1, 1, 1),
        (17, 12, 10, 3, 2, 0, 1),
        (40, 11, 13, 5, 2, 2, 1),
        (33, 14, 14, 3, 1, 2, 2),
        (24, 7, 7, 5, 1, 2, 1),
        (48, 16, 16, 3, 2, 1, 1),
        (96, 6, 20, 7, 1, 3, 1),
    ];

    fn geometry(
        &(c, h, w, k, s, pad, dil): &(usize, usize, usize, usize, usize, usize, usize),
    ) -> Conv2d {
        let out = |n: usize| (n + 2 * pad - dil * (k - 1) - 1) / s + 1;
        Conv2d {
            batch: 1,
            c_in: c,
            h_in: h,
            w_in: w,
            c_out: c,
            h_out: out(h),
            w_out: out(w),
            k_h: k,
            k_w: k,
            stride_h: s,
            stride_w: s,
            dil_h: dil,
            dil_w: dil,
            pad_top: pad,
            pad_left: pad,
            groups: c,
        }
    }

    /// A deterministic sequence of bytes (a 32-bit LCG's high bits).
    fn bytes(n: usize, seed: u32) -> impl Iterator<Item = u8> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n).map(move |_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
    }

    #[test]
    fn float_layers_match_the_out_of_place_kernel_exactly() {
        for (i, case) in CASES.iter().enumerate() {
            let p = geometry(case);
            assert!(depthwise_in_place_fits(&p), "{p:?}");
            let taps = p.k_h * p.k_w;
            let float = |b: u8| b as f32 / 64.0 - 2.0;
            let x: Vec<f32> = bytes(p.c_in * p.h_in * p.w_in, i as u32)
                .map(float)
                .collect();
            let w: Vec<f32> = bytes(p.c_in * taps, 100 + i as u32).map(float).collect();
            let bias: Vec<f32> = bytes(p.c_in, 200 + i as u32).map(float).collect();
            let mut scratch = vec![0.0; ConvKernel::Depthwise.scratch_len(&p)];
            let mut want = vec![0.0; p.c_out * p.h_out * p.w_out];
            let act = Activation::Relu;
            conv2d_depthwise(&p, &x, &w, Some(&bias), act, &mut scratch, &mut want);
            let shift = depthwise_in_place_shift(&p);
            // The least shift, and one rounded up as the planner may.
            for shift in [shift, shift + 3] {
                let mut buf = vec![f32::NAN; depthwise_in_place_len(&p, shift)];
                buf[shift..].copy_from_slice(&x);
                conv2d_depthwise_in_place(&p, &mut buf, shift, &w, Some(&bias), act, &mut scratch);
                let got = &buf[..want.len()];
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "case {i} {p:?}: in place {:?}… out of place {:?}…",
                    &got[..4.min(got.len())],
                    &want[..4.min(want.len())]
                );
            }
        }
    }

    #[test]
    fn int8_layers_match_the_out_of_place_kernel_exactly() {
        for (i, case) in CASES.iter().enumerate() {
            let p = geometry(case);
            let taps = p.k_h * p.k_w;
            let x: Vec<u8> = bytes(p.c_in * p.h_in * p.w_in, i as u32).collect();
            let w: Vec<i8> = bytes(p.c_in * taps, 100 + i as u32)
                .map(|b| b as i8 / 2)
                .collect();
            let bias: Vec<i32> = bytes(p.c_in, 200 + i as u32)
                .map(|b| b as i32 * 37 - 4000)
                .collect();
            let scale: Vec<f32> = bytes(p.c_in, 300 + i as u32)
                .map(|b| 0.001 + b as f32 * 1e-5)
                .collect();
            // Per-tensor weight zero point, per-channel scales, as QDQ exporters write.
            let (x_zero, w_zero) = (7, [0]);
            let rq = Requant {
                scale: &scale,
                zero: 3,
            };
            let mut scratch = vec![0.0; qconv2d_depthwise_scratch_len(&p, true)];
            let mut want = vec![0u8; p.c_out * p.h_out * p.w_out];
            qconv2d_depthwise(
                &p,
                &x,
                x_zero,
                &w,
                &w_zero,
                &bias,
                rq,
                &mut scratch,
                &mut want,
            );
            let shift = depthwise_in_place_shift(&p);
            let mut buf = vec![0xA5u8; depthwise_in_place_len(&p, shift)];
            buf[shift..].copy_from_slice(&x);
            qconv2d_depthwise_in_place(
                &p,
                &mut buf,
                shift,
                x_zero,
                &w,
                &w_zero,
                &bias,
                rq,
                &mut scratch,
            );
            assert_eq!(&buf[..want.len()], &want[..], "case {i} {p:?}");
            assert!(
                want.iter().any(|&v| v != want[0]),
                "case {i}: a constant output tests nothing"
            );
        }
    }

    #[test]
    fn a_layer_that_does_not_fit_writes_nothing() {
        // Padding that makes the output plane larger than the input's.
        let p = geometry(&(4, 3, 3, 1, 1, 1, 1));
        assert!(!depthwise_in_place_fits(&p));
        let mut buf = vec![1.0f32; 4 * 25 + 64];
        let w = [0.5f32; 4];
        conv2d_depthwise_in_place(&p, &mut buf, 100, &w, None, Activation::None, &mut []);
        assert!(buf.iter().all(|&v| v == 1.0));
        // A buffer one element short, and a shift one element short.
        let p = geometry(&(4, 6, 6, 3, 1, 1, 1));
        let shift = depthwise_in_place_shift(&p);
        let w = [0.5f32; 36];
        let mut scratch = [0.0; 4096];
        for (shift, len) in [
            (shift, depthwise_in_place_len(&p, shift) - 1),
            (shift - 1, depthwise_in_place_len(&p, shift)),
        ] {
            let mut buf = vec![1.0f32; len];
            conv2d_depthwise_in_place(
                &p,
                &mut buf,
                shift,
                &w,
                None,
                Activation::None,
                &mut scratch,
            );
            assert!(buf.iter().all(|&v| v == 1.0));
        }
    }
}
