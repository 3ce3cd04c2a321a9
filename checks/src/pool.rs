//! Pooling: every entry point the compiler emits a call to for a pool node
//! (`compiler/src/ops/pool.rs`, `compiler/src/ops/qlinear.rs`): `max_pool2d`,
//! `avg_pool2d` with `count_include_pad` both ways, `max_pool2d_q` for `u8` and `i8`, and
//! the N-D `pool_nd` (Max, both averages, Lp of order 1, 2 and 3; its 3-D windows have
//! unit tests of their own in the runtime) on one window geometry; `global_avg_pool`, `global_max_pool` and
//! `qlinear::qglobal_average_pool` for `u8` and `i8` on one global one. The pools have no
//! scratch and no run-time switch: the paths inside them are picked by the geometry,
//! and the draws reach each of them (the windows inside the input at the strides with
//! loops of their own, the max pool's windows with their edges repeated and its
//! fallback for rows past 512 or windows past 5 rows, a window as wide as the input,
//! strides of 1, 2 and more, dilations, pads up to past the window, the `ceil_mode`
//! overhang, 1-D pools as rows of height 1).
//!
//! Max pools are exact, NaN inputs never winning a window. The averages' inputs lie on
//! a grid of 2^-12 and sum to less than 2^12 in magnitude, so every partial sum is
//! exact in `f32` whatever the order, and only the division rounds: within one ulp of
//! the reference's `f64` quotient. The quantized global pool is exact: its `i32` sum is
//! requantized by the rule `qlinear::requantize` documents, written out here.

use core::fmt;

use zant_runtime::pool::{self, Pool2d, PoolNd, PoolOp};
use zant_runtime::qlinear::{self, QInt};

use crate::exact::{compare_exact, compare_within, grid, k_max, Output};
use crate::{Buffers, Family, Mismatch, Rng, BUFFER_LEN};

/// The pooling family.
pub struct Pool;

/// One pool and the seed of its data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub shape: Shape,
    /// Whether some float inputs are NaN or infinite.
    pub specials: bool,
    pub seed: u64,
}

/// The geometry of a pool.
#[derive(Clone, Copy, PartialEq)]
pub enum Shape {
    /// MaxPool or AveragePool on `p`, whose outputs follow from its pads as the
    /// compiler resolves them, with `ceil_mode` or without.
    Window { p: Pool2d, ceil: bool },
    /// GlobalAveragePool, GlobalMaxPool and QLinearGlobalAveragePool on `channels`
    /// planes (batch times channels) of `spatial` values. The quantized pool takes the
    /// zero points' bytes (as `i8` for the signed type) and the scale of its sums,
    /// `x_scale / (y_scale · spatial)`.
    Global {
        channels: usize,
        spatial: usize,
        x_zero: u8,
        y_zero: u8,
        scale: f32,
    },
}

/// The widths and horizontal strides that CNNs pool with, which the runtime has loops
/// of their own for: windows inside the input at 2/2, 3/3 and 3/2, and max pools with
/// their edges repeated at 2/2, 3/1, 3/2 and 5/1.
const CLASSIC: [(usize, usize); 5] = [(2, 2), (3, 1), (3, 2), (5, 1), (3, 3)];

/// Plane sizes worth drawing for a global pool: around the 16 lanes of the runtime's
/// sums and maxima, and the planes CNNs end on (7 × 7, 14 × 14).
const SPATIAL: [usize; 12] = [1, 2, 7, 8, 9, 15, 16, 17, 33, 49, 64, 196];

impl Family for Pool {
    type Case = Case;
    const NAME: &'static str = "pool";
    const FIXTURES: &'static [Case] = &[];

    fn draw(rng: &mut Rng) -> Case {
        let shape = if rng.one_in(4) {
            draw_global(rng)
        } else {
            draw_window(rng)
        };
        Case {
            shape,
            specials: rng.one_in(5),
            seed: rng.next_u64(),
        }
    }

    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let mut n = 0;
        let mut push = |shape: Option<Shape>, specials: bool| {
            let candidate = Case {
                shape: match shape {
                    Some(shape) => shape,
                    None => return,
                },
                specials,
                ..*case
            };
            if n < out.len() && candidate != *case {
                out[n] = candidate;
                n += 1;
            }
        };
        let half = |v: usize| (v / 2).max(1);
        let dec = |v: usize| v.saturating_sub(1).max(1);
        push(Some(case.shape), false);
        match case.shape {
            Shape::Window { p, ceil } => {
                let mut window = |q: Pool2d, ceil: bool| {
                    push(
                        fitted(q, ceil).map(|p| Shape::Window { p, ceil }),
                        case.specials,
                    )
                };
                window(Pool2d { batch: 1, ..p }, ceil);
                window(
                    Pool2d {
                        channels: dec(p.channels),
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        h_in: half(p.h_in),
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        h_in: dec(p.h_in),
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        w_in: half(p.w_in),
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        w_in: dec(p.w_in),
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        k_h: dec(p.k_h),
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        k_w: dec(p.k_w),
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        stride_h: dec(p.stride_h),
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        stride_w: dec(p.stride_w),
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        dil_h: 1,
                        dil_w: 1,
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        pad_top: 0,
                        pad_bottom: 0,
                        ..p
                    },
                    ceil,
                );
                window(
                    Pool2d {
                        pad_left: 0,
                        pad_right: 0,
                        ..p
                    },
                    ceil,
                );
                let less = |pad: usize| pad.saturating_sub(1);
                window(
                    Pool2d {
                        pad_top: less(p.pad_top),
                        pad_left: less(p.pad_left),
                        pad_bottom: less(p.pad_bottom),
                        pad_right: less(p.pad_right),
                        ..p
                    },
                    ceil,
                );
                window(p, false);
            }
            Shape::Global {
                channels,
                spatial,
                x_zero,
                y_zero,
                scale,
            } => {
                let mut global = |channels: usize, spatial: usize, x_zero: u8, y_zero: u8| {
                    let shape = Shape::Global {
                        channels,
                        spatial,
                        x_zero,
                        y_zero,
                        scale,
                    };
                    push(Some(shape), case.specials)
                };
                global(half(channels), spatial, x_zero, y_zero);
                global(dec(channels), spatial, x_zero, y_zero);
                global(channels, half(spatial), x_zero, y_zero);
                global(channels, dec(spatial), x_zero, y_zero);
                global(channels, spatial, 0, y_zero);
                global(channels, spatial, x_zero, 0);
            }
        }
        n
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        match case.shape {
            Shape::Window { p, .. } => check_window(&p, case, bufs),
            Shape::Global {
                channels,
                spatial,
                x_zero,
                y_zero,
                scale,
            } => {
                let quantized = Quantized {
                    x_zero,
                    y_zero,
                    scale,
                };
                check_global(channels, spatial, quantized, case, bufs)
            }
        }
    }
}

// The shape prints as a path, so that a shrunk case prints as a Rust literal.
impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Window { p, ceil } => f
                .debug_struct("Shape::Window")
                .field("p", p)
                .field("ceil", ceil)
                .finish(),
            Shape::Global {
                channels,
                spatial,
                x_zero,
                y_zero,
                scale,
            } => f
                .debug_struct("Shape::Global")
                .field("channels", channels)
                .field("spatial", spatial)
                .field("x_zero", x_zero)
                .field("y_zero", y_zero)
                .field("scale", scale)
                .finish(),
        }
    }
}

/// A MaxPool or AveragePool: a classic window half the time, any window of 1 to 7 the
/// rest; a 1-D pool a sixth of the time; rows past the max pool's 512-value stack row
/// a tenth of the time.
fn draw_window(rng: &mut Rng) -> Shape {
    loop {
        let one_d = rng.one_in(6);
        let (k_w, stride_w) = if rng.one_in(2) {
            CLASSIC[rng.range(0, CLASSIC.len() - 1)]
        } else {
            let stride = if rng.one_in(8) { 4 } else { rng.range(1, 3) };
            (rng.range(1, 7), stride)
        };
        let (k_h, stride_h) = match (one_d, rng.one_in(4)) {
            (true, _) => (1, 1),
            (false, true) => (rng.range(1, 7), rng.range(1, 3)),
            (false, false) => (k_w, stride_w),
        };
        let dilation = |rng: &mut Rng| {
            if rng.one_in(5) {
                rng.range(2, 3)
            } else {
                1
            }
        };
        let (dil_h, dil_w) = (if one_d { 1 } else { dilation(rng) }, dilation(rng));
        // ONNX Runtime wants pads below the window; the compiler takes any, so a tenth
        // of them reach past it (windows wholly in the padding).
        let pad = |rng: &mut Rng, k: usize| {
            if rng.one_in(3) {
                0
            } else if rng.one_in(10) {
                rng.range(0, k + 1)
            } else {
                rng.range(0, k - 1)
            }
        };
        // A quarter unpadded, where the windows may all lie inside the input.
        let unpadded = rng.one_in(4);
        let (pad_top, pad_bottom) = if one_d || unpadded {
            (0, 0)
        } else {
            (pad(rng, k_h), pad(rng, k_h))
        };
        let (pad_left, pad_right) = if unpadded {
            (0, 0)
        } else {
            (pad(rng, k_w), pad(rng, k_w))
        };
        let wide = rng.one_in(10);
        let h_in = match (one_d, wide) {
            (true, _) => 1,
            (false, true) => rng.range(1, 4),
            (false, false) => rng.range(1, 24),
        };
        let w_in = if wide {
            rng.range(480, 560)
        } else if rng.one_in(8) {
            // A window as wide as the input: one output column.
            k_w
        } else {
            rng.range(1, 40)
        };
        let p = Pool2d {
            batch: if rng.one_in(6) { 2 } else { 1 },
            channels: if wide { 1 } else { rng.range(1, 8) },
            h_in,
            w_in,
            h_out: 0,
            w_out: 0,
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
        };
        let ceil = rng.one_in(3);
        if let Some(p) = fitted(p, ceil) {
            return Shape::Window { p, ceil };
        }
    }
}

/// A global pool: planes of the sizes in [`SPATIAL`] or of any size up to 1024, or a
/// few planes of thousands of values; zero points anywhere; a scale that maps the sums'
/// range near the 8-bit range, a quarter of the time with a power of two for a ratio
/// (whose products, on planes of a power of two, land on rounding ties).
fn draw_global(rng: &mut Rng) -> Shape {
    let (channels, spatial) = match rng.range(0, 3) {
        0 => (rng.range(1, 64), SPATIAL[rng.range(0, SPATIAL.len() - 1)]),
        1 => (rng.range(1, 16), rng.range(1, 1024)),
        2 => (rng.range(1, 3), rng.range(2048, BUFFER_LEN / 3)),
        _ => (rng.range(1, 300), rng.range(1, 4)),
    };
    let ratio = if rng.one_in(4) {
        [0.25, 0.5, 1.0, 2.0][rng.range(0, 3)]
    } else {
        0.25 + 1.75 * rng.range(0, 4095) as f32 / 4096.0
    };
    Shape::Global {
        channels,
        spatial,
        x_zero: rng.byte(),
        y_zero: rng.byte(),
        scale: ratio / spatial as f32,
    }
}

/// The outputs of one axis as the compiler resolves them (`ops/window.rs`): none if
/// the window does not fit the padded input; with `ceil_mode` one more for a partial
/// last window, unless it would start past the input and the start padding.
fn out_len(
    len: usize,
    k: usize,
    stride: usize,
    dil: usize,
    pads: (usize, usize),
    ceil: bool,
) -> Option<usize> {
    let padded = len + pads.0 + pads.1;
    let span = dil * (k - 1) + 1;
    let room = padded.checked_sub(span)?;
    let mut out = if ceil {
        room.div_ceil(stride) + 1
    } else {
        room / stride + 1
    };
    if ceil && (out - 1) * stride >= len + pads.0 {
        out -= 1;
    }
    Some(out)
}

/// `p` with its outputs recomputed from its pads, if it is a geometry the compiler
/// accepts whose input and output fit a buffer.
fn fitted(mut p: Pool2d, ceil: bool) -> Option<Pool2d> {
    let positive = [
        p.batch, p.channels, p.h_in, p.w_in, p.k_h, p.k_w, p.stride_h, p.stride_w, p.dil_h, p.dil_w,
    ];
    if positive.contains(&0) {
        return None;
    }
    let h_pads = (p.pad_top, p.pad_bottom);
    let w_pads = (p.pad_left, p.pad_right);
    p.h_out = out_len(p.h_in, p.k_h, p.stride_h, p.dil_h, h_pads, ceil)?;
    p.w_out = out_len(p.w_in, p.k_w, p.stride_w, p.dil_w, w_pads, ceil)?;
    let planes = p.batch * p.channels;
    let fits = planes * p.h_in * p.w_in <= BUFFER_LEN && planes * p.h_out * p.w_out <= BUFFER_LEN;
    fits.then_some(p)
}

/// Fills `xs` with values `k / 4096`, `|k| ≤ k_max`; with `specials`, an eighth of them
/// NaN, +∞ or −∞.
fn fill_floats(rng: &mut Rng, xs: &mut [f32], k_max: usize, specials: bool) {
    for x in xs {
        *x = if specials && rng.one_in(8) {
            [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.range(0, 2)]
        } else {
            grid(rng, k_max)
        };
    }
}

/// Checks the windowed pools on `p`.
fn check_window(p: &Pool2d, case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
    let planes = p.batch * p.channels;
    let (n_x, n_y) = (planes * p.h_in * p.w_in, planes * p.h_out * p.w_out);
    let mut rng = Rng::new(case.seed);
    // A window holds at most 49 inputs below 1 in magnitude: its sums are exact.
    fill_floats(&mut rng, &mut bufs.x[..n_x], 4095, case.specials);
    for b in &mut bufs.xq[..n_x] {
        *b = rng.byte();
    }
    let Buffers {
        x,
        want,
        got,
        xq,
        wantq,
        gotq,
        ..
    } = bufs;
    let (x, want, got) = (&x[..n_x], &mut want[..n_y], &mut got[..n_y]);
    // The same window as the N-D kernel's (a leading dim of one), which the compiler
    // emits for 3-D pools and LpPool.
    let nd = PoolNd::of_2d(p);
    reference_max(p, x, f32::NEG_INFINITY, want);
    compare_exact("max_pool2d", got, want, &mut |y| pool::max_pool2d(p, x, y))?;
    compare_exact("pool_nd, Max", got, want, &mut |y| {
        pool::pool_nd(&nd, PoolOp::Max, x, y)
    })?;
    // One rounding, of the quotient: within one ulp.
    let ulp = |w: f32| f64::from(f32::EPSILON) * f64::from(w.abs());
    for (count_include_pad, path, nd_path) in [
        (
            false,
            "avg_pool2d, count_include_pad = false",
            "pool_nd, Average, count_include_pad = false",
        ),
        (
            true,
            "avg_pool2d, count_include_pad = true",
            "pool_nd, Average, count_include_pad = true",
        ),
    ] {
        reference_avg(p, count_include_pad, x, want);
        compare_within(path, got, want, &ulp, &mut |y| {
            pool::avg_pool2d(p, count_include_pad, x, y)
        })?;
        let op = PoolOp::Average { count_include_pad };
        compare_within(nd_path, got, want, &ulp, &mut |y| {
            pool::pool_nd(&nd, op, x, y)
        })?;
    }
    // LpPool: p = 1 sums exactly (the data's sums do not round); p = 2 and 3 round each
    // power and each of a window's at most 49 additions, then the root divides the
    // relative error by p: within 64 ulp of the reference's `f64`.
    for (order, path) in [
        (1, "pool_nd, Lp 1"),
        (2, "pool_nd, Lp 2"),
        (3, "pool_nd, Lp 3"),
    ] {
        reference_lp(p, order, x, want);
        let ulps = if order == 1 { 0.0 } else { 64.0 };
        let bound = |w: f32| ulps * f64::from(f32::EPSILON) * f64::from(w.abs());
        let op = PoolOp::Lp { p: order };
        compare_within(path, got, want, &bound, &mut |y| {
            pool::pool_nd(&nd, op, x, y)
        })?;
    }
    let (xq, wantq, gotq) = (&xq[..n_x], &mut wantq[..n_y], &mut gotq[..n_y]);
    check_max_q::<u8>("max_pool2d_q::<u8>", p, xq, wantq, gotq)?;
    check_max_q::<i8>(
        "max_pool2d_q::<i8>",
        p,
        bytemuck::cast_slice(xq),
        bytemuck::cast_slice_mut(wantq),
        bytemuck::cast_slice_mut(gotq),
    )
}

/// Checks the 8-bit max pool on `p`, whose windows wholly in the padding give the
/// type's minimum.
fn check_max_q<T: QInt + PartialOrd + Output>(
    path: &'static str,
    p: &Pool2d,
    x: &[T],
    want: &mut [T],
    got: &mut [T],
) -> Result<(), Mismatch> {
    reference_max(p, x, T::saturate(T::MIN), want);
    compare_exact(path, got, want, &mut |y| pool::max_pool2d_q(p, x, y))
}

/// Calls `visit(input, counted)` for each tap of output `(plane, oh, ow)`: `input` is
/// the index of the input it reads, if it lies inside the input, and `counted` whether
/// it lies inside the padded input (not in the `ceil_mode` overhang past it).
fn for_each_tap(
    p: &Pool2d,
    (plane, oh, ow): (usize, usize, usize),
    mut visit: impl FnMut(Option<usize>, bool),
) {
    for kh in 0..p.k_h {
        let ih = (oh * p.stride_h + kh * p.dil_h) as isize - p.pad_top as isize;
        for kw in 0..p.k_w {
            let iw = (ow * p.stride_w + kw * p.dil_w) as isize - p.pad_left as isize;
            let inside = (0..p.h_in as isize).contains(&ih) && (0..p.w_in as isize).contains(&iw);
            let padded =
                ih < (p.h_in + p.pad_bottom) as isize && iw < (p.w_in + p.pad_right) as isize;
            let input = inside.then(|| (plane * p.h_in + ih as usize) * p.w_in + iw as usize);
            visit(input, padded);
        }
    }
}

/// Calls `output(index, (plane, oh, ow))` for every output of `p`, in order.
fn for_each_output(p: &Pool2d, mut output: impl FnMut(usize, (usize, usize, usize))) {
    let mut index = 0;
    for plane in 0..p.batch * p.channels {
        for oh in 0..p.h_out {
            for ow in 0..p.w_out {
                output(index, (plane, oh, ow));
                index += 1;
            }
        }
    }
}

/// The naive max pool: each output the largest of its window's inputs, from `init`
/// (a NaN input is never larger).
fn reference_max<T: Copy + PartialOrd>(p: &Pool2d, x: &[T], init: T, y: &mut [T]) {
    for_each_output(p, |o, at| {
        let mut max = init;
        for_each_tap(p, at, |input, _| {
            if let Some(i) = input {
                if x[i] > max {
                    max = x[i];
                }
            }
        });
        y[o] = max;
    });
}

/// The naive average pool, in `f64`: the window's inputs over the count of its inputs,
/// or with `count_include_pad` of its cells inside the padded input (ONNX Runtime's
/// rule, which `avg_pool2d` documents).
fn reference_avg(p: &Pool2d, count_include_pad: bool, x: &[f32], y: &mut [f32]) {
    for_each_output(p, |o, at| {
        let (mut sum, mut count) = (0.0f64, 0usize);
        for_each_tap(p, at, |input, padded| {
            if let Some(i) = input {
                sum += f64::from(x[i]);
            }
            if input.is_some() || (count_include_pad && padded) {
                count += 1;
            }
        });
        y[o] = (sum / count as f64) as f32;
    });
}

/// The naive `LpPool` of order `order`, in `f64`: `(Σ |x|^p)^(1/p)` over the window's
/// inputs (padding adds zeros).
fn reference_lp(p: &Pool2d, order: u32, x: &[f32], y: &mut [f32]) {
    for_each_output(p, |o, at| {
        let mut sum = 0.0f64;
        for_each_tap(p, at, |input, _| {
            if let Some(i) = input {
                sum += libm::pow(libm::fabs(f64::from(x[i])), f64::from(order));
            }
        });
        y[o] = libm::pow(sum, 1.0 / f64::from(order)) as f32;
    });
}

/// The quantized global pool's zero points and scale.
#[derive(Clone, Copy)]
struct Quantized {
    x_zero: u8,
    y_zero: u8,
    scale: f32,
}

/// Checks the global pools on `channels` planes of `spatial` values.
fn check_global(
    channels: usize,
    spatial: usize,
    quantized: Quantized,
    case: &Case,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    let n_x = channels * spatial;
    let mut rng = Rng::new(case.seed);
    fill_floats(&mut rng, &mut bufs.x[..n_x], k_max(spatial), case.specials);
    for b in &mut bufs.xq[..n_x] {
        *b = rng.byte();
    }
    let Buffers {
        x,
        want,
        got,
        xq,
        wantq,
        gotq,
        ..
    } = bufs;
    let (x, want, got) = (&x[..n_x], &mut want[..channels], &mut got[..channels]);
    for (plane, w) in x.chunks_exact(spatial).zip(want.iter_mut()) {
        let sum: f64 = plane.iter().map(|&v| f64::from(v)).sum();
        *w = (sum / spatial as f64) as f32;
    }
    // The sums are exact (`k_max`); one rounding, of the quotient.
    let ulp = |w: f32| f64::from(f32::EPSILON) * f64::from(w.abs());
    compare_within("global_avg_pool", got, want, &ulp, &mut |y| {
        pool::global_avg_pool(channels, spatial, x, y)
    })?;
    for (plane, w) in x.chunks_exact(spatial).zip(want.iter_mut()) {
        *w = plane
            .iter()
            .fold(f32::NEG_INFINITY, |max, &v| if v > max { v } else { max });
    }
    compare_exact("global_max_pool", got, want, &mut |y| {
        pool::global_max_pool(channels, spatial, x, y)
    })?;
    let (xq, wantq, gotq) = (&xq[..n_x], &mut wantq[..channels], &mut gotq[..channels]);
    let Quantized {
        x_zero,
        y_zero,
        scale,
    } = quantized;
    let unsigned = (i32::from(x_zero), i32::from(y_zero), scale);
    check_qglobal::<u8>(
        "qglobal_average_pool::<u8>",
        spatial,
        unsigned,
        xq,
        wantq,
        gotq,
    )?;
    let signed = (i32::from(x_zero as i8), i32::from(y_zero as i8), scale);
    check_qglobal::<i8>(
        "qglobal_average_pool::<i8>",
        spatial,
        signed,
        bytemuck::cast_slice(xq),
        bytemuck::cast_slice_mut(wantq),
        bytemuck::cast_slice_mut(gotq),
    )
}

/// Checks `qglobal_average_pool::<T>` with `(x_zero, y_zero, scale)`: each output the
/// plane's exact sum less `spatial · x_zero`, times `scale` in `f32`, rounded half to
/// even, plus `y_zero`, saturated to `T`.
fn check_qglobal<T: QInt + Output>(
    path: &'static str,
    spatial: usize,
    (x_zero, y_zero, scale): (i32, i32, f32),
    x: &[T],
    want: &mut [T],
    got: &mut [T],
) -> Result<(), Mismatch> {
    let channels = want.len();
    for (plane, w) in x.chunks_exact(spatial).zip(want.iter_mut()) {
        let sum: i64 = plane.iter().map(|v| i64::from(v.to_i32())).sum();
        // Below 2^24 in magnitude: exact as `f32`.
        let acc = sum - spatial as i64 * i64::from(x_zero);
        let rounded = libm::rintf(acc as f32 * scale) as i64;
        let clamped = (rounded + i64::from(y_zero)).clamp(i64::from(T::MIN), i64::from(T::MAX));
        *w = T::saturate(clamped as i32);
    }
    compare_exact(path, got, want, &mut |y| {
        qlinear::qglobal_average_pool(channels, spatial, x, x_zero, scale, y_zero, y)
    })
}
