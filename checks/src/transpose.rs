//! Transposed convolution (ONNX `ConvTranspose`): every entry point the compiler emits a
//! call to or folds constants with (`compiler/src/ops/conv_transpose.rs`), on 1-D and
//! 2-D layers: `conv_transpose2d` (the run-time choice), `conv_transpose2d_rows`,
//! `conv_transpose2d_gemm` forced whatever `transpose_kernel_for` picks (with the band
//! `transpose_band_for` picks for any target, the vector targets and the scalar ones and
//! exactly the scratch `transpose_scratch_len_for` asks for, with a smaller band, and
//! with one float too little scratch, which runs the rows kernel), and the N-D
//! `conv::conv_transpose` with the dims the compiler passes and with a unit depth dim
//! in front (the three-dim walk). The 2-D geometry comes from `ConvTranspose2d::from_nd`,
//! as the compiler makes it.
//!
//! The draws reach the exact tiling (kernel equal to stride, no dilation, no padding:
//! the 2 × 2, stride-2 upsampling in one case of three), kernels equal to their stride
//! with `output_padding` or a pad, stride 2 without dilation (the pair loops), other
//! strides and dilations, pads cutting outputs at either end, negative pads (zeros added
//! at the start, as `output_shape` gives, or at the end, as `output_padding` does),
//! depthwise and grouped layers, batches of one to three, bias and none.
//!
//! The reference gathers each output from the spec's formula (input `i` and tap `k`
//! land on `i · stride + k · dilation − pad_begin`) and sums in `f64`, exactly: the data
//! lie on a grid of 2^-12, so each product is exact in `f32` and only the kernels' sums
//! round. An output sums at most `T = c_in / groups · k_h · k_w` products and the bias:
//! added in any order in `f32`, its `T` additions err by at most `T · u · M` to first
//! order, `u = 2^-24` and `M` the sum of the terms' magnitudes, and rounding the
//! reference to `f32` adds `u · M` at most. Every output must lie within
//! `2 · (T + 1) · u · M_max` of the reference, `M_max` the largest `M` of the case:
//! twice the bound, for its second-order terms.

use zant_runtime::conv::{
    self, conv_transpose2d, conv_transpose2d_gemm, conv_transpose2d_rows, transpose_band_for,
    transpose_scratch_len_for, ConvTranspose, ConvTranspose2d, TransposeKernel,
};
use zant_runtime::target::{KernelSet, Kernels};

use crate::{compare, Buffers, Family, Mismatch, Rng, BUFFER_LEN};

/// The transposed convolution family.
pub struct Transpose;

/// One layer and the seed of its data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub groups: usize,
    /// The rows' axis, or `None` for a 1-D layer (one spatial dim).
    pub h: Option<Axis>,
    /// The columns' axis.
    pub w: Axis,
    /// The band (input positions) the smaller-band path asks for, clamped below the
    /// band `transpose_band_for` picks for this target.
    pub band: usize,
    pub bias: bool,
    pub seed: u64,
}

/// One spatial dim of a layer: its output is `stride · (len − 1) + dilation ·
/// (kernel − 1) + 1 − pad_begin − pad_end` long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Axis {
    pub len: usize,
    pub kernel: usize,
    pub stride: usize,
    pub dilation: usize,
    /// Outputs cut from the start (negative: zeros added, as `output_shape` gives).
    pub pad_begin: i64,
    /// Outputs cut from the end (negative: zeros added, as `output_padding` does).
    pub pad_end: i64,
}

impl Axis {
    /// The axis of a 1-D layer's rows, as the fast kernels see it.
    const UNIT: Axis = Axis {
        len: 1,
        kernel: 1,
        stride: 1,
        dilation: 1,
        pad_begin: 0,
        pad_end: 0,
    };

    /// The output length, if the pads leave one.
    fn out_len(&self) -> Option<usize> {
        if self.len == 0 || self.kernel == 0 || self.stride == 0 || self.dilation == 0 {
            return None;
        }
        let full = self.stride * (self.len - 1) + self.dilation * (self.kernel - 1) + 1;
        let out = full as i64 - self.pad_begin - self.pad_end;
        (out >= 1).then_some(out as usize)
    }
}

/// Input widths worth drawing: around the vector lanes and tiles (8 and 16 floats).
const WIDTHS: [usize; 14] = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33];

/// The kernel sets whose bands and scratch the compiler may plan.
const SETS: [KernelSet; 3] = [
    KernelSet::ANY,
    KernelSet::only(Kernels::Vector),
    KernelSet::only(Kernels::Scalar),
];

/// The 2-D geometry of `case` (a 1-D layer as one row), its band `case.band`, if the
/// pads leave an output in both dims.
fn geometry(case: &Case) -> Option<ConvTranspose2d> {
    let h = case.h.unwrap_or(Axis::UNIT);
    let w = case.w;
    Some(ConvTranspose2d {
        batch: case.batch,
        c_in: case.c_in,
        h_in: h.len,
        w_in: w.len,
        c_out: case.c_out,
        h_out: h.out_len()?,
        w_out: w.out_len()?,
        k_h: h.kernel,
        k_w: w.kernel,
        stride_h: h.stride,
        stride_w: w.stride,
        dil_h: h.dilation,
        dil_w: w.dilation,
        pad_top: h.pad_begin,
        pad_left: w.pad_begin,
        groups: case.groups,
        band: case.band,
    })
}

/// The band of the smaller-band path: `band` below `picked` (`None` when `picked` is one
/// position).
fn smaller_band(band: usize, picked: usize) -> Option<usize> {
    (picked > 1).then(|| band.clamp(1, picked - 1))
}

/// Whether `case` is a layer the compiler could emit (sizes positive, groups dividing
/// the channels) whose operands, outputs and every path's scratch, on either kernel
/// family, fit in [`Buffers`].
fn fits(case: &Case) -> bool {
    let Some(p) = geometry(case) else {
        return false;
    };
    let valid = p.batch > 0
        && p.groups > 0
        && p.c_in > 0
        && p.c_out > 0
        && p.c_in.is_multiple_of(p.groups)
        && p.c_out.is_multiple_of(p.groups)
        && case.band > 0;
    if !valid {
        return false;
    }
    let taps = p.k_h * p.k_w;
    let buffers = p.batch * p.c_in * p.h_in * p.w_in <= BUFFER_LEN
        && p.c_in * (p.c_out / p.groups) * taps <= BUFFER_LEN
        && p.batch * p.c_out * p.h_out * p.w_out <= BUFFER_LEN;
    let scratch_fits = |band: usize| {
        let q = ConvTranspose2d { band, ..p };
        SETS.iter()
            .all(|&set| transpose_scratch_len_for(TransposeKernel::Gemm, &q, set) <= BUFFER_LEN)
    };
    buffers
        && SETS.iter().all(|&set| {
            let picked = transpose_band_for(&p, set);
            scratch_fits(picked) && smaller_band(case.band, picked).is_none_or(scratch_fits)
        })
}

/// A random axis of `len` inputs; `upsample` gives the 2 × 2, stride-2 tiling.
fn draw_axis(rng: &mut Rng, len: usize, upsample: bool) -> Axis {
    let tiling = |k: usize| Axis {
        len,
        kernel: k,
        stride: k,
        dilation: 1,
        pad_begin: 0,
        pad_end: 0,
    };
    if upsample {
        return tiling(2);
    }
    match rng.range(0, 5) {
        // Kernel equal to stride, no padding: this dim tiles its output.
        0 => tiling(rng.range(1, 4)),
        // Kernel equal to stride with `output_padding` (below the stride, as ONNX
        // requires) or a pad at either end: it almost tiles.
        1 => {
            let k = rng.range(2, 4);
            let (pad_begin, pad_end) = if rng.one_in(2) {
                (0, -(rng.range(1, k - 1) as i64))
            } else {
                (rng.range(0, 1) as i64, rng.range(0, k - 1) as i64)
            };
            Axis {
                pad_begin,
                pad_end,
                ..tiling(k)
            }
        }
        _ => {
            let kernel = rng.range(1, 5);
            let stride = if rng.one_in(2) { 2 } else { rng.range(1, 4) };
            let dilation = if rng.one_in(3) { rng.range(2, 3) } else { 1 };
            let span = dilation * (kernel - 1);
            let pad_begin = if rng.one_in(6) {
                -(rng.range(1, 3) as i64)
            } else {
                rng.range(0, span) as i64
            };
            let output_padding = rng.range(0, stride.max(dilation) - 1);
            let mut pad_end = rng.range(0, span) as i64 - output_padding as i64;
            if rng.one_in(8) {
                pad_end -= rng.range(1, 3) as i64;
            }
            Axis {
                len,
                kernel,
                stride,
                dilation,
                pad_begin,
                pad_end,
            }
        }
    }
}

/// A variant of `case` with one dim changed, pushed into `out` if it fits and differs.
struct Shrinks<'a> {
    case: &'a Case,
    out: &'a mut [Case; 16],
    n: usize,
}

impl Shrinks<'_> {
    fn push(&mut self, candidate: Case) {
        if self.n < self.out.len() && candidate != *self.case && fits(&candidate) {
            self.out[self.n] = candidate;
            self.n += 1;
        }
    }
}

/// `axis` with each of its parameters one step smaller (a pad one step nearer zero),
/// one at a time, and with its kernel and stride one step smaller together (so that a
/// tiling stays one): each a strictly smaller axis.
fn smaller_axes(axis: Axis) -> [Axis; 7] {
    let dec = |v: usize| v.saturating_sub(1).max(1);
    let nearer_zero = |v: i64| v - v.signum();
    [
        Axis {
            kernel: dec(axis.kernel),
            stride: dec(axis.stride),
            ..axis
        },
        Axis {
            len: dec(axis.len),
            ..axis
        },
        Axis {
            kernel: dec(axis.kernel),
            ..axis
        },
        Axis {
            stride: dec(axis.stride),
            ..axis
        },
        Axis {
            dilation: dec(axis.dilation),
            ..axis
        },
        Axis {
            pad_begin: nearer_zero(axis.pad_begin),
            ..axis
        },
        Axis {
            pad_end: nearer_zero(axis.pad_end),
            ..axis
        },
    ]
}

impl Family for Transpose {
    type Case = Case;
    const NAME: &'static str = "conv transpose f32";
    const FIXTURES: &'static [Case] = &[];

    fn draw(rng: &mut Rng) -> Case {
        loop {
            let (groups, c_in, c_out) = match rng.range(0, 3) {
                // Depthwise: the rows kernel's pick.
                0 => {
                    let g = rng.range(1, 8);
                    (g, g, g * rng.range(1, 2))
                }
                // Grouped, with one to six input channels a group.
                1 => {
                    let g = rng.range(2, 4);
                    (g, g * rng.range(1, 6), g * rng.range(1, 4))
                }
                _ => (1, rng.range(1, 17), rng.range(1, 12)),
            };
            // One case in three upsamples 2 × 2 at stride 2 (in the 1-D layers: 2 at 2).
            let upsample = rng.one_in(3);
            let h = if rng.one_in(4) {
                None
            } else {
                let len = if rng.one_in(4) {
                    rng.range(15, 17)
                } else {
                    rng.range(1, 9)
                };
                Some(draw_axis(rng, len, upsample))
            };
            let w_len = WIDTHS[rng.range(0, WIDTHS.len() - 1)];
            let w = draw_axis(rng, w_len, upsample);
            let plane = h.map_or(1, |h| h.len) * w_len;
            let band = match rng.range(0, 2) {
                0 => 1,
                // Whole input rows.
                1 => w_len * rng.range(1, plane / w_len),
                _ => rng.range(1, plane),
            };
            let case = Case {
                batch: if rng.one_in(5) { rng.range(2, 3) } else { 1 },
                c_in,
                c_out,
                groups,
                h,
                w,
                band,
                bias: !rng.one_in(3),
                seed: rng.next_u64(),
            };
            if fits(&case) {
                return case;
            }
        }
    }

    /// Each candidate lowers one parameter (batch, groups, channels a group, the band,
    /// the bias, the rows of a 1-D layer, a dim's length, kernel, stride or dilation, a
    /// pad's distance from zero) or a dim's kernel and stride together, and raises none:
    /// strictly smaller. At most 20 differ from `case` (both dims with every parameter
    /// above its least); past 16, the rows' last ones are left out.
    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let mut shrinks = Shrinks { case, out, n: 0 };
        let c = *case;
        let dec = |v: usize| v.saturating_sub(1).max(1);
        shrinks.push(Case { batch: 1, ..c });
        let (c_in_group, c_out_group) = (c.c_in / c.groups, c.c_out / c.groups);
        let g = dec(c.groups);
        shrinks.push(Case {
            groups: g,
            c_in: g * c_in_group,
            c_out: g * c_out_group,
            ..c
        });
        shrinks.push(Case {
            c_in: c.groups * dec(c_in_group),
            ..c
        });
        shrinks.push(Case {
            c_out: c.groups * dec(c_out_group),
            ..c
        });
        let plane = c.h.map_or(1, |h| h.len) * c.w.len;
        shrinks.push(Case {
            band: dec(c.band.min(plane)),
            ..c
        });
        shrinks.push(Case { bias: false, ..c });
        if c.h == Some(Axis::UNIT) {
            shrinks.push(Case { h: None, ..c });
        }
        // The columns first: most kernels' tails are there.
        for w in smaller_axes(c.w) {
            shrinks.push(Case { w, ..c });
        }
        if let Some(h) = c.h {
            for h in smaller_axes(h) {
                shrinks.push(Case { h: Some(h), ..c });
            }
        }
        shrinks.n
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        let p = geometry(case).expect("a drawn or shrunk case has an output");
        let taps = p.k_h * p.k_w;
        let (n_x, n_w, n_y) = (
            p.batch * p.c_in * p.h_in * p.w_in,
            p.c_in * (p.c_out / p.groups) * taps,
            p.batch * p.c_out * p.h_out * p.w_out,
        );
        let mut rng = Rng::new(case.seed);
        rng.fill(&mut bufs.x[..n_x]);
        rng.fill(&mut bufs.w[..n_w]);
        rng.fill(&mut bufs.bias[..p.c_out]);
        let magnitude = reference(case, &p, bufs);
        // `2 · (T + 1) · u · M_max`, the module's bound (`u` is half of `f32::EPSILON`).
        let terms = p.c_in / p.groups * taps;
        let tolerance = (terms + 1) as f32 * f32::EPSILON * magnitude as f32;

        // The N-D geometry as the compiler builds it (`ConvTranspose::params`): one or
        // two spatial dims, and the same with a unit depth dim in front.
        let h = case.h.unwrap_or(Axis::UNIT);
        let first = usize::from(case.h.is_none());
        let in_dims = [1, h.len, p.w_in];
        let out_dims = [1, p.h_out, p.w_out];
        let kernel = [1, p.k_h, p.k_w];
        let strides = [1, p.stride_h, p.stride_w];
        let dilations = [1, p.dil_h, p.dil_w];
        let pads_begin = [0, p.pad_top, p.pad_left];
        let nd = |from: usize| ConvTranspose {
            batch: p.batch,
            c_in: p.c_in,
            c_out: p.c_out,
            groups: p.groups,
            in_dims: &in_dims[from..],
            out_dims: &out_dims[from..],
            kernel: &kernel[from..],
            strides: &strides[from..],
            dilations: &dilations[from..],
            pads_begin: &pads_begin[from..],
        };
        let (compiled, three) = (nd(1 + first), nd(0));
        if ConvTranspose2d::from_nd(&compiled, 0) != Some(ConvTranspose2d { band: 0, ..p }) {
            return Err(Mismatch {
                path: "ConvTranspose2d::from_nd, another geometry",
                index: 0,
                got: f32::NAN,
                want: 0.0,
            });
        }

        let Buffers {
            x,
            w,
            bias,
            want,
            got,
            scratch,
            ..
        } = bufs;
        let (x, w) = (&x[..n_x], &w[..n_w]);
        let bias = case.bias.then_some(&bias[..p.c_out]);
        let (want, got) = (&want[..n_y], &mut got[..n_y]);
        let check = |path, got: &mut [f32], run: &mut dyn FnMut(&mut [f32])| {
            compare(path, got, want, tolerance, run)
        };
        check("conv_transpose2d", got, &mut |y| {
            conv_transpose2d(&p, x, w, bias, y)
        })?;
        check("conv_transpose2d_rows", got, &mut |y| {
            conv_transpose2d_rows(&p, x, w, bias, y)
        })?;
        check("conv_transpose, the compiler's dims", got, &mut |y| {
            conv::conv_transpose(&compiled, x, w, bias, y)
        })?;
        check("conv_transpose, a unit depth dim first", got, &mut |y| {
            conv::conv_transpose(&three, x, w, bias, y)
        })?;

        // The GEMM kernel, whatever `transpose_kernel_for` picks, on the scratch it is
        // given (NaN, so that a float read before it is written shows): `needed` is what
        // this build's kernel asks for with `band`, `planned` what the compiler plans for
        // the targets of `set` (at least `needed` where the set holds this build's).
        let native = KernelSet::only(Kernels::NATIVE);
        let mut gemm = |path, band: usize, len: &dyn Fn(&ConvTranspose2d) -> usize| {
            let q = ConvTranspose2d { band, ..p };
            let s = &mut scratch[..len(&q)];
            check(path, got, &mut |y| {
                s.fill(f32::NAN);
                conv_transpose2d_gemm(&q, x, w, bias, s, y)
            })
        };
        let needed =
            |q: &ConvTranspose2d| transpose_scratch_len_for(TransposeKernel::Gemm, q, native);
        for (path, set) in [
            (
                "conv_transpose2d_gemm, any target's band and scratch",
                SETS[0],
            ),
            ("conv_transpose2d_gemm, the vector targets' band", SETS[1]),
            ("conv_transpose2d_gemm, the scalar targets' band", SETS[2]),
        ] {
            let planned = |q: &ConvTranspose2d| {
                if set.contains(Kernels::NATIVE) {
                    transpose_scratch_len_for(TransposeKernel::Gemm, q, set)
                } else {
                    needed(q)
                }
            };
            gemm(path, transpose_band_for(&p, set), &planned)?;
        }
        let picked = transpose_band_for(&p, native);
        if let Some(band) = smaller_band(case.band, picked) {
            gemm("conv_transpose2d_gemm, a smaller band", band, &needed)?;
        }
        gemm(
            "conv_transpose2d_gemm, a float too little scratch (the rows kernel)",
            picked,
            &|q| needed(q) - 1,
        )?;
        Ok(())
    }
}

/// The naive transposed convolution into `bufs.want`, each output gathered from the
/// inputs and taps that land on it and summed in `f64` (exactly: see the module's
/// comment); returns the largest sum of an output's terms' magnitudes.
fn reference(case: &Case, p: &ConvTranspose2d, bufs: &mut Buffers) -> f64 {
    let (c_in_group, c_out_group) = (p.c_in / p.groups, p.c_out / p.groups);
    // The input an output `o` gets from tap `k` of an axis: `o = i · stride + k ·
    // dilation − pad`, if that `i` is a whole input position.
    let source = |o: usize, k: usize, (stride, dilation, pad): (usize, usize, i64), len: usize| {
        let at = o as i64 + pad - (k * dilation) as i64;
        let i = at / stride as i64;
        (at >= 0 && at % stride as i64 == 0 && i < len as i64).then_some(i as usize)
    };
    let mut largest = 0.0f64;
    for image in 0..p.batch {
        for oc in 0..p.c_out {
            let (group, ocg) = (oc / c_out_group, oc % c_out_group);
            for oy in 0..p.h_out {
                for ox in 0..p.w_out {
                    let b = if case.bias {
                        f64::from(bufs.bias[oc])
                    } else {
                        0.0
                    };
                    let (mut sum, mut magnitude) = (b, b.abs());
                    for icg in 0..c_in_group {
                        let ic = group * c_in_group + icg;
                        for ky in 0..p.k_h {
                            let along_h = (p.stride_h, p.dil_h, p.pad_top);
                            let Some(iy) = source(oy, ky, along_h, p.h_in) else {
                                continue;
                            };
                            for kx in 0..p.k_w {
                                let along_w = (p.stride_w, p.dil_w, p.pad_left);
                                let Some(ix) = source(ox, kx, along_w, p.w_in) else {
                                    continue;
                                };
                                let xv =
                                    bufs.x[((image * p.c_in + ic) * p.h_in + iy) * p.w_in + ix];
                                let wv =
                                    bufs.w[((ic * c_out_group + ocg) * p.k_h + ky) * p.k_w + kx];
                                let term = f64::from(xv) * f64::from(wv);
                                sum += term;
                                magnitude += term.abs();
                            }
                        }
                    }
                    bufs.want[((image * p.c_out + oc) * p.h_out + oy) * p.w_out + ox] = sum as f32;
                    largest = largest.max(magnitude);
                }
            }
        }
    }
    largest
}
