//! ONNX `DeformConv` (opset 19): a 2-D convolution whose taps move by learned offsets
//! (one `(dy, dx)` per tap and output position, shared by each offset group's input
//! channels), each tap a bilinear sample and optionally scaled by a mask.

use crate::tokens::tokens;

tokens! {
    rt::conv;
    /// The geometry of a [`deform_conv2d`] call.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct DeformConv {
        pub batch: usize,
        pub in_channels: usize,
        pub height: usize,
        pub width: usize,
        pub out_channels: usize,
        pub out_h: usize,
        pub out_w: usize,
        pub kernel: [usize; 2],
        pub strides: [usize; 2],
        pub dilations: [usize; 2],
        /// The top and left padding.
        pub pads: [usize; 2],
        pub groups: usize,
        pub offset_groups: usize,
    }
}

/// `DeformConv`: `y[n, o, i, j] = bias[o] + Σ w[o, c, kh, kw] · mask · X[n, c](p)` over
/// the input channels `c` of `o`'s group and the taps, where `p = (i·sh − pt + kh·dh +
/// dy, j·sw − pl + kw·dw + dx)` with `(dy, dx)` from `offset[n, g, kh, kw, :, i, j]` for
/// `c`'s offset group `g`, and `X(p)` the bilinear sample whose corners outside the
/// input count as zeros (GridSample's `zeros` padding with `align_corners`). `mask`
/// (`[n, g, kh, kw, i, j]`) is all ones when absent. Leaves `y` as it is when a buffer
/// is shorter than the geometry says.
pub fn deform_conv2d(
    p: &DeformConv,
    x: &[f32],
    w: &[f32],
    offset: &[f32],
    bias: Option<&[f32]>,
    mask: Option<&[f32]>,
    y: &mut [f32],
) {
    let [kh, kw] = p.kernel;
    let taps = kh * kw;
    let plane = p.height * p.width;
    let out_plane = p.out_h * p.out_w;
    if p.groups == 0 || p.offset_groups == 0 || out_plane == 0 || plane == 0 {
        return;
    }
    let in_per_group = p.in_channels / p.groups;
    let out_per_group = p.out_channels / p.groups;
    let in_per_offset_group = p.in_channels / p.offset_groups;
    let (x_len, y_len) = (
        p.batch * p.in_channels * plane,
        p.batch * p.out_channels * out_plane,
    );
    let offset_len = p.batch * p.offset_groups * taps * 2 * out_plane;
    let mask_len = p.batch * p.offset_groups * taps * out_plane;
    let (Some(x), Some(w), Some(offset), Some(y)) = (
        x.get(..x_len),
        w.get(..p.out_channels * in_per_group * taps),
        offset.get(..offset_len),
        y.get_mut(..y_len),
    ) else {
        return;
    };
    let mask = match mask.map(|m| m.get(..mask_len)) {
        Some(None) => return,
        Some(Some(m)) => Some(m),
        None => None,
    };
    let (h_in, w_in) = (p.height as f32, p.width as f32);
    for n in 0..p.batch {
        for o in 0..p.out_channels {
            let g = o / out_per_group.max(1);
            let b = bias.and_then(|b| b.get(o)).copied().unwrap_or(0.0);
            for at in 0..out_plane {
                let (i, j) = (at / p.out_w, at % p.out_w);
                let mut acc = b;
                for cl in 0..in_per_group {
                    let c = g * in_per_group + cl;
                    let og = c / in_per_offset_group.max(1);
                    let x_plane = &x[(n * p.in_channels + c) * plane..][..plane];
                    for t in 0..taps {
                        let (ti, tj) = (t / kw, t % kw);
                        let base = ((n * p.offset_groups + og) * taps + t) * 2;
                        let dy = offset[base * out_plane + at];
                        let dx = offset[(base + 1) * out_plane + at];
                        let sy =
                            (i * p.strides[0] + ti * p.dilations[0]) as f32 - p.pads[0] as f32 + dy;
                        let sx =
                            (j * p.strides[1] + tj * p.dilations[1]) as f32 - p.pads[1] as f32 + dx;
                        let scale = match mask {
                            Some(m) => m[((n * p.offset_groups + og) * taps + t) * out_plane + at],
                            None => 1.0,
                        };
                        let weight = w[(o * in_per_group + cl) * taps + t];
                        acc += weight * scale * sample(x_plane, p.width, (h_in, w_in), sy, sx);
                    }
                }
                y[(n * p.out_channels + o) * out_plane + at] = acc;
            }
        }
    }
}

/// The bilinear sample of an `h × w` plane at `(y, x)`, corners outside it zero.
fn sample(plane: &[f32], width: usize, (h, w): (f32, f32), y: f32, x: f32) -> f32 {
    // Past these no corner is inside (and NaN fails both tests).
    if !(y > -1.0 && y < h && x > -1.0 && x < w) {
        return 0.0;
    }
    let (y0, x0) = (libm::floorf(y), libm::floorf(x));
    let (ly, lx) = (y - y0, x - x0);
    let mut sum = 0.0;
    for (cy, wy) in [(y0, 1.0 - ly), (y0 + 1.0, ly)] {
        for (cx, wx) in [(x0, 1.0 - lx), (x0 + 1.0, lx)] {
            if cy >= 0.0 && cy < h && cx >= 0.0 && cx < w {
                sum += wy * wx * plane[cy as usize * width + cx as usize];
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(groups: usize, offset_groups: usize) -> DeformConv {
        DeformConv {
            batch: 1,
            in_channels: 2,
            height: 3,
            width: 3,
            out_channels: 2,
            out_h: 2,
            out_w: 2,
            kernel: [2, 2],
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0, 0],
            groups,
            offset_groups,
        }
    }

    /// With zero offsets it is the plain convolution; with every offset (0.5, 0.5) on a
    /// linear ramp each tap reads the ramp half a cell further on.
    #[test]
    fn zero_offsets_convolve_and_half_offsets_interpolate() {
        let x: [f32; 18] =
            core::array::from_fn(|i| (i % 9) as f32 + if i >= 9 { 10.0 } else { 0.0 });
        let w = [1.0f32; 16];
        let mut y = [f32::NAN; 8];
        let p = geometry(1, 1);
        deform_conv2d(&p, &x, &w, &[0.0; 32], Some(&[1.0, -1.0]), None, &mut y);
        // Each output: the 2 × 2 window's sum over both channels (+ 40 from the second).
        let window = |i: usize, j: usize| {
            [0, 1, 3, 4]
                .iter()
                .map(|d| (i * 3 + j + d) as f32)
                .sum::<f32>()
        };
        for (at, &got) in y.iter().enumerate() {
            let (o, i, j) = (at / 4, at / 2 % 2, at % 2);
            let want = 2.0 * window(i, j) + 40.0 + if o == 0 { 1.0 } else { -1.0 };
            assert_eq!(got, want, "{y:?}");
        }
        // Offsets of half a cell down and right, a mask of one half: the ramp
        // `3y + x` rises by 2 at each tap; a tap past the last row or column loses
        // the corners outside (zeros), so compare only output (0, 0).
        let offset = [0.5f32; 32];
        let mask = [0.5f32; 16];
        deform_conv2d(&p, &x, &w, &offset, None, Some(&mask), &mut y);
        let want = 0.5 * (2.0 * (window(0, 0) + 4.0 * 2.0) + 40.0);
        assert!((y[0] - want).abs() < 1e-5, "{} vs {want}", y[0]);
        // Offsets far outside read zeros; NaN offsets too.
        deform_conv2d(&p, &x, &w, &[100.0; 32], None, None, &mut y);
        assert_eq!(y, [0.0; 8]);
        deform_conv2d(&p, &x, &w, &[f32::NAN; 32], None, None, &mut y);
        assert_eq!(y, [0.0; 8]);
    }
}
