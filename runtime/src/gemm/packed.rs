//! The packed, register-tiled f32 GEMM for targets with SIMD (x86_64 and AArch64), in
//! explicit 8-lane vectors.
//!
//! The structure is GotoBLAS/BLIS's, with its packing buffers in caller-provided scratch
//! (a slice of the generated model's arena, see [`super::scratch_len`]) because the
//! runtime has no allocator:
//!
//! * `k` is cut into blocks of [`KC`], `m` into blocks of [`MC`] rows;
//! * each `MC × KC` block of `A` is packed once into [`MR`]-row panels, `MR` values per
//!   depth, so the microkernel reads `A` as one contiguous stream (at most 48 KiB);
//! * each `KC × NR` sliver of `B` is read in place when `B` is row-major and the sliver is
//!   full width (its rows are contiguous), and packed into scratch (at most 16 KiB) when
//!   `B` is transposed or the sliver is the narrower last one (zero-padded);
//! * scratch is never cleared up front: packing writes every value the microkernel reads,
//!   padding included;
//! * the microkernel keeps an `MR × NR` tile of `C` in registers for a whole `k` block and
//!   issues one vector fused multiply-add per accumulator per depth: 6 × 16 (twelve
//!   256-bit accumulators) with AVX or on AArch64, 6 × 8 with SSE only; with AVX-512,
//!   6 × 32 to 6 × 64 over two to four slivers ([`wide_tile`]), 12 × 16 over two panels
//!   ([`pairs`]) and narrow tiles of up to three panels ([`narrow_block_wide`]), in
//!   twelve to 24 512-bit accumulators; a row-major `B`'s, a frame's and the narrow
//!   tiles' `k` blocks split the scratch's 256 depths evenly (narrow tiles that read `A`
//!   in place take blocks of up to [`IN_PLACE_KC`]), the implicit GEMM's take [`KC_WIDE`];
//! * bias, `alpha`, `beta` and the activation are applied as the tile is stored; a whole
//!   wide tile of the only `k` block with a bias per row (or none) and `alpha = beta = 1`
//!   takes [`store_plain`], one add, clamp and 512-bit store per vector.
//!
//! The sums are reordered relative to a plain `k`-order loop only by the `k` blocking,
//! and every step is a fused multiply-add when the target has FMA.

use super::simd::{activate, copy_vectors, load_at, store_at, transpose, F32x8, Vector, LANES};
use super::{
    Bias, Epilogue, Operands, Packed, MAX_SLIVER_COLUMNS, PACKED_MC as MC, PACKED_MR as MR,
};
use crate::unroll::{array, unroll};

/// The depths of one `k` block of the implicit GEMM ([`gemm_packed_source`]); the other
/// products split the scratch's depths evenly ([`even_depth`]). With AVX-512 a block of
/// two slivers (`KC × 32`) is 16 KiB at 128 depths, so it stays in L1 beside the panels
/// of `A` streaming past; at [`super::KC`] (256, what the scratch is sized for) it took
/// two thirds of L1.
const KC: usize = if DOUBLE { KC_WIDE } else { super::KC };
/// [`KC`] with AVX-512.
const KC_WIDE: usize = 128;
const _: () = assert!(KC <= super::KC);

/// Vectors per tile row: two 256-bit registers with AVX; one (a pair of 128-bit
/// registers) with SSE only, whose 16 registers cannot hold a 6 × 16 tile.
const NV: usize = if cfg!(any(target_feature = "avx", target_arch = "aarch64")) {
    2
} else {
    1
};
/// The columns of `C` in one register tile.
const NR: usize = NV * LANES;

// The scratch is sized for the widest sliver; a `KC × NR` sliver (16 KiB) stays in L1 and
// an `MC × KC` block of `A` (48 KiB) stays in L2 while every sliver of `B` streams past.
const _: () = assert!(NR <= MAX_SLIVER_COLUMNS);

/// Cuts `scratch` into the packed block of `A` (`MC` rows, or `m` rounded up to whole
/// tiles, of `depth_max` depths) and one packed sliver of `B`.
fn split_scratch(scratch: &mut [f32], m: usize, depth_max: usize) -> (&mut [f32], &mut [f32]) {
    let rows = MC.min(m.div_ceil(MR) * MR);
    let (packed_a, rest) = scratch.split_at_mut(rows * depth_max);
    (packed_a, &mut rest[..depth_max * NR])
}

/// The blocked, packed product for `m, n ≥ 2`: `y = epilogue(op(A)·op(B))`.
/// `scratch` holds at least [`super::scratch_len`]`(m, n, k)` floats.
pub(super) fn gemm_packed<const TRANS_B: bool>(
    ops: &Operands<'_>,
    epilogue: &Epilogue<'_>,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (m, n, k) = (ops.m, ops.n, ops.k);
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    if !TRANS_B && n.is_multiple_of(NR) && eights_pay(m, k, epilogue) {
        gemm_packed_eights(ops, epilogue, scratch, y);
        return;
    }
    // The scratch's depths split evenly, on every target: with AVX-512 the 128-depth
    // blocks had cut mobilenet_v2's 144 → 24 layer at 56 × 56 into 128 + 16, a second
    // pass over `C` for 16 depths (one block of 144: 275 → 159 µs in isolation).
    let depth_max = even_depth(k, super::KC);
    let (packed_a, packed_b) = split_scratch(scratch, m, depth_max);
    for k0 in (0..k).step_by(depth_max) {
        let depth = depth_max.min(k - k0);
        let (first, last) = (k0 == 0, k0 + depth == k);
        for block_row0 in (0..m).step_by(MC) {
            let block_rows = MC.min(m - block_row0);
            pack_a::<MR>(
                ops,
                (block_row0, block_rows),
                k0,
                (depth_max, depth),
                packed_a,
            );
            let mut column0 = 0;
            while column0 < n {
                if !TRANS_B && DOUBLE && n - column0 >= 2 * NR {
                    // Slivers of a row-major `B` side by side: the 6 × 64 or 6 × 32 tile.
                    let block = (block_row0, block_rows);
                    let a = (&*packed_a, depth_max, depth);
                    let count = if n - column0 >= 4 * NR { 4 } else { 2 };
                    let at = (k0, depth, column0, first, last);
                    if count == 4 {
                        row_major_tile::<MR, 4>(ops, epilogue, y, a, block, at);
                    } else {
                        row_major_tile::<MR, 2>(ops, epilogue, y, a, block, at);
                    }
                    column0 += count * NR;
                    continue;
                }
                let width = NR.min(n - column0);
                let (b_sliver, b_stride) = if !TRANS_B && width == NR {
                    (&ops.b[k0 * n + column0..][..(depth - 1) * n + NR], n)
                } else {
                    pack_b::<TRANS_B>(ops, k0, depth, column0, width, packed_b);
                    (&packed_b[..depth * NR], NR)
                };
                let block = (block_row0, block_rows);
                let at = (column0, width, first, last);
                let b = (b_sliver, b_stride);
                block_tiles(epilogue, y, packed_a, (depth_max, depth), block, b, at);
                column0 += NR;
            }
        }
    }
}

/// A [`wide_tile`] of `R`-row panels against `S` slivers of a row-major `B` read in
/// place: depths `k0..k0 + depth` from column `column0`, sliver `v` of a depth's row
/// starting `v · NR` into it.
#[inline(always)]
fn row_major_tile<const R: usize, const S: usize>(
    ops: &Operands<'_>,
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
    a: (&[f32], usize, usize),
    block: (usize, usize),
    (k0, depth, column0, first, last): (usize, usize, usize, bool, bool),
) {
    let n = ops.n;
    let b_slivers = ops.b.get(k0 * n + column0..).unwrap_or_default();
    let starts = core::array::from_fn(|v| v * NR);
    let b_rows = || {
        let rows = b_slivers.chunks(n.max(1)).take(depth);
        rows.map_while(move |row| slivers_at::<S>(row, starts, 0))
    };
    let columns = core::array::from_fn(|v| column0 + v * NR);
    wide_tile::<R, S, _>(epilogue, y, a, block, b_rows, (columns, first, last));
}

/// The rows of `S` slivers at one depth: `NR` floats from `starts[v] + offset` of `data`
/// for sliver `v` (a frame's virtual columns and a tap's offset, or a row-major `B`'s
/// row and the slivers' places in it); `None` past the end of `data` (which the callers'
/// slicing rules out).
#[inline(always)]
fn slivers_at<const S: usize>(
    data: &[f32],
    starts: [usize; S],
    offset: usize,
) -> Option<[&[f32; NR]; S]> {
    const ZEROS: &[f32; NR] = &[0.0; NR];
    let mut out = [ZEROS; S];
    unroll!(S, |v| out[v] =
        data.get(starts[v] + offset..)?.first_chunk::<NR>()?);
    Some(out)
}

/// The slivers of `B` at virtual columns `starts` of depth row `offset` of a frame, each
/// read by [`tap_row`] at `start + offset` clamped to the frame's last sliver: every
/// read is inside the frame by construction, so the clamp never moves one, but it lets
/// the reads go without the two range checks each that, with the frame's length
/// reloaded for each, had stood beside the 8 × 48 tile's 24 multiply-adds.
#[inline(always)]
fn frame_slivers<const S: usize>(
    data: &[f32],
    starts: [usize; S],
    offset: usize,
) -> [&[f32; NR]; S] {
    const ZEROS: &[f32; NR] = &[0.0; NR];
    let Some(last) = data.len().checked_sub(NR) else {
        return [ZEROS; S];
    };
    core::array::from_fn(|v| tap_row::<NR>(data, last, starts[v] + offset).unwrap_or(ZEROS))
}

/// Every panel of a block of `A` (rows `block.0..block.0 + block.1`) against one sliver
/// of `B` (depth `p`'s row at `p · b.1` in `b.0`), stored at columns `at.0..at.0 + at.1`
/// of `C` (`at.2`, `at.3`: the first and the last `k` block): two panels at a time on
/// AVX-512 ([`pairs`]), the rest on the 6 × 16 tile.
#[inline(always)]
fn block_tiles(
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
    packed_a: &[f32],
    (depth_max, depth): (usize, usize),
    (block_row0, block_rows): (usize, usize),
    (b_sliver, b_stride): (&[f32], usize),
    (column0, width, first, last): (usize, usize, bool, bool),
) {
    let b_rows = || {
        b_sliver
            .chunks(b_stride.max(1))
            .filter_map(<[f32]>::first_chunk::<NR>)
    };
    let mut put = |row0: usize, rows: usize, tile: &Tile| {
        let place = TilePlace {
            row0,
            rows,
            column0,
            width,
            first,
            last,
        };
        store(epilogue, y, &place, tile);
    };
    let block = (block_row0, block_rows);
    let paired = pairs(packed_a, (depth_max, depth), block, b_rows, &mut put);
    let panels = packed_a.chunks_exact(MR * depth_max).skip(paired);
    for (tile_row0, panel) in (block_row0 + paired * MR..block_row0 + block_rows)
        .step_by(MR)
        .zip(panels)
    {
        let rows = MR.min(block_row0 + block_rows - tile_row0);
        put(
            tile_row0,
            rows,
            &microkernel(&panel[..depth * MR], b_sliver, b_stride),
        );
    }
}

/// Packs rows `row0..row0 + rows` of `op(A)`, depths `k0..k0 + depth`, into `R`-row
/// panels of `depth_max · R` floats each (`depth_max` is the caller's `k` block,
/// `min(KC, k)`, the panel stride its microkernel loop uses): panel `t`, depth `p`, row
/// `i` sits at `t · depth_max · R + p · R + i`. Rows past the end of `A` are zero.
fn pack_a<const R: usize>(
    ops: &Operands<'_>,
    (row0, rows): (usize, usize),
    k0: usize,
    (depth_max, depth): (usize, usize),
    packed: &mut [f32],
) {
    for (tile, panel) in packed.chunks_exact_mut(R * depth_max).enumerate() {
        let tile_row0 = row0 + tile * R;
        if tile * R >= rows {
            break;
        }
        let tile_rows = R.min(rows - tile * R);
        let panel = &mut panel[..depth * R];
        if tile_rows < R {
            panel.fill(0.0);
        }
        if ops.trans_a {
            // Aᵀ is k × m: a tile's values for one depth are adjacent already.
            for (p, group) in panel.chunks_exact_mut(R).enumerate() {
                let source = &ops.a[(k0 + p) * ops.m + tile_row0..][..tile_rows];
                group[..tile_rows].copy_from_slice(source);
            }
        } else {
            pack_rows::<R>(ops.a, ops.k, (tile_row0, tile_rows), k0, panel);
        }
    }
}

/// Packs rows `row0..row0 + rows` (at most `R`) of the row-major `a` of `k` columns,
/// depths `k0..k0 + panel.len() / R`, into one `R`-row panel: depth `p` of row `i` at
/// `p · R + i`. Eight rows by eight depths go through one 8 × 8 transpose (the rows are
/// contiguous in depth, the panel in rows), the depths past a multiple of eight one by
/// one; lanes of rows past `rows` are written as zeros. Scattering value by value took
/// 2.7 host instructions a weight at opt-level 3 and 9 at "z" (14 % of digits-cnn's
/// inference, whose weights are packed on every run).
#[inline(always)]
fn pack_rows<const R: usize>(
    a: &[f32],
    k: usize,
    (row0, rows): (usize, usize),
    k0: usize,
    panel: &mut [f32],
) {
    // Only the 16-row narrow panels hold more than one group of eight rows, and a group
    // then fills whole vectors of the panel; the 6-row panels take six lanes.
    const { assert!(R.is_multiple_of(LANES) || R < LANES) };
    let width = LANES.min(R);
    let depth = panel.len() / R;
    let whole = depth - depth % LANES;
    unroll!(R.div_ceil(LANES), |g| {
        let group0 = g * LANES;
        let group = LANES.min(rows.saturating_sub(group0));
        let first = (row0 + group0) * k + k0;
        // The group's rows, `k` apart, each read for `depth` values.
        let block = match group {
            0 => &[][..],
            _ => a
                .get(first..first + (group - 1) * k + depth)
                .unwrap_or_default(),
        };
        for p0 in (0..whole).step_by(LANES) {
            let mut vectors = [F32x8::splat(0.0); LANES];
            if group == LANES {
                unroll!(LANES, |r| vectors[r] = load_at(block, r * k + p0));
            } else {
                unroll!(LANES, |r| if r < group {
                    vectors[r] = load_at(block, r * k + p0);
                });
            }
            let depths = transpose(vectors);
            let Some(out) = panel.get_mut(p0 * R..(p0 + LANES) * R) else {
                break;
            };
            unroll!(LANES, |j| {
                let at = j * R + group0;
                if width == LANES {
                    store_at(depths[j], out, at);
                } else if let Some(out) = out.get_mut(at..at + width) {
                    out.copy_from_slice(&depths[j].to_array()[..width]);
                }
            });
        }
        for r in 0..group {
            for p in whole..depth {
                if let (Some(out), Some(&value)) =
                    (panel.get_mut(p * R + group0 + r), block.get(r * k + p))
                {
                    *out = value;
                }
            }
        }
    });
}

/// Packs columns `column0..column0 + width` of `op(B)`, depths `k0..k0 + depth`, into
/// `depth` rows of `NR` floats, zero-padded past `width`.
fn pack_b<const TRANS_B: bool>(
    ops: &Operands<'_>,
    k0: usize,
    depth: usize,
    column0: usize,
    width: usize,
    packed: &mut [f32],
) {
    let packed = &mut packed[..depth * NR];
    if width < NR {
        packed.fill(0.0);
    }
    if TRANS_B {
        // B is n × k: column j of op(B) is row j of `b`, contiguous in depth.
        for j in 0..width {
            let source = &ops.b[(column0 + j) * ops.k + k0..][..depth];
            for (packed_row, &value) in packed.chunks_exact_mut(NR).zip(source) {
                packed_row[j] = value;
            }
        }
    } else {
        for (p, packed_row) in packed.chunks_exact_mut(NR).enumerate() {
            let source = &ops.b[(k0 + p) * ops.n + column0..][..width];
            packed_row[..width].copy_from_slice(source);
        }
    }
}

/// The register-tiled inner product: `MR × NR` accumulators, one rank-1 update per depth.
/// `panel` holds `MR` values of `A` per depth; row `p` of the `B` sliver starts at
/// `p · b_stride`. The tile's updates are written out by [`unroll!`]: at opt-level "z" a
/// rolled tile goes through the stack.
#[inline(always)]
fn microkernel(panel: &[f32], b_sliver: &[f32], b_stride: usize) -> [[F32x8; NV]; MR] {
    let mut acc = [[F32x8::splat(0.0); NV]; MR];
    let b_rows = match b_sliver.len().checked_sub(NR) {
        Some(rest) => rest / b_stride.max(1) + 1,
        None => 0,
    };
    let depth = (panel.len() / MR).min(b_rows);
    // All depths but the last take whole strides of `B` (the last row may end at `B`'s
    // end): zipped exact chunks of known lengths leave no bounds check in the loop but
    // `b_stride ≥ NR`, which does not change within it (at opt-level 3: mobilenet_v2
    // 165.7 M → 143.1 M host instructions; at "z", where an index loop had been kept,
    // mlperf-kws's GEMMs 1.19 M → 0.99 M).
    if depth > 0 && b_stride >= NR {
        let (panel, last_a) = panel[..depth * MR].split_at((depth - 1) * MR);
        let (b_rows, last_b) = b_sliver.split_at((depth - 1) * b_stride);
        for (a, b_row) in panel.chunks_exact(MR).zip(b_rows.chunks_exact(b_stride)) {
            let (Some(a), Some(b_row)) = (a.first_chunk::<MR>(), b_row.first_chunk::<NR>()) else {
                break;
            };
            rank_one_update(&mut acc, a, b_row);
        }
        if let (Some(a), Some(b_row)) = (last_a.first_chunk::<MR>(), last_b.first_chunk::<NR>()) {
            rank_one_update(&mut acc, a, b_row);
        }
    }
    acc
}

/// `acc += a · b`: one depth of the tile, `MR` values of `A` by `NR` of `B`.
#[inline(always)]
fn rank_one_update(acc: &mut [[F32x8; NV]; MR], a: &[f32; MR], b_row: &[f32; NR]) {
    let mut b = [F32x8::splat(0.0); NV];
    unroll!(NV, |v| b[v] = load_at(b_row, v * LANES));
    unroll!(MR, |i| {
        let a_vector = F32x8::splat(a[i]);
        unroll!(NV, |v| acc[i][v] = a_vector.mul_add(b[v], acc[i][v]));
    });
}

/// One register tile of `C`: `MR` rows of `NV` vectors.
type Tile = [[F32x8; NV]; MR];

/// With AVX-512: the panels of a block of `A`, two at a time, against one sliver of `B`
/// (`b_rows()` yields its rows, one per depth): a 12 × 16 tile in twelve 512-bit
/// registers, per depth one load of `B`, twelve broadcasts of `A` (memory operands of
/// the multiply-adds) and twelve fused multiply-adds, twice the lanes of the 6 × 16 AVX
/// tile. `put(row0, rows, tile)` stores each 6-row half. Returns the panels done, an
/// even number; the last, odd panel is left to the 6 × 16 tile.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn pairs<'b, I: Iterator<Item = &'b [f32; NR]>>(
    packed_a: &[f32],
    (depth_max, depth): (usize, usize),
    (block_row0, block_rows): (usize, usize),
    b_rows: impl Fn() -> I,
    mut put: impl FnMut(usize, usize, &Tile),
) -> usize {
    use super::simd::F32x16;
    const { assert!(NR == 16 && NV == 2) };
    let panel_len = MR * depth_max;
    let pairs = block_rows.div_ceil(MR) / 2;
    for (pair, panels) in packed_a.chunks_exact(2 * panel_len).take(pairs).enumerate() {
        let (panel0, panel1) = panels.split_at(panel_len);
        let mut acc = [F32x16::splat(0.0); 2 * MR];
        let depths = panel0[..depth * MR]
            .chunks_exact(MR)
            .zip(panel1.chunks_exact(MR));
        for ((a0, a1), b_row) in depths.zip(b_rows()) {
            let (a0, a1): ([f32; MR], [f32; MR]) = (array(a0), array(a1));
            let b = F32x16::load(b_row);
            unroll!(MR, |i| acc[i] = F32x16::splat(a0[i]).mul_add(b, acc[i]));
            unroll!(MR, |i| acc[MR + i] =
                F32x16::splat(a1[i]).mul_add(b, acc[MR + i]));
        }
        let mut tiles = [[[F32x8::splat(0.0); NV]; MR]; 2];
        unroll!(MR, |i| tiles[0][i] = acc[i].halves());
        unroll!(MR, |i| tiles[1][i] = acc[MR + i].halves());
        let row0 = block_row0 + pair * 2 * MR;
        put(row0, MR, &tiles[0]);
        put(
            row0 + MR,
            MR.min(block_row0 + block_rows - row0 - MR),
            &tiles[1],
        );
    }
    pairs * 2
}

/// Whether slivers of `B` side by side take one wide tile ([`wide_tile`]).
const DOUBLE: bool = cfg!(all(target_arch = "x86_64", target_feature = "avx512f"));

/// With AVX-512: every panel of a block of `A` against `S` slivers of `B` (`b_rows()`
/// yields their rows, `S` per depth): a 6 × 16·`S` tile in `6 · S` 512-bit registers,
/// per depth `S` loads of `B`, six broadcasts of `A` and `6 · S` fused multiply-adds.
/// This CPU family loads twice a cycle, so the 12 × 16 tile of [`pairs`] (thirteen loads
/// for twelve multiply-adds) runs at about two thirds of the 6 × 32 tile's rate (77
/// against 117 G multiply-adds a second in isolation); four slivers (6 × 64, 24
/// accumulators) halve the loop's overhead per multiply-add again. Each sliver's 6 × 16
/// part is stored at its column of `C` (`columns`).
///
/// `R` is the rows of a panel: [`MR`], or 8 for [`gemm_frame_eights`], whose tiles are
/// whole, of one `k` block and [`plain`] (the only ones it stores).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn wide_tile<'b, const R: usize, const S: usize, I: Iterator<Item = [&'b [f32; NR]; S]>>(
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
    (packed_a, depth_max, depth): (&[f32], usize, usize),
    (block_row0, block_rows): (usize, usize),
    b_rows: impl Fn() -> I,
    (columns, first, last): ([usize; S], bool, bool),
) {
    use super::simd::F32x16;
    const { assert!(NR == 16 && NV == 2 && R >= MR && R * S <= 24) };
    let panels = packed_a
        .chunks_exact(R * depth_max)
        .take(block_rows.div_ceil(R));
    for (t, panel) in panels.enumerate() {
        let mut acc = [[F32x16::splat(0.0); S]; R];
        for (a, b_row) in panel[..depth * R].chunks_exact(R).zip(b_rows()) {
            let a: [f32; R] = array(a);
            let mut b = [F32x16::splat(0.0); S];
            unroll!(S, |v| b[v] = F32x16::load(b_row[v]));
            unroll!(R, |i| {
                let a_vector = F32x16::splat(a[i]);
                unroll!(S, |v| acc[i][v] = a_vector.mul_add(b[v], acc[i][v]));
            });
        }
        let row0 = block_row0 + t * R;
        let rows = R.min(block_row0 + block_rows - row0);
        if let (true, Some(clamp)) = (rows == R && first && last, plain(epilogue)) {
            store_plain(&acc, epilogue, clamp, y, (row0, columns));
            continue;
        }
        if R != MR {
            continue;
        }
        let mut tiles = [[[F32x8::splat(0.0); NV]; MR]; S];
        unroll!(MR, |i| unroll!(S, |v| tiles[v][i] = acc[i][v].halves()));
        for (tile, column0) in tiles.iter().zip(columns) {
            let place = TilePlace {
                row0,
                rows,
                column0,
                width: NR,
                first,
                last,
            };
            store(epilogue, y, &place, tile);
        }
    }
}

/// The bounds of an epilogue that only adds a bias per row (or none) and activates,
/// with `alpha` and `beta` one: `Some(None)` without a clamp (no activation, or a
/// logistic one, which the plain stores apply to what they stored, still in L1:
/// [`logistic_after`]), `Some(Some((lo,
/// hi)))` with one (ReLU's `hi` is infinite); `None` for any other epilogue.
#[inline(always)]
fn plain(epilogue: &Epilogue<'_>) -> Option<Option<(f32, f32)>> {
    if epilogue.alpha != 1.0 || epilogue.beta != 1.0 {
        return None;
    }
    if !matches!(epilogue.bias, Bias::None | Bias::Col(_)) {
        return None;
    }
    Some(match epilogue.act {
        crate::Activation::None => None,
        crate::Activation::Relu => Some((0.0, f32::INFINITY)),
        crate::Activation::Clip { min, max } => Some((min, max)),
        // Applied after the clamp-free store's bias, in the same registers.
        crate::Activation::Sigmoid | crate::Activation::Swish { .. } => None,
    })
}

/// The bias of output row `row_idx` under a [`plain`] epilogue (none or one per row):
/// what the plain stores broadcast along the row.
#[inline(always)]
fn plain_bias(epilogue: &Epilogue<'_>, row_idx: usize) -> f32 {
    match epilogue.bias {
        Bias::Col(values) => values.get(row_idx).copied().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Stores a whole 6 × 16·`S` tile of one `k` block with a [`plain`] epilogue: per row
/// one broadcast bias, then per vector an add, the clamp and one 512-bit store (the
/// general [`store`] matches the bias kind, the block and the activation per vector, on
/// 256-bit halves, which cost as much as the multiply-adds of a shallow product).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn store_plain<const R: usize, const S: usize>(
    acc: &[[super::simd::F32x16; S]; R],
    epilogue: &Epilogue<'_>,
    clamp: Option<(f32, f32)>,
    y: &mut [f32],
    (row0, columns): (usize, [usize; S]),
) {
    use super::simd::F32x16;
    let n = epilogue.n;
    let one = F32x16::splat(1.0);
    let bounds = clamp.map(|(lo, hi)| (F32x16::splat(lo), F32x16::splat(hi)));
    unroll!(R, |i| {
        let row_idx = row0 + i;
        let bias = plain_bias(epilogue, row_idx);
        let bias = F32x16::splat(bias);
        unroll!(S, |v| {
            let mut value = acc[i][v].mul_add(one, bias);
            if let Some((lo, hi)) = bounds {
                value = value.max(lo).min(hi);
            }
            let at = row_idx * n + columns[v];
            if let Some(out) = y.get_mut(at..at + 16) {
                value.store(out);
            }
        });
    });
    logistic_after(epilogue, y, (row0, R), columns.iter().map(|&c| (c, 16)));
}

/// Without AVX-512 there are no tiles over several slivers ([`DOUBLE`] is false).
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
#[inline(always)]
fn wide_tile<'b, const R: usize, const S: usize, I: Iterator<Item = [&'b [f32; NR]; S]>>(
    _: &Epilogue<'_>,
    _: &mut [f32],
    _: (&[f32], usize, usize),
    _: (usize, usize),
    _: impl Fn() -> I,
    _: ([usize; S], bool, bool),
) {
}

/// Without AVX-512 every panel takes the 6 × 16 (or 6 × 8) tile.
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
#[inline(always)]
fn pairs<'b, I: Iterator<Item = &'b [f32; NR]>>(
    _: &[f32],
    _: (usize, usize),
    _: (usize, usize),
    _: impl Fn() -> I,
    _: impl FnMut(usize, usize, &Tile),
) -> usize {
    0
}

/// Where a register tile goes in `C`, and which `k` block produced it.
struct TilePlace {
    row0: usize,
    /// The real rows of the tile (the rest came from zero padding).
    rows: usize,
    column0: usize,
    /// The real columns of the tile.
    width: usize,
    first: bool,
    last: bool,
}

/// Stores the real `rows × width` part of `tile`. The first `k` block overwrites and adds
/// the bias, later ones accumulate, and the last one applies the activation.
#[inline(always)]
fn store(epilogue: &Epilogue<'_>, y: &mut [f32], place: &TilePlace, tile: &[[F32x8; NV]; MR]) {
    let n = epilogue.n;
    let whole = place.rows == MR && place.width == NR;
    if let (true, Some(clamp)) = (whole && place.first && place.last, plain(epilogue)) {
        store_tile_plain(tile, epilogue, clamp, y, (place.row0, place.column0));
        return;
    }
    // The loop below indexes the tile by row; a copy made with constant indices keeps
    // that use off the microkernel's accumulators, which then stay in registers at "z".
    let mut copy = [[F32x8::splat(0.0); NV]; MR];
    unroll!(MR, |i| unroll!(NV, |v| copy[i][v] = tile[i][v]));
    for (i, tile_row) in copy.iter().enumerate().take(place.rows) {
        let row_idx = place.row0 + i;
        let start = row_idx * n + place.column0;
        let row = &mut y[start..start + place.width];
        if place.width < NR {
            // The narrow last sliver: through an array, with the scalar epilogue.
            let mut lanes = [0.0f32; NR];
            for (chunk, vector) in lanes.chunks_exact_mut(LANES).zip(tile_row) {
                chunk.copy_from_slice(&vector.to_array());
            }
            let at = (row_idx, place.column0);
            epilogue.store_segment(row, &lanes[..place.width], at, (place.first, place.last));
            continue;
        }
        let alpha = F32x8::splat(epilogue.alpha);
        unroll!(NV, |v| {
            let sum = tile_row[v];
            let value = if place.first {
                let column = place.column0 + v * LANES;
                sum.mul_add(alpha, bias_vector(epilogue, row_idx, column))
            } else {
                sum.mul_add(alpha, load_at(row, v * LANES))
            };
            let value = if place.last {
                activate(epilogue.act, value)
            } else {
                value
            };
            store_at(value, row, v * LANES);
        });
    }
}

/// [`store`] of a whole tile of the only `k` block whose epilogue is [`plain`]: per row
/// one bias broadcast, then add, clamp and store per vector, the rows unrolled. Through
/// the general loop (the tile copied out, a row slice, the bias kind and the activation
/// matched per vector) the stores held back shallow products: alone, fomo-96's 8 → 48
/// layer at 48 × 48 (eight depths) ran 26 % faster this way, mobilenet_v2's 16 → 96 at
/// 112 × 112 and 56 × 56 29-30 %, 24 → 144 21 %, 32 → 192 14 %.
#[inline(always)]
fn store_tile_plain(
    tile: &Tile,
    epilogue: &Epilogue<'_>,
    clamp: Option<(f32, f32)>,
    y: &mut [f32],
    (row0, column0): (usize, usize),
) {
    let n = epilogue.n;
    let bounds = clamp.map(|(lo, hi)| (F32x8::splat(lo), F32x8::splat(hi)));
    unroll!(MR, |i| {
        let row_idx = row0 + i;
        let bias = plain_bias(epilogue, row_idx);
        let bias = F32x8::splat(bias);
        unroll!(NV, |v| {
            let mut value = tile[i][v].add(bias);
            if let Some((lo, hi)) = bounds {
                value = value.max(lo).min(hi);
            }
            store_at(value, y, row_idx * n + column0 + v * LANES);
        });
    });
    logistic_after(epilogue, y, (row0, MR), [(column0, NR)].into_iter());
}

/// A logistic activation (Sigmoid, Swish) of the `rows` rows from `row0` of the column
/// runs `(column, width)` a plain store just wrote without it: in vectors, out of line,
/// so the stores' unrolled code stays as small as for Relu (inlined per vector, the
/// polynomial of `e^x` took the stack of a debug build's convolution test past 2 MiB).
/// Nothing for any other activation.
#[inline(always)]
fn logistic_after(
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
    (row0, rows): (usize, usize),
    runs: impl Iterator<Item = (usize, usize)> + Clone,
) {
    if epilogue.act.logistic_op().is_some() {
        logistic_spans(epilogue.act, y, epilogue.n, (row0, rows), runs);
    }
}

/// [`logistic_after`]'s loop, out of line: one call per tile.
#[inline(never)]
fn logistic_spans(
    act: crate::Activation,
    y: &mut [f32],
    n: usize,
    (row0, rows): (usize, usize),
    runs: impl Iterator<Item = (usize, usize)> + Clone,
) {
    for row_idx in row0..row0 + rows {
        for (column, width) in runs.clone() {
            let at = row_idx * n + column;
            if let Some(out) = y.get_mut(at..at + width) {
                crate::elementwise::logistic_run(act, out);
            }
        }
    }
}

/// `beta · bias` for the eight outputs of row `row_idx` starting at `column`.
#[inline(always)]
fn bias_vector(epilogue: &Epilogue<'_>, row_idx: usize, column: usize) -> F32x8 {
    let beta = epilogue.beta;
    match epilogue.bias {
        Bias::None => F32x8::splat(0.0),
        Bias::Scalar(value) => F32x8::splat(beta * value),
        Bias::Col(values) => F32x8::splat(beta * values[row_idx]),
        Bias::Row(values) => load_at(values, column).mul(F32x8::splat(beta)),
        Bias::Full(values) => {
            load_at(values, row_idx * epilogue.n + column).mul(F32x8::splat(beta))
        }
    }
}

/// The columns of one sliver of `B` a [`BSource`] packs: [`NR`].
pub(crate) const SLIVER_COLUMNS: usize = NR;

/// Where the blocked product reads `B` from when `B` is not a matrix in memory: an
/// implicit GEMM (a convolution's im2col matrix) packs each sliver on demand.
pub(crate) trait BSource {
    /// Writes columns `column0..column0 + width` of `B`, depths `k0..k0 + depth`, into
    /// `packed` as `depth` rows of [`SLIVER_COLUMNS`] floats; lanes past `width` must be
    /// finite (they are computed and never stored), zero is the natural choice.
    fn pack(&self, k0: usize, depth: usize, column0: usize, width: usize, packed: &mut [f32]);
}

/// The blocked product `y = epilogue(A·B)` for `m, n ≥ 1` with `A` row-major `m × k` and
/// `B` packed sliver by sliver by `source`. The loops are [`gemm_packed`]'s; each sliver
/// of `B` is packed once per block of `MC` rows of `A` and serves all its panels.
pub(super) fn gemm_packed_source(
    ops: &Operands<'_>,
    source: &impl BSource,
    epilogue: &Epilogue<'_>,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (m, n, k) = (ops.m, ops.n, ops.k);
    let depth_max = KC.min(k);
    let (packed_a, packed_b) = split_scratch(scratch, m, depth_max);
    for k0 in (0..k).step_by(KC) {
        let depth = KC.min(k - k0);
        let (first, last) = (k0 == 0, k0 + depth == k);
        for block_row0 in (0..m).step_by(MC) {
            let block_rows = MC.min(m - block_row0);
            pack_a::<MR>(
                ops,
                (block_row0, block_rows),
                k0,
                (depth_max, depth),
                packed_a,
            );
            for column0 in (0..n).step_by(NR) {
                let width = NR.min(n - column0);
                let b_sliver = &mut packed_b[..depth * NR];
                source.pack(k0, depth, column0, width, b_sliver);
                let block = (block_row0, block_rows);
                let at = (column0, width, first, last);
                let b = (&*b_sliver, NR);
                block_tiles(epilogue, y, packed_a, (depth_max, depth), block, b, at);
            }
        }
    }
}

/// `B` read in place from a frame of rows that overlap: depth `p`'s row starts at
/// `data[offset(p)..]` (the offsets the product's caller writes, a block of depths at a
/// time), so the sliver of columns `q0..q0 + NR` is `NR` contiguous floats of the frame
/// at `offset(p) + q0` for every depth, and nothing is packed.
/// A convolution's input, zero-padded into such a frame, is its im2col matrix this way
/// (see `conv/frame.rs`).
///
/// The product's columns are `rows × pitch` virtual positions, of which the first
/// `width` of every `pitch` are outputs: virtual column `r · pitch + c` (`c < width`) is
/// column `column0 + r · width + c` of `C`, and the others are computed and dropped.
/// Rows at least [`ROW_SLIVERS`] wide are cut into slivers row by row (the last one of
/// a row partly idle); narrower ones are flattened, a sliver running across rows.
pub(crate) struct Frame<'a> {
    /// The frame; every read (`offset(p) + q` for a virtual column `q` rounded up to
    /// whole slivers) lies inside it and is finite.
    pub(crate) data: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) pitch: usize,
    pub(crate) width: usize,
    pub(crate) column0: usize,
    /// Depths whose rows of `B` start one float apart, in runs of this many from depth
    /// 0 (a convolution's taps along a kernel row at stride and dilation 1), or 1.
    pub(crate) run: usize,
    /// Floats between adjacent virtual columns of a row of `B`: 1, or 2 for a frame of
    /// a stride-2 convolution left in its columns' order ([`frame_takes_narrow`]),
    /// which only the narrow tiles read, on runs of three taps ([`wide_runs_every_other`]).
    pub(crate) step: usize,
}

/// The narrowest output rows a frame cuts into slivers row by row: from 12 columns the
/// idle lanes of a row's last sliver cost less than the dropped columns and the runs
/// of slivers that cross rows.
const ROW_SLIVERS: usize = 12;

/// Runs of one sliver's lanes that are outputs: `(first lane, past the last lane, column
/// of C)`; a sliver of `NR` lanes holds at most `NR` runs.
type Runs = ([(usize, usize, usize); NR], usize);

impl Frame<'_> {
    /// Whether the frame's rows are cut into slivers row by row ([`ROW_SLIVERS`] outputs
    /// or more), rather than slivers that run across rows.
    fn by_row(&self) -> bool {
        self.width >= ROW_SLIVERS
    }

    /// The output runs of the sliver at virtual column `q0`: on rows cut row by row
    /// ([`Self::slivers`]) only its own row's, since the next row's first outputs, which
    /// its last lanes may reach past the dropped columns, belong to that row's first
    /// sliver (stored by both, a later `k` block had added its partial sums twice).
    fn runs(&self, q0: usize) -> Runs {
        let mut runs = [(0, 0, 0); NR];
        let mut count = 0;
        let columns = if self.by_row() {
            (q0 / self.pitch + 1) * self.pitch
        } else {
            self.rows * self.pitch
        };
        let mut lane = 0;
        while lane < NR && q0 + lane < columns {
            let (row, column) = ((q0 + lane) / self.pitch, (q0 + lane) % self.pitch);
            let span = (self.pitch - column).min(NR - lane);
            if column < self.width {
                let len = (self.width - column).min(span);
                runs[count] = (lane, lane + len, self.column0 + row * self.width + column);
                count += 1;
            }
            lane += span;
        }
        (runs, count)
    }

    /// Whether the sliver at virtual column `q` holds outputs only, in one row (or
    /// across rows of no dropped columns, a strided 1 × 1 convolution's, where slivers
    /// run across rows): the vector store. Where rows are cut row by row, a sliver
    /// reaching into the next row is not whole even without dropped columns: that row's
    /// first sliver stores the same outputs, and in one wide tile with it the logistic
    /// epilogue had run twice on them (found by the differential checks, checks/).
    fn whole(&self, q: usize) -> bool {
        if self.pitch == self.width && !self.by_row() {
            q + NR <= self.rows * self.width
        } else {
            q % self.pitch + NR <= self.width
        }
    }

    /// The sliver at `q0` and, when it is [`Self::whole`], up to `most − 1` more whole
    /// ones taken from `slivers` (the later ones may start rows further down): their
    /// virtual columns, how many, and whether the first is whole.
    fn group(
        &self,
        q0: usize,
        slivers: &mut core::iter::Peekable<impl Iterator<Item = usize>>,
        most: usize,
    ) -> ([usize; 4], usize, bool) {
        let whole = self.whole(q0);
        let mut group = [q0; 4];
        let mut count = 1;
        while whole && count < most.min(4) {
            match slivers.peek() {
                Some(&q) if self.whole(q) => {
                    group[count] = q;
                    count += 1;
                    slivers.next();
                }
                _ => break,
            }
        }
        (group, count, whole)
    }

    /// The virtual column of every sliver, in order: row by row on wide rows, across
    /// rows otherwise.
    fn slivers(&self) -> impl Iterator<Item = usize> + '_ {
        let (outer, inner) = if self.by_row() {
            (self.rows, self.width)
        } else {
            (1, self.rows * self.pitch)
        };
        (0..outer).flat_map(move |row| (0..inner).step_by(NR).map(move |c| row * self.pitch + c))
    }
}

/// The depth of each `k` block when `k` is cut into the fewest blocks of at most `most`
/// depths, all of one size (288 depths in at most 256: two of 144, not 256 and 32).
const fn even_depth(k: usize, most: usize) -> usize {
    k.div_ceil(k.div_ceil(most))
}

/// The most depths of one `k` block of the narrow tiles when they read `A` in place.
const IN_PLACE_KC: usize = 1024;
/// [`IN_PLACE_KC`] on a frame (its tap table is on the stack). The table also serves the
/// blocks of a packed `A`, of at most the scratch's `KC` depths.
const FRAME_IN_PLACE_KC: usize = 640;
const _: () = assert!(super::KC <= FRAME_IN_PLACE_KC);

/// Whether the narrow tiles read `A` where it is: a transposed `A` (`k × m`, a
/// convolution's weights as the compiler blocks them, from a cache line of the blob)
/// whose rows are whole vectors, against a row-major `B` (`strided`) or a frame. On a
/// frame `A` is one block of rows (at most `MC`), so each depth's rows are the chunk
/// the AVX-512 frame tile reads, as from a packed panel. On AVX2 too: in
/// place and in one `k` block, mobilenet_v2's 7 × 7 layers ran 17–35 % faster alone
/// than from 16-row panels packed on every inference in `k` blocks of at most 256
/// depths, mlperf-vww's 1 × 1 layers at 3 × 3 37–41 %.
fn a_in_place(ops: &Operands<'_>, strided: bool) -> bool {
    ops.trans_a && ops.m.is_multiple_of(NARROW_ROWS) && (strided || ops.m <= MC)
}

/// The `k` blocks of a product that does not pack `B` (a frame's, the narrow tiles'):
/// the scratch's 256 depths split evenly, since a last block of a few depths would store
/// and reload every tile for little work. Also whether the front of the scratch already
/// holds this product's `A` packed in `kind`'s panels: an `A` of one block is packed by a
/// convolution's first call and kept by the next (`packed` is updated for it).
fn even_blocks(m: usize, k: usize, packed: &mut Packed, kind: Packed) -> (usize, bool) {
    let depth_max = even_depth(k, super::KC);
    let single = depth_max >= k && m <= MC;
    let reuse = single && *packed == kind;
    *packed = if single { kind } else { Packed::Nothing };
    (depth_max, reuse)
}

/// The blocked product `y = epilogue(A·B)` with `A` row-major `m × k` and `B` read in
/// place from `frame` (depth `p` at the offset `taps` writes for it, see
/// [`super::gemm_frame`]). The loops are [`gemm_packed`]'s
/// without the packing of `B`; `scratch` holds the packed block of `A`.
pub(super) fn gemm_packed_frame(
    ops: &Operands<'_>,
    frame: &Frame<'_>,
    taps_of: impl Fn(usize, &mut [usize]),
    epilogue: &Epilogue<'_>,
    (packed, scratch): (&mut Packed, &mut [f32]),
    y: &mut [f32],
) {
    let (m, k) = (ops.m, ops.k);
    let (depth_max, reuse) = even_blocks(m, k, packed, Packed::Wide);
    let packed_a = &mut scratch[..MC.min(m.div_ceil(MR) * MR) * depth_max];
    let mut taps = [0usize; super::KC];
    for k0 in (0..k).step_by(depth_max) {
        let depth = depth_max.min(k - k0);
        let (first, last) = (k0 == 0, k0 + depth == k);
        taps_of(k0, &mut taps[..depth]);
        let taps = &taps[..depth];
        for block_row0 in (0..m).step_by(MC) {
            let block_rows = MC.min(m - block_row0);
            if !reuse {
                pack_a::<MR>(
                    ops,
                    (block_row0, block_rows),
                    k0,
                    (depth_max, depth),
                    packed_a,
                );
            }
            let mut slivers = frame.slivers().peekable();
            while let Some(q0) = slivers.next() {
                let (row, column) = (q0 / frame.pitch, q0 % frame.pitch);
                // Up to four whole slivers: the 6 × 64 or 6 × 32 tile.
                let most = if DOUBLE { 4 } else { 1 };
                let (group, count, whole) = frame.group(q0, &mut slivers, most);
                if count >= 2 {
                    let column_of =
                        |q: usize| frame.column0 + q / frame.pitch * frame.width + q % frame.pitch;
                    let block = (block_row0, block_rows);
                    let a = (&*packed_a, depth_max, depth);
                    let columns = group.map(column_of);
                    macro_rules! tile {
                        ($s:literal) => {{
                            let qs: [usize; $s] = array(&group);
                            let b_rows =
                                || taps.iter().map(|&tap| frame_slivers(frame.data, qs, tap));
                            let columns: [usize; $s] = array(&columns);
                            wide_tile::<MR, $s, _>(
                                epilogue,
                                y,
                                a,
                                block,
                                b_rows,
                                (columns, first, last),
                            );
                        }};
                    }
                    match count {
                        4 => tile!(4),
                        3 => tile!(3),
                        _ => tile!(2),
                    }
                    continue;
                }
                let runs = if whole {
                    ([(0, 0, 0); NR], 0)
                } else {
                    frame.runs(q0)
                };
                let window = frame.data.get(q0..).unwrap_or_default();
                let b_rows = || {
                    taps.iter()
                        .filter_map(|&tap| window.get(tap..tap + NR)?.try_into().ok())
                };
                // A whole sliver takes the vector store, one with columns past a row's
                // end its runs.
                let put = |y: &mut [f32], tile_row0: usize, rows: usize, tile: &Tile| {
                    if whole {
                        let place = TilePlace {
                            row0: tile_row0,
                            rows,
                            column0: frame.column0 + row * frame.width + column,
                            width: NR,
                            first,
                            last,
                        };
                        store(epilogue, y, &place, tile);
                    } else {
                        let runs = &runs.0[..runs.1];
                        store_runs(epilogue, y, (tile_row0, rows), runs, (first, last), tile);
                    }
                };
                let block = (block_row0, block_rows);
                let paired = pairs(
                    packed_a,
                    (depth_max, depth),
                    block,
                    b_rows,
                    |row0, rows, tile| put(y, row0, rows, tile),
                );
                let panels = packed_a.chunks_exact(MR * depth_max).skip(paired);
                for (tile_row0, panel) in (block_row0 + paired * MR..block_row0 + block_rows)
                    .step_by(MR)
                    .zip(panels)
                {
                    let rows = MR.min(block_row0 + block_rows - tile_row0);
                    let tile = microkernel_taps(&panel[..depth * MR], frame.data, taps, q0);
                    put(y, tile_row0, rows, &tile);
                }
            }
        }
    }
}

/// Whether [`gemm_frame_eights`] takes an `m × k` framed product: with AVX-512, rows in
/// whole panels of 8 that are fewer than in panels of [`MR`] (8, 16, 32 or 40 output
/// channels, computed as 12, 18, 36 and 42 rows by the 6-row panels), one `k` block and
/// a [`plain`] epilogue.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
pub(super) fn eights_pay(m: usize, k: usize, epilogue: &Epilogue<'_>) -> bool {
    m.is_multiple_of(EIGHT)
        && m < m.div_ceil(MR) * MR
        && k <= super::KC
        && plain(epilogue).is_some()
}

/// The rows of a [`gemm_frame_eights`] panel.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
const EIGHT: usize = 8;

/// [`gemm_packed_frame`] on 8-row panels, where [`eights_pay`]: up to three whole
/// slivers take an 8 × 48 tile (24 accumulators, per depth three loads, eight
/// broadcasts and 24 multiply-adds), any other sliver an 8 × 16 one. The 6-row panels
/// computed a third more rows than 8 output channels (mlperf-vww's first layer), an
/// eighth more than 16 or 32.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
pub(super) fn gemm_frame_eights(
    ops: &Operands<'_>,
    frame: &Frame<'_>,
    taps_of: impl Fn(usize, &mut [usize]),
    epilogue: &Epilogue<'_>,
    (packed, scratch): (&mut Packed, &mut [f32]),
    y: &mut [f32],
) {
    let (m, k) = (ops.m, ops.k);
    let Some(clamp) = plain(epilogue) else {
        return;
    };
    // One `k` block: `A` is kept for the convolution's later bands when it is one block
    // of rows too.
    let single = m <= MC;
    let reuse = single && *packed == Packed::Eight;
    *packed = if single {
        Packed::Eight
    } else {
        Packed::Nothing
    };
    let Some(packed_a) = scratch.get_mut(..MC.min(m) * k) else {
        *packed = Packed::Nothing;
        return;
    };
    let mut taps = [0usize; super::KC];
    let Some(taps) = taps.get_mut(..k) else {
        return;
    };
    taps_of(0, taps);
    let taps = &*taps;
    for block_row0 in (0..m).step_by(MC) {
        let block_rows = MC.min(m - block_row0);
        let block = (block_row0, block_rows);
        if !reuse {
            pack_a::<EIGHT>(ops, block, 0, (k, k), packed_a);
        }
        let mut slivers = frame.slivers().peekable();
        while let Some(q0) = slivers.next() {
            let (group, count, whole) = frame.group(q0, &mut slivers, 3);
            if count >= 2 {
                let column_of =
                    |q: usize| frame.column0 + q / frame.pitch * frame.width + q % frame.pitch;
                let a = (&*packed_a, k, k);
                let columns = group.map(column_of);
                macro_rules! tile {
                    ($s:literal) => {{
                        let qs: [usize; $s] = array(&group);
                        let b_rows = || taps.iter().map(|&tap| frame_slivers(frame.data, qs, tap));
                        let columns: [usize; $s] = array(&columns);
                        let place = (columns, true, true);
                        wide_tile::<EIGHT, $s, _>(epilogue, y, a, block, b_rows, place);
                    }};
                }
                match count {
                    3 => tile!(3),
                    _ => tile!(2),
                }
                continue;
            }
            let runs = if whole {
                let column = frame.column0 + q0 / frame.pitch * frame.width + q0 % frame.pitch;
                ([(0, NR, column); NR], 1)
            } else {
                frame.runs(q0)
            };
            let window = frame.data.get(q0..).unwrap_or_default();
            let panels = packed_a.chunks_exact(EIGHT * k);
            for (row0, panel) in (block_row0..block_row0 + block_rows)
                .step_by(EIGHT)
                .zip(panels)
            {
                let acc = sliver_taps::<EIGHT>(panel, window, taps);
                store_sliver(&acc, epilogue, clamp, y, row0, &runs.0[..runs.1]);
            }
        }
    }
}

/// [`gemm_packed`] on 8-row panels for a row-major `B` of whole slivers, where
/// [`eights_pay`]: 8 × 48 tiles (8 × 32 or 8 × 16 for the last columns), as
/// [`gemm_frame_eights`] takes a frame. The 6-row panels computed 18 rows for 16 output
/// channels and 36 for 32 (mobilenet_v2's 32 → 16 layer at 112 × 112, mlperf-vww's
/// 8 → 16 at 48 × 48).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
fn gemm_packed_eights(
    ops: &Operands<'_>,
    epilogue: &Epilogue<'_>,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (m, n, k) = (ops.m, ops.n, ops.k);
    // `m` in whole panels of 8 is no more than in panels of `MR`, and one `k` block: the
    // 8-row panels fit where `split_scratch` puts the 6-row ones.
    let Some(packed_a) = scratch.get_mut(..MC.min(m) * k) else {
        return;
    };
    for block_row0 in (0..m).step_by(MC) {
        let block = (block_row0, MC.min(m - block_row0));
        pack_a::<EIGHT>(ops, block, 0, (k, k), packed_a);
        let a = (&*packed_a, k, k);
        let mut column0 = 0;
        while column0 < n {
            let count = ((n - column0) / NR).min(3);
            let at = (0, k, column0, true, true);
            match count {
                3 => row_major_tile::<EIGHT, 3>(ops, epilogue, y, a, block, at),
                2 => row_major_tile::<EIGHT, 2>(ops, epilogue, y, a, block, at),
                _ => row_major_tile::<EIGHT, 1>(ops, epilogue, y, a, block, at),
            }
            column0 += count.max(1) * NR;
        }
    }
}

/// One `R`-row panel of `A` against one sliver of a frame (depth `p`'s row at
/// `window[taps[p]..]`): `R` accumulators of 16 columns.
// Not inlined: inside `gemm_frame_eights` LLVM kept four of the eight accumulators on
// the stack, a load and a store beside each multiply-add (4 % of mlperf-ic).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(never)]
fn sliver_taps<const R: usize>(
    panel: &[f32],
    window: &[f32],
    taps: &[usize],
) -> [super::simd::F32x16; R] {
    use super::simd::F32x16;
    let mut acc = [F32x16::splat(0.0); R];
    let Some(last) = window.len().checked_sub(NR) else {
        return acc;
    };
    for (a, &tap) in panel.chunks_exact(R).zip(taps) {
        // Every tap is inside the frame by construction; a miss would only skip a depth.
        let Some(b) = tap_row::<NR>(window, last, tap) else {
            continue;
        };
        let b = F32x16::load(b);
        let a: [f32; R] = array(a);
        unroll!(R, |i| acc[i] = F32x16::splat(a[i]).mul_add(b, acc[i]));
    }
    acc
}

/// Stores the `runs` of an `R`-row sliver tile of one `k` block (rows `row0..`) with a
/// [`plain`] epilogue: bias per row, the clamp, then each run's lanes.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn store_sliver<const R: usize>(
    acc: &[super::simd::F32x16; R],
    epilogue: &Epilogue<'_>,
    clamp: Option<(f32, f32)>,
    y: &mut [f32],
    row0: usize,
    runs: &[(usize, usize, usize)],
) {
    use super::simd::F32x16;
    let n = epilogue.n;
    let one = F32x16::splat(1.0);
    let bounds = clamp.map(|(lo, hi)| (F32x16::splat(lo), F32x16::splat(hi)));
    unroll!(R, |i| {
        let row_idx = row0 + i;
        let bias = plain_bias(epilogue, row_idx);
        let mut value = acc[i].mul_add(one, F32x16::splat(bias));
        if let Some((lo, hi)) = bounds {
            value = value.max(lo).min(hi);
        }
        let lanes = value.to_array();
        for &(lo, hi, column) in runs {
            let at = row_idx * n + column;
            if let Some(out) = y.get_mut(at..at + (hi - lo)) {
                copy_vectors(&lanes[lo..hi], out);
            }
        }
    });
    let widths = runs.iter().map(|&(lo, hi, column)| (column, hi - lo));
    logistic_after(epilogue, y, (row0, R), widths);
}

/// The `W` floats of `B` at offset `tap` of `window`, with `tap` clamped to `last`
/// (`window.len() − W`, which the caller checked): every tap is inside the frame by
/// construction, so the clamp never moves one, but it lets a depth's read go without
/// the range check (six instructions) that had stood beside its twelve multiply-adds.
#[inline(always)]
fn tap_row<const W: usize>(window: &[f32], last: usize, tap: usize) -> Option<&[f32; W]> {
    let at = tap.min(last);
    window.get(at..).and_then(<[f32]>::first_chunk::<W>)
}

/// [`microkernel`] with depth `p`'s row of `B` at `frame[taps[p] + q0..]`.
#[inline(always)]
fn microkernel_taps(panel: &[f32], frame: &[f32], taps: &[usize], q0: usize) -> [[F32x8; NV]; MR] {
    let mut acc = [[F32x8::splat(0.0); NV]; MR];
    let window = frame.get(q0..).unwrap_or_default();
    for (a, &tap) in panel.chunks_exact(MR).zip(taps) {
        let a: [f32; MR] = array(a);
        // Every tap is inside the frame by construction; a miss would only skip a depth.
        let Some(b_row) = window.get(tap..tap + NR) else {
            continue;
        };
        let mut b = [F32x8::splat(0.0); NV];
        unroll!(NV, |v| b[v] = load_at(b_row, v * LANES));
        unroll!(MR, |i| {
            let a_vector = F32x8::splat(a[i]);
            unroll!(NV, |v| acc[i][v] = a_vector.mul_add(b[v], acc[i][v]));
        });
    }
    acc
}

/// Stores the lanes of `runs` of the tile's first `rows` rows (rows `row0..`). With a
/// bias per row (or none), the epilogue runs on whole vectors as in [`store`] and each
/// run is copied out; a bias along the columns takes the scalar epilogue.
#[inline(always)]
fn store_runs(
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
    (row0, rows): (usize, usize),
    runs: &[(usize, usize, usize)],
    (first, last): (bool, bool),
    tile: &[[F32x8; NV]; MR],
) {
    let by_row = matches!(epilogue.bias, Bias::None | Bias::Scalar(_) | Bias::Col(_));
    for (i, tile_row) in tile.iter().enumerate().take(rows) {
        let row_idx = row0 + i;
        let row_start = row_idx * epilogue.n;
        let mut lanes = [0.0f32; NR];
        if by_row {
            // The partial sums of earlier `k` blocks, lane by lane.
            let mut prior = [0.0f32; NR];
            if !first {
                for &(lo, hi, column) in runs {
                    prior[lo..hi].copy_from_slice(&y[row_start + column..][..hi - lo]);
                }
            }
            let alpha = F32x8::splat(epilogue.alpha);
            for (v, chunk) in lanes.chunks_exact_mut(LANES).enumerate() {
                let sum = tile_row[v];
                let value = if first {
                    sum.mul_add(alpha, bias_vector(epilogue, row_idx, 0))
                } else {
                    sum.mul_add(alpha, load_at(&prior, v * LANES))
                };
                let value = if last {
                    activate(epilogue.act, value)
                } else {
                    value
                };
                chunk.copy_from_slice(&value.to_array());
            }
            for &(lo, hi, column) in runs {
                copy_vectors(&lanes[lo..hi], &mut y[row_start + column..][..hi - lo]);
            }
            continue;
        }
        for (chunk, vector) in lanes.chunks_exact_mut(LANES).zip(tile_row) {
            chunk.copy_from_slice(&vector.to_array());
        }
        for &(lo, hi, column) in runs {
            let out = &mut y[row_start + column..][..hi - lo];
            epilogue.store_segment(out, &lanes[lo..hi], (row_idx, column), (first, last));
        }
    }
}

/// Where the depths of a narrow product read `B`.
pub(super) enum Depths<F> {
    /// Depth `p` at the offset the function writes for it (a convolution's frame; see
    /// [`super::gemm_frame`]).
    Taps(F),
    /// Depth `p` at `p · stride` (a row-major `B` of `stride` columns).
    Strided(usize),
}

/// The depths of one `k` block: offsets from the frame's start, or the block's first row
/// and the stride.
#[derive(Clone, Copy)]
// Only the AVX-512 tiles read a run or a step (`narrow_tile_wide`).
#[cfg_attr(
    not(all(target_arch = "x86_64", target_feature = "avx512f")),
    allow(dead_code)
)]
enum RowsAt<'t> {
    /// The offsets, the length of the runs of consecutive offsets from the first, and
    /// the frame's [`Frame::step`].
    Taps(&'t [usize], usize, usize),
    Strided(usize, usize),
}

/// One depth of a narrow tile: two vectors of `A` by `NC` broadcasts of `B`.
#[inline(always)]
fn narrow_step<const NC: usize>(acc: &mut [[F32x8; 2]; NC], a: &[f32], b: &[f32; NC]) {
    let a = [load_at(a, 0), load_at(a, LANES)];
    unroll!(NC, |j| {
        let b_vector = F32x8::splat(b[j]);
        unroll!(2, |v| acc[j][v] = a[v].mul_add(b_vector, acc[j][v]));
    });
}

/// Walks the `depth` depths of a narrow tile whose rows of `B` are `stride` apart from
/// `window`'s start, calling `step` with each depth's `chunk` floats of `A` (`a_stride`
/// apart: a packed panel's depths, or the rows of a transposed `A` read in place) and its
/// `NC` values of `B`: no table of offsets to load and check per depth (a row-major `B`
/// is most of the narrow products, the 1×1 convolutions on small planes). As in
/// [`microkernel`], zipped exact chunks (the last depth apart, since its rows may end at
/// the end of `A` or `B`).
///
/// With `FETCH`, each depth also asks for the cache lines of `A` [`PREFETCH_DEPTHS`]
/// depths ahead (x86-64 only). A tile that reads its block's `A` first finds it in L3 or
/// memory when a model's weights exceed L2 (mobilenet_v2's 7 × 7 layers: 0.6 to 1.6 MB
/// each, 14 MB in all), and the hardware's prefetchers, which stop at every 4 KiB page,
/// ran the first tile at about half the speed of the others.
#[inline(always)]
fn strided_depths<const NC: usize, const FETCH: bool>(
    depth: usize,
    (a, a_stride, chunk): (&[f32], usize, usize),
    (window, stride): (&[f32], usize),
    mut step: impl FnMut(&[f32], &[f32; NC]),
) {
    if depth == 0 || stride < NC || a_stride < chunk {
        return;
    }
    let (Some((a_rows, last_a)), Some((b_rows, last_b))) = (
        a.split_at_checked((depth - 1) * a_stride),
        window.split_at_checked((depth - 1) * stride),
    ) else {
        return;
    };
    let (last, mut ahead) = (a.len().saturating_sub(1), PREFETCH_DEPTHS * a_stride);
    for (a_row, b_row) in a_rows
        .chunks_exact(a_stride)
        .zip(b_rows.chunks_exact(stride))
    {
        let (Some(a_row), Some(b)) = (a_row.get(..chunk), b_row.first_chunk::<NC>()) else {
            break;
        };
        if FETCH {
            for line in (0..chunk).step_by(LINE_FLOATS) {
                if let Some(value) = a.get((ahead + line).min(last)) {
                    prefetch(value);
                }
            }
            ahead += a_stride;
        }
        step(a_row, b);
    }
    if let (Some(a), Some(b)) = (last_a.get(..chunk), last_b.first_chunk::<NC>()) {
        step(a, b);
    }
}

/// How many depths ahead [`strided_depths`] asks for `A`: 6 KiB ahead for three vectors
/// of rows, about 400 cycles of their multiply-adds. 16 and 64 measured the same.
const PREFETCH_DEPTHS: usize = 32;
/// Floats in a cache line.
const LINE_FLOATS: usize = 16;

/// Asks for the cache line holding `value` (a hint: no effect on the program's result).
#[inline(always)]
fn prefetch(value: &f32) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(value);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Output rows of one narrow tile: two vectors, so `A` is loaded and `B` broadcast.
pub(super) const NARROW_ROWS: usize = 2 * LANES;
/// The most columns of one narrow tile: 2 × 6 accumulators, two vectors of `A` and one
/// broadcast of `B` fill AVX's sixteen registers.
const NARROW_COLUMNS: usize = 6;
/// The columns one narrow tile step covers: with AVX-512 eight (three 16-row panels by
/// eight columns are 24 of the 32 registers, [`narrow_block_wide`]), else [`NARROW_COLUMNS`].
const NARROW_STEP: usize = if DOUBLE { 8 } else { NARROW_COLUMNS };
const _: () = assert!(NARROW_ROWS <= super::NARROW_PANEL_ROWS && MC.is_multiple_of(NARROW_ROWS));

/// The widest row-major `B` (a 1 × 1 convolution's plane) that always takes the narrow
/// tiles with AVX-512, and without it when they read `A` in place
/// ([`narrow_in_place_pays`]).
const NARROW_MAX_WIDTH: usize = 256;

/// Whether the narrow kernel beats the sliver kernel on an `m × k` product over the
/// columns of `frame`: the sliver kernel computes whole slivers of `NR` columns and
/// `MR`-row tiles, the narrow one exactly the outputs in `NARROW_ROWS`-row tiles, but
/// stores lane by lane, which only a depth of `NARROW_MIN_DEPTH` or more amortises. It
/// must save 15 %. `strided`: `B` is row-major, `frame` one row of it.
pub(super) fn narrow_pays(m: usize, k: usize, frame: &Frame<'_>, strided: bool) -> bool {
    if NV != 2 || k < super::NARROW_MIN_DEPTH || m == 0 {
        return false;
    }
    if DOUBLE && strided {
        // With AVX-512 and a row-major `B` (a 1 × 1 convolution), a narrow tile of two or
        // three vectors of `A` by eight columns (up to 24 multiply-adds for eleven loads)
        // beats the 6 × 32 tile (twelve for eight) wherever it has two vectors:
        // mobilenet_v2's 14 × 14 and 28 × 28 pointwise layers ran 25-30 % faster, and
        // mlperf-kws 67 → 58 µs. One vector is load-bound. On frames (k × k
        // convolutions) the same rule made mnist-8, fomo-96 and mlperf-ic slower, so
        // they keep the rule below.
        //
        // Across many columns the wide tiles (6 × 64, or 8 × 48 where `m` is whole
        // panels of eight) win wherever the product is one `k` block: they store each
        // output once, in whole vectors, where the narrow tiles transpose theirs. On a
        // Zen 4 host, one layer at a time (`examples/conv_layers`), 64 → 32, 64 → 64 and
        // 64 → 384 at 56 × 56 or 28 × 28 ran 19-22 % faster on them, 192 → 32 and 256 →
        // 128 at 28 × 28 7 % and 3 %, mobilenet_v2's 96 → 24 and 144 → 24 at 56 × 56
        // had run 130 → 88 and 275 → 159 µs. Deeper products keep the narrow tiles,
        // which read a transposed `A` in place in one block where the wide tiles take
        // several and pass over `C` once per block: 288 → 32 at 56 × 56, 384 → 64 and
        // 1024 → 64 at 28 × 28 ran 14-20 % slower on the wide tiles, unless the narrow
        // tiles would compute more rows than the 6-row panels (24 output channels are
        // 32 narrow rows): those take the wide tiles at any depth. A few columns keep
        // the narrow tiles, whose slivers would be mostly idle.
        let narrow_rows = m.div_ceil(NARROW_ROWS) * NARROW_ROWS;
        let wasteful = narrow_rows > m.div_ceil(MR) * MR;
        return m > NARROW_ROWS
            && (frame.width <= NARROW_MAX_WIDTH || !(wasteful || k <= super::KC));
    }
    let (wide_rows, narrow_rows) = (m.div_ceil(MR) * MR, m.div_ceil(NARROW_ROWS) * NARROW_ROWS);
    if frame_takes_narrow(m, k) {
        // With AVX-512 on a frame, two or three vectors of `A` that compute no more rows
        // than the 6-row panels take the narrow tiles whatever the plane, which compute
        // no virtual column past a row: mlperf-ic's 32 → 32 layer at 16 × 16 ran 37.4 →
        // 32.5 µs, its 16 → 32 at stride 2 21.5 → 20.6. One vector (16 output channels)
        // is bound by its loads and keeps the rule below (16 → 16 at 32 × 32: 35 µs on
        // the 6 × 64 tiles, 38.5 narrow).
        return true;
    }
    let outputs = frame.rows * frame.width;
    let computed = if frame.by_row() {
        frame.rows * frame.width.div_ceil(NR) * NR
    } else {
        (frame.rows * frame.pitch).div_ceil(NR) * NR
    };
    // narrow efficiency / wide efficiency > 1.15
    computed * wide_rows * 100 > 115 * narrow_rows * outputs
}

/// With AVX-512, whether an `m × k` product over a frame takes the narrow tiles
/// whatever the frame ([`narrow_pays`]), so the frame may be left unsplit
/// ([`Frame::step`]): two or three vectors of `A` that compute no more rows than the
/// 6-row panels.
pub(crate) fn frame_takes_narrow(m: usize, k: usize) -> bool {
    let (wide_rows, narrow_rows) = (m.div_ceil(MR) * MR, m.div_ceil(NARROW_ROWS) * NARROW_ROWS);
    DOUBLE && NV == 2 && k >= super::NARROW_MIN_DEPTH && m > NARROW_ROWS && narrow_rows <= wide_rows
}

/// How [`gemm_packed_narrow`] cuts `m` rows: `(panels, blocks)`, its `NARROW_ROWS`-row
/// panels shared out evenly between the fewest blocks of at most `MC` rows (64 rows are
/// two blocks of two vectors, not three and one: a block of one vector is bound by its
/// broadcasts of `B`).
const fn narrow_split(m: usize) -> (usize, usize) {
    let panels = m.div_ceil(NARROW_ROWS);
    (panels, panels.div_ceil(MC / NARROW_ROWS))
}

/// The most vectors of `A` a block of the narrow tiles takes for `m` rows
/// ([`narrow_split`]).
pub(crate) const fn narrow_block_vectors(m: usize) -> usize {
    let (panels, blocks) = narrow_split(m);
    if blocks == 0 {
        0
    } else {
        panels.div_ceil(blocks)
    }
}

/// Without AVX-512, whether a product whose transposed `A` the narrow tiles read in
/// place ([`a_in_place`]) takes them against a row-major `B` of at most
/// [`NARROW_MAX_WIDTH`] columns even where [`narrow_pays`] finds the slivers idle too
/// rarely: reading no panel of `A` packed on every inference, mobilenet_v2's 1 × 1
/// layers at 14 × 14 ran 6–25 % faster alone and a 64 → 64 one at 12 × 12 13 %, while
/// at 24 × 24 and 28 × 28 the 6 × 16 tiles stay faster. More than one vector of rows, as
/// with AVX-512 (one is bound by its loads).
pub(super) fn narrow_in_place_pays(ops: &Operands<'_>) -> bool {
    !DOUBLE
        && NV == 2
        && a_in_place(ops, true)
        && ops.m > NARROW_ROWS
        && ops.n <= NARROW_MAX_WIDTH
        && ops.k >= super::NARROW_MIN_DEPTH
}

/// [`gemm_packed_frame`] on narrow tiles: `NARROW_ROWS` output rows (vectors of
/// packed `A`) by at most `NARROW_COLUMNS` outputs of one row of the frame (broadcasts
/// of `B`), so no virtual column past a row's `width` is computed and a row of four
/// outputs fills its tile. Suits small planes with many channels, where slivers of `NR`
/// columns run mostly idle. `scratch` holds the packed block of `A` in `NARROW_ROWS`-row
/// panels.
pub(super) fn gemm_packed_narrow(
    ops: &Operands<'_>,
    frame: &Frame<'_>,
    depths: Depths<impl Fn(usize, &mut [usize])>,
    epilogue: &Epilogue<'_>,
    (packed, scratch): (&mut Packed, &mut [f32]),
    y: &mut [f32],
) {
    let (m, k) = (ops.m, ops.k);
    let strided = matches!(depths, Depths::Strided(_));
    let in_place = a_in_place(ops, strided);
    let (depth_max, reuse) = if in_place {
        // `A` is read where it is, so the scratch does not bound its `k` blocks: every
        // block is a pass over `C`. mobilenet_v2's 7 × 7 and 14 × 14 layers ran 3-6 %
        // faster in one block than in blocks of 256 depths or less. A frame's block
        // takes the offsets of its depths from a table of `FRAME_IN_PLACE_KC`: in one
        // block rather than two or three, mlperf-ic's layers of 288 and 576 depths stored
        // and transposed each tile once.
        *packed = Packed::Nothing;
        let most = if strided {
            IN_PLACE_KC
        } else {
            FRAME_IN_PLACE_KC
        };
        (even_depth(k, most), false)
    } else {
        even_blocks(m, k, packed, Packed::Narrow)
    };
    // `k` blocks of whole runs of taps, so every block reads its taps in runs.
    let depth_max = if frame.run > 1 && depth_max >= frame.run {
        depth_max / frame.run * frame.run
    } else {
        depth_max
    };
    let packed_a = if in_place {
        &mut scratch[..0]
    } else {
        &mut scratch[..MC.min(m.div_ceil(NARROW_ROWS) * NARROW_ROWS) * depth_max]
    };
    let mut taps = [0usize; FRAME_IN_PLACE_KC];
    for k0 in (0..k).step_by(depth_max) {
        let depth = depth_max.min(k - k0);
        let (first, last) = (k0 == 0, k0 + depth == k);
        let rows_at = match depths {
            Depths::Taps(ref taps_of) => {
                taps_of(k0, &mut taps[..depth]);
                let run = if frame.run > 1 && k0 % frame.run == 0 && depth % frame.run == 0 {
                    frame.run
                } else {
                    1
                };
                RowsAt::Taps(&taps[..depth], run, frame.step)
            }
            Depths::Strided(stride) => RowsAt::Strided(k0 * stride, stride),
        };
        let (panels, blocks) = narrow_split(m);
        for b in 0..blocks {
            let block_row0 = b * panels / blocks * NARROW_ROWS;
            let block_rows = ((b + 1) * panels / blocks * NARROW_ROWS).min(m) - block_row0;
            let block = (block_row0, block_rows);
            if DOUBLE {
                let stage = (epilogue, first, last);
                let b = (frame, rows_at);
                narrow_block_wide(
                    ops,
                    b,
                    (k0, depth),
                    block,
                    stage,
                    (in_place, reuse, packed_a),
                    y,
                );
                continue;
            }
            if !reuse && !in_place {
                pack_a::<NARROW_ROWS>(ops, block, k0, (depth_max, depth), packed_a);
            }
            // A frame's rows are short (8 or 16 outputs of a small plane), and a last
            // tile of one or two columns runs at half speed or less (four accumulators
            // wait on the latency of their multiply-adds): its rows are shared out
            // evenly between the fewest tiles (8 = 4 + 4, not 6 + 2), which ran
            // mlperf-ic's 64 → 64 layer at 8 × 8 9 % faster alone and its 32 → 64 at
            // stride 2 11 %. A row-major `B` is one long row, where the tiles of 1 × 1
            // convolutions measured the same either way, and keeps whole tiles.
            let balanced = matches!(depths, Depths::Taps(_));
            let tiles = frame.width.div_ceil(NARROW_STEP);
            for row in 0..frame.rows {
                for t in 0..tiles {
                    let (column, width) = if balanced {
                        let column = t * frame.width / tiles;
                        (column, (t + 1) * frame.width / tiles - column)
                    } else {
                        let column = t * NARROW_STEP;
                        (column, NARROW_STEP.min(frame.width - column))
                    };
                    let q0 = row * frame.pitch + column;
                    let place = (frame.column0 + row * frame.width + column, first, last);
                    for tile_row0 in (block_row0..block_row0 + block_rows).step_by(NARROW_ROWS) {
                        let rows = (
                            tile_row0,
                            NARROW_ROWS.min(block_row0 + block_rows - tile_row0),
                        );
                        // A transposed `A` of whole vectors is read where it is (depth
                        // `p`'s rows `m` floats after depth `p − 1`'s), as on AVX-512;
                        // otherwise the tile's panel of the packed block.
                        let panel = if in_place {
                            (ops.a.get(k0 * m + tile_row0..).unwrap_or_default(), m)
                        } else {
                            let at = (tile_row0 - block_row0) * depth_max;
                            (
                                packed_a
                                    .get(at..at + depth * NARROW_ROWS)
                                    .unwrap_or_default(),
                                NARROW_ROWS,
                            )
                        };
                        let b = (frame.data, rows_at, q0, depth);
                        match width {
                            1 => narrow_tile::<1>(panel, b, epilogue, y, rows, place),
                            2 => narrow_tile::<2>(panel, b, epilogue, y, rows, place),
                            3 => narrow_tile::<3>(panel, b, epilogue, y, rows, place),
                            4 => narrow_tile::<4>(panel, b, epilogue, y, rows, place),
                            5 => narrow_tile::<5>(panel, b, epilogue, y, rows, place),
                            _ => narrow_tile::<6>(panel, b, epilogue, y, rows, place),
                        }
                    }
                }
            }
        }
    }
}

/// With AVX-512: one block of [`gemm_packed_narrow`] (at most `MC` rows, three 16-row
/// vectors) packed as a single panel of `16 · P` rows, its `P` vectors of one depth
/// adjacent, by up to [`NARROW_STEP`] columns: a 48 × 8 tile takes per depth three loads
/// of `A`, eight broadcasts of `B` and 24 fused multiply-adds, where the 16 × 6 AVX tile
/// takes two loads, six broadcasts and twelve on half the lanes. One panel rather than
/// three keeps each depth's loads in one chunk whose length the loop knows, so they
/// take no range checks.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn narrow_block_wide(
    ops: &Operands<'_>,
    (frame, rows_at): (&Frame<'_>, RowsAt<'_>),
    (k0, depth): (usize, usize),
    (block_row0, block_rows): (usize, usize),
    (epilogue, first, last): (&Epilogue<'_>, bool, bool),
    (in_place, reuse, packed_a): (bool, bool, &mut [f32]),
    y: &mut [f32],
) {
    const { assert!(MC == 3 * NARROW_ROWS) };
    let panels = block_rows.div_ceil(NARROW_ROWS);
    let block = (block_row0, block_rows);
    // A transposed `A` (`k × m`, a 1 × 1 convolution's weights as the compiler lays them
    // out) whose rows are whole vectors is read in place ([`a_in_place`], decided by the
    // caller, which then reserves no scratch for it): depth `p`'s vectors of the block
    // are `m` floats after depth `p − 1`'s. Packing had taken a quarter of a
    // 1280 × 49 × 320 product, run on every inference.
    let a = if in_place {
        (
            ops.a.get(k0 * ops.m + block_row0..).unwrap_or_default(),
            ops.m,
        )
    } else {
        let Some(a) = packed_a.get_mut(..panels * NARROW_ROWS * depth) else {
            return;
        };
        match (reuse, panels) {
            (true, _) => {}
            (false, 1) => pack_a::<NARROW_ROWS>(ops, block, k0, (depth, depth), a),
            (false, 2) => pack_a::<{ 2 * NARROW_ROWS }>(ops, block, k0, (depth, depth), a),
            (false, _) => pack_a::<{ 3 * NARROW_ROWS }>(ops, block, k0, (depth, depth), a),
        }
        (&*a, panels * NARROW_ROWS)
    };
    // Rows of at most half a tile's columns on a frame go two at a time: the tile's
    // columns are one row's outputs and the next row's, adjacent in `C`, read `pitch`
    // apart in the frame (a 4 × 4 plane: eight columns, sixteen accumulators, where one
    // row's four leave the multiply-adds waiting on each other).
    let paired =
        2 * frame.width <= NARROW_STEP && matches!(rows_at, RowsAt::Taps(..)) && frame.step == 1;
    let step = if paired { 2 } else { 1 };
    for row in (0..frame.rows).step_by(step) {
        let second = if paired && row + 1 < frame.rows {
            frame.pitch
        } else {
            0
        };
        // Tiles of eight columns, but a row-major `B` (one long row) whose last tile
        // would hold one or two columns gives them to the tiles before it, which take
        // nine (49 = 5 × 8 + 9): a tile of one column ran at a fraction of the speed
        // and read the block's `A` once more. Nine-column tiles store in two parts, so
        // a remainder of three or more keeps its own tile (on 14 × 14 planes, tiles of
        // eight and nine ran 5-15 % slower than eights and a four).
        let spread = matches!(rows_at, RowsAt::Strided(..))
            && frame.width >= NARROW_STEP
            && (1..=2).contains(&(frame.width % NARROW_STEP))
            && frame.width % NARROW_STEP <= frame.width / NARROW_STEP;
        let tiles = if spread {
            frame.width / NARROW_STEP
        } else {
            frame.width.div_ceil(NARROW_STEP)
        };
        for t in 0..tiles {
            let (column, end) = if spread {
                (t * frame.width / tiles, (t + 1) * frame.width / tiles)
            } else {
                (t * NARROW_STEP, frame.width.min((t + 1) * NARROW_STEP))
            };
            let q0 = row * frame.pitch + column;
            let place = (frame.column0 + row * frame.width + column, first, last);
            let b = (frame.data, rows_at, q0, depth);
            let columns = if second > 0 {
                2 * frame.width
            } else {
                end - column
            };
            // One monomorphised tile per (vectors, columns): both are constant in the
            // loops that compute and store it.
            macro_rules! by_width {
                ($p:literal) => {
                    match columns {
                        1 => narrow_tile_wide::<$p, 1>(a, b, second, epilogue, y, block, place),
                        2 => narrow_tile_wide::<$p, 2>(a, b, second, epilogue, y, block, place),
                        3 => narrow_tile_wide::<$p, 3>(a, b, second, epilogue, y, block, place),
                        4 => narrow_tile_wide::<$p, 4>(a, b, second, epilogue, y, block, place),
                        5 => narrow_tile_wide::<$p, 5>(a, b, second, epilogue, y, block, place),
                        6 => narrow_tile_wide::<$p, 6>(a, b, second, epilogue, y, block, place),
                        7 => narrow_tile_wide::<$p, 7>(a, b, second, epilogue, y, block, place),
                        8 => narrow_tile_wide::<$p, 8>(a, b, second, epilogue, y, block, place),
                        _ => narrow_tile_wide::<$p, 9>(a, b, second, epilogue, y, block, place),
                    }
                };
            }
            match panels {
                1 => by_width!(1),
                2 => by_width!(2),
                _ => by_width!(3),
            }
        }
    }
}

/// Without AVX-512 every block takes the 16-row AVX tiles.
#[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
#[inline(always)]
fn narrow_block_wide(
    _: &Operands<'_>,
    _: (&Frame<'_>, RowsAt<'_>),
    _: (usize, usize),
    _: (usize, usize),
    _: (&Epilogue<'_>, bool, bool),
    _: (bool, bool, &mut [f32]),
    _: &mut [f32],
) {
}

/// One tile of [`narrow_block_wide`]: `16 · P` rows of `A` (depth `p`'s vectors at
/// `p · a_stride` of `a`: a packed panel's, or a transposed `A`'s read in place) by
/// `NC` columns from virtual column `q0`, over `depth` depths, stored as [`narrow_tile`]
/// stores.
// Not inlined: a debug build gives every inlined copy its own stack slots, and the 24
// tiles in one frame overflowed a test thread's stack. A call per tile costs nothing
// against its loop.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn narrow_tile_wide<const P: usize, const NC: usize>(
    (a, a_stride): (&[f32], usize),
    (frame, rows_at, q0, depth): (&[f32], RowsAt<'_>, usize, usize),
    second: usize,
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
    (row0, rows): (usize, usize),
    (column0, first, last): (usize, bool, bool),
) {
    const { assert!(NARROW_ROWS == 16 && P <= 3) };
    let chunk = P * NARROW_ROWS;
    // What the stores need from the epilogue, read before the walk: read after it, the
    // first of these loads took about a third of the tile function's time (`perf`, a
    // 96 → 576 layer at 14 × 14), waiting behind the walk's returned accumulators.
    let by_row = matches!(epilogue.bias, Bias::None | Bias::Scalar(_) | Bias::Col(_));
    let mut offsets = [super::simd::F32x16::splat(0.0); P];
    if by_row && first {
        unroll!(P, |v| offsets[v] =
            row_offset_vector::<_, 16>(epilogue, row0 + v * 16));
    }
    let stores = WideStores {
        alpha: super::simd::F32x16::splat(epilogue.alpha),
        offsets,
        act: epilogue.act,
        n: epilogue.n,
    };
    let acc = match rows_at {
        // On a frame `A` is a packed panel or, read in place, a transposed block of
        // `chunk` rows ([`a_in_place`]): either way `a_stride == chunk`.
        RowsAt::Taps(taps, run, step) => {
            let window = frame.get(step * q0..).unwrap_or_default();
            // A frame in column order is only read in runs; other frames take them up to
            // two vectors of `A`: with three, LLVM interleaves a run's taps and keeps
            // accumulators on the stack (a 32 → 48 layer at 16 × 16 ran 1.5 times slower).
            if step == 2 {
                wide_runs_every_other::<P, NC>(a, window, taps)
            } else if second == 0 && run == 3 && P <= 2 {
                wide_runs::<P, NC>(a, window, taps)
            } else if second > 0 {
                wide_taps::<P, NC, true>(a, window, taps, second)
            } else {
                wide_taps::<P, NC, false>(a, window, taps, 0)
            }
        }
        RowsAt::Strided(start, stride) => {
            let window = frame.get(start + q0..).unwrap_or_default();
            // The first tile of a row reads the block's `A` first, from L3 or memory
            // when the model's weights exceed L2; the others find it in L2.
            if q0 == 0 {
                wide_strided::<P, NC, true>(depth, (a, a_stride), (window, stride))
            } else {
                wide_strided::<P, NC, false>(depth, (a, a_stride), (window, stride))
            }
        }
    };
    let rows = (row0, rows.min(chunk));
    // The stores take eight columns at a time (a tile of nine stores eight, then one).
    if by_row {
        for (g, group) in acc.chunks(LANES).enumerate() {
            let place = (column0 + g * LANES, first, last);
            macro_rules! store {
                ($($n:literal)*) => {
                    match group.len() {
                        $($n => {
                            if let Some(group) = group.first_chunk::<$n>() {
                                store_wide(group, &stores, y, rows, place);
                            }
                        })*
                        _ => {}
                    }
                };
            }
            store!(1 2 3 4 5 6 7 8);
        }
        return;
    }
    let mut columns = [[0.0f32; 48]; NC];
    unroll!(NC, |j| unroll!(P, |v| columns[j][v * 16..(v + 1) * 16]
        .copy_from_slice(&acc[j][v].to_array())));
    for (g, group) in columns.chunks_mut(LANES).enumerate() {
        let place = (column0 + g * LANES, first, last);
        macro_rules! store {
            ($($n:literal)*) => {
                match group.len() {
                    $($n => {
                        if let Some(group) = group.first_chunk_mut::<$n>() {
                            store_columns(group, epilogue, y, rows, place);
                        }
                    })*
                    _ => {}
                }
            };
        }
        store!(1 2 3 4 5 6 7 8);
    }
}

/// One depth of [`narrow_tile_wide`]: `P` vectors of `A` (one depth's chunk of the
/// panel, so every range holds) by `NC` broadcasts of `B`.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn wide_step<const P: usize, const NC: usize>(
    acc: &mut [[super::simd::F32x16; P]; NC],
    a: &[f32],
    b: &[f32; NC],
) {
    use super::simd::F32x16;
    let mut vectors = [F32x16::splat(0.0); P];
    unroll!(P, |v| {
        if let Some(values) = a.get(v * 16..).and_then(<[f32]>::first_chunk::<16>) {
            vectors[v] = F32x16::load(values);
        }
    });
    unroll!(NC, |j| {
        let b_vector = F32x16::splat(b[j]);
        unroll!(P, |v| acc[j][v] = vectors[v].mul_add(b_vector, acc[j][v]));
    });
}

/// The depths of [`narrow_tile_wide`] on a row-major `B` ([`strided_depths`]).
///
/// Each walk over the depths of a tile ([`wide_taps`], [`wide_runs`] and this one) is
/// its own function, out of line, with the accumulators returned by value: inlined in
/// the tile, beside the other walks, LLVM kept some of them in memory, a load and a
/// store beside each multiply-add (mlperf-ic's 8 × 8 layers had run 1.7 times slower;
/// later, with [`wide_runs`] added to the tile, the 48 × 8 tile of the 1 × 1 layers
/// kept ten of its 24 accumulators on the stack: mobilenet_v2 27 % and mlperf-vww 20 %
/// slower).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(never)]
fn wide_strided<const P: usize, const NC: usize, const FETCH: bool>(
    depth: usize,
    (a, a_stride): (&[f32], usize),
    (window, stride): (&[f32], usize),
) -> [[super::simd::F32x16; P]; NC] {
    let mut acc = [[super::simd::F32x16::splat(0.0); P]; NC];
    let a = (a, a_stride, P * NARROW_ROWS);
    strided_depths::<NC, FETCH>(depth, a, (window, stride), |a, b| wide_step(&mut acc, a, b));
    acc
}

/// The depths of [`narrow_tile_wide`] on a frame: depth `p`'s row of `B` at
/// `window[taps[p]..]` (out of line, see [`wide_strided`]).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(never)]
fn wide_taps<const P: usize, const NC: usize, const PAIR: bool>(
    a: &[f32],
    window: &[f32],
    taps: &[usize],
    second: usize,
) -> [[super::simd::F32x16; P]; NC] {
    let mut acc = [[super::simd::F32x16::splat(0.0); P]; NC];
    for (a, &tap) in a.chunks_exact(P * NARROW_ROWS).zip(taps) {
        // Every tap is inside the frame by construction; a miss would only skip a depth.
        if PAIR {
            // Half the columns from this row, half from the one `second` further on.
            let half = NC / 2;
            let (Some(b0), Some(b1)) = (
                window.get(tap..tap + half),
                window.get(tap + second..tap + second + half),
            ) else {
                continue;
            };
            let mut b = [0.0f32; NC];
            b[..half].copy_from_slice(b0);
            b[half..].copy_from_slice(b1);
            wide_step(&mut acc, a, &b);
        } else if let Some(b) = window.get(tap..).and_then(<[f32]>::first_chunk::<NC>) {
            wide_step(&mut acc, a, b);
        }
    }
    acc
}

/// [`wide_taps`] on depths whose rows of `B` come in runs of three consecutive offsets
/// (a convolution's kernel rows three taps wide, at stride and dilation 1): one offset
/// and no range check a run, where depth by depth each took an offset and a check
/// beside the multiply-adds. mlperf-ic's 32 → 32 and 64 → 64 layers ran 10-15 % faster
/// alone. Out of line (see [`wide_strided`]).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(never)]
fn wide_runs<const P: usize, const NC: usize>(
    a: &[f32],
    window: &[f32],
    taps: &[usize],
) -> [[super::simd::F32x16; P]; NC] {
    let mut acc = [[super::simd::F32x16::splat(0.0); P]; NC];
    let chunk = P * NARROW_ROWS;
    // Every run is inside the frame by construction: the clamp never moves one, but it
    // lets the run's three reads go unchecked (as in `tap_row`).
    let Some(last) = window.len().checked_sub(NC + 2) else {
        return acc;
    };
    for (a, run) in a.chunks_exact(3 * chunk).zip(taps.chunks_exact(3)) {
        let at = run[0].min(last);
        let rows = (
            window[at..].first_chunk::<NC>(),
            window[at + 1..].first_chunk::<NC>(),
            window[at + 2..].first_chunk::<NC>(),
        );
        let (Some(b0), Some(b1), Some(b2)) = rows else {
            continue;
        };
        let (a0, rest) = a.split_at(chunk);
        let (a1, a2) = rest.split_at(chunk);
        wide_step(&mut acc, a0, b0);
        wide_step(&mut acc, a1, b1);
        wide_step(&mut acc, a2, b2);
    }
    acc
}

/// [`wide_runs`] on a frame whose columns are two floats apart ([`Frame::step`]): tap
/// `d` of a run reads column `j` at `d + 2 j` from the run's offset.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(never)]
fn wide_runs_every_other<const P: usize, const NC: usize>(
    a: &[f32],
    window: &[f32],
    taps: &[usize],
) -> [[super::simd::F32x16; P]; NC] {
    let mut acc = [[super::simd::F32x16::splat(0.0); P]; NC];
    let chunk = P * NARROW_ROWS;
    // A run reads `2 · (NC − 1) + 3` floats, at most `RUN_SPAN`, which the frame's
    // slack holds past its last run: the clamp never moves one (as in `tap_row`).
    const { assert!(2 * (NC - 1) + 3 <= RUN_SPAN) };
    let Some(last) = window.len().checked_sub(RUN_SPAN) else {
        return acc;
    };
    for (a, run) in a.chunks_exact(3 * chunk).zip(taps.chunks_exact(3)) {
        let Some(b) = window[run[0].min(last)..].first_chunk::<RUN_SPAN>() else {
            continue;
        };
        for (d, a) in a.chunks_exact(chunk).enumerate() {
            let row: [f32; NC] = core::array::from_fn(|j| b[(d + 2 * j).min(RUN_SPAN - 1)]);
            wide_step(&mut acc, a, &row);
        }
    }
    acc
}

/// The most floats one run of [`wide_runs_every_other`] reads: three taps of nine
/// columns two apart.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
const RUN_SPAN: usize = 2 * 8 + 3;

/// What [`store_wide`] takes from the epilogue, read before a tile's walk over its
/// depths ([`narrow_tile_wide`]): `alpha`, the first `k` block's `beta · bias` down each
/// vector of rows (zero in later blocks), the activation and the row length of `C`.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
struct WideStores<const P: usize> {
    alpha: super::simd::F32x16,
    offsets: [super::simd::F32x16; P],
    act: crate::Activation,
    n: usize,
}

/// Stores a tile of [`narrow_tile_wide`] (`acc[j][v]`: column `j`, rows `16 v..16 v + 16`)
/// at rows `row0..row0 + rows`, columns `column0..column0 + NC` of `C`, with a bias per
/// row (or none): scale, bias and, on the first `k` block, the activation on the 512-bit
/// columns, then one [`F32x16::transpose_16x8`] per sixteen rows and a vector store (or,
/// after the first block, a vector add) per row. Through an array of columns, the
/// epilogue and two 8 × 8 transposes per sixteen rows had taken a quarter of a
/// 384 × 196 × 64 product.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn store_wide<const P: usize, const NC: usize>(
    acc: &[[super::simd::F32x16; P]; NC],
    stores: &WideStores<P>,
    y: &mut [f32],
    (row0, rows): (usize, usize),
    (column0, first, last): (usize, bool, bool),
) {
    use super::simd::F32x16;
    const { assert!(NC <= LANES) };
    let alpha = stores.alpha;
    for v in 0..P {
        let row0 = row0 + v * 16;
        let rows = rows.saturating_sub(v * 16).min(16);
        if rows == 0 {
            break;
        }
        let offset = stores.offsets[v];
        let mut columns = [F32x16::splat(0.0); 8];
        for (column, acc) in columns.iter_mut().zip(acc) {
            *column = acc[v].mul_add(alpha, offset);
        }
        if first && last {
            columns = F32x16::activate_all(columns, stores.act);
        }
        let row_vectors = F32x16::transpose_16x8(columns);
        // Sixteen whole rows of eight, stored plainly: one range check for the tile,
        // the rows written out (the loop below spilled the row vectors to the stack and
        // checked each row's range).
        let base = row0 * stores.n + column0;
        if NC == LANES && first && rows == 16 {
            if let Some(tile) = y.get_mut(base..base + 15 * stores.n + LANES) {
                unroll!(16, |i| store_at(row_vectors[i], tile, i * stores.n));
                continue;
            }
        }
        for (i, &row_vector) in row_vectors.iter().enumerate().take(rows) {
            let start = (row0 + i) * stores.n + column0;
            let Some(out) = y.get_mut(start..).and_then(<[f32]>::first_chunk_mut::<NC>) else {
                continue;
            };
            if NC == LANES {
                let value = if first {
                    row_vector
                } else {
                    let sum = load_at(out, 0).add(row_vector);
                    if last {
                        activate(stores.act, sum)
                    } else {
                        sum
                    }
                };
                store_at(value, out, 0);
            } else {
                let lanes = row_vector.to_array();
                for (o, &lane) in out.iter_mut().zip(&lanes) {
                    *o = if first { lane } else { *o + lane };
                    if last && !first {
                        *o = stores.act.apply(*o);
                    }
                }
            }
        }
    }
}

/// [`row_offsets`] of output rows `row0..row0 + L` as one vector of `L` lanes. A bias of
/// one value per row is loaded as a whole vector where the block has `L` rows left: built
/// lane by lane in memory and loaded back, it cost a store-forwarding stall per vector of
/// rows (`perf` put 14 % of a 64 → 384 layer's tile function on that load); only a
/// block's last rows are gathered lane by lane.
#[inline(always)]
fn row_offset_vector<V: Vector<L>, const L: usize>(epilogue: &Epilogue<'_>, row0: usize) -> V {
    match epilogue.bias {
        Bias::Scalar(value) => V::splat(value * epilogue.beta),
        Bias::Col(values) if values.len() >= row0 + L => {
            V::load_at(values, row0).mul(V::splat(epilogue.beta))
        }
        Bias::Col(_) => {
            let mut lanes = [0.0f32; L];
            row_offsets(epilogue, row0, &mut lanes);
            V::from_array(lanes)
        }
        Bias::None | Bias::Row(_) | Bias::Full(_) => V::splat(0.0),
    }
}

/// One narrow tile: `NC` columns from virtual column `q0` (all outputs, stored from
/// column `place.0` of `C`) by the panel's rows `rows.0..rows.0 + rows.1`.
#[inline(always)]
fn narrow_tile<const NC: usize>(
    (a, a_stride): (&[f32], usize),
    (frame, rows_at, q0, depth): (&[f32], RowsAt<'_>, usize, usize),
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
    (row0, rows): (usize, usize),
    (column0, first, last): (usize, bool, bool),
) {
    let mut acc = [[F32x8::splat(0.0); 2]; NC];
    match rows_at {
        RowsAt::Taps(taps, ..) => {
            let window = frame.get(q0..).unwrap_or_default();
            // The last depth apart, as in `strided_depths`: a transposed `A` read in
            // place from a row past its first ends on a chunk shorter than `a_stride`.
            let depths = taps.len().min(depth);
            if let (Some(last_tap), Some(((&last, taps), (a, last_a)))) = (
                window.len().checked_sub(NC),
                taps[..depths].split_last().zip(
                    depths
                        .checked_sub(1)
                        .and_then(|d| a.split_at_checked(d * a_stride)),
                ),
            ) {
                for (a, &tap) in a.chunks_exact(a_stride).zip(taps) {
                    let Some(b) = tap_row::<NC>(window, last_tap, tap) else {
                        continue;
                    };
                    narrow_step(&mut acc, a, b);
                }
                if let Some(b) = tap_row::<NC>(window, last_tap, last) {
                    narrow_step(&mut acc, last_a, b);
                }
            }
        }
        RowsAt::Strided(start, stride) => {
            let window = frame.get(start + q0..).unwrap_or_default();
            let a = (a, a_stride, NARROW_ROWS);
            strided_depths::<NC, false>(depth, a, (window, stride), |a, b| {
                narrow_step(&mut acc, a, b);
            });
        }
    }
    // Lane `l` of vector `v` of column `j` is row `row0 + v·LANES + l`, column
    // `column0 + j`: each row's `NC` values go out together.
    let mut columns = [[0.0f32; NARROW_ROWS]; NC];
    unroll!(NC, |j| unroll!(2, |v| columns[j]
        [v * LANES..(v + 1) * LANES]
        .copy_from_slice(&acc[j][v].to_array())));
    store_columns(
        &mut columns,
        epilogue,
        y,
        (row0, rows),
        (column0, first, last),
    );
}

/// `beta · bias` of output rows `row0..row0 + lanes.len()`, for a bias of one value per
/// row or one value in all (nothing for none): what the narrow tiles' vector stores add
/// down a column. A bias along the columns takes the scalar epilogue and never comes here.
#[inline(always)]
fn row_offsets(epilogue: &Epilogue<'_>, row0: usize, lanes: &mut [f32]) {
    match epilogue.bias {
        Bias::Scalar(value) => lanes.fill(value * epilogue.beta),
        Bias::Col(values) => {
            let from = values.get(row0..).unwrap_or_default();
            for (lane, &value) in lanes.iter_mut().zip(from) {
                *lane = value * epilogue.beta;
            }
        }
        Bias::None | Bias::Row(_) | Bias::Full(_) => {}
    }
}

/// Stores a narrow tile held as `NC` columns of `R` rows: rows `row0..row0 + rows`
/// (at most `R`), each row's `NC` values from column `column0` of `C` together.
#[inline(always)]
fn store_columns<const NC: usize, const R: usize>(
    columns: &mut [[f32; R]; NC],
    epilogue: &Epilogue<'_>,
    y: &mut [f32],
    (row0, rows): (usize, usize),
    (column0, first, last): (usize, bool, bool),
) {
    const { assert!(R.is_multiple_of(LANES) && R / LANES <= 6 && NC <= LANES) };
    // The first `k` block with a bias per row (a 1 × 1 convolution's): scale, bias and
    // activation in vectors down each column, then plain copies row by row. The scalar
    // epilogue, value by value, had taken half of the narrow tiles' time on
    // mlperf-vww.
    let by_row = matches!(epilogue.bias, Bias::None | Bias::Scalar(_) | Bias::Col(_));
    if first && by_row {
        let mut offsets = [F32x8::splat(0.0); 6];
        for (c, offset) in offsets.iter_mut().enumerate().take(R / LANES) {
            *offset = row_offset_vector::<F32x8, LANES>(epilogue, row0 + c * LANES);
        }
        let alpha = F32x8::splat(epilogue.alpha);
        for column in columns.iter_mut() {
            for (c, &offset) in offsets.iter().enumerate().take(R / LANES) {
                let value = load_at(column, c * LANES).mul_add(alpha, offset);
                let value = if last {
                    activate(epilogue.act, value)
                } else {
                    value
                };
                store_at(value, column, c * LANES);
            }
        }
        // Eight rows at a time, the columns turned into rows by one 8 × 8 transpose.
        for c in 0..rows.min(R).div_ceil(LANES) {
            let mut vectors = [F32x8::splat(0.0); LANES];
            for (vector, column) in vectors.iter_mut().zip(columns.iter()) {
                *vector = load_at(column, c * LANES);
            }
            let row_vectors = transpose(vectors);
            for (i, row_vector) in row_vectors.iter().enumerate().take(rows - c * LANES) {
                let start = (row0 + c * LANES + i) * epilogue.n + column0;
                let Some(out) = y.get_mut(start..).and_then(<[f32]>::first_chunk_mut::<NC>) else {
                    continue;
                };
                if NC == LANES {
                    store_at(*row_vector, out, 0);
                } else {
                    let lanes = row_vector.to_array();
                    for (o, lane) in out.iter_mut().zip(lanes) {
                        *o = lane;
                    }
                }
            }
        }
        return;
    }
    // `i` is a lane of every column's array.
    #[allow(clippy::needless_range_loop)]
    for i in 0..rows.min(R) {
        let row_idx = row0 + i;
        let start = row_idx * epilogue.n + column0;
        let Some(out) = y.get_mut(start..start + NC) else {
            continue;
        };
        let mut values = [0.0f32; NC];
        unroll!(NC, |j| values[j] = columns[j][i]);
        epilogue.store_segment(out, &values, (row_idx, column0), (first, last));
    }
}
