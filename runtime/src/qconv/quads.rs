//! [`super::qconv2d_im2col`] on x86-64 with AVX-512 VNNI, for signed 8-bit weights whose
//! zero points are all 0 (what ONNX Runtime's quantizer writes: symmetric weights).
//!
//! The block is gathered as quads of consecutive reduction terms, one byte each in a
//! `u32`, instead of `i16` pairs, and a tile multiplies them with [`dpbusd`]: 32
//! products and their sum in one instruction (`vpmaddwd` did 16 and needed an add). The
//! instruction multiplies unsigned bytes by signed ones, so an activation enters as
//! `u = x − X::MIN` (`x` for `u8`, `x + 128` for `i8`), padding as `c = x_zero −
//! X::MIN`, and the weights as they are in the blob, with no widening:
//! `Σ (x − x_zero) · w = Σ u · w − c · Σ w`. The second term is folded into the bias once
//! per block and channel. Terms past the depth have weight 0.
//!
//! Both sides of the identity are computed modulo 2³² (the instruction wraps, like
//! the pair kernel's sums), so the results are the pair kernel's on every input.

use super::{Conv2d, QInt, QOut, Requant};
use crate::dsp::dpbusd;
use crate::qlinear::{pick, small_products};
use safe_arch::m256i;

/// Output channels per register tile.
const OCT: usize = 4;

/// Output positions per register tile: two 8-lane vectors, so that a tile keeps eight
/// independent sums in flight (`vpdpbusd` has a latency of several cycles).
const PT: usize = 16;

/// The most output positions a gathered block holds.
const PB_MAX: usize = 64;

/// Whether this kernel takes a convolution: 8-bit signed weights, every weight zero point
/// 0, and an input zero point inside the input type's range (so that padding is a byte).
pub(super) fn applies<X: QInt, W: QInt>(x_zero: i32, w_zero: &[i32]) -> bool {
    W::MIN == -128
        && core::mem::size_of::<W>() == 1
        && core::mem::size_of::<X>() == 1
        && (X::MIN..=X::MAX).contains(&x_zero)
        && w_zero.iter().all(|&z| z == 0)
}

/// The unsigned byte of activation `v`.
#[inline(always)]
fn byte<X: QInt>(v: X) -> u32 {
    (v.to_i32() - X::MIN) as u32
}

/// Four bytes, little-endian in one word.
#[inline(always)]
fn word(b: [u32; 4]) -> u32 {
    b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24
}

/// The convolution (see [`super::qconv2d_im2col`] for the arguments); [`applies`] holds.
#[allow(clippy::too_many_arguments)]
pub(super) fn qconv2d<X: QInt, Y: QOut>(
    p: &Conv2d,
    x: &[X],
    x_zero: i32,
    w: &[i8],
    bias: &[i32],
    rq: Requant<'_>,
    scratch: &mut [f32],
    y: &mut [Y],
) {
    let p = *p;
    let c_in_group = p.c_in / p.groups;
    let c_out_group = p.c_out / p.groups;
    let depth = c_in_group * p.k_h * p.k_w;
    let quads = depth.div_ceil(4);
    let (plane_in, plane_out) = (p.h_in * p.w_in, p.h_out * p.w_out);
    if quads == 0 || plane_out == 0 {
        return;
    }
    let pad = (x_zero - X::MIN) as u32;
    let words: &mut [u32] = bytemuck::cast_slice_mut(scratch);
    // Room for `pb` positions and `OCT` channels of `quads` words each.
    let pb = ((words.len() / quads).saturating_sub(OCT) / PT * PT).clamp(PT, PB_MAX);
    let (cols, rest) = words.split_at_mut(quads * pb);
    let wt = &mut rest[..quads * OCT];
    let pointwise = p.k_h == 1
        && p.k_w == 1
        && p.stride_h == 1
        && p.stride_w == 1
        && p.pad_top == 0
        && p.pad_left == 0
        && p.h_out == p.h_in
        && p.w_out == p.w_in;
    let mut acc = [[0i32; PB_MAX]; OCT];
    for b in 0..p.batch {
        for g in 0..p.groups {
            let x_group = &x[(b * p.c_in + g * c_in_group) * plane_in..][..c_in_group * plane_in];
            let mut p0 = 0;
            while p0 < plane_out {
                let n = pb.min(plane_out - p0);
                if pointwise {
                    gather_pointwise(x_group, plane_in, p0, n, pb, cols);
                } else {
                    gather(&p, x_group, pad, p0, n, pb, cols);
                }
                let mut oc0 = g * c_out_group;
                let group_end = oc0 + c_out_group;
                while oc0 < group_end {
                    let m = OCT.min(group_end - oc0);
                    let sums = load_weights(w, depth, oc0, m, wt);
                    block(cols, wt, n, &mut acc);
                    for (o, acc_row) in acc[..m].iter().enumerate() {
                        let oc = oc0 + o;
                        let bias = bias.get(oc).copied().unwrap_or(0);
                        let base = bias.wrapping_sub((pad as i32).wrapping_mul(sums[o]));
                        let scale = pick(rq.scale, oc);
                        let out = &mut y[(b * p.c_out + oc) * plane_out + p0..][..n];
                        // The bound is on the sums with the zero points taken out, which
                        // `base + acc` is.
                        let small = small_products(depth, bias, scale);
                        Y::finish_run(&acc_row[..n], base, scale, rq.zero, small, out);
                    }
                    oc0 += m;
                }
                p0 += n;
            }
        }
    }
}

/// Copies output channels `oc0..oc0 + m` into `wt`, `quads` words each, the bytes past
/// the depth 0 (and channels `m..OCT` all 0), and returns each channel's sum of weights.
fn load_weights(w: &[i8], depth: usize, oc0: usize, m: usize, wt: &mut [u32]) -> [i32; OCT] {
    let quads = depth.div_ceil(4);
    let mut sums = [0; OCT];
    for (o, row) in wt.chunks_exact_mut(quads).take(OCT).enumerate() {
        let bytes: &mut [i8] = bytemuck::cast_slice_mut(row);
        if o >= m {
            bytes.fill(0);
            continue;
        }
        let taps = &w[(oc0 + o) * depth..][..depth];
        let (head, tail) = bytes.split_at_mut(depth);
        head.copy_from_slice(taps);
        tail.fill(0);
        sums[o] = taps.iter().map(|&v| i32::from(v)).sum();
    }
    sums
}

/// Gathers positions `p0..p0 + n` of a 1×1, stride-1, unpadded convolution: quad `kq` is
/// input channels `4 kq..4 kq + 4`. Positions `n..pb` and the terms past the last
/// channel are 0 (their weights are 0).
fn gather_pointwise<X: QInt>(
    x: &[X],
    plane: usize,
    p0: usize,
    n: usize,
    pb: usize,
    cols: &mut [u32],
) {
    let channels = x.len() / plane.max(1);
    let quads = channels.div_ceil(4);
    for (t, tile) in cols[..quads * pb].chunks_exact_mut(quads * PT).enumerate() {
        let j0 = p0 + t * PT;
        let m = n.saturating_sub(t * PT).min(PT);
        if m == 0 {
            tile.fill(0);
            continue;
        }
        for (kq, slot) in tile.chunks_exact_mut(PT).enumerate() {
            let (valid, rest) = slot.split_at_mut(m);
            let row = |i: usize| x.get((4 * kq + i) * plane + j0..).and_then(|r| r.get(..m));
            match (row(0), row(1), row(2), row(3)) {
                (Some(a), Some(b), Some(c), Some(d)) if 4 * kq + 3 < channels => {
                    for (((slot, &a), (&b, &c)), &d) in
                        valid.iter_mut().zip(a).zip(b.iter().zip(c)).zip(d)
                    {
                        *slot = word([byte(a), byte(b), byte(c), byte(d)]);
                    }
                }
                _ => {
                    for (j, slot) in valid.iter_mut().enumerate() {
                        let at = |i: usize| {
                            if 4 * kq + i < channels {
                                row(i).map_or(0, |r| byte(r[j]))
                            } else {
                                0
                            }
                        };
                        *slot = word([at(0), at(1), at(2), at(3)]);
                    }
                }
            }
            rest.fill(0);
        }
    }
}

/// One reduction term of [`gather`]: its input plane, kernel row and column, and the
/// output columns whose tap on that kernel column lies inside the input.
type Term<'a, X> = (&'a [X], usize, usize, (usize, usize));

/// A term's input row for one output row, its kernel column and its inside columns.
type Row<'a, X> = (&'a [X], usize, (usize, usize));

/// Gathers positions `p0..p0 + n` of any convolution: term
/// `k = (ci · k_h + kh) · k_w + kw` is byte `k % 4` of quad `k / 4`, `u(x)` where the tap
/// is inside the input and `pad` where it is padding (or past the depth, whose weights
/// are 0). Positions `n..pb` are `pad` too.
///
/// Quad by quad and output row by output row: where the four terms' rows are inside,
/// the run of positions where every term's column is inside zips four input rows into
/// words; the positions around it test their taps one by one.
#[allow(clippy::too_many_arguments)]
fn gather<X: QInt>(
    p: &Conv2d,
    x: &[X],
    pad: u32,
    p0: usize,
    n: usize,
    pb: usize,
    cols: &mut [u32],
) {
    let plane = p.h_in * p.w_in;
    let taps = p.k_h * p.k_w;
    let depth = x.len() / plane.max(1) * taps;
    let quads = depth.div_ceil(4);
    let cols = &mut cols[..quads * pb];
    cols.fill(word([pad; 4]));
    let term = |k: usize| -> Option<Term<'_, X>> {
        (k < depth).then(|| {
            let (ci, kh, kw) = (k / taps, (k % taps) / p.k_w, k % p.k_w);
            let columns =
                crate::conv::outputs_for_tap(kw, p.stride_w, p.dil_w, p.pad_left, p.w_in, p.w_out);
            (&x[ci * plane..][..plane], kh, kw, columns)
        })
    };
    let column = |kw: usize, ow: usize| ow * p.stride_w + kw * p.dil_w - p.pad_left;
    let at = |j: usize, kq: usize| ((j / PT) * quads + kq) * PT + j % PT;
    for kq in 0..quads {
        let terms: [Option<Term<'_, X>>; 4] = core::array::from_fn(|i| term(4 * kq + i));
        let mut q = p0;
        while q < p0 + n {
            let (oh, ow0) = (q / p.w_out, q % p.w_out);
            let ow1 = p.w_out.min(ow0 + (p0 + n - q));
            let first = q - p0;
            let j_of = move |ow: usize| first + (ow - ow0);
            q += ow1 - ow0;
            // Each term's input row for this output row, if inside.
            let rows: [Option<Row<'_, X>>; 4] = core::array::from_fn(|i| {
                let (x_c, kh, kw, columns) = terms[i]?;
                let ih = (oh * p.stride_h + kh * p.dil_h).checked_sub(p.pad_top)?;
                (ih < p.h_in).then(|| (&x_c[ih * p.w_in..][..p.w_in], kw, columns))
            });
            if rows.iter().all(Option::is_none) {
                continue;
            }
            let value = |i: usize, ow: usize| match rows[i] {
                Some((row, kw, (lo, hi))) if (lo..hi).contains(&ow) => byte(row[column(kw, ow)]),
                _ => pad,
            };
            if let [Some(r0), Some(r1), Some(r2), Some(r3)] = rows {
                // The run where all four columns are inside.
                let a = ow0
                    .max(r0.2 .0)
                    .max(r1.2 .0)
                    .max(r2.2 .0)
                    .max(r3.2 .0)
                    .min(ow1);
                let b = ow1
                    .min(r0.2 .1)
                    .min(r1.2 .1)
                    .min(r2.2 .1)
                    .min(r3.2 .1)
                    .max(a);
                for ow in (ow0..a).chain(b..ow1) {
                    cols[at(j_of(ow), kq)] = word(core::array::from_fn(|i| value(i, ow)));
                }
                if a < b {
                    let src = [r0, r1, r2, r3].map(|(row, kw, _)| &row[column(kw, a)..]);
                    fill_run(cols, |j| at(j, kq), j_of(a), b - a, p.stride_w, src);
                }
            } else {
                for ow in ow0..ow1 {
                    cols[at(j_of(ow), kq)] = word(core::array::from_fn(|i| value(i, ow)));
                }
            }
        }
    }
}

/// Stores `len` words from block position `j` on, word `t` made of `src[i][t · stride]`,
/// a tile's slice at a time (`at` gives a position's word; positions of one tile are
/// adjacent words).
#[inline(always)]
fn fill_run<X: QInt>(
    cols: &mut [u32],
    at: impl Fn(usize) -> usize,
    j: usize,
    len: usize,
    stride: usize,
    src: [&[X]; 4],
) {
    let mut done = 0;
    while done < len {
        let j = j + done;
        let take = (PT - j % PT).min(len - done);
        let first = at(j);
        let Some(slots) = cols.get_mut(first..first + take) else {
            return;
        };
        if stride == 1 {
            let part = |i: usize| src[i].get(done..done + take);
            let (Some(a), Some(b), Some(c), Some(d)) = (part(0), part(1), part(2), part(3)) else {
                return;
            };
            for (((slot, &a), (&b, &c)), &d) in slots.iter_mut().zip(a).zip(b.iter().zip(c)).zip(d)
            {
                *slot = word([byte(a), byte(b), byte(c), byte(d)]);
            }
        } else {
            for (t, slot) in slots.iter_mut().enumerate() {
                let i = (done + t) * stride;
                let get = |s: &[X]| s.get(i).map_or(0, |&v| byte(v));
                *slot = word([get(src[0]), get(src[1]), get(src[2]), get(src[3])]);
            }
        }
        done += take;
    }
}

/// The sums of one gathered block against one tile of weights, for positions `0..n`
/// (rounded up to whole tiles): `acc[o][j] = Σ_kq quad(x[j][kq]) · quad(w[o][kq])`.
#[inline(never)]
fn block(cols: &[u32], wt: &[u32], n: usize, acc: &mut [[i32; PB_MAX]; OCT]) {
    let quads = wt.len() / OCT;
    if quads == 0 {
        return;
    }
    for (t, run) in cols
        .chunks_exact(quads * PT)
        .take(n.div_ceil(PT))
        .enumerate()
    {
        let sums = tile(run, wt);
        for (row, tile_row) in acc.iter_mut().zip(&sums) {
            row[t * PT..][..PT].copy_from_slice(tile_row);
        }
    }
}

/// One `OCT × PT` tile over its run of gathered quads: each vector holds eight positions'
/// quads, each weight quad is broadcast.
#[inline(always)]
fn tile(run: &[u32], wt: &[u32]) -> [[i32; PT]; OCT] {
    const V: usize = PT / 8;
    let quads = wt.len() / OCT;
    let rows: [&[u32]; OCT] = core::array::from_fn(|o| &wt[o * quads..][..quads]);
    let mut acc = [[m256i::default(); V]; OCT];
    let run = &run[..quads * PT];
    for kq in 0..quads {
        let xs = &run[kq * PT..][..PT];
        let xv: [m256i; V] = core::array::from_fn(|v| {
            let lanes: [u32; 8] = xs[v * 8..][..8].try_into().unwrap_or([0; 8]);
            m256i::from(lanes)
        });
        for (acc_row, row) in acc.iter_mut().zip(&rows) {
            let wv = m256i::from([row[kq]; 8]);
            for (a, &x) in acc_row.iter_mut().zip(&xv) {
                *a = dpbusd(*a, x, wv);
            }
        }
    }
    core::array::from_fn(|o| {
        let mut out = [0i32; PT];
        for (chunk, &v) in out.chunks_exact_mut(8).zip(&acc[o]) {
            chunk.copy_from_slice(&<[i32; 8]>::from(v));
        }
        out
    })
}
