//! 3 × 3 convolutions at stride 1 by Winograd's minimal filtering, F(2 × 2, 3 × 3)
//! (Lavin and Gray 2016): each 2 × 2 tile of outputs comes from a 4 × 4 tile of inputs
//! in 16 multiplications per channel pair where the direct form takes 36.
//!
//! The output is cut into tiles of 2 × 2; tile `(i, j)` reads the 4 × 4 inputs from row
//! `2i - pad_top` and column `2j - pad_left` (zeros outside the plane). With `d` such a
//! tile of one input channel and `g` one 3 × 3 filter,
//!
//! ```text
//! Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//! ```
//!
//! summed over input channels, where `Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]`,
//! `G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]` and `Aᵀ = [1 1 1 0; 0 1 −1 −1]`. The filters'
//! transform `U = G g Gᵀ` is the compiler's, once ([`winograd_weights`]).
//!
//! The kernel walks the output one row of tiles at a time. For the row it transforms
//! every input channel's tiles (`V = Bᵀ d B`: adds and subtractions on a vector of
//! tiles, the input row split into even and odd columns by shuffles), then, per vector
//! of tiles (16 with AVX-512, 8 otherwise) and run of 16 output channels, sums over the
//! input channels each of the 16 points `ξ`, `M_ξ = Σ U_ξ · V_ξ`, one accumulator per
//! output channel with the tiles in its lanes (`U` broadcast, as the NCHWc kernels of
//! ONNX Runtime broadcast inputs), and transforms the sums back (`Aᵀ M A`), adds the
//! bias, activates and writes the two output rows. Everything but the row's `V` stays
//! in registers or L1; there is no pass over a product in memory.
//!
//! The multiplications fall from 9 to 4 per output and channel pair; the transforms add
//! about `2 / c_out + 1.5 / c_in` vector adds per multiply-add left. The rounding
//! differs from the direct sum's (the transforms' adds, `G`'s halves rounded once at
//! compile time): the outputs stay within a few units in the last place of the largest
//! partial sums (the tests bound it), well inside ONNX's test tolerances.
//!
//! The kernel needs the vector types of `gemm::simd`, so it runs on the targets with
//! vector kernels (x86_64, AArch64), the only ones the compiler emits it for; elsewhere
//! it writes NaN.

use super::Conv2d;
use crate::Activation;

/// The points of a transformed tile, 4 × 4.
pub const WINOGRAD_POINTS: usize = 16;

/// The output channels of one run of [`winograd_weights`]' layout.
pub const WINOGRAD_CHANNELS: usize = 16;

/// The most tiles of one vector on any target (the scratch is sized for it).
const MAX_LANES: usize = 16;

#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod lanes {
    pub(super) type V = crate::gemm::simd::F32x16;
    pub(super) const L: usize = 16;
    /// Accumulators (output channels) per pass over the input channels.
    pub(super) const PASS: usize = 16;

    /// The even and the odd values of `low` then `high`.
    #[inline(always)]
    pub(super) fn split(low: V, high: V) -> (V, V) {
        low.deinterleave(high)
    }

    /// `even[0], odd[0], even[1], …` as two vectors.
    #[inline(always)]
    pub(super) fn zip(even: V, odd: V) -> (V, V) {
        even.interleave(odd)
    }
}

#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(all(target_arch = "x86_64", target_feature = "avx512f"))
))]
mod lanes {
    pub(super) type V = crate::gemm::simd::F32x8;
    pub(super) const L: usize = 8;
    pub(super) const PASS: usize = 8;

    /// The even and the odd values of `low` then `high`.
    #[inline(always)]
    pub(super) fn split(low: V, high: V) -> (V, V) {
        let (a, b) = (low.to_array(), high.to_array());
        let at = |i: usize| if i < L { a[i] } else { b[i - L] };
        (
            V::from_array(core::array::from_fn(|l| at(2 * l))),
            V::from_array(core::array::from_fn(|l| at(2 * l + 1))),
        )
    }

    /// `even[0], odd[0], even[1], …` as two vectors.
    #[inline(always)]
    pub(super) fn zip(even: V, odd: V) -> (V, V) {
        let (e, o) = (even.to_array(), odd.to_array());
        let at = |i: usize| {
            if i.is_multiple_of(2) {
                e[i / 2]
            } else {
                o[i / 2]
            }
        };
        (
            V::from_array(core::array::from_fn(at)),
            V::from_array(core::array::from_fn(|l| at(L + l))),
        )
    }
}

/// Whether [`conv2d_winograd`] computes a convolution of geometry `p`: a 3 × 3 kernel at
/// stride 1 without dilation, one group, and outputs to compute. Any zero padding.
pub const fn winograd_fits(p: &Conv2d) -> bool {
    p.k_h == 3
        && p.k_w == 3
        && p.stride_h == 1
        && p.stride_w == 1
        && p.dil_h == 1
        && p.dil_w == 1
        && p.groups == 1
        && p.batch > 0
        && p.c_in > 0
        && p.c_out > 0
        && p.h_out > 0
        && p.w_out > 0
}

/// Whether a crate for the targets of `kernels` computes a layer of geometry `p` by
/// [`conv2d_winograd`]: only where every target has vector kernels (the kernel's
/// scratch, a group of tile rows transformed, suits a host's caches, not a
/// microcontroller's RAM), on a layer it [`winograd_fits`] with at least 16 input and
/// output channels, the output channels whole runs of 16, and at least three
/// vectors of tiles (48 tiles: a 14 × 14 plane's 49). The transformed weights are 16 / 9
/// of the filters', and each is used once per tile: on fewer tiles a layer whose weights
/// come from memory, as in a model, waits for them. Measured on an AMD Zen 4 (AVX-512)
/// against the implicit GEMM, layer by layer with the weights in L2: 16 → 16 at 56² 21 %
/// faster, 32 → 32 at 28² 28 %, 64 → 64 at 14² 20 %, 64 → 64 at 32² and 128 → 128 at 28²
/// 38 %; 32 → 32 at 8² 7 % slower, 64 → 64 at 4² 2.3× slower. In resnet50-style, whole
/// inferences of two builds alternating, taking its five 64 → 64 layers at 14² saved
/// 1.8 %, its 128 → 128 ones at 7² (16 tiles) nothing (docs/performance.md).
pub const fn winograd_pays_for(p: &Conv2d, kernels: crate::target::KernelSet) -> bool {
    let tiles = p.h_out.div_ceil(2) * p.w_out.div_ceil(2);
    let narrow = if p.c_in < p.c_out { p.c_in } else { p.c_out };
    kernels.vector
        && !kernels.scalar
        && winograd_fits(p)
        && narrow >= 16
        && tiles >= 3 * MAX_LANES
        && p.c_out.is_multiple_of(WINOGRAD_CHANNELS)
}

/// The floats of one padded input row for `tw` tiles: two per tile column and the two
/// after the last, the tile columns rounded up to whole vectors.
const fn line_len(tw: usize) -> usize {
    2 * (tw.div_ceil(MAX_LANES) * MAX_LANES + 1)
}

/// The most floats of transformed tiles one group of tile rows may take (256 KiB): the
/// group's rows are the most that fit, at least one.
const GROUP_FLOATS: usize = 1 << 16;

/// The tiles of one row of tiles of `p`. The vectors take the tiles of a group of rows
/// in order, across rows, so every lane but the group's last vector's holds a tile
/// (rounding each row up to whole vectors left a fifth to a third of the lanes empty on
/// planes of 40 and 80 columns).
const fn tiles_wide(p: &Conv2d) -> usize {
    p.w_out.div_ceil(2)
}

/// The tile rows of one group for `p`: [`GROUP_FLOATS`] of transformed tiles, at most
/// every row.
const fn group_rows(p: &Conv2d) -> usize {
    let th = p.h_out.div_ceil(2);
    let per_row = WINOGRAD_POINTS * p.c_in * tiles_wide(p);
    let rows = match GROUP_FLOATS.checked_div(per_row) {
        Some(rows) => rows,
        None => 1,
    };
    let rows = if rows == 0 { 1 } else { rows };
    if rows < th {
        rows
    } else {
        th
    }
}

/// The floats of scratch [`conv2d_winograd`] takes for `p` with groups of `rows` tile
/// rows: the group's tiles transformed (`16 · c_in` floats per tile slot, rounded up to
/// whole vectors), the group's padded input rows (and two vectors after them, which
/// [`transform_lines`] may read past the last row), and the sums of one vector of tiles
/// for a run of output channels.
const fn scratch_for(p: &Conv2d, rows: usize) -> usize {
    let tw = tiles_wide(p);
    let tiles = (rows * tw).div_ceil(MAX_LANES) * MAX_LANES;
    WINOGRAD_POINTS * p.c_in * tiles
        + (2 * rows + 2) * line_len(tw)
        + 2 * MAX_LANES
        + WINOGRAD_POINTS * WINOGRAD_CHANNELS * MAX_LANES
}

/// The floats of scratch [`conv2d_winograd`] takes for `p` (0 when `p` does not
/// [`winograd_fits`]): groups of [`group_rows`], what the compiler plans.
pub const fn winograd_scratch_len(p: &Conv2d) -> usize {
    if !winograd_fits(p) {
        return 0;
    }
    scratch_for(p, group_rows(p))
}

/// The least scratch [`conv2d_winograd`] runs `p` with: one tile row at a time. Between
/// it and [`winograd_scratch_len`] the groups take as many rows as fit.
pub const fn winograd_min_scratch_len(p: &Conv2d) -> usize {
    if !winograd_fits(p) {
        return 0;
    }
    scratch_for(p, 1)
}

/// The floats of [`winograd_weights`]' output for `c_out × c_in` filters.
pub const fn winograd_weights_len(c_out: usize, c_in: usize) -> usize {
    WINOGRAD_POINTS * c_out.div_ceil(WINOGRAD_CHANNELS) * WINOGRAD_CHANNELS * c_in
}

/// Transforms 3 × 3 filters `w` (`[c_out, c_in, 3, 3]`) for [`conv2d_winograd`]: `U = G g
/// Gᵀ` per filter, laid out `[c_out / 16, 16 points, c_in, 16]`: per run of
/// [`WINOGRAD_CHANNELS`] output channels and point `ξ`, each input channel's 16 values
/// side by side (zero past `c_out`), the order the kernel broadcasts them in. Computed in
/// `f64` and rounded once. Leaves `u` as it is when `w` or `u` is short.
pub fn winograd_weights(w: &[f32], c_out: usize, c_in: usize, u: &mut [f32]) {
    let len = winograd_weights_len(c_out, c_in);
    let (Some(w), Some(u)) = (w.get(..c_out * c_in * 9), u.get_mut(..len)) else {
        return;
    };
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    u.fill(0.0);
    for (pair, g) in w.chunks_exact(9).enumerate() {
        let (o, i) = (pair / c_in, pair % c_in);
        // G g: 4 × 3, then (G g) Gᵀ: 4 × 4.
        let mut gg = [[0.0f64; 3]; 4];
        for (r, row) in gg.iter_mut().enumerate() {
            for (c, value) in row.iter_mut().enumerate() {
                *value = (0..3).map(|k| G[r][k] * f64::from(g[k * 3 + c])).sum();
            }
        }
        let (run, lane) = (o / WINOGRAD_CHANNELS, o % WINOGRAD_CHANNELS);
        for (r, gg_row) in gg.iter().enumerate() {
            for (c, g_row) in G.iter().enumerate() {
                let value: f64 = gg_row.iter().zip(g_row).map(|(a, b)| a * b).sum();
                let point = run * WINOGRAD_POINTS + r * 4 + c;
                u[(point * c_in + i) * WINOGRAD_CHANNELS + lane] = value as f32;
            }
        }
    }
}

/// A 3 × 3 convolution at stride 1 ([`winograd_fits`]) by F(2 × 2, 3 × 3), with the
/// filters as [`winograd_weights`] transformed them (`u`) and `scratch` of
/// [`winograd_scratch_len`] floats (at least [`winograd_min_scratch_len`], with which it
/// takes fewer tile rows at a time). With `p` unfit, `u` or `scratch` short, or on a
/// target without vector kernels, `y` gets NaN.
pub fn conv2d_winograd(
    p: &Conv2d,
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (in_len, out_len) = (p.c_in * p.h_in * p.w_in, p.c_out * p.h_out * p.w_out);
    let Some(y) = y.get_mut(..p.batch * out_len) else {
        return;
    };
    let fits = winograd_fits(p)
        && scratch.len() >= winograd_min_scratch_len(p)
        && u.len() >= winograd_weights_len(p.c_out, p.c_in)
        && x.len() >= p.batch * in_len
        && bias.is_none_or(|b| b.len() >= p.c_out);
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if fits {
        for (x_image, y_image) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
            image(p, x_image, u, bias, act, scratch, y_image);
        }
        return;
    }
    let _ = (fits, act);
    y.fill(f32::NAN);
}

/// [`conv2d_winograd`] on one image, the operands checked. The tiles of a group of tile
/// rows are numbered row by row (`g = (a − a0) · tw + j`, [`tiles_wide`]), and the
/// vectors take them in that order.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn image(
    p: &Conv2d,
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    use lanes::L;
    let (tw, th) = (tiles_wide(p), p.h_out.div_ceil(2));
    let mut rows = group_rows(p);
    while rows > 1 && scratch_for(p, rows) > scratch.len() {
        rows -= 1;
    }
    let tiles = (rows * tw).div_ceil(MAX_LANES) * MAX_LANES;
    let (v_group, rest) = scratch.split_at_mut(WINOGRAD_POINTS * p.c_in * tiles);
    let (lines, sums) = rest.split_at_mut((2 * rows + 2) * line_len(tw) + 2 * MAX_LANES);
    let (in_plane, out_plane) = (p.h_in * p.w_in, p.h_out * p.w_out);
    let mut a0 = 0;
    while a0 < th {
        let a1 = (a0 + rows).min(th);
        let n = (a1 - a0) * tw;
        let vectors = n.div_ceil(L);
        for ci in 0..p.c_in {
            let plane = &x[ci * in_plane..(ci + 1) * in_plane];
            pad_lines(p, plane, (a0, a1, tw), lines);
            transform_lines(lines, (a0, a1, tw), vectors, p.c_in, ci, v_group);
        }
        // Per run of output channels, every vector of tiles: the run's `U` (16 · c_in
        // · 16 floats) stays in L2 while the group's `V` streams past it.
        let mut co0 = 0;
        while co0 < p.c_out {
            let run = co0 / WINOGRAD_CHANNELS;
            let u_run = &u[run * WINOGRAD_POINTS * p.c_in * WINOGRAD_CHANNELS..]
                [..WINOGRAD_POINTS * p.c_in * WINOGRAD_CHANNELS];
            let channels = (p.c_out - co0).min(lanes::PASS);
            for vector in 0..vectors {
                let g = vector * L;
                let v = &v_group[vector * WINOGRAD_POINTS * p.c_in * L..]
                    [..WINOGRAD_POINTS * p.c_in * L];
                products(u_run, v, p.c_in, co0 % WINOGRAD_CHANNELS, sums);
                for k in 0..channels {
                    let co = co0 + k;
                    let b = bias.map_or(0.0, |b| b[co]);
                    let y_plane = &mut y[co * out_plane..(co + 1) * out_plane];
                    transform_output(p, sums, k, (a0, tw, g, n), b, act, y_plane);
                }
            }
            co0 += lanes::PASS;
        }
        a0 = a1;
    }
}

/// Input rows `2 · a0 − pad_top ..` of one input channel (`plane`) for tile rows
/// `a0..a1`, padded into `lines` (`line_len(tw)` floats each, zero outside the plane),
/// and two vectors of zeros after them (the last vector of tiles reads past the last row
/// into lanes it never stores).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn pad_lines(p: &Conv2d, plane: &[f32], (a0, a1, tw): (usize, usize, usize), lines: &mut [f32]) {
    let len = line_len(tw);
    let first_row = 2 * a0;
    let count = 2 * (a1 - a0) + 2;
    if let Some(slack) = lines.get_mut(count * len..count * len + 2 * MAX_LANES) {
        slack.fill(0.0);
    }
    let lines = &mut lines[..count * len];
    for (offset, line) in lines.chunks_exact_mut(len).enumerate() {
        line.fill(0.0);
        let r = (first_row + offset).wrapping_sub(p.pad_top);
        if r < p.h_in {
            // Line position `c` holds input column `c - pad_left`.
            let row = &plane[r * p.w_in..(r + 1) * p.w_in];
            let first = p.pad_left.min(len);
            let count = (len - first).min(p.w_in);
            line[first..first + count].copy_from_slice(&row[..count]);
        }
    }
}

/// `V = Bᵀ d B` for the `vectors` vectors of tiles of one input channel `ci`: point `ξ`
/// of vector `n` goes to `v_group[((n · 16 + ξ) · c_in + ci) · L..]`. Each vector's 16
/// inputs per tile are split from the padded `lines` ([`pad_lines`]) into even and odd
/// columns in registers and transformed there (stored as columns and loaded back, on a
/// 16 → 16 layer at 32², the two passes took two fifths of the layer). A vector whose
/// tiles span several tile rows takes each row's lanes from that row's lines (loads from
/// where its lane 0 would sit in the row, before or after it) and picks them by lane
/// index.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn transform_lines(
    lines: &[f32],
    (a0, a1, tw): (usize, usize, usize),
    vectors: usize,
    c_in: usize,
    ci: usize,
    v_group: &mut [f32],
) {
    use crate::gemm::simd::Vector;
    use lanes::{L, V};
    let len = line_len(tw);
    let n = (a1 - a0) * tw;
    let lane = V::from_array(core::array::from_fn(|l| l as f32));
    for vector in 0..vectors {
        let g = vector * L;
        let (first, last) = (g / tw, ((g + L).min(n) - 1) / tw);
        let row = |k: usize| -> [V; 4] {
            let mut out = [V::splat(0.0); 4];
            for r in first..=last {
                // Where lane 0 reads in row `r`'s line `k`: `2 · (g − r · tw)` from its
                // start, which the lines before it hold (`len ≥ 2 · tw + 2`).
                let at = (2 * r + k) * len + 2 * g - 2 * r * tw;
                let (even, odd) = lanes::split(V::load_at(lines, at), V::load_at(lines, at + L));
                let (next_even, next_odd) =
                    lanes::split(V::load_at(lines, at + 2), V::load_at(lines, at + 2 + L));
                let values = [even, odd, next_even, next_odd];
                if r == first {
                    out = values;
                } else {
                    let from = V::splat((r * tw - g) as f32 - 0.5);
                    for (out, value) in out.iter_mut().zip(values) {
                        *out = lane.select_above(from, value, *out);
                    }
                }
            }
            out
        };
        transform_vector(row, vector, c_in, ci, v_group);
    }
}

/// `Bᵀ d B` of vector `vector` of tiles of input channel `ci`, whose inputs `d[k][q]` (row
/// `k`, column `q` of each 4 × 4 tile) `row(k)` gives, into `v_group` as
/// [`transform_lines`] lays it out.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn transform_vector(
    row: impl Fn(usize) -> [lanes::V; 4],
    vector: usize,
    c_in: usize,
    ci: usize,
    v_group: &mut [f32],
) {
    use crate::gemm::simd::Vector;
    use lanes::L;
    let row = |k: usize| {
        let [a, b, c, d] = row(k);
        [a.sub(c), b.add(c), c.sub(b), b.sub(d)]
    };
    let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
    let base = vector * WINOGRAD_POINTS * c_in;
    for c in 0..4 {
        let points = [
            r0[c].sub(r2[c]),
            r1[c].add(r2[c]),
            r2[c].sub(r1[c]),
            r1[c].sub(r3[c]),
        ];
        for (k, value) in points.into_iter().enumerate() {
            value.store_at(v_group, (base + (k * 4 + c) * c_in + ci) * L);
        }
    }
}

/// The sums `M_ξ` of one vector of tiles (`v`: `[16 points, c_in, L]`) for
/// [`lanes::PASS`] output channels from lane `lane0` of a run of [`winograd_weights`]
/// (`u_run`: `[16 points, c_in, 16]`), into `sums` as `[16 points, PASS, L]`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn products(u_run: &[f32], v: &[f32], c_in: usize, lane0: usize, sums: &mut [f32]) {
    use crate::gemm::simd::Vector;
    use lanes::{L, PASS, V};
    for point in 0..WINOGRAD_POINTS {
        let u = &u_run[point * c_in * WINOGRAD_CHANNELS..][..c_in * WINOGRAD_CHANNELS];
        let v = &v[point * c_in * L..][..c_in * L];
        let mut acc = [V::splat(0.0); PASS];
        for (weights, inputs) in u.chunks_exact(WINOGRAD_CHANNELS).zip(v.chunks_exact(L)) {
            let inputs = V::load_at(inputs, 0);
            let Some(weights) = weights.get(lane0..).and_then(<[f32]>::first_chunk::<PASS>) else {
                return;
            };
            crate::unroll::unroll!(PASS, |k| {
                acc[k] = V::splat(weights[k]).mul_add(inputs, acc[k]);
            });
        }
        crate::unroll::unroll!(PASS, |k| {
            acc[k].store_at(sums, (point * PASS + k) * L);
        });
    }
}

/// `Y = Aᵀ M A` plus `bias`, activated, for output channel `k` of the sums of the vector
/// of tiles from `g` of the group from tile row `a0` (`n` tiles, `tw` a row): each
/// tile's two output rows (the second only where the plane has it) and two columns (the
/// second likewise).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn transform_output(
    p: &Conv2d,
    sums: &[f32],
    k: usize,
    (a0, tw, g, n): (usize, usize, usize, usize),
    bias: f32,
    act: Activation,
    y_plane: &mut [f32],
) {
    use crate::gemm::simd::Vector;
    use lanes::{L, PASS, V};
    let m = |point: usize| V::load_at(sums, (point * PASS + k) * L);
    let mut s0 = [V::splat(0.0); 4];
    let mut s1 = [V::splat(0.0); 4];
    for c in 0..4 {
        let (a, b, cc, d) = (m(c), m(4 + c), m(8 + c), m(12 + c));
        s0[c] = a.add(b).add(cc);
        s1[c] = b.sub(cc).sub(d);
    }
    let bias = V::splat(bias);
    let w = p.w_out;
    let last = (n - g).min(L);
    for (dr, s) in [s0, s1].iter().enumerate() {
        let even = s[0].add(s[1]).add(s[2]).add(bias).activate(act);
        let odd = s[1].sub(s[2]).sub(s[3]).add(bias).activate(act);
        let (low, high) = lanes::zip(even, odd);
        // A vector within one row, all its outputs in the row (an odd row's last tile
        // has one column): two stores.
        let (a, j) = (a0 + g / tw, g % tw);
        let r = 2 * a + dr;
        if 2 * (j + L) <= w {
            if r < p.h_out {
                let at = r * w + 2 * j;
                low.store_at(y_plane, at);
                high.store_at(y_plane, at + L);
            }
            continue;
        }
        let mut pairs = [0.0f32; 2 * MAX_LANES];
        low.store_at(&mut pairs, 0);
        high.store_at(&mut pairs, L);
        // The lanes, a run per tile row.
        let mut l = 0;
        while l < last {
            let t = g + l;
            let (a, j) = (a0 + t / tw, t % tw);
            let run = (tw - j).min(last - l);
            let r = 2 * a + dr;
            if r < p.h_out {
                let column = 2 * j;
                let count = (2 * run).min(w - column);
                let at = r * w + column;
                for (out, &value) in y_plane[at..at + count].iter_mut().zip(&pairs[2 * l..]) {
                    *out = value;
                }
            }
            l += run;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn geometry(c_in: usize, c_out: usize, h: usize, w: usize, pad: usize) -> Conv2d {
        Conv2d {
            batch: 2,
            c_in,
            h_in: h,
            w_in: w,
            c_out,
            h_out: h + 2 * pad - 2,
            w_out: w + 2 * pad - 2,
            k_h: 3,
            k_w: 3,
            stride_h: 1,
            stride_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad_top: pad,
            pad_left: pad,
            groups: 1,
        }
    }

    /// A deterministic value in [-1, 1).
    fn value(seed: usize) -> f32 {
        let x = (seed as u32).wrapping_mul(2_654_435_761).rotate_left(13) ^ 0x9e37_79b9;
        (x % 2001) as f32 / 1000.0 - 1.0
    }

    #[test]
    fn matches_the_direct_sum() {
        // Odd and even planes, padding 0 to 2, channels off and on the 16-row panels,
        // planes wider than one block's rows.
        let cases = [
            (1, 1, 3, 3, 0),
            (3, 5, 7, 6, 1),
            (16, 16, 12, 12, 1),
            (17, 33, 9, 11, 1),
            (8, 20, 5, 5, 2),
            (64, 48, 30, 30, 1),
            (40, 64, 64, 3, 1),
            (32, 48, 17, 15, 1),
            (40, 32, 7, 76, 0),
            (32, 16, 6, 31, 0),
            (16, 32, 5, 33, 1),
            (16, 16, 4, 33, 0),
            // Rows of whole vectors of tiles (16 or 32 tiles; 8 too without AVX-512),
            // which `transform_lines` takes.
            (16, 16, 9, 32, 1),
            (24, 32, 6, 64, 1),
            (8, 16, 3, 34, 0),
        ];
        for (c_in, c_out, h, w, pad) in cases {
            let p = geometry(c_in, c_out, h, w, pad);
            let x: Vec<f32> = (0..p.batch * c_in * h * w).map(value).collect();
            let wt: Vec<f32> = (0..c_out * c_in * 9).map(|s| value(s + 7)).collect();
            let bias: Vec<f32> = (0..c_out).map(|s| value(s + 3)).collect();
            let mut u = vec![0.0; winograd_weights_len(c_out, c_in)];
            winograd_weights(&wt, c_out, c_in, &mut u);
            let out = p.batch * c_out * p.h_out * p.w_out;
            let mut expected = vec![0.0; out];
            crate::conv::conv2d_direct(&p, &x, &wt, Some(&bias), Activation::Relu, &mut expected);
            // The planned scratch, and the least (one tile row at a time).
            for len in [winograd_scratch_len(&p), winograd_min_scratch_len(&p)] {
                let mut got = vec![0.0; out];
                let mut scratch = vec![0.0; len];
                conv2d_winograd(
                    &p,
                    &x,
                    &u,
                    Some(&bias),
                    Activation::Relu,
                    &mut scratch,
                    &mut got,
                );
                // The direct sum's terms reach 9 · c_in in magnitude; a few units in the
                // last place of that.
                let tolerance = 9.0 * c_in as f32 * f32::EPSILON * 8.0;
                for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
                    assert!(
                        (g - e).abs() <= tolerance,
                        "{c_in}>{c_out} {h}×{w} pad {pad}, scratch {len}: output {k} is {g}, \
                         direct {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_short_scratch_and_other_geometries() {
        let p = geometry(4, 4, 6, 6, 1);
        let x = vec![1.0; 4 * 36 * 2];
        let u = vec![1.0; winograd_weights_len(4, 4)];
        let mut y = vec![0.0; 4 * 36 * 2];
        let mut scratch = vec![0.0; winograd_min_scratch_len(&p) - 1];
        conv2d_winograd(&p, &x, &u, None, Activation::None, &mut scratch, &mut y);
        assert!(y.iter().all(|v| v.is_nan()));
        let strided = Conv2d { stride_h: 2, ..p };
        assert!(!winograd_fits(&strided));
        assert_eq!(winograd_scratch_len(&strided), 0);
        assert!(!winograd_fits(&Conv2d { groups: 2, ..p }));
    }
}
