//! Products by a constant `B` that the compiler stored in column panels (`b_panels=N`):
//! each panel holds [`PANEL`] columns of `B`, depth by depth, zero-padded past `n`. A
//! register tile of several rows of `A` (read in place, each value broadcast) by several
//! panels shares each load of weights; `A` is never packed and `C` is written once, row
//! by row, whole vectors at a time, with the bias and the activation applied on the way
//! out. Each output is one chain of fused multiply-adds in depth order.
//!
//! The blocked GEMM instead packs `A` (the activations) into panels on every call and
//! reads `B` as a frame: on a transformer's projections (128 rows, depths of 192 and
//! 768) it reaches about 65 G multiply-adds a second on one Sapphire Rapids core where
//! these tiles reach about 100 (`examples/matmul`).

use crate::Activation;

/// The columns of one panel.
pub const PANEL: usize = 16;

/// The floats of a `k × n` matrix in panels.
pub const fn packed_len(k: usize, n: usize) -> usize {
    n.div_ceil(PANEL) * PANEL * k
}

/// Stores the row-major `k × n` matrix `b` in panels of [`PANEL`] columns, each depth
/// by depth: panel `j`'s depth `p` is `out[(j·k + p)·16..][..16]`, columns past `n` zero.
/// With `transposed`, `b` is the `n × k` transpose (a `Gemm`'s `transB`).
pub fn pack_b(k: usize, n: usize, b: &[f32], transposed: bool, out: &mut [f32]) {
    let out = &mut out[..packed_len(k, n)];
    out.fill(0.0);
    if k == 0 {
        return;
    }
    for (j, panel) in out.chunks_exact_mut(PANEL * k).enumerate() {
        let column = j * PANEL;
        let width = PANEL.min(n - column);
        for (p, depth) in panel.chunks_exact_mut(PANEL).enumerate() {
            for (c, value) in depth[..width].iter_mut().enumerate() {
                let at = if transposed {
                    (column + c) * k + p
                } else {
                    p * n + column + c
                };
                *value = b[at];
            }
        }
    }
}

/// `y = act(A·B + bias)`: `a` row-major `m × k`, `panels` from [`pack_b`], `bias` of `n`
/// values added to every row (or none), `y` row-major `m × n`.
pub fn gemm_panels(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    panels: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    product((m, n, k), a, Source::Packed(panels), bias, act, y);
}

/// Whether [`gemm_row_major`] takes an `m × n × k` product: a target with SIMD, at least
/// two rows, whole panels of columns, and rows of `B` at most 2 KiB apart, its whole in
/// 1 MiB. Rows 4 KiB apart fall in the same L1 sets and evict each other (1024³: 32 G
/// multiply-adds a second in place, 58 blocked), and a `B` beyond L2 is better packed.
pub const fn row_major_pays(m: usize, n: usize, k: usize) -> bool {
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
        && m >= 2
        && k >= 1
        && n >= PANEL
        && n <= MAX_ROW_MAJOR_COLUMNS
        && n.is_multiple_of(PANEL)
        && k.saturating_mul(n) <= MAX_ROW_MAJOR_FLOATS
}

/// The widest row-major `B` [`gemm_row_major`] takes (rows 2 KiB apart).
const MAX_ROW_MAJOR_COLUMNS: usize = 512;
/// The largest row-major `B` [`gemm_row_major`] takes (1 MiB).
const MAX_ROW_MAJOR_FLOATS: usize = 1 << 18;

/// [`gemm_panels`] with `B` row-major `k × n`, read in place: with `n` a multiple of
/// [`PANEL`], panel `j`'s depth `p` is `b[p·n + 16j..][..16]` (a MatMul by a `B` computed
/// at run time, such as attention's keys and values).
pub fn gemm_row_major(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    product((m, n, k), a, Source::RowMajor(b), bias, act, y);
}

/// The product of [`gemm_panels`] and [`gemm_row_major`]: the operands cut to their
/// sizes (`B`'s once there is something to compute; a row-major `B` must be whole
/// panels), then the tiles.
fn product(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    source: Source<'_>,
    bias: Option<&[f32]>,
    act: Activation,
    y: &mut [f32],
) {
    let y = &mut y[..m * n];
    let partial = matches!(source, Source::RowMajor(_)) && !n.is_multiple_of(PANEL);
    if m == 0 || n == 0 || partial {
        return;
    }
    let a = &a[..m * k];
    let source = match source {
        Source::Packed(panels) => Source::Packed(&panels[..packed_len(k, n)]),
        Source::RowMajor(b) => Source::RowMajor(&b[..k * n]),
    };
    let bias = bias.map(|b| &b[..n]);
    let out = Out { n, bias, act };
    kernel::run((m, k), a, source, &out, y);
}

/// Where a product's panels are.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// In the panels of [`pack_b`].
    Packed(&'a [f32]),
    /// Row-major, the columns a multiple of [`PANEL`].
    RowMajor(&'a [f32]),
}

impl<'a> Source<'a> {
    /// The floats of panel `q` on, the first of its depth 0, and the floats from one
    /// depth to the next.
    #[cfg_attr(
        all(target_arch = "x86_64", target_feature = "avx512f"),
        allow(dead_code)
    )]
    #[inline(always)]
    fn panel(self, q: usize, (k, n): (usize, usize)) -> (&'a [f32], usize) {
        match self {
            Source::Packed(panels) => (&panels[(q * PANEL * k).min(panels.len())..], PANEL),
            Source::RowMajor(b) => (&b[(q * PANEL).min(b.len())..], n),
        }
    }
}

/// How a tile's sums become outputs.
struct Out<'a> {
    /// The columns of `y`.
    n: usize,
    bias: Option<&'a [f32]>,
    act: Activation,
}

impl Out<'_> {
    /// Panel `q`'s bias as 16 lanes (zeros past `n` or without one), and its columns in `y`.
    #[inline(always)]
    fn bias_lanes(&self, q: usize) -> ([f32; PANEL], usize) {
        let column = q * PANEL;
        let width = PANEL.min(self.n - column);
        let mut lanes = [0.0; PANEL];
        if let Some(b) = self.bias {
            lanes[..width].copy_from_slice(&b[column..][..width]);
        }
        (lanes, width)
    }
}

/// Runs the row tiles of `ROWS`, then smaller ones for the rows left, over the panel
/// group `panels` (its panels from `q` on).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! row_tiles {
    ($tile:ident, $store:ident, $p:expr, ($m:expr, $k:expr), $a:expr, $panels:expr, $q:expr, $out:expr, $y:expr) => {{
        let (m, k) = ($m, $k);
        let mut row = 0;
        while row + ROWS <= m {
            let sums = $tile::<ROWS, { $p }>(&$a[row * k..][..ROWS * k], $panels, k);
            $store(row, $q, &sums, $out, $y);
            row += ROWS;
        }
        if row + ROWS / 2 <= m {
            let sums = $tile::<{ ROWS / 2 }, { $p }>(&$a[row * k..][..ROWS / 2 * k], $panels, k);
            $store(row, $q, &sums, $out, $y);
            row += ROWS / 2;
        }
        if row + 2 <= m {
            let sums = $tile::<2, { $p }>(&$a[row * k..][..2 * k], $panels, k);
            $store(row, $q, &sums, $out, $y);
            row += 2;
        }
        if row < m {
            let sums = $tile::<1, { $p }>(&$a[row * k..][..k], $panels, k);
            $store(row, $q, &sums, $out, $y);
        }
    }};
}

/// AVX-512: tiles of 7 rows by 3 panels, 21 accumulators of the 32 registers. Eight rows
/// (24 accumulators) fit too, but only as long as the scheduler issues each row's
/// broadcast just before its multiply-adds: LLVM's Zen 4 model (`target-cpu=znver4`)
/// hoists all eight ahead of them, and 24 + 3 + 8 registers spilled the accumulators to
/// the stack in the depth loop (37 against 55 G multiply-adds a second on
/// examples/matmul's 128 × 192 × 768; the same build tuned for Ice Lake did not spill).
/// With seven, 21 + 3 + 7 fit whatever the order, at the same rate on either tuning.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod kernel {
    use super::{Out, Source, PANEL};
    use crate::gemm::simd::F32x16;
    use crate::unroll::unroll;

    /// Rows of one register tile.
    const ROWS: usize = 7;
    /// Panels of one register tile.
    const PANELS: usize = 3;

    pub(super) fn run(
        (m, k): (usize, usize),
        a: &[f32],
        src: Source<'_>,
        out: &Out<'_>,
        y: &mut [f32],
    ) {
        let count = out.n.div_ceil(PANEL);
        let panels = match src {
            Source::Packed(panels) => panels,
            Source::RowMajor(b) => {
                // Depth `p` of the group at panel `q` is `b[p·n + 16q..][..16·P]`.
                let mut q = 0;
                while q + PANELS <= count {
                    let group = (&b[q * PANEL..], out.n);
                    row_tiles!(tile_rows, store, PANELS, (m, k), a, group, q, out, y);
                    q += PANELS;
                }
                while q < count {
                    let group = (&b[q * PANEL..], out.n);
                    row_tiles!(tile_rows, store, 1, (m, k), a, group, q, out, y);
                    q += 1;
                }
                return;
            }
        };
        let Ok(panels) = bytemuck::try_cast_slice::<f32, [f32; PANEL]>(panels) else {
            return;
        };
        let mut q = 0;
        while q + PANELS <= count {
            let group = &panels[q * k..][..PANELS * k];
            row_tiles!(tile, store, PANELS, (m, k), a, group, q, out, y);
            q += PANELS;
        }
        while q < count {
            let group = &panels[q * k..][..k];
            row_tiles!(tile, store, 1, (m, k), a, group, q, out, y);
            q += 1;
        }
    }

    /// The sums of `R` rows of `A` (`rows`) by `P` panels (`panels`, `P · k` depths).
    #[inline(always)]
    fn tile<const R: usize, const P: usize>(
        rows: &[f32],
        panels: &[[f32; PANEL]],
        k: usize,
    ) -> [[F32x16; P]; R] {
        let mut x: [&[f32]; R] = [&[]; R];
        unroll!(R, |r| x[r] = &rows[r * k..][..k]);
        let mut w: [&[[f32; PANEL]]; P] = [&[]; P];
        unroll!(P, |i| w[i] = &panels[i * k..][..k]);
        let mut acc = [[F32x16::splat(0.0); P]; R];
        // An index loop: every row and panel has exactly `k` values, so the bounds
        // checks go.
        #[allow(clippy::needless_range_loop)]
        for p in 0..k {
            let mut weights = [F32x16::splat(0.0); P];
            unroll!(P, |i| weights[i] = F32x16::load(&w[i][p]));
            depth_step(&mut acc, &x, p, &weights);
        }
        acc
    }

    /// One depth `p` of a tile: each row's value broadcast against the panels' vectors.
    #[inline(always)]
    fn depth_step<const R: usize, const P: usize>(
        acc: &mut [[F32x16; P]; R],
        x: &[&[f32]; R],
        p: usize,
        weights: &[F32x16; P],
    ) {
        unroll!(R, |r| {
            let v = F32x16::splat(x[r][p]);
            unroll!(P, |i| acc[r][i] = v.mul_add(weights[i], acc[r][i]));
        });
    }

    /// [`tile`] over `P` panels of a row-major `B` (`b` from the group's first column,
    /// `n` floats from one depth to the next).
    #[inline(always)]
    fn tile_rows<const R: usize, const P: usize>(
        rows: &[f32],
        (b, n): (&[f32], usize),
        k: usize,
    ) -> [[F32x16; P]; R] {
        let mut x: [&[f32]; R] = [&[]; R];
        unroll!(R, |r| x[r] = &rows[r * k..][..k]);
        let mut acc = [[F32x16::splat(0.0); P]; R];
        #[allow(clippy::needless_range_loop)]
        for p in 0..k {
            let Some(depth) = b.get(p * n..).and_then(|d| d.get(..P * PANEL)) else {
                break;
            };
            let mut weights = [F32x16::splat(0.0); P];
            unroll!(
                P,
                |i| if let Some(w) = depth[i * PANEL..].first_chunk::<PANEL>() {
                    weights[i] = F32x16::load(w);
                }
            );
            depth_step(&mut acc, &x, p, &weights);
        }
        acc
    }

    /// Adds the bias to a tile's sums, activates them and stores them at `row`, panel `q`.
    #[inline(always)]
    fn store<const R: usize, const P: usize>(
        row: usize,
        q: usize,
        sums: &[[F32x16; P]; R],
        out: &Out<'_>,
        y: &mut [f32],
    ) {
        // `i` picks panel `i` of every row's sums: a column of the tile, not an item.
        #[allow(clippy::needless_range_loop)]
        for i in 0..P {
            let (bias, width) = out.bias_lanes(q + i);
            let bias = F32x16::load(&bias);
            let column = (q + i) * PANEL;
            let values: [F32x16; R] = core::array::from_fn(|r| sums[r][i].add(bias));
            let values = F32x16::activate_all(values, out.act);
            for (r, &v) in values.iter().enumerate() {
                let y = &mut y[(row + r) * out.n + column..][..width];
                if width == PANEL {
                    v.store(y);
                } else {
                    y.copy_from_slice(&v.to_array()[..width]);
                }
            }
        }
    }
}

/// AVX, AVX2 and AArch64: tiles of 6 rows by one panel of two 8-lane vectors.
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(all(target_arch = "x86_64", target_feature = "avx512f"))
))]
mod kernel {
    use super::{Out, Source, PANEL};
    use crate::gemm::simd::{activate, load_at, F32x8, LANES};
    use crate::unroll::unroll;

    /// Rows of one register tile: 12 accumulators, two weight vectors and a broadcast
    /// fill AVX's 16 registers.
    const ROWS: usize = 6;

    pub(super) fn run(
        (m, k): (usize, usize),
        a: &[f32],
        src: Source<'_>,
        out: &Out<'_>,
        y: &mut [f32],
    ) {
        for q in 0..out.n.div_ceil(PANEL) {
            let group = src.panel(q, (k, out.n));
            row_tiles!(tile, store, 1, (m, k), a, group, q, out, y);
        }
    }

    /// The sums of `R` rows of `A` (`rows`) by one panel (`panel`'s `k` depths of 16,
    /// `stride` floats apart).
    #[inline(always)]
    fn tile<const R: usize, const P: usize>(
        rows: &[f32],
        (panel, stride): (&[f32], usize),
        k: usize,
    ) -> [[F32x8; 2]; R] {
        let mut x: [&[f32]; R] = [&[]; R];
        unroll!(R, |r| x[r] = &rows[r * k..][..k]);
        let mut acc = [[F32x8::splat(0.0); 2]; R];
        #[allow(clippy::needless_range_loop)]
        for p in 0..k {
            let at = p * stride;
            let weights = [load_at(panel, at), load_at(panel, at + LANES)];
            unroll!(R, |r| {
                let v = F32x8::splat(x[r][p]);
                unroll!(2, |h| acc[r][h] = v.mul_add(weights[h], acc[r][h]));
            });
        }
        acc
    }

    /// Adds the bias to a tile's sums, activates them and stores them at `row`, panel `q`.
    #[inline(always)]
    fn store<const R: usize>(
        row: usize,
        q: usize,
        sums: &[[F32x8; 2]; R],
        out: &Out<'_>,
        y: &mut [f32],
    ) {
        let (bias, width) = out.bias_lanes(q);
        let bias = [load_at(&bias, 0), load_at(&bias, LANES)];
        let column = q * PANEL;
        for (r, sums) in sums.iter().enumerate() {
            let mut lanes = [0.0; PANEL];
            unroll!(2, |h| lanes[h * LANES..][..LANES].copy_from_slice(
                &activate(out.act, sums[h].add(bias[h])).to_array()
            ));
            y[(row + r) * out.n + column..][..width].copy_from_slice(&lanes[..width]);
        }
    }
}

/// Without SIMD: each output a scalar chain, row by row and panel by panel.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod kernel {
    use super::{Out, Source, PANEL};

    pub(super) fn run(
        (m, k): (usize, usize),
        a: &[f32],
        src: Source<'_>,
        out: &Out<'_>,
        y: &mut [f32],
    ) {
        for q in 0..out.n.div_ceil(PANEL) {
            let (panel, stride) = src.panel(q, (k, out.n));
            let (bias, width) = out.bias_lanes(q);
            for r in 0..m {
                let x = &a[r * k..][..k];
                let mut sums = [0.0f32; PANEL];
                for (p, &v) in x.iter().enumerate() {
                    for (s, &w) in sums.iter_mut().zip(&panel[p * stride..][..width]) {
                        *s += v * w;
                    }
                }
                let y = &mut y[r * out.n + q * PANEL..][..width];
                for ((o, s), b) in y.iter_mut().zip(sums).zip(bias) {
                    *o = out.act.apply(s + b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// Random sizes around the tiles' edges (rows past whole tiles, columns past whole
    /// panels and groups, depths of 0 and 1), with and without a bias, each activation:
    /// within 1e-5 (absolute plus relative) of an `f64` product.
    #[test]
    fn panels_match_an_f64_product() {
        let mut seed = 7u32;
        let acts = [
            Activation::None,
            Activation::Relu,
            Activation::Clip {
                min: -0.5,
                max: 0.5,
            },
            Activation::Sigmoid,
        ];
        for case in 0..120 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let m = 1 + (seed >> 4) as usize % 21;
            let n = 1 + (seed >> 12) as usize % 70;
            let k = (seed >> 20) as usize % 40;
            let transposed = case % 3 == 0;
            let act = acts[case % acts.len()];
            let a = data(m * k, seed);
            let b = data(k * n, seed ^ 0x55);
            let bias = (case % 2 == 0).then(|| data(n, seed ^ 0xaa));
            let mut panels = vec![f32::NAN; packed_len(k, n)];
            pack_b(k, n, &b, transposed, &mut panels);
            let mut y = vec![f32::NAN; m * n];
            gemm_panels((m, n, k), &a, &panels, bias.as_deref(), act, &mut y);
            for i in 0..m {
                for j in 0..n {
                    let mut s = bias.as_ref().map_or(0.0, |b| f64::from(b[j]));
                    for p in 0..k {
                        let w = if transposed {
                            b[j * k + p]
                        } else {
                            b[p * n + j]
                        };
                        s += f64::from(a[i * k + p]) * f64::from(w);
                    }
                    let want = act.apply(s as f32);
                    let got = y[i * n + j];
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "{m}×{n}×{k} {act:?} ({i}, {j}): {got} against {want}"
                    );
                }
            }
        }
    }

    /// A row-major `B` of whole panels read in place gives what its panels give, bit for
    /// bit (the same chains of fused multiply-adds), on sizes around the tiles' edges.
    #[test]
    fn row_major_b_matches_its_panels() {
        for (case, (m, panels_n, k)) in [(2, 1, 1), (9, 3, 7), (17, 4, 33), (8, 6, 48), (31, 2, 5)]
            .into_iter()
            .enumerate()
        {
            let n = panels_n * PANEL;
            assert!(
                row_major_pays(m, n, k)
                    || !cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
            );
            let seed = case as u32 * 31 + 5;
            let (a, b, bias) = (data(m * k, seed), data(k * n, seed + 1), data(n, seed + 2));
            let mut panels = vec![0.0; packed_len(k, n)];
            pack_b(k, n, &b, false, &mut panels);
            let (mut want, mut got) = (vec![f32::NAN; m * n], vec![f32::NAN; m * n]);
            gemm_panels(
                (m, n, k),
                &a,
                &panels,
                Some(&bias),
                Activation::Relu,
                &mut want,
            );
            gemm_row_major((m, n, k), &a, &b, Some(&bias), Activation::Relu, &mut got);
            assert_eq!(got, want, "{m}×{n}×{k}");
        }
        assert!(!row_major_pays(1, 64, 8), "one row");
        assert!(!row_major_pays(8, 40, 8), "columns not in whole panels");
        assert!(!row_major_pays(8, 1024, 8), "rows a page apart");
        assert!(!row_major_pays(8, 512, 1024), "B beyond 1 MiB");
    }

    /// `pack_b` zero-pads the last panel and puts column `c` of depth `p` at lane
    /// `c % 16` of panel `c / 16`'s depth `p`.
    #[test]
    fn pack_b_puts_columns_in_zero_padded_panels() {
        let (k, n) = (3, 18);
        let b: Vec<f32> = (0..k * n).map(|i| i as f32 + 1.0).collect();
        let mut out = vec![f32::NAN; packed_len(k, n)];
        pack_b(k, n, &b, false, &mut out);
        assert_eq!(out.len(), 2 * PANEL * k);
        assert_eq!(out[PANEL + 2], b[n + 2]);
        assert_eq!(out[(k + 2) * PANEL + 1], b[2 * n + 17]);
        assert_eq!(out[(k + 2) * PANEL + 2], 0.0);
        let mut t = vec![f32::NAN; packed_len(k, n)];
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        pack_b(k, n, &bt, true, &mut t);
        assert_eq!(t, out);
    }
}
