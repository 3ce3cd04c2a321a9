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
//!   256-bit accumulators) with AVX or on AArch64, 6 × 8 with SSE only;
//! * bias, `alpha`, `beta` and the activation are applied as the tile is stored.
//!
//! The sums are reordered relative to a plain `k`-order loop only by the `k` blocking,
//! and every step is a fused multiply-add when the target has FMA.

use super::simd::{activate, load_at, store_at, F32x8, LANES};
use super::{Bias, Epilogue, Operands, KC, MAX_SLIVER_COLUMNS, PACKED_MC as MC, PACKED_MR as MR};
#[cfg(zant_size)]
use crate::copy;
use crate::unroll::{array, unroll};
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
    let depth_max = KC.min(k);
    let (packed_a, packed_b) = split_scratch(scratch, m, depth_max);
    for k0 in (0..k).step_by(KC) {
        let depth = KC.min(k - k0);
        let (first, last) = (k0 == 0, k0 + depth == k);
        for block_row0 in (0..m).step_by(MC) {
            let block_rows = MC.min(m - block_row0);
            pack_a(ops, block_row0, block_rows, k0, depth, packed_a);
            for column0 in (0..n).step_by(NR) {
                let width = NR.min(n - column0);
                let (b_sliver, b_stride) = if !TRANS_B && width == NR {
                    (&ops.b[k0 * n + column0..][..(depth - 1) * n + NR], n)
                } else {
                    pack_b::<TRANS_B>(ops, k0, depth, column0, width, packed_b);
                    (&packed_b[..depth * NR], NR)
                };
                let panels = packed_a.chunks_exact(MR * depth_max);
                for (tile_row0, panel) in (block_row0..block_row0 + block_rows)
                    .step_by(MR)
                    .zip(panels)
                {
                    let rows = MR.min(block_row0 + block_rows - tile_row0);
                    let tile = microkernel(&panel[..depth * MR], b_sliver, b_stride);
                    let place = TilePlace {
                        row0: tile_row0,
                        rows,
                        column0,
                        width,
                        first,
                        last,
                    };
                    store(epilogue, y, &place, &tile);
                }
            }
        }
    }
}

/// Packs rows `row0..row0 + rows` of `op(A)`, depths `k0..k0 + depth`, into `MR`-row
/// panels of `depth_max · MR` floats each (`depth_max = min(KC, k)`, the panel stride the
/// microkernel loop uses): panel `t`, depth `p`, row `i` sits at
/// `t · depth_max · MR + p · MR + i`. Rows past the end of `A` are zero.
fn pack_a(
    ops: &Operands<'_>,
    row0: usize,
    rows: usize,
    k0: usize,
    depth: usize,
    packed: &mut [f32],
) {
    let depth_max = KC.min(ops.k);
    for (tile, panel) in packed.chunks_exact_mut(MR * depth_max).enumerate() {
        let tile_row0 = row0 + tile * MR;
        if tile * MR >= rows {
            break;
        }
        let tile_rows = MR.min(rows - tile * MR);
        let panel = &mut panel[..depth * MR];
        if tile_rows < MR {
            panel.fill(0.0);
        }
        if ops.trans_a {
            // Aᵀ is k × m: a tile's values for one depth are adjacent already.
            for (p, group) in panel.chunks_exact_mut(MR).enumerate() {
                let source = &ops.a[(k0 + p) * ops.m + tile_row0..][..tile_rows];
                group[..tile_rows].copy_from_slice(source);
            }
        } else {
            for i in 0..tile_rows {
                let source = &ops.a[(tile_row0 + i) * ops.k + k0..][..depth];
                #[cfg(not(zant_size))]
                for (group, &value) in panel.chunks_exact_mut(MR).zip(source) {
                    group[i] = value;
                }
                // The zip stays a call per value at "z".
                #[cfg(zant_size)]
                copy::scatter_strided(&mut panel[i..], MR, source);
            }
        }
    }
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
/// `p · b_stride`. An index loop with the tile's updates written out by [`unroll!`]:
/// at opt-level "z" zipped chunk iterators stay calls and a rolled tile goes through
/// the stack.
#[inline(always)]
fn microkernel(panel: &[f32], b_sliver: &[f32], b_stride: usize) -> [[F32x8; NV]; MR] {
    let mut acc = [[F32x8::splat(0.0); NV]; MR];
    let b_rows = match b_sliver.len().checked_sub(NR) {
        Some(rest) => rest / b_stride.max(1) + 1,
        None => 0,
    };
    let depth = (panel.len() / MR).min(b_rows);
    for p in 0..depth {
        let a: [f32; MR] = array(&panel[p * MR..p * MR + MR]);
        let b_row = &b_sliver[p * b_stride..p * b_stride + NR];
        let mut b = [F32x8::splat(0.0); NV];
        unroll!(NV, |v| b[v] = load_at(b_row, v * LANES));
        unroll!(MR, |i| {
            let a_vector = F32x8::splat(a[i]);
            unroll!(NV, |v| acc[i][v] = a_vector.mul_add(b[v], acc[i][v]));
        });
    }
    acc
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
            let lanes = &lanes[..place.width];
            if place.first {
                row.copy_from_slice(lanes);
                epilogue.scale_and_add_bias(row, row_idx, place.column0);
            } else {
                for (out, &value) in row.iter_mut().zip(lanes) {
                    *out += epilogue.alpha * value;
                }
            }
            if place.last {
                epilogue.act.apply_slice(row);
            }
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
            pack_a(ops, block_row0, block_rows, k0, depth, packed_a);
            for column0 in (0..n).step_by(NR) {
                let width = NR.min(n - column0);
                let b_sliver = &mut packed_b[..depth * NR];
                source.pack(k0, depth, column0, width, b_sliver);
                let panels = packed_a.chunks_exact(MR * depth_max);
                for (tile_row0, panel) in (block_row0..block_row0 + block_rows)
                    .step_by(MR)
                    .zip(panels)
                {
                    let rows = MR.min(block_row0 + block_rows - tile_row0);
                    let tile = microkernel(&panel[..depth * MR], b_sliver, NR);
                    let place = TilePlace {
                        row0: tile_row0,
                        rows,
                        column0,
                        width,
                        first,
                        last,
                    };
                    store(epilogue, y, &place, &tile);
                }
            }
        }
    }
}
