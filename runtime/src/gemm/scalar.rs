//! The scalar blocked f32 GEMM: the kernel for targets without SIMD (Cortex-M), in plain
//! safe Rust whose fixed-size tiles LLVM keeps in registers.
//!
//! * `k` is cut into blocks of [`KC`] so one `KC × NR` sliver of `B` stays in L1 while
//!   every row tile of an `MC`-row block of `A` streams past it;
//! * the microkernel keeps an `MR × NR` tile of `C` in registers for a whole `k` block
//!   (`NR` is 4 on 32-bit Arm, whose scalar FPU has 32 registers), so each loaded element
//!   of `A` and `B` feeds several multiply-adds;
//! * a transposed `A` needs no copy (the tile's `MR` values for one `k` are adjacent); a
//!   transposed `B` is packed, one sliver at a time, into `KC · NR` floats of the
//!   caller's scratch, so no heap and no stack buffer.
//!
//! SIMD targets compile it for its tests only, which keep the fallback checked on the host.

use super::{Epilogue, Operands, KC, MAX_SLIVER_COLUMNS, MR, NR};

// A `KC × NR` sliver of `B` is 4–16 KiB, at most half of L1, and fits the scratch that
// `super::scratch_len` reserves.
const _: () = assert!(NR <= MAX_SLIVER_COLUMNS);
/// The rows of `A` that share one pass over `B` (an `MC × KC` block of `A` is 256 KiB,
/// a typical L2).
const MC: usize = 256;

impl Epilogue<'_> {
    /// Stores a `ROWS × NR` accumulator tile (of which `row.len()` columns are real) at
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
        for (i, tile_row) in tile.iter().enumerate() {
            let start = (row0 + i) * self.n + column0;
            let row = &mut y[start..start + width];
            let tile_row = &tile_row[..width];
            if first {
                row.copy_from_slice(tile_row);
                self.scale_and_add_bias(row, row0 + i, column0);
            } else {
                let alpha = self.alpha;
                for (v, &t) in row.iter_mut().zip(tile_row) {
                    *v += alpha * t;
                }
            }
            if last {
                self.act.apply_slice(row);
            }
        }
    }
}

/// The blocked product for `m, n ≥ 2`; a transposed `B` is packed into the first
/// `min(KC, k) · NR` floats of `scratch`.
pub(super) fn gemm_blocked<const TRANS_B: bool>(
    ops: &Operands<'_>,
    epilogue: &Epilogue<'_>,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let (m, n, k) = (ops.m, ops.n, ops.k);
    // Only a transposed B is packed.
    let mut packed_b = if TRANS_B {
        Some(&mut scratch[..KC.min(k) * NR])
    } else {
        None
    };
    for k0 in (0..k).step_by(KC) {
        let depth = KC.min(k - k0);
        let (first, last) = (k0 == 0, k0 + depth == k);
        for block_row0 in (0..m).step_by(MC) {
            let block_rows = MC.min(m - block_row0);
            for column0 in (0..n).step_by(NR) {
                let width = NR.min(n - column0);
                let sliver = match packed_b.as_mut() {
                    Some(buffer) => {
                        pack_transposed_b(ops.b, k, k0, depth, column0, width, buffer);
                        BSliver::Packed(&buffer[..depth * NR])
                    }
                    None if width == NR => BSliver::Rows(&ops.b[k0 * n + column0..], n),
                    None => BSliver::Edge(&ops.b[k0 * n + column0..], n, width),
                };
                let mut row0 = block_row0;
                let block_end = block_row0 + block_rows;
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
        let a = &ops.a[k0 * m + row0..];
        let load_a =
            |p: usize| -> [f32; ROWS] { a[p * m..p * m + ROWS].try_into().unwrap_or([0.0; ROWS]) };
        tile_with_b(depth, load_a, sliver)
    } else {
        let k = ops.k;
        let a_rows: [&[f32]; ROWS] =
            core::array::from_fn(|i| &ops.a[(row0 + i) * k + k0..][..depth]);
        let load_a = |p: usize| -> [f32; ROWS] { core::array::from_fn(|i| a_rows[i][p]) };
        tile_with_b(depth, load_a, sliver)
    }
}

#[inline(always)]
fn tile_with_b<const ROWS: usize>(
    depth: usize,
    load_a: impl Fn(usize) -> [f32; ROWS],
    sliver: BSliver<'_>,
) -> [[f32; NR]; ROWS] {
    match sliver {
        BSliver::Rows(b, stride) => {
            let b = &b[..(depth - 1) * stride + NR];
            microkernel(depth, load_a, |p| {
                b[p * stride..p * stride + NR]
                    .try_into()
                    .unwrap_or([0.0; NR])
            })
        }
        BSliver::Edge(b, stride, width) => {
            let b = &b[..(depth - 1) * stride + width];
            microkernel(depth, load_a, |p| {
                let mut row = [0.0; NR];
                row[..width].copy_from_slice(&b[p * stride..p * stride + width]);
                row
            })
        }
        BSliver::Packed(b) => {
            let b = &b[..depth * NR];
            microkernel(depth, load_a, |p| {
                b[p * NR..p * NR + NR].try_into().unwrap_or([0.0; NR])
            })
        }
    }
}

/// The register-tiled inner product: `ROWS × NR` accumulators, one rank-1 update per
/// depth. After inlining, `acc` lives in vector registers.
#[inline(always)]
fn microkernel<const ROWS: usize>(
    depth: usize,
    load_a: impl Fn(usize) -> [f32; ROWS],
    load_b: impl Fn(usize) -> [f32; NR],
) -> [[f32; NR]; ROWS] {
    let mut acc = [[0.0f32; NR]; ROWS];
    for p in 0..depth {
        let a = load_a(p);
        let b = load_b(p);
        for (acc_row, &a_value) in acc.iter_mut().zip(&a) {
            for (acc_value, &b_value) in acc_row.iter_mut().zip(&b) {
                *acc_value += a_value * b_value;
            }
        }
    }
    acc
}
