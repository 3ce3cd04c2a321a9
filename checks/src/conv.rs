//! Float convolution: every entry point the compiler emits a call to (`conv2d`, the
//! direct kernel, and per geometry the pointwise, depthwise and implicit-GEMM kernels,
//! with rows or blocked weights, and on vector targets Winograd's kernel), with the
//! scratch the compiler plans for any target and for this target's kernels alone,
//! against a naive reference in `f64`.

use zant_runtime::conv::{
    self, gemm_blocks_pay, gemm_blocks_pay_for, kernel_for, pointwise_block, pointwise_blocks,
    Conv2d, ConvKernel,
};
use zant_runtime::target::{KernelSet, Kernels};

use crate::geometry::{padded, smaller, Pads};
use crate::{act, compare, Buffers, Family, Mismatch, Rng, BUFFER_LEN};

/// Clip's bounds when a case draws it.
const CLIP: (f32, f32) = (-0.25, 0.5);

/// A convolution's geometry, its activation (0 none, 1 Relu, 2 Clip, 3 Sigmoid, 4 SiLU),
/// whether it has a bias, and the seed of its data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub p: Conv2d,
    pub act: u8,
    pub bias: bool,
    pub seed: u64,
}

pub struct Conv;

/// `p` with its outputs recomputed for the pads `(top, bottom, left, right)`, if it is a
/// geometry whose buffers fit.
fn fitted(p: Conv2d, pads: Pads) -> Option<Conv2d> {
    let p = padded(p, pads)?;
    let fits = p.batch * p.c_in * p.h_in * p.w_in <= BUFFER_LEN
        && p.c_out * (p.c_in / p.groups) * p.k_h * p.k_w <= BUFFER_LEN
        && p.batch * p.c_out * p.h_out * p.w_out <= BUFFER_LEN
        && ConvKernel::scratch_len(kernel_for(&p), &p) <= BUFFER_LEN;
    fits.then_some(p)
}

/// One image of `c_in` channels of `(h_in, w_in)` through a square kernel `(k, stride)`
/// at dilation 1, without pads and outputs yet (`fitted` sets them).
fn square(
    c_in: usize,
    (h_in, w_in): (usize, usize),
    c_out: usize,
    (k, stride): (usize, usize),
    groups: usize,
) -> Conv2d {
    Conv2d {
        batch: 1,
        c_in,
        h_in,
        w_in,
        c_out,
        h_out: 0,
        w_out: 0,
        k_h: k,
        k_w: k,
        stride_h: stride,
        stride_w: stride,
        dil_h: 1,
        dil_w: 1,
        pad_top: 0,
        pad_left: 0,
        groups,
    }
}

/// A case of geometry `p` with a drawn activation, bias and data.
fn with_data(rng: &mut Rng, p: Conv2d) -> Case {
    Case {
        p,
        act: rng.range(0, 4) as u8,
        bias: !rng.one_in(4),
        seed: rng.next_u64(),
    }
}

impl Family for Conv {
    type Case = Case;
    const NAME: &'static str = "conv f32";
    const FIXTURES: &'static [Case] = &[
        // A 1 × 1 layer with a left pad on rows of 33: the row-by-row frame took the
        // sliver reaching into the next row for a whole one, so one wide tile stored the
        // same outputs twice and ran SiLU twice on them (AVX-512; fixed in
        // `Frame::whole`, runtime/src/gemm/packed.rs).
        Case {
            p: Conv2d {
                batch: 1,
                c_in: 1,
                h_in: 2,
                w_in: 32,
                c_out: 6,
                h_out: 2,
                w_out: 33,
                k_h: 1,
                k_w: 1,
                stride_h: 1,
                stride_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad_top: 0,
                pad_left: 1,
                groups: 1,
            },
            act: 4,
            bias: true,
            seed: 6361195713972573531,
        },
    ];

    fn draw(rng: &mut Rng) -> Case {
        loop {
            // One in five has many channels over a deep window, the shape of a CNN's
            // middle layers (depth 32 and more, 16 to 64 output channels, 1 × 1 or 3 × 3):
            // the AVX-512 narrow tiles (`gemm_packed_narrow`, its runs of three taps,
            // stride-2 frames left unsplit, the pointwise layers' strided rows) and the
            // 6 × 32 slivers take them. Half of the channel counts are those of CNNs,
            // which the tiles are cut for.
            if rng.one_in(5) {
                const WIDTHS: [usize; 5] = [16, 24, 32, 48, 64];
                let width = |rng: &mut Rng, lo: usize| {
                    if rng.one_in(2) {
                        WIDTHS[rng.range(0, WIDTHS.len() - 1)]
                    } else {
                        rng.range(lo, 64)
                    }
                };
                let k = if rng.one_in(3) { 1 } else { 3 };
                let stride = if rng.one_in(3) { 2 } else { 1 };
                let c_in = width(rng, 4);
                let size = (rng.range(1, 16), rng.range(1, 24));
                let p = square(c_in, size, width(rng, 17), (k, stride), 1);
                let pad = k / 2 * usize::from(!rng.one_in(4));
                if let Some(p) = fitted(p, (pad, pad, pad, pad)) {
                    return with_data(rng, p);
                }
                continue;
            }
            // One in eight is a 3 × 3 depthwise layer of up to 40 channels, half of them
            // on rows wide enough for the AVX-512 row kernel (`conv/width.rs`: 28 outputs
            // and more, 14 at stride 2; rows of several vectors, so that its first, middle
            // and last vectors all run), half on the short rows that the channel-vector
            // kernel takes whole (`conv/channels.rs`, `narrow_rows`: 3, 5, 6, 7, 12, 14).
            if rng.one_in(8) {
                let c = rng.range(1, 40);
                let stride = rng.range(1, 2);
                let w_in = if rng.one_in(2) {
                    rng.range(14 * stride, 90)
                } else {
                    const SHORT: [usize; 6] = [3, 5, 6, 7, 12, 14];
                    let w_out = SHORT[rng.range(0, SHORT.len() - 1)];
                    stride * w_out - rng.range(0, stride - 1)
                };
                let p = square(c, (rng.range(1, 14), w_in), c, (3, stride), c);
                // Mostly SAME padding, which keeps the short rows' widths.
                let pad = |rng: &mut Rng| usize::from(!rng.one_in(4));
                let pads = (pad(rng), pad(rng), pad(rng), pad(rng));
                if let Some(p) = fitted(p, pads) {
                    return with_data(rng, p);
                }
                continue;
            }
            // Depthwise, pointwise and grouped layers are drawn often enough to reach
            // their kernels; the rest are plain layers with any window.
            let shape = rng.range(0, 3);
            let groups = match shape {
                0 => rng.range(1, 12),
                1 => rng.range(2, 4),
                _ => 1,
            };
            let c_in = if shape == 0 {
                groups
            } else {
                groups * rng.range(1, 12)
            };
            let c_out = if shape == 0 && !rng.one_in(4) {
                c_in
            } else {
                groups * rng.range(1, 40)
            };
            let (k_h, k_w) = if shape == 2 {
                (1, 1)
            } else {
                let k = rng.range(1, 7);
                (k, if rng.one_in(4) { rng.range(1, 7) } else { k })
            };
            let stride = rng.range(1, 3);
            let dil = if rng.one_in(4) { 2 } else { 1 };
            let p = Conv2d {
                batch: if rng.one_in(6) { 2 } else { 1 },
                c_in,
                h_in: rng.range(1, 20),
                w_in: rng.range(1, 40),
                c_out,
                h_out: 0,
                w_out: 0,
                k_h,
                k_w,
                stride_h: stride,
                stride_w: if rng.one_in(4) {
                    rng.range(1, 3)
                } else {
                    stride
                },
                dil_h: dil,
                dil_w: dil,
                pad_top: 0,
                pad_left: 0,
                groups,
            };
            let pad = |rng: &mut Rng, k: usize| {
                if rng.one_in(3) {
                    0
                } else {
                    rng.range(0, k / 2 + 1)
                }
            };
            let pads = (pad(rng, k_h), pad(rng, k_h), pad(rng, k_w), pad(rng, k_w));
            if let Some(p) = fitted(p, pads) {
                return with_data(rng, p);
            }
        }
    }

    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let mut n = 0;
        for (q, pads) in smaller(&case.p) {
            if let Some(q) = fitted(q, pads) {
                if n < out.len() && q != case.p {
                    out[n] = Case { p: q, ..*case };
                    n += 1;
                }
            }
        }
        n
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        let p = &case.p;
        let depth = p.c_in / p.groups * p.k_h * p.k_w;
        let (n_x, n_w, n_y) = (
            p.batch * p.c_in * p.h_in * p.w_in,
            p.c_out * depth,
            p.batch * p.c_out * p.h_out * p.w_out,
        );
        let mut rng = Rng::new(case.seed);
        rng.fill(&mut bufs.x[..n_x]);
        rng.fill(&mut bufs.w[..n_w]);
        rng.fill(&mut bufs.bias[..p.c_out]);
        reference(case, bufs);
        let act = act::activation(case.act, CLIP);
        let tolerance = 1e-5 * depth as f32 + 1e-6;
        let Buffers {
            x,
            w,
            w2,
            bias,
            want,
            got,
            scratch,
            ..
        } = bufs;
        let (x, w, bias) = (&x[..n_x], &w[..n_w], case.bias.then_some(&bias[..p.c_out]));
        let (want, got) = (&want[..n_y], &mut got[..n_y]);
        let check = |path, got: &mut [f32], run: &mut dyn FnMut(&mut [f32])| {
            compare(path, got, want, tolerance, run)
        };
        check("conv2d", got, &mut |y| conv::conv2d(p, x, w, bias, act, y))?;
        check("conv2d_direct", got, &mut |y| {
            conv::conv2d_direct(p, x, w, bias, act, y)
        })?;
        let kernel = kernel_for(p);
        let native = KernelSet::only(Kernels::NATIVE);
        for any in [true, false] {
            let len = if any {
                kernel.scratch_len(p)
            } else {
                kernel.scratch_len_for(p, native)
            };
            let s = &mut scratch[..len];
            match (kernel, any) {
                (ConvKernel::Pointwise, true) => {
                    check("conv2d_pointwise, any target's scratch", got, &mut |y| {
                        conv::conv2d_pointwise(p, x, w, bias, act, s, y)
                    })
                }
                (ConvKernel::Pointwise, false) => {
                    check("conv2d_pointwise, this target's scratch", got, &mut |y| {
                        conv::conv2d_pointwise(p, x, w, bias, act, s, y)
                    })
                }
                (ConvKernel::Depthwise, true) => {
                    check("conv2d_depthwise, any target's scratch", got, &mut |y| {
                        conv::conv2d_depthwise(p, x, w, bias, act, s, y)
                    })
                }
                (ConvKernel::Depthwise, false) => {
                    check("conv2d_depthwise, this target's scratch", got, &mut |y| {
                        conv::conv2d_depthwise(p, x, w, bias, act, s, y)
                    })
                }
                (ConvKernel::Gemm, true) => {
                    check("conv2d_gemm, any target's scratch", got, &mut |y| {
                        conv::conv2d_gemm(p, x, w, bias, act, s, y)
                    })
                }
                (ConvKernel::Gemm, false) => {
                    check("conv2d_gemm, this target's scratch", got, &mut |y| {
                        conv::conv2d_gemm(p, x, w, bias, act, s, y)
                    })
                }
                (ConvKernel::Direct, _) => Ok(()),
            }?;
        }
        // Scratch shorter than the plan's for a small layer, as a large layer gets it: a
        // convolution whose input is too large to frame packs (conv/implicit.rs) or
        // gathers a strided 1 × 1; a depthwise layer one float short of its channel bands
        // takes the plane kernel, and with none the row kernels.
        let unframed = ConvKernel::unframed_scratch_len(p);
        if kernel == ConvKernel::Gemm {
            let s = &mut scratch[..unframed];
            check("conv2d_gemm, unframed scratch", got, &mut |y| {
                conv::conv2d_gemm(p, x, w, bias, act, s, y)
            })?;
        }
        if kernel == ConvKernel::Depthwise {
            let short = kernel.scratch_len(p).saturating_sub(1);
            let s = &mut scratch[..short];
            check("conv2d_depthwise, a float short", got, &mut |y| {
                conv::conv2d_depthwise(p, x, w, bias, act, s, y)
            })?;
            check("conv2d_depthwise, no scratch", got, &mut |y| {
                conv::conv2d_depthwise(p, x, w, bias, act, &mut [], y)
            })?;
            // Overwriting its input, the output leading by the least shift the kernel
            // takes and by one the planner's alignment may round it up to.
            let least = conv::depthwise_in_place_shift(p);
            for shift in [least, least + 3] {
                let len = conv::depthwise_in_place_len(p, shift);
                if !conv::depthwise_in_place_fits(p) || len > w2.len() {
                    continue;
                }
                let s = &mut scratch[..kernel.scratch_len(p)];
                let buf = &mut w2[..len];
                check("conv2d_depthwise_in_place", got, &mut |y| {
                    buf[shift..].copy_from_slice(x);
                    conv::conv2d_depthwise_in_place(p, buf, shift, w, bias, act, s);
                    y.copy_from_slice(&buf[..y.len()]);
                })?;
            }
        }
        // Winograd's transformed weights, which the compiler gives fitting layers of a
        // crate for vector targets only (`winograd_pays_for`; here any fitting layer),
        // with the planned scratch or as much of it as the buffers hold (at least the
        // least, one tile row at a time: fewer rows per group).
        if conv::winograd_fits(p) && matches!(Kernels::NATIVE, Kernels::Vector) {
            let len = conv::winograd_weights_len(p.c_out, p.c_in);
            let least = conv::winograd_min_scratch_len(p);
            let s_len = conv::winograd_scratch_len(p).min(BUFFER_LEN);
            if len <= BUFFER_LEN && least <= s_len {
                conv::winograd_weights(w, p.c_out, p.c_in, &mut w2[..len]);
                let (u, s) = (&w2[..len], &mut scratch[..s_len]);
                check("conv2d_winograd", got, &mut |y| {
                    conv::conv2d_winograd(p, x, u, bias, act, s, y)
                })?;
            }
        }
        // Blocked weights, where the compiler lays them out so.
        let blocked_pointwise = kernel == ConvKernel::Pointwise && p.groups == 1;
        let blocked_gemm = p.groups == 1
            && kernel == ConvKernel::Gemm
            && (gemm_blocks_pay(p) || gemm_blocks_pay_for(p, native));
        if blocked_pointwise || blocked_gemm {
            block(w, p.c_out, depth, &mut w2[..n_w]);
            let w2 = &w2[..n_w];
            let s = &mut scratch[..kernel.scratch_len(p)];
            if blocked_pointwise {
                check("conv2d_pointwise_blocked", got, &mut |y| {
                    conv::conv2d_pointwise_blocked(p, x, w2, bias, act, s, y)
                })?;
            } else {
                check("conv2d_gemm_blocked", got, &mut |y| {
                    conv::conv2d_gemm_blocked(p, x, w2, bias, act, s, y)
                })?;
                let s = &mut s[..unframed];
                check("conv2d_gemm_blocked, unframed scratch", got, &mut |y| {
                    conv::conv2d_gemm_blocked(p, x, w2, bias, act, s, y)
                })?;
            }
        }
        Ok(())
    }
}

/// `w` (`c_out × depth` rows) in the compiler's blocked layout: the row blocks of
/// `pointwise_block`, each transposed to `[depth, rows]`.
fn block(w: &[f32], c_out: usize, depth: usize, out: &mut [f32]) {
    let mut i = 0;
    for b in 0..pointwise_blocks(c_out) {
        let (row0, rows) = pointwise_block(c_out, b);
        for d in 0..depth {
            for o in row0..row0 + rows {
                out[i] = w[o * depth + d];
                i += 1;
            }
        }
    }
}

/// The naive convolution, summed in `f64`, into `bufs.want`.
fn reference(case: &Case, bufs: &mut Buffers) {
    let p = &case.p;
    let (c_in_g, c_out_g) = (p.c_in / p.groups, p.c_out / p.groups);
    for b in 0..p.batch {
        for o in 0..p.c_out {
            let g = o / c_out_g;
            for oy in 0..p.h_out {
                for ox in 0..p.w_out {
                    let mut acc = if case.bias {
                        f64::from(bufs.bias[o])
                    } else {
                        0.0
                    };
                    for ci in 0..c_in_g {
                        let c = g * c_in_g + ci;
                        for ky in 0..p.k_h {
                            let iy = (oy * p.stride_h + ky * p.dil_h) as isize - p.pad_top as isize;
                            if iy < 0 || iy >= p.h_in as isize {
                                continue;
                            }
                            for kx in 0..p.k_w {
                                let ix =
                                    (ox * p.stride_w + kx * p.dil_w) as isize - p.pad_left as isize;
                                if ix < 0 || ix >= p.w_in as isize {
                                    continue;
                                }
                                let xv = bufs.x[((b * p.c_in + c) * p.h_in + iy as usize) * p.w_in
                                    + ix as usize];
                                let wv = bufs.w[((o * c_in_g + ci) * p.k_h + ky) * p.k_w + kx];
                                acc += f64::from(xv) * f64::from(wv);
                            }
                        }
                    }
                    let i = ((b * p.c_out + o) * p.h_out + oy) * p.w_out + ox;
                    bufs.want[i] = act::reference(case.act, CLIP, acc) as f32;
                }
            }
        }
    }
}
