//! The scalar blocked f32 GEMM: the kernel for targets without SIMD (Cortex-M), in plain
//! safe Rust whose fixed-size tiles LLVM keeps in registers.
//!
//! * `k` is cut into blocks of [`KC`] so one `KC × NR` sliver of `B` stays in L1 while
//!   every row tile of an `MC`-row block of `A` streams past it;
//! * the microkernel keeps an `MR × NR` tile of `C` in registers for a whole `k` block
//!   (`NR` is 4 on 32-bit Arm, whose scalar FPU has 32 registers), so each loaded element
//!   of `A` and `B` feeds several multiply-adds;
//! * `A` is packed into `MR`-row panels where the scratch has room (a transposed `A`, the
//!   1 × 1 convolutions' weights, by plain copies, since a tile's `MR` values for one `k`
//!   are adjacent already); `B` is packed, one sliver at a time, into `KC · NR` floats
//!   of the caller's scratch, so no heap and no stack buffer (a row-major `B` where the
//!   scratch has room, a transposed one always);
//! * a tile of packed `A` and packed `B` walks both as exact chunks, with no index
//!   arithmetic or bounds check in the loop (54 instructions for 32 multiply-adds on the
//!   Cortex-M7, against 41 for 16 with `B` read in place), and is stored with the bias's
//!   kind and the activation matched once a tile.
//!
//! SIMD targets compile it for its tests only, which keep the fallback checked on the host.

use super::{Bias, Epilogue, Operands, KC, MAX_SLIVER_COLUMNS, MR, NR};
use crate::activation::Fixed;
use crate::unroll::{array, unroll};
use crate::Activation;

// A `KC × NR` sliver of `B` is 4–16 KiB, at most half of L1, and fits the scratch that
// `super::scratch_len` reserves.
const _: () = assert!(NR <= MAX_SLIVER_COLUMNS);
/// The rows of `A` that share one pass over `B` (an `MC × KC` block of `A` is 256 KiB,
/// a typical L2).
const MC: usize = 256;

impl Epilogue<'_> {
    /// Stores a `ROWS × NR` accumulator tile (of which `width` columns are real) at
    /// rows `row0..`, column `column0` of `y`. The first `k` block overwrites and adds the
    /// bias, later ones accumulate, and the last one applies the activation.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn store<const ROWS: usize>(
        &self,
        y: &mut [f32],
        row0: usize,
        column0: usize,
        width: usize,
        tile: &[[f32; NR]; ROWS],
        first: bool,
        last: bool,
    ) {
        // Whole tiles only: the leftover rows of an `m` that is not a multiple of `MR`
        // are rare, and three more instances per row count would cost flash.
        if width == NR && ROWS == MR {
            // The activation is matched once a tile, and each arm's rows are straight
            // code: matched per value (as `Activation::apply` is), LLVM tested it again
            // for every row of the tile.
            let at = (row0, column0, first);
            let (kind, bounds) = if last {
                self.act.fixed()
            } else {
                Activation::None.fixed()
            };
            match kind {
                Fixed::RELU => self.store_full::<ROWS, { Fixed::RELU }>(y, at, tile, bounds),
                Fixed::CLIP => self.store_full::<ROWS, { Fixed::CLIP }>(y, at, tile, bounds),
                Fixed::IDENTITY => {
                    self.store_full::<ROWS, { Fixed::IDENTITY }>(y, at, tile, bounds)
                }
                // Sigmoid and Swish: finished in registers and handed to one call a tile
                // that activates and stores them, where `elementwise::fpu` takes them
                // (two rows a block of eight); else stored, then activated row by row.
                _ => {
                    let start = row0 * self.n + column0;
                    let stored = NR == 4
                        && ROWS == 4
                        && crate::elementwise::store_logistic_tile(
                            self.act,
                            self.finished_tile(y, at, tile),
                            y,
                            (start, self.n),
                        );
                    if !stored {
                        self.store_full::<ROWS, { Fixed::IDENTITY }>(y, at, tile, bounds);
                        for i in 0..ROWS {
                            let start = (row0 + i) * self.n + column0;
                            self.act.apply_slice(&mut y[start..start + NR]);
                        }
                    }
                }
            }
            return;
        }
        // The tile is read by dynamic indices from here on; copying it first (constant
        // indices, so a register move per value) keeps the microkernel's accumulators
        // free of those uses, and LLVM then keeps them in registers across the loop.
        let mut values = [[0.0f32; NR]; ROWS];
        unroll!(ROWS, |i| unroll!(NR, |j| values[i][j] = tile[i][j]));
        for (i, tile_row) in values.iter().enumerate() {
            let start = (row0 + i) * self.n + column0;
            let row = &mut y[start..start + width];
            self.store_segment(row, &tile_row[..width], (row0 + i, column0), (first, last));
        }
    }
}

impl Epilogue<'_> {
    /// [`Self::store`] for a whole tile at `(row0, column0)`, `first` saying whether this
    /// is the first `k` block: each row is finished in registers (scale, bias or the
    /// previous partial sum, then activation `ACT` with `bounds`, see [`Fixed`]) and
    /// written once. The general path copies the row out, then sweeps it for the bias
    /// and again for the activation, each a loop of run-time length (the copy a `memcpy`
    /// call): on fomo-96's 1×1 layers of depth 8 on the Cortex-M7 that was more than the
    /// products.
    #[inline(always)]
    fn store_full<const ROWS: usize, const ACT: u8>(
        &self,
        y: &mut [f32],
        (row0, column0, first): (usize, usize, bool),
        values: &[[f32; NR]; ROWS],
        bounds: (f32, f32),
    ) {
        let alpha = self.alpha;
        let offsets = if first {
            self.tile_offsets::<ROWS>(row0, column0)
        } else {
            [[0.0; NR]; ROWS]
        };
        // The tile's rows, checked once: row `i` starts `i · n` after the first.
        let n = self.n;
        let start = row0 * n + column0;
        let Some(y) = y.get_mut(start..start + (ROWS - 1) * n + NR) else {
            return;
        };
        unroll!(ROWS, |i| {
            if let Some(row) = y[i * n..].first_chunk_mut::<NR>() {
                let mut out = [0.0f32; NR];
                if first {
                    unroll!(NR, |j| out[j] = alpha * values[i][j] + offsets[i][j]);
                } else {
                    unroll!(NR, |j| out[j] = row[j] + alpha * values[i][j]);
                }
                unroll!(NR, |j| out[j] = Fixed::apply::<ACT>(out[j], bounds));
                *row = out;
            }
        });
    }

    /// A whole `MR × 4` tile at `(row0, column0)` finished as [`Self::store_full`] finishes
    /// it (scale, bias or the previous partial sum) but neither activated nor stored, for
    /// an activation that takes the whole tile. Only called where `NR` is 4; a tile
    /// past `y`'s end gives zeros (and is not stored).
    #[inline(always)]
    fn finished_tile<const ROWS: usize>(
        &self,
        y: &[f32],
        (row0, column0, first): (usize, usize, bool),
        values: &[[f32; NR]; ROWS],
    ) -> [[f32; 4]; 4] {
        let alpha = self.alpha;
        let mut out = [[0.0f32; 4]; 4];
        if first {
            let offsets = self.tile_offsets::<ROWS>(row0, column0);
            unroll!(4, |i| unroll!(4, |j| out[i][j] =
                alpha * values[i][j] + offsets[i][j]));
        } else {
            let n = self.n;
            let start = row0 * n + column0;
            let Some(y) = y.get(start..start + 3 * n + 4) else {
                return out;
            };
            unroll!(4, |i| {
                let row: [f32; 4] = array(&y[i * n..]);
                unroll!(4, |j| out[i][j] = row[j] + alpha * values[i][j]);
            });
        }
        out
    }

    /// `beta · bias` for the `ROWS × NR` outputs at `(row0, column0)`, the bias's kind
    /// matched once for the tile.
    #[inline(always)]
    fn tile_offsets<const ROWS: usize>(&self, row0: usize, column0: usize) -> [[f32; NR]; ROWS] {
        // Each arm builds the whole tile: a zeroed tile overwritten by the arms cost 16
        // register moves a tile on the Cortex-M7.
        let beta = self.beta;
        match self.bias {
            Bias::None => [[0.0; NR]; ROWS],
            Bias::Scalar(value) => [[beta * value; NR]; ROWS],
            Bias::Col(values) => {
                let column: [f32; ROWS] = array(&values[row0..]);
                column.map(|value| [beta * value; NR])
            }
            Bias::Row(values) => {
                let row: [f32; NR] = array(&values[column0..]);
                [row.map(|value| beta * value); ROWS]
            }
            Bias::Full(values) => core::array::from_fn(|i| {
                let row: [f32; NR] = array(&values[(row0 + i) * self.n + column0..]);
                row.map(|value| beta * value)
            }),
        }
    }
}

/// The blocked product for `m, n ≥ 2`. `B` is packed, sliver by sliver, into the first
/// `min(KC, k) · NR` floats of `scratch` (a row-major `B` only when `scratch` has room;
/// it is read in place otherwise). `A` (row-major or transposed) is
/// packed, block by block, into [`MR`]-row panels after the first
/// `min(KC, k) · MAX_SLIVER_COLUMNS` floats, when `scratch` has room for at least one
/// panel (the generated code's scratch holds up to 48 rows): a tile then reads its `MR`
/// values of each depth from one place instead of `MR` rows, whose pointers spilled on
/// the Cortex-M7 (39 instructions a depth step of a 4 × 4 tile, 16 of them
/// multiply-adds).
pub(super) fn gemm_blocked<const TRANS_B: bool>(
    ops: &Operands<'_>,
    epilogue: &Epilogue<'_>,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (m, n, k) = (ops.m, ops.n, ops.k);
    let depth_max = KC.min(k);
    let sliver_len = (MAX_SLIVER_COLUMNS * depth_max).min(scratch.len());
    let (sliver_buffer, panels) = scratch.split_at_mut(sliver_len);
    // A transposed B is always packed, a row-major one where the scratch has room: a
    // tile then reads each depth's NR values from one contiguous sliver (one `vldmia` on
    // the Cortex-M7) with no bounds check, where the strided rows cost nine instructions
    // of address arithmetic and checks per depth step of 16 multiply-adds.
    let mut packed_b = if TRANS_B {
        Some(&mut sliver_buffer[..depth_max * NR])
    } else {
        sliver_buffer.get_mut(..depth_max * NR)
    };
    let panel_rows = (panels.len() / depth_max.max(1) / MR * MR).min(PANEL_BLOCK);
    // Built for size the rows are read in place: the packing loop costs more flash than
    // it saves there (fomo-96 at "z": 4 KiB more and 1.8 % more instructions).
    let pack_a = panel_rows >= MR && !cfg!(zant_size);
    let block = if pack_a { panel_rows } else { MC };
    for k0 in (0..k).step_by(KC) {
        let depth = KC.min(k - k0);
        let (first, last) = (k0 == 0, k0 + depth == k);
        for block_row0 in (0..m).step_by(block) {
            let block_rows = block.min(m - block_row0);
            let packed_tiles = if pack_a { block_rows / MR } else { 0 };
            pack_a_panels(ops, block_row0, packed_tiles, k0, depth, panels);
            for column0 in (0..n).step_by(NR) {
                let width = NR.min(n - column0);
                let sliver = match packed_b.as_mut() {
                    Some(buffer) => {
                        if TRANS_B {
                            pack_transposed_b(ops.b, k, k0, depth, column0, width, buffer);
                        } else {
                            pack_b_rows(ops.b, n, k0, depth, column0, width, buffer);
                        }
                        BSliver::Packed(&buffer[..depth * NR])
                    }
                    None if width == NR => BSliver::Rows(&ops.b[k0 * n + column0..], n),
                    None => BSliver::Edge(&ops.b[k0 * n + column0..], n, width),
                };
                let mut row0 = block_row0;
                let block_end = block_row0 + block_rows;
                for panel in panels.chunks_exact(MR * depth).take(packed_tiles) {
                    let tile = match sliver {
                        BSliver::Packed(b) => packed_microkernel(panel, b),
                        _ => {
                            let a = Strided {
                                values: panel,
                                stride: MR,
                            };
                            tile_with_b::<MR>(depth, &a, sliver)
                        }
                    };
                    epilogue.store(y, row0, column0, width, &tile, first, last);
                    row0 += MR;
                }
                while row0 + MR <= block_end {
                    let tile = row_tile::<MR>(ops, row0, k0, depth, sliver);
                    epilogue.store(y, row0, column0, width, &tile, first, last);
                    row0 += MR;
                }
                // Two leftover rows still share each loaded sliver row.
                if row0 + 2 <= block_end {
                    let tile = row_tile::<2>(ops, row0, k0, depth, sliver);
                    epilogue.store(y, row0, column0, width, &tile, first, last);
                    row0 += 2;
                }
                while row0 < block_end {
                    let tile = row_tile::<1>(ops, row0, k0, depth, sliver);
                    epilogue.store(y, row0, column0, width, &tile, first, last);
                    row0 += 1;
                }
            }
        }
    }
}

/// The most rows of `A` packed at once: what the scratch of [`super::scratch_len`]
/// holds for large `m`.
const PANEL_BLOCK: usize = super::PACKED_MC;

/// Packs `tiles` panels of [`MR`] rows of `op(A)` (row-major `A`, or `Aᵀ`) from row `row0`, depths
/// `k0..k0 + depth`, into `panels`: panel `t`, depth `p`, row `i` at
/// `t · MR · depth + p · MR + i`.
fn pack_a_panels(
    ops: &Operands<'_>,
    row0: usize,
    tiles: usize,
    k0: usize,
    depth: usize,
    panels: &mut [f32],
) {
    for (t, panel) in panels.chunks_exact_mut(MR * depth).take(tiles).enumerate() {
        if ops.trans_a {
            // Aᵀ is k × m: a tile's MR values of one depth are adjacent already.
            let m = ops.m;
            for (p, group) in panel.chunks_exact_mut(MR).enumerate() {
                group.copy_from_slice(&ops.a[(k0 + p) * m + row0 + t * MR..][..MR]);
            }
            continue;
        }
        for i in 0..MR {
            let row = &ops.a[(row0 + t * MR + i) * ops.k + k0..][..depth];
            for (p, &value) in row.iter().enumerate() {
                panel[p * MR + i] = value;
            }
        }
    }
}

/// Copies columns `column0..column0 + width` of `Bᵀ` (rows of the `n × k` matrix `b`),
/// depths `k0..k0 + depth`, into `buffer` as `depth` rows of `NR`, zero-padded.
fn pack_transposed_b(
    b: &[f32],
    k: usize,
    k0: usize,
    depth: usize,
    column0: usize,
    width: usize,
    buffer: &mut [f32],
) {
    let buffer = &mut buffer[..depth * NR];
    if width < NR {
        buffer.fill(0.0);
    }
    for j in 0..width {
        let source = &b[(column0 + j) * k + k0..][..depth];
        for (packed_row, &value) in buffer.chunks_exact_mut(NR).zip(source) {
            packed_row[j] = value;
        }
    }
}

/// Copies columns `column0..column0 + width` of the row-major `k × n` matrix `b`, depths
/// `k0..k0 + depth`, into `buffer` as `depth` rows of `NR`, zero-padded.
fn pack_b_rows(
    b: &[f32],
    n: usize,
    k0: usize,
    depth: usize,
    column0: usize,
    width: usize,
    buffer: &mut [f32],
) {
    let (packed, _) = buffer[..depth * NR].as_chunks_mut::<NR>();
    let mut start = k0 * n + column0;
    if width == NR {
        // Whole arrays, so each row is one load and one store of NR values.
        for packed_row in packed {
            if let Some(row) = b.get(start..).and_then(|b| b.first_chunk::<NR>()) {
                *packed_row = *row;
            }
            start += n;
        }
        return;
    }
    for packed_row in packed {
        *packed_row = [0.0; NR];
        if let Some(row) = b.get(start..start + width) {
            packed_row[..width].copy_from_slice(row);
        }
        start += n;
    }
}

/// The `MR × NR` tile of a packed panel of `A` (`MR` values a depth) and a packed sliver
/// of `B` (`NR` a depth), both walked as exact chunks: no index arithmetic and no bounds
/// checks in the loop, and each depth's values are adjacent, so the Cortex-M7 loads them
/// with one `vldmia` each.
#[inline(always)]
fn packed_microkernel(a: &[f32], b: &[f32]) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        rank_one(&mut acc, array(a), array(b));
    }
    acc
}

/// `acc += a · bᵀ`, written out by [`unroll!`] so that `acc` lives in registers at every
/// opt level: one depth step of either microkernel.
#[inline(always)]
fn rank_one<const ROWS: usize>(acc: &mut [[f32; NR]; ROWS], a: [f32; ROWS], b: [f32; NR]) {
    unroll!(ROWS, |i| unroll!(NR, |j| acc[i][j] += a[i] * b[j]));
}

/// Where the microkernel reads its `depth × NR` sliver of `B`.
#[derive(Clone, Copy)]
enum BSliver<'a> {
    /// `NR` columns of a row-major `B`, rows `stride` apart.
    Rows(&'a [f32], usize),
    /// The last, narrower columns of a row-major `B`: rows `stride` apart, `width` wide.
    Edge(&'a [f32], usize, usize),
    /// A packed sliver, `NR` floats per row.
    Packed(&'a [f32]),
}

/// Computes the `ROWS × NR` tile at `row0` for depths `k0..k0 + depth`, choosing the
/// loads for A's layout and B's sliver once, outside the loop.
#[inline(always)]
fn row_tile<const ROWS: usize>(
    ops: &Operands<'_>,
    row0: usize,
    k0: usize,
    depth: usize,
    sliver: BSliver<'_>,
) -> [[f32; NR]; ROWS] {
    if ops.trans_a {
        // Aᵀ is k × m: the tile's ROWS values for one depth are adjacent.
        let m = ops.m;
        let a = Strided {
            values: &ops.a[k0 * m + row0..],
            stride: m,
        };
        tile_with_b(depth, &a, sliver)
    } else {
        let k = ops.k;
        let mut rows: [&[f32]; ROWS] = [&[]; ROWS];
        unroll!(ROWS, |i| rows[i] = &ops.a[(row0 + i) * k + k0..][..depth]);
        tile_with_b(depth, &Columns(rows), sliver)
    }
}

#[inline(always)]
fn tile_with_b<const ROWS: usize>(
    depth: usize,
    a: &impl Load<ROWS>,
    sliver: BSliver<'_>,
) -> [[f32; NR]; ROWS] {
    match sliver {
        BSliver::Rows(b, stride) => {
            let b = Strided {
                values: &b[..(depth - 1) * stride + NR],
                stride,
            };
            microkernel(depth, a, &b)
        }
        BSliver::Edge(b, stride, width) => {
            let b = Edge {
                values: &b[..(depth - 1) * stride + width],
                stride,
                width,
            };
            microkernel(depth, a, &b)
        }
        BSliver::Packed(b) => {
            let b = Strided {
                values: &b[..depth * NR],
                stride: NR,
            };
            microkernel(depth, a, &b)
        }
    }
}

/// How the microkernel reads the `N` values of one depth `p`: a trait with always-inlined
/// methods rather than closures, which stay calls at opt-level "z" and then force the
/// accumulators out of the caller-saved registers on every step.
trait Load<const N: usize> {
    /// The `N` values of depth `p`.
    fn at(&self, p: usize) -> [f32; N];
}

/// `N` adjacent values per depth, depths `stride` apart.
struct Strided<'a> {
    values: &'a [f32],
    stride: usize,
}

impl<const N: usize> Load<N> for Strided<'_> {
    #[inline(always)]
    fn at(&self, p: usize) -> [f32; N] {
        let start = p * self.stride;
        array(&self.values[start..start + N])
    }
}

/// The first `width` of `N` columns, depths `stride` apart; the rest are zero.
struct Edge<'a> {
    values: &'a [f32],
    stride: usize,
    width: usize,
}

impl<const N: usize> Load<N> for Edge<'_> {
    #[inline(always)]
    fn at(&self, p: usize) -> [f32; N] {
        let mut row = [0.0; N];
        let start = p * self.stride;
        for (value, &source) in row.iter_mut().zip(&self.values[start..start + self.width]) {
            *value = source;
        }
        row
    }
}

/// One value from each of `N` rows, depth `p` being the column.
struct Columns<'a, const N: usize>([&'a [f32]; N]);

impl<const N: usize> Load<N> for Columns<'_, N> {
    #[inline(always)]
    fn at(&self, p: usize) -> [f32; N] {
        let mut values = [0.0; N];
        unroll!(N, |i| values[i] = self.0[i][p]);
        values
    }
}

/// The register-tiled inner product: `ROWS × NR` accumulators, one rank-1 update per
/// depth ([`rank_one`]).
#[inline(always)]
fn microkernel<const ROWS: usize>(
    depth: usize,
    a: &impl Load<ROWS>,
    b: &impl Load<NR>,
) -> [[f32; NR]; ROWS] {
    let mut acc = [[0.0f32; NR]; ROWS];
    for p in 0..depth {
        rank_one(&mut acc, a.at(p), b.at(p));
    }
    acc
}
