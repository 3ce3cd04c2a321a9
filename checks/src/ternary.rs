//! Ternary (1.58-bit) kernels: every entry point the compiler emits a call to for a
//! `TernaryMatMul` or `TernaryConv` node (`ternary::matmul`, which chooses its kernel at
//! run time, `matmul_lut` and `matmul_direct` forced whatever `matmul_kernel_for` says,
//! and `conv2d`), with the scratch the compiler plans and with more, against a naive
//! reference in `f64` that decodes the packed rows itself.
//!
//! The geometries reach the paths the kernels split on: rows of `k` trits that fill
//! their last byte or not, fewer lookup tables than one pass holds and several passes
//! with a partial last one (`LUT_GROUPS`), output counts on both sides of
//! `LUT_MIN_OUTPUTS`; for the convolution the contiguous (`stride_w` 1) and strided
//! variants, wide, narrow and one-column tiles with an overlapping last tile, blocks of
//! four, two and one output rows, inputs read in place or copied with their pads, groups,
//! dilations, and pads reaching past the input. Whole bytes sometimes hold the codes 243
//! to 255, which the kernels must read as their five low base-3 digits.
//!
//! Neither kernel has a fallback for less scratch than its `scratch_len` (they index
//! past it), so the paths run with exactly that and with more, poisoned with NaN: a
//! kernel must neither read scratch it did not write nor depend on its length.

use zant_runtime::conv::Conv2d;
use zant_runtime::ternary::{
    self, conv2d_scratch_len, matmul_kernel_for, row_bytes, MatMulKernel, TRITS_PER_BYTE,
};

use crate::geometry::{padded, smaller, Pads};
use crate::{act, compare, Buffers, Family, Mismatch, Rng, BUFFER_LEN};

/// Clip's bounds when a case draws it.
const CLIP: (f32, f32) = (-1.5, 2.5);

/// One ternary layer, its activation (0 none, 1 Relu, 2 Clip, 3 Sigmoid, 4 SiLU, 5 Swish
/// with `alpha` 1.702), whether it has a bias, whether whole bytes of its rows sometimes
/// hold the codes 243 to 255, and the seed of its data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub op: Op,
    pub act: u8,
    pub bias: bool,
    pub high_codes: bool,
    pub seed: u64,
}

/// The node: its geometry.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `TernaryMatMul`: `A` is `m × k`, the weights `n` packed rows of `k` trits.
    MatMul { m: usize, n: usize, k: usize },
    /// `TernaryConv`: the weights `c_out` packed rows of `c_in / groups · k_h · k_w` trits.
    Conv(Conv2d),
}

/// The family: fully connected and convolutional ternary layers.
pub struct Ternary;

/// The most trits a row may hold. Inputs lie on a grid of 2^-12 in `[-1, 1)`, so every
/// partial sum of fewer than 2^12 signed inputs is a multiple of 2^-12 below 2^12 in
/// magnitude, exact in `f32` (24 bits) in any order: the kernels' sums are exact, and
/// only their epilogue rounds (see [`tolerance`]).
const MAX_TAPS: usize = 4095;

/// The floats of scratch the "more scratch" paths get beyond the exact length: not a
/// multiple of a table or of a tile.
const EXTRA_SCRATCH: usize = 37;

/// The unit roundoff of `f32`.
const U: f64 = 1.0 / (1u64 << 24) as f64;

/// The bound on `|got − want|` for outputs whose pre-activation `s·scale + bias` has
/// `|s·scale| + |bias|` at most `magnitude`. The sum `s` is exact ([`MAX_TAPS`]), so
/// what rounds is the epilogue, `fl(fl(s·scale) + bias)`: at most `2u·magnitude`. The
/// activation amplifies that by its slope, at most 1.4 (Swish at `alpha` 1.702: `1 +
/// 1.702 · 0.224`), and adds its own error: none for Relu and Clip, `4u` relative for
/// Sigmoid and `5u` relative plus `0.224u·|x|` (the rounding of `alpha·x`) for Swish,
/// the scalar formula's bounds in `elementwise.rs` (3 ulp, `6u`, for a core's FPU
/// kernel). The reference's own rounding to `f32` adds `u·magnitude`. In all about
/// `10u · (magnitude + 1)`; the bound allows `16u`, which a tap too many or too few (an
/// input times a scale, on a grid of 2^-24) exceeds unless that input or scale is tiny.
fn tolerance(magnitude: f64) -> f32 {
    (16.0 * U * (magnitude + 1.0)) as f32
}

/// A size in `1..=max` that often sits on a tile's or a vector's edge: 1 to 3, 7 to 9,
/// 15 to 17, 31 to 33, 63 to 65, or anything up to `max`.
fn size(rng: &mut Rng, max: usize) -> usize {
    let v = match rng.range(0, 5) {
        0 => rng.range(1, 3),
        1 => rng.range(7, 9),
        2 => rng.range(15, 17),
        3 => rng.range(31, 33),
        4 => rng.range(63, 65),
        _ => rng.range(1, max.max(1)),
    };
    v.clamp(1, max.max(1))
}

/// Whether a product's operands, output, packed rows and scratch (with
/// [`EXTRA_SCRATCH`]) fit, and its sums are exact.
fn matmul_fits(m: usize, n: usize, k: usize) -> bool {
    m > 0
        && n > 0
        && k <= MAX_TAPS
        && m * k <= BUFFER_LEN
        && m * n <= BUFFER_LEN
        && n * row_bytes(k) <= BUFFER_LEN
        && MatMulKernel::Lut.scratch_len(k) + EXTRA_SCRATCH <= BUFFER_LEN
}

/// `p` with its outputs recomputed for the pads `(top, bottom, left, right)`, if it is a
/// valid geometry whose buffers fit and whose sums are exact.
fn fitted(p: Conv2d, pads: Pads) -> Option<Conv2d> {
    let p = padded(p, pads)?;
    let taps = p.c_in / p.groups * p.k_h * p.k_w;
    let fits = p.batch * p.c_out * p.h_in * p.w_in > 0
        && taps <= MAX_TAPS
        && p.batch * p.c_in * p.h_in * p.w_in <= BUFFER_LEN
        && p.c_out * row_bytes(taps) <= BUFFER_LEN
        && p.batch * p.c_out * p.h_out * p.w_out <= BUFFER_LEN
        && conv2d_scratch_len(&p) + EXTRA_SCRATCH <= BUFFER_LEN;
    fits.then_some(p)
}

/// A product: `k` around whole and partial bytes and passes of `LUT_GROUPS` tables, `n`
/// often around `LUT_MIN_OUTPUTS`, where the run-time choice changes kernels.
fn draw_matmul(rng: &mut Rng) -> Op {
    loop {
        let k = match rng.range(0, 5) {
            // An empty row now and then: every output is its bias.
            _ if rng.one_in(40) => 0,
            // Up to four passes of four tables, the last one partial, and a partial last
            // byte of any length.
            0 | 1 => TRITS_PER_BYTE * rng.range(0, 12) + rng.range(1, TRITS_PER_BYTE),
            2 => TRITS_PER_BYTE * rng.range(1, 12),
            // Deep rows, with fewer outputs so that they still fit.
            3 => rng.range(200, 1500),
            _ => size(rng, 130),
        };
        let n = match rng.range(0, 3) {
            0 => rng.range(ternary::LUT_MIN_OUTPUTS - 1, ternary::LUT_MIN_OUTPUTS + 1),
            _ => size(rng, (BUFFER_LEN / row_bytes(k).max(1)).min(96)),
        };
        let m = size(rng, (BUFFER_LEN / k.max(n)).min(40));
        if matmul_fits(m, n, k) {
            return Op::MatMul { m, n, k };
        }
    }
}

/// A convolution: depthwise, grouped and plain layers with any window, strides,
/// dilations and pads, planes around the tiles' widths and heights.
fn draw_conv(rng: &mut Rng) -> Op {
    loop {
        // Depthwise (sometimes with a channel multiplier), grouped, and plain layers, half
        // of the last kind 1 × 1.
        let shape = rng.range(0, 3);
        let groups = match shape {
            0 => rng.range(1, 9),
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
            groups * rng.range(1, 24)
        };
        let (k_h, k_w) = if shape == 3 && rng.one_in(2) {
            (1, 1)
        } else {
            let k = rng.range(1, 7);
            (k, if rng.one_in(4) { rng.range(1, 7) } else { k })
        };
        let stride = if rng.one_in(2) { 1 } else { rng.range(2, 3) };
        let dil = |rng: &mut Rng| if rng.one_in(4) { rng.range(2, 3) } else { 1 };
        let (dil_h, dil_w) = (dil(rng), dil(rng));
        let p = Conv2d {
            batch: if rng.one_in(6) { 2 } else { 1 },
            c_in,
            h_in: size(rng, 20),
            w_in: size(rng, 70),
            c_out,
            h_out: 0,
            w_out: 0,
            k_h,
            k_w,
            stride_h: stride,
            stride_w: if rng.one_in(3) {
                rng.range(1, 3)
            } else {
                stride
            },
            dil_h,
            dil_w,
            pad_top: 0,
            pad_left: 0,
            groups,
        };
        // No pads a third of the time, so that the input is read in place; else pads up
        // to the window's extent now and then, so that some outputs read only padding.
        let pad = |rng: &mut Rng, k: usize| match rng.range(0, 5) {
            0 | 1 => 0,
            2 => rng.range(0, k + 1),
            _ => rng.range(0, k / 2 + 1),
        };
        let pads = if rng.one_in(3) {
            (0, 0, 0, 0)
        } else {
            (pad(rng, k_h), pad(rng, k_h), pad(rng, k_w), pad(rng, k_w))
        };
        if let Some(p) = fitted(p, pads) {
            return Op::Conv(p);
        }
    }
}

impl Family for Ternary {
    type Case = Case;
    const NAME: &'static str = "ternary";
    const FIXTURES: &'static [Case] = &[];

    fn draw(rng: &mut Rng) -> Case {
        let op = if rng.one_in(2) {
            draw_matmul(rng)
        } else {
            draw_conv(rng)
        };
        Case {
            op,
            act: rng.range(0, 5) as u8,
            bias: !rng.one_in(4),
            high_codes: rng.one_in(3),
            seed: rng.next_u64(),
        }
    }

    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let mut n = 0;
        // Each candidate once: halving and decrementing meet at small sizes.
        let mut push = |c: Case| {
            if n < out.len() && c != *case && !out[..n].contains(&c) {
                out[n] = c;
                n += 1;
            }
        };
        let halve = |v: usize| (v / 2).max(1);
        let dec = |v: usize| v.saturating_sub(1).max(1);
        match case.op {
            Op::MatMul { m, n, k } => {
                let mut product = |m: usize, n: usize, k: usize| {
                    if matmul_fits(m, n, k) {
                        push(Case {
                            op: Op::MatMul { m, n, k },
                            ..*case
                        });
                    }
                };
                product(1, n, k);
                product(halve(m), n, k);
                product(dec(m), n, k);
                product(m, halve(n), k);
                product(m, dec(n), k);
                // Fewer whole bytes with the same partial last byte, then fewer trits (down
                // to none: a row of no trits is valid).
                let tail = k % TRITS_PER_BYTE;
                let bytes = k / TRITS_PER_BYTE;
                product(m, n, bytes / 2 * TRITS_PER_BYTE + tail);
                product(m, n, bytes.saturating_sub(1) * TRITS_PER_BYTE + tail);
                product(m, n, k / 2);
                product(m, n, k.saturating_sub(1));
            }
            Op::Conv(p) => {
                for (q, pads) in smaller(&p) {
                    if let Some(q) = fitted(q, pads) {
                        push(Case {
                            op: Op::Conv(q),
                            ..*case
                        });
                    }
                }
            }
        }
        push(Case { act: 0, ..*case });
        push(Case {
            bias: false,
            ..*case
        });
        push(Case {
            high_codes: false,
            ..*case
        });
        n
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        match case.op {
            Op::MatMul { m, n, k } => check_matmul(case, m, n, k, bufs),
            Op::Conv(p) => check_conv(case, &p, bufs),
        }
    }
}

/// Draws the data of a layer of `rows` packed rows of `taps` trits (in `wq`, `rows ×
/// row_bytes(taps)` bytes), `n_x` inputs (in `x`), and per row a scale (in `w`) and a
/// bias (in `bias`), all from the case's seed.
fn fill(case: &Case, rows: usize, taps: usize, n_x: usize, bufs: &mut Buffers) {
    let mut rng = Rng::new(case.seed);
    rng.fill(&mut bufs.x[..n_x]);
    rng.fill(&mut bufs.w[..rows]);
    rng.fill(&mut bufs.bias[..rows]);
    let row_len = row_bytes(taps);
    for (byte_idx, byte) in bufs.wq[..rows * row_len].iter_mut().enumerate() {
        // The trits of this byte that belong to the row; the rest are padding, zero.
        let real = (taps - byte_idx % row_len * TRITS_PER_BYTE).min(TRITS_PER_BYTE);
        // Codes 243 to 255 read as −1 in trits 3 and 4, so only a byte whose five trits
        // all belong to the row may hold one: padding trits are zero.
        *byte = if real == TRITS_PER_BYTE && case.high_codes && rng.one_in(6) {
            rng.range(243, 255) as u8
        } else {
            let mut trits = [0i8; TRITS_PER_BYTE];
            for t in &mut trits[..real] {
                *t = rng.range(0, 2) as i8 - 1;
            }
            ternary::encode(trits)
        };
    }
}

/// Trit `i` of a packed row: base-3 digit `i % 5` of byte `i / 5`, minus one. Written
/// without `ternary::decode`; a code above 242 gives its low digits as the format says.
fn trit(row: &[u8], i: usize) -> f64 {
    let code = u32::from(row[i / TRITS_PER_BYTE]);
    let digit = code / 3u32.pow((i % TRITS_PER_BYTE) as u32) % 3;
    f64::from(digit) - 1.0
}

/// The epilogue in `f64` of one output from its sum: the output and `|s·scale| +
/// |bias|` (for [`tolerance`]).
fn epilogue(case: &Case, sum: f64, scale: f32, bias: f32) -> (f32, f64) {
    let scaled = sum * f64::from(scale);
    let bias = if case.bias { f64::from(bias) } else { 0.0 };
    let y = act::reference(case.act, CLIP, scaled + bias) as f32;
    (y, scaled.abs() + bias.abs())
}

/// A product through `matmul` (the kernel `matmul_kernel_for` picks), `matmul_lut` and
/// `matmul_direct`, each with its exact scratch and more.
fn check_matmul(
    case: &Case,
    m: usize,
    n: usize,
    k: usize,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    fill(case, n, k, m * k, bufs);
    let row_len = row_bytes(k);
    // The naive product: each output the sum of its inputs signed by its row's trits.
    let mut magnitude = 0.0f64;
    for r in 0..m {
        for o in 0..n {
            let row = &bufs.wq[o * row_len..][..row_len];
            let sum: f64 = (0..k)
                .map(|i| f64::from(bufs.x[r * k + i]) * trit(row, i))
                .sum();
            let (y, mag) = epilogue(case, sum, bufs.w[o], bufs.bias[o]);
            bufs.want[r * n + o] = y;
            magnitude = magnitude.max(mag);
        }
    }
    let tolerance = tolerance(magnitude);
    let act = act::activation(case.act, CLIP);
    let Buffers {
        x,
        w,
        bias,
        want,
        got,
        scratch,
        wq,
        ..
    } = bufs;
    let (a, packed, scale) = (&x[..m * k], &wq[..n * row_len], &w[..n]);
    let bias = case.bias.then_some(&bias[..n]);
    let (want, got) = (&want[..m * n], &mut got[..m * n]);
    let mut check =
        |path, run: &mut dyn FnMut(&mut [f32])| compare(path, got, want, tolerance, run);
    let chosen = matmul_kernel_for(m, n, k).scratch_len(k);
    let lut = MatMulKernel::Lut.scratch_len(k);
    for (path, len) in [
        ("matmul, its scratch", chosen),
        ("matmul, more scratch", chosen + EXTRA_SCRATCH),
    ] {
        check(path, &mut |y| {
            let s = &mut scratch[..len];
            s.fill(f32::NAN);
            ternary::matmul(m, n, k, a, packed, scale, bias, act, s, y);
        })?;
    }
    for (path, len) in [
        ("matmul_lut, its scratch", lut),
        ("matmul_lut, more scratch", lut + EXTRA_SCRATCH),
    ] {
        check(path, &mut |y| {
            let s = &mut scratch[..len];
            s.fill(f32::NAN);
            ternary::matmul_lut(m, n, k, a, packed, scale, bias, act, s, y);
        })?;
    }
    check("matmul_direct", &mut |y| {
        ternary::matmul_direct(m, n, k, a, packed, scale, bias, act, y)
    })
}

/// A convolution through `conv2d` with its exact scratch and more.
fn check_conv(case: &Case, p: &Conv2d, bufs: &mut Buffers) -> Result<(), Mismatch> {
    let (c_in_group, c_out_group) = (p.c_in / p.groups, p.c_out / p.groups);
    let taps = c_in_group * p.k_h * p.k_w;
    let row_len = row_bytes(taps);
    let (n_x, n_y) = (
        p.batch * p.c_in * p.h_in * p.w_in,
        p.batch * p.c_out * p.h_out * p.w_out,
    );
    fill(case, p.c_out, taps, n_x, bufs);
    // The naive convolution, taps in the order of the packed rows: input channel, then
    // kernel row and column.
    let mut magnitude = 0.0f64;
    for b in 0..p.batch {
        for o in 0..p.c_out {
            let g = o / c_out_group;
            let row = &bufs.wq[o * row_len..][..row_len];
            for oy in 0..p.h_out {
                for ox in 0..p.w_out {
                    let mut sum = 0.0;
                    for ci in 0..c_in_group {
                        let c = g * c_in_group + ci;
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
                                sum += f64::from(xv) * trit(row, (ci * p.k_h + ky) * p.k_w + kx);
                            }
                        }
                    }
                    let (y, mag) = epilogue(case, sum, bufs.w[o], bufs.bias[o]);
                    bufs.want[((b * p.c_out + o) * p.h_out + oy) * p.w_out + ox] = y;
                    magnitude = magnitude.max(mag);
                }
            }
        }
    }
    let tolerance = tolerance(magnitude);
    let act = act::activation(case.act, CLIP);
    let Buffers {
        x,
        w,
        bias,
        want,
        got,
        scratch,
        wq,
        ..
    } = bufs;
    let (x, packed, scale) = (&x[..n_x], &wq[..p.c_out * row_len], &w[..p.c_out]);
    let bias = case.bias.then_some(&bias[..p.c_out]);
    let (want, got) = (&want[..n_y], &mut got[..n_y]);
    let len = conv2d_scratch_len(p);
    // `conv2d` takes its contiguous variant at a horizontal stride of 1, else the
    // strided one.
    let paths = if p.stride_w == 1 {
        [
            ("conv2d (stride_w 1), its scratch", len),
            ("conv2d (stride_w 1), more scratch", len + EXTRA_SCRATCH),
        ]
    } else {
        [
            ("conv2d (strided), its scratch", len),
            ("conv2d (strided), more scratch", len + EXTRA_SCRATCH),
        ]
    };
    for (path, len) in paths {
        compare(path, got, want, tolerance, &mut |y| {
            let s = &mut scratch[..len];
            s.fill(f32::NAN);
            ternary::conv2d(p, x, packed, scale, bias, act, s, y);
        })?;
    }
    Ok(())
}
