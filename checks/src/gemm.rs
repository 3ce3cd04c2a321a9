//! Float GEMM and MatMul: every entry point the compiler emits a call to for an `f32`
//! `Gemm` or `MatMul` node (`gemm`, `gemm_with_scratch` with `scratch_len`, `matmul`,
//! `matmul_with_scratch` with `matmul_scratch_len`, and `panels::gemm_panels` on a `B`
//! the `layout` pass stored with `panels::pack_b`), against a naive reference in `f64`.
//!
//! The geometries reach every path the target picks inside those entry points: the
//! matrix-vector loops (`m` or `n` of 1), the packed kernel's slivers and their partial
//! last one, its narrow tiles (transposed `A` of whole 16-row vectors, depths of 32 or
//! more), the AVX-512 8-row panels (`m` a multiple of 8 but not of 6, whole slivers, a
//! plain epilogue), `k` blocks (depths past 256), row blocks (more than 48 rows), the
//! row-major panels of a MatMul with whole 16-column panels, and batched MatMuls that
//! stack into one tall product or run one product per broadcast entry.

use zant_runtime::gemm::{self, panels, Bias};

use crate::{act, compare, Buffers, Family, Mismatch, Rng, BUFFER_LEN};

/// Clip's bounds when a case draws it.
const CLIP: (f32, f32) = (-0.25, 0.5);

/// One product: its sizes, the op around it, its activation (0 none, 1 Relu, 2 Clip,
/// 3 Sigmoid, 4 SiLU, 5 Swish with `alpha` 1.702) and the seed of its data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub op: Op,
    pub act: u8,
    pub seed: u64,
}

/// The node the product comes from, with what only that node has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// ONNX `Gemm`: `A` is `m × k` (`k × m` with `trans_a`), `B` is `k × n` (`n × k` with
    /// `trans_b`), `y = alpha · op(A)·op(B) + beta · C` with `C` broadcast as `bias` says.
    Gemm {
        trans_a: bool,
        trans_b: bool,
        alpha: f32,
        beta: f32,
        bias: BiasKind,
    },
    /// ONNX `MatMul` with the passes' fused bias of `n` values: `A` is `a_batch × m × k`,
    /// `B` is `b_batch × k × n`, the batches broadcast numpy's way.
    MatMul {
        a_batch: Batch,
        b_batch: Batch,
        bias: bool,
    },
}

/// How a `Gemm`'s `C` broadcasts to the `m × n` output (the compiler's `BiasKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BiasKind {
    None,
    Scalar,
    Row,
    Col,
    Full,
}

/// The batch dimensions of one MatMul operand: the first `rank` of `dims`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    pub rank: usize,
    pub dims: [usize; 2],
}

/// The family: `Gemm` and `MatMul` nodes of every shape class the kernels split on.
pub struct Gemm;

/// The largest `m`, `n` and (for most cases) `k`: past five 16-column slivers, six
/// 8-row panels and the 48-row block of the packed kernel.
const MAX_DIM: usize = 70;
/// The depths of a deep case: from just under one 256-depth `k` block of the packed
/// kernel to three of them (the scratch's depths split evenly between blocks).
const DEEP: (usize, usize) = (250, 600);

impl Batch {
    /// No batch: a plain matrix.
    const NONE: Batch = Batch {
        rank: 0,
        dims: [1, 1],
    };

    /// The dimensions, outermost first.
    fn dims(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    /// The dimensions right-aligned to rank 2, leading ones filled with 1.
    fn padded(&self) -> [usize; 2] {
        match self.rank {
            0 => [1, 1],
            1 => [1, self.dims[0]],
            _ => self.dims,
        }
    }

    /// The matrices in the batch.
    fn count(&self) -> usize {
        self.dims().iter().product()
    }

    /// This batch with its leading dimension dropped.
    fn without_first(&self) -> Batch {
        match self.rank {
            0 => *self,
            1 => Batch::NONE,
            _ => Batch {
                rank: 1,
                dims: [self.dims[1], 1],
            },
        }
    }

    /// This batch with dimension `i` (of `dims`) set to 1.
    fn with_one(&self, i: usize) -> Batch {
        let mut b = *self;
        if i < b.rank {
            b.dims[i] = 1;
        }
        b
    }
}

/// The output batch of two operand batches, right-aligned, or `None` where they do not
/// broadcast.
fn broadcast(a: &Batch, b: &Batch) -> Option<Batch> {
    let (pa, pb) = (a.padded(), b.padded());
    let mut dims = [1; 2];
    for i in 0..2 {
        dims[i] = match (pa[i], pb[i]) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    let rank = a.rank.max(b.rank);
    // Back from right-aligned to the first `rank` entries.
    let dims = match rank {
        0 => [1, 1],
        1 => [dims[1], 1],
        _ => dims,
    };
    Some(Batch { rank, dims })
}

/// An operand's full shape: `batch`, then `rows × columns`; returns it and its rank.
fn shape(batch: &Batch, rows: usize, columns: usize) -> ([usize; 4], usize) {
    let mut s = [0; 4];
    s[..batch.rank].copy_from_slice(batch.dims());
    s[batch.rank] = rows;
    s[batch.rank + 1] = columns;
    (s, batch.rank + 2)
}

/// The floats of `A`, `B`, the bias and the output of `case`.
fn lens(case: &Case) -> (usize, usize, usize, usize) {
    let (m, n, k) = (case.m, case.n, case.k);
    match case.op {
        Op::Gemm { bias, .. } => {
            let n_bias = match bias {
                BiasKind::None => 0,
                BiasKind::Scalar => 1,
                BiasKind::Row => n,
                BiasKind::Col => m,
                BiasKind::Full => m * n,
            };
            (m * k, k * n, n_bias, m * n)
        }
        Op::MatMul {
            a_batch,
            b_batch,
            bias,
        } => {
            let y_count = broadcast(&a_batch, &b_batch).map_or(0, |y| y.count());
            (
                a_batch.count() * m * k,
                b_batch.count() * k * n,
                if bias { n } else { 0 },
                y_count * m * n,
            )
        }
    }
}

/// Whether `case` is valid (its batches broadcast) and its operands, panels and scratch
/// fit in [`Buffers`].
fn fits(case: &Case) -> bool {
    let (m, n, k) = (case.m, case.n, case.k);
    if m == 0 || n == 0 {
        return false;
    }
    let scratch = match case.op {
        Op::Gemm { .. } => gemm::scratch_len(m, n, k),
        Op::MatMul {
            a_batch, b_batch, ..
        } => {
            let Some(y_batch) = broadcast(&a_batch, &b_batch) else {
                return false;
            };
            let (a, a_rank) = shape(&a_batch, m, k);
            let (b, b_rank) = shape(&b_batch, k, n);
            let (y, y_rank) = shape(&y_batch, m, n);
            gemm::matmul_scratch_len(&a[..a_rank], &b[..b_rank], &y[..y_rank])
        }
    };
    let (n_a, n_b, n_bias, n_y) = lens(case);
    [n_a, n_b, n_bias, n_y, scratch, panels::packed_len(k, n)]
        .iter()
        .all(|&len| len <= BUFFER_LEN)
}

/// A size that often sits on a kernel's edge: 1 to 4, a multiple of 8 or 16, one off
/// such a multiple, or anything up to `max`.
fn dim(rng: &mut Rng, max: usize) -> usize {
    let multiple = |rng: &mut Rng, step: usize| step * rng.range(1, (max / step).max(1));
    match rng.range(0, 5) {
        0 => rng.range(1, 4),
        1 => multiple(rng, 8),
        2 => multiple(rng, 16),
        3 => {
            let step = if rng.one_in(2) { 8 } else { 16 };
            let base = multiple(rng, step);
            if rng.one_in(2) {
                base - 1
            } else {
                (base + 1).min(max)
            }
        }
        _ => rng.range(1, max),
    }
}

/// The multipliers `alpha` and `beta` a case draws from: exact in `f32`, one of each
/// sign, and `beta = 0` (a bias that must vanish).
const ALPHAS: [f32; 5] = [1.0, 0.5, 2.0, -1.5, 0.25];
const BETAS: [f32; 5] = [1.0, 0.0, 0.5, -2.0, 1.5];

/// A MatMul operand's batch of rank 0 to 2 that broadcasts to `y_dims` (right-aligned):
/// each dimension is the output's or a broadcast 1.
fn draw_batch(rng: &mut Rng, y_dims: [usize; 2]) -> Batch {
    let rank = if rng.one_in(2) { 0 } else { rng.range(1, 2) };
    let mut dims = [1; 2];
    for (i, d) in dims.iter_mut().enumerate().take(rank) {
        let y = y_dims[2 - rank + i];
        *d = if rng.one_in(3) { 1 } else { y };
    }
    Batch { rank, dims }
}

impl Family for Gemm {
    type Case = Case;
    const NAME: &'static str = "gemm f32";
    const FIXTURES: &'static [Case] = &[];

    fn draw(rng: &mut Rng) -> Case {
        loop {
            let (m, n, k) = match rng.range(0, 7) {
                // Deep: few rows and columns, so that `A` and `B` still fit.
                0 => (dim(rng, 40), dim(rng, 40), rng.range(DEEP.0, DEEP.1)),
                // Whole 8-row panels by whole 16-column slivers: the AVX-512 8-row
                // panels, the narrow tiles and a MatMul's row-major panels.
                1 | 2 => (8 * rng.range(1, 8), 16 * rng.range(1, 4), dim(rng, MAX_DIM)),
                _ => {
                    let k = if rng.one_in(40) { 0 } else { dim(rng, MAX_DIM) };
                    (dim(rng, MAX_DIM), dim(rng, MAX_DIM), k)
                }
            };
            let (op, act) = if rng.one_in(3) {
                let y_dims = [rng.range(1, 3), rng.range(1, 3)];
                let op = Op::MatMul {
                    a_batch: draw_batch(rng, y_dims),
                    b_batch: draw_batch(rng, y_dims),
                    bias: rng.one_in(2),
                };
                (op, rng.range(0, 5) as u8)
            } else {
                let (trans_a, trans_b) = (rng.one_in(2), rng.one_in(2));
                let op = |(alpha, beta), bias| Op::Gemm {
                    trans_a,
                    trans_b,
                    alpha,
                    beta,
                    bias,
                };
                if rng.one_in(2) {
                    // The plain epilogue (no scaling, a bias per row or none, an
                    // activation that is a clamp), which AVX-512 stores in one sweep
                    // and its 8-row panels need.
                    let bias = if rng.one_in(2) {
                        BiasKind::None
                    } else {
                        BiasKind::Col
                    };
                    (op((1.0, 1.0), bias), rng.range(0, 2) as u8)
                } else {
                    // Anything: half of it with `alpha = beta = 1`, which the panels need.
                    let scale = if rng.one_in(2) {
                        (1.0, 1.0)
                    } else {
                        (ALPHAS[rng.range(0, 4)], BETAS[rng.range(0, 4)])
                    };
                    let bias = match rng.range(0, 4) {
                        0 => BiasKind::None,
                        1 => BiasKind::Scalar,
                        2 => BiasKind::Row,
                        3 => BiasKind::Col,
                        _ => BiasKind::Full,
                    };
                    (op(scale, bias), rng.range(0, 5) as u8)
                }
            };
            let case = Case {
                m,
                n,
                k,
                op,
                act,
                seed: rng.next_u64(),
            };
            if fits(&case) {
                return case;
            }
        }
    }

    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let mut n_out = 0;
        let mut push = |c: Case| {
            if n_out < out.len() && c != *case && fits(&c) {
                out[n_out] = c;
                n_out += 1;
            }
        };
        let (m, n, k) = (case.m, case.n, case.k);
        // Halves first, so that a deep case shrinks in a few steps, then one less, so
        // that the minimal case sits on the edge that fails.
        push(Case {
            m: (m / 2).max(1),
            ..*case
        });
        push(Case {
            n: (n / 2).max(1),
            ..*case
        });
        push(Case { k: k / 2, ..*case });
        push(Case {
            m: m.saturating_sub(1).max(1),
            ..*case
        });
        push(Case {
            n: n.saturating_sub(1).max(1),
            ..*case
        });
        push(Case {
            k: k.saturating_sub(1),
            ..*case
        });
        push(Case { act: 0, ..*case });
        match case.op {
            Op::Gemm {
                trans_a,
                trans_b,
                alpha,
                beta,
                bias,
            } => {
                let gemm = |trans_a, trans_b, (alpha, beta), bias| Case {
                    op: Op::Gemm {
                        trans_a,
                        trans_b,
                        alpha,
                        beta,
                        bias,
                    },
                    ..*case
                };
                push(gemm(false, trans_b, (alpha, beta), bias));
                push(gemm(trans_a, false, (alpha, beta), bias));
                push(gemm(trans_a, trans_b, (1.0, 1.0), bias));
                push(gemm(trans_a, trans_b, (alpha, beta), BiasKind::None));
            }
            Op::MatMul {
                a_batch,
                b_batch,
                bias,
            } => {
                let matmul = |a_batch, b_batch, bias| Case {
                    op: Op::MatMul {
                        a_batch,
                        b_batch,
                        bias,
                    },
                    ..*case
                };
                push(matmul(a_batch.without_first(), b_batch, bias));
                push(matmul(a_batch, b_batch.without_first(), bias));
                for i in 0..2 {
                    push(matmul(a_batch.with_one(i), b_batch, bias));
                    push(matmul(a_batch, b_batch.with_one(i), bias));
                }
                push(matmul(a_batch, b_batch, false));
            }
        }
        n_out
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        let (m, n, k) = (case.m, case.n, case.k);
        let (n_a, n_b, n_bias, n_y) = lens(case);
        let mut rng = Rng::new(case.seed);
        rng.fill(&mut bufs.x[..n_a]);
        rng.fill(&mut bufs.w[..n_b]);
        rng.fill(&mut bufs.bias[..n_bias]);
        reference(case, bufs);
        let act = act::activation(case.act, CLIP);
        // Products are exact (`Rng::unit`'s grid); the sums round, in another order than
        // the reference's, and `alpha` scales their error.
        let alpha = match case.op {
            Op::Gemm { alpha, .. } => alpha.abs().max(1.0),
            Op::MatMul { .. } => 1.0,
        };
        let tolerance = (1e-5 * k as f32 + 1e-6) * alpha + 1e-6;
        let Buffers {
            x,
            w,
            w2,
            bias,
            want,
            got,
            scratch,
            ..
        } = bufs;
        let (a, b, bias) = (&x[..n_a], &w[..n_b], &bias[..n_bias]);
        let (want, got) = (&want[..n_y], &mut got[..n_y]);
        let mut check =
            |path, run: &mut dyn FnMut(&mut [f32])| compare(path, got, want, tolerance, run);
        match case.op {
            Op::Gemm {
                trans_a,
                trans_b,
                alpha,
                beta,
                bias: kind,
            } => {
                let bias_of = || match kind {
                    BiasKind::None => Bias::None,
                    BiasKind::Scalar => Bias::Scalar(bias[0]),
                    BiasKind::Row => Bias::Row(bias),
                    BiasKind::Col => Bias::Col(bias),
                    BiasKind::Full => Bias::Full(bias),
                };
                check("gemm", &mut |y| {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        a,
                        trans_a,
                        b,
                        trans_b,
                        alpha,
                        beta,
                        bias_of(),
                        act,
                        y,
                    )
                })?;
                // The arena's scratch is never cleared: NaN shows a value read before
                // it is written, and exactly `scratch_len` floats a short estimate.
                let s = &mut scratch[..gemm::scratch_len(m, n, k)];
                check("gemm_with_scratch, scratch_len", &mut |y| {
                    s.fill(f32::NAN);
                    gemm::gemm_with_scratch(
                        m,
                        n,
                        k,
                        a,
                        trans_a,
                        b,
                        trans_b,
                        alpha,
                        beta,
                        bias_of(),
                        act,
                        s,
                        y,
                    )
                })?;
                // The panels take no `transA`, `alpha = 1`, and no bias or one per
                // column with `beta = 1` (`passes::layout`).
                let row_bias = match kind {
                    BiasKind::None => Some(None),
                    BiasKind::Row if beta == 1.0 => Some(Some(bias)),
                    _ => None,
                };
                if let Some(row_bias) = row_bias.filter(|_| !trans_a && alpha == 1.0) {
                    let panels = pack(k, n, b, trans_b, w2);
                    check("panels::gemm_panels", &mut |y| {
                        panels::gemm_panels((m, n, k), a, panels, row_bias, act, y)
                    })?;
                }
            }
            Op::MatMul {
                a_batch,
                b_batch,
                bias: has_bias,
            } => {
                let row_bias = has_bias.then_some(bias);
                let y_batch = broadcast(&a_batch, &b_batch).unwrap_or(Batch::NONE);
                let (a_shape, a_rank) = shape(&a_batch, m, k);
                let (b_shape, b_rank) = shape(&b_batch, k, n);
                let (y_shape, y_rank) = shape(&y_batch, m, n);
                let (a_shape, b_shape, y_shape) =
                    (&a_shape[..a_rank], &b_shape[..b_rank], &y_shape[..y_rank]);
                check("matmul", &mut |y| {
                    gemm::matmul(a, a_shape, b, b_shape, row_bias, act, y, y_shape)
                })?;
                let s = &mut scratch[..gemm::matmul_scratch_len(a_shape, b_shape, y_shape)];
                check("matmul_with_scratch, matmul_scratch_len", &mut |y| {
                    s.fill(f32::NAN);
                    gemm::matmul_with_scratch(a, a_shape, b, b_shape, row_bias, act, s, y, y_shape)
                })?;
                // An unbatched `B` in panels: every row of the batched `A` is a row of one
                // product.
                if b_batch.rank == 0 {
                    let rows = a_batch.count() * m;
                    let panels = pack(k, n, b, false, w2);
                    check("panels::gemm_panels, MatMul", &mut |y| {
                        panels::gemm_panels((rows, n, k), a, panels, row_bias, act, y)
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// A `k × n` `B` (`n × k` with `trans_b`) in the panels the `layout` pass stores for
/// `gemm_panels`, packed once by the compiler with `pack_b`, in the front of `out`.
fn pack<'a>(k: usize, n: usize, b: &[f32], trans_b: bool, out: &'a mut [f32]) -> &'a [f32] {
    let out = &mut out[..panels::packed_len(k, n)];
    // NaN shows a padding value `pack_b` left unwritten.
    out.fill(f32::NAN);
    panels::pack_b(k, n, &b[..k * n], trans_b, out);
    out
}

/// One product of the reference: `y = act(alpha · op(A)·op(B) + beta · bias)`.
struct Product<'a> {
    m: usize,
    n: usize,
    k: usize,
    a: &'a [f32],
    trans_a: bool,
    b: &'a [f32],
    trans_b: bool,
    alpha: f32,
    beta: f32,
    bias: Bias<'a>,
    act: u8,
}

impl Product<'_> {
    /// The naive product, summed in `f64`, into `y` (`m × n`).
    fn run(&self, y: &mut [f32]) {
        let (m, n, k) = (self.m, self.n, self.k);
        for i in 0..m {
            for j in 0..n {
                let mut sum = 0.0f64;
                for p in 0..k {
                    let a = if self.trans_a {
                        self.a[p * m + i]
                    } else {
                        self.a[i * k + p]
                    };
                    let b = if self.trans_b {
                        self.b[j * k + p]
                    } else {
                        self.b[p * n + j]
                    };
                    sum += f64::from(a) * f64::from(b);
                }
                let bias = match self.bias {
                    Bias::None => 0.0,
                    Bias::Scalar(v) => v,
                    Bias::Row(v) => v[j],
                    Bias::Col(v) => v[i],
                    Bias::Full(v) => v[i * n + j],
                };
                let v = f64::from(self.alpha) * sum + f64::from(self.beta) * f64::from(bias);
                y[i * n + j] = act::reference(self.act, CLIP, v) as f32;
            }
        }
    }
}

/// The naive product of `case` into `bufs.want`.
fn reference(case: &Case, bufs: &mut Buffers) {
    let (m, n, k) = (case.m, case.n, case.k);
    let (n_a, n_b, n_bias, n_y) = lens(case);
    let (a, b, bias) = (&bufs.x[..n_a], &bufs.w[..n_b], &bufs.bias[..n_bias]);
    let want = &mut bufs.want[..n_y];
    match case.op {
        Op::Gemm {
            trans_a,
            trans_b,
            alpha,
            beta,
            bias: kind,
        } => {
            let bias = match kind {
                BiasKind::None => Bias::None,
                BiasKind::Scalar => Bias::Scalar(bias[0]),
                BiasKind::Row => Bias::Row(bias),
                BiasKind::Col => Bias::Col(bias),
                BiasKind::Full => Bias::Full(bias),
            };
            let product = Product {
                m,
                n,
                k,
                a,
                trans_a,
                b,
                trans_b,
                alpha,
                beta,
                bias,
                act: case.act,
            };
            product.run(want);
        }
        Op::MatMul {
            a_batch,
            b_batch,
            bias: has_bias,
        } => {
            let bias = if has_bias {
                Bias::Row(bias)
            } else {
                Bias::None
            };
            let (pa, pb) = (a_batch.padded(), b_batch.padded());
            let py = broadcast(&a_batch, &b_batch)
                .unwrap_or(Batch::NONE)
                .padded();
            // The entry of a broadcast operand at output index `(i0, i1)`.
            let entry = |p: [usize; 2], i0: usize, i1: usize| {
                let at = |d: usize, i: usize| if d == 1 { 0 } else { i };
                at(p[0], i0) * p[1] + at(p[1], i1)
            };
            for i0 in 0..py[0] {
                for i1 in 0..py[1] {
                    let (ea, eb, ey) = (entry(pa, i0, i1), entry(pb, i0, i1), i0 * py[1] + i1);
                    let product = Product {
                        m,
                        n,
                        k,
                        a: &a[ea * m * k..][..m * k],
                        trans_a: false,
                        b: &b[eb * k * n..][..k * n],
                        trans_b: false,
                        alpha: 1.0,
                        beta: 1.0,
                        bias,
                        act: case.act,
                    };
                    product.run(&mut want[ey * m * n..][..m * n]);
                }
            }
        }
    }
}
