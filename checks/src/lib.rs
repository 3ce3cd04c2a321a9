//! Differential tests of the runtime's kernels (`docs/testing.md`). Each family draws
//! random geometries (shapes, strides, pads, dilations, groups, zero points, scales)
//! from a seed, runs every path of the runtime that the target can take on each (the
//! entry points the compiler calls, with the scratch lengths that pick their fallbacks,
//! and the run-time switches forced on and off), and compares each with a naive
//! reference: integers byte for byte, floats within a bound on the sum's rounding.
//!
//! `#![no_std]` without `alloc`, so that the same checks run on the host (`cargo test`,
//! `tests/differential.rs`) and in the firmware of each emulated core. A failing case
//! is shrunk to a minimal geometry, which the report prints as Rust, ready to be kept
//! in the family's `FIXTURES`, which every run checks first.
#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

mod act;
pub mod conv;
pub mod elementwise;
mod exact;
pub mod gemm;
mod geometry;
pub mod pool;
pub mod qconv;
pub mod recurrent;
pub mod reduce;
pub mod spectral;
pub mod ternary;
pub mod transpose;

/// The floats each buffer of [`Buffers`] holds: every family draws its geometries so
/// that inputs, weights, outputs and scratch fit.
pub const BUFFER_LEN: usize = 1 << 14;

/// A deterministic generator (xorshift64*), the same on every core.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// `true` with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n)
    }

    /// A float in `[-1, 1)`, on a grid of 2^-12 so that products are exact in f32 and
    /// only their sums round.
    pub fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 51) as i32 - 4096) as f32 / 4096.0
    }

    /// Fills `xs` with [`Rng::unit`] values.
    pub fn fill(&mut self, xs: &mut [f32]) {
        for x in xs {
            *x = self.unit();
        }
    }

    /// A byte of any value.
    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }
}

/// The memory a check works in: named buffers of [`BUFFER_LEN`] floats each (plus byte
/// views for the integer families), so that no check needs a heap. On the host it lives
/// in a `Box`; in firmware in a static.
pub struct Buffers {
    pub x: [f32; BUFFER_LEN],
    pub w: [f32; BUFFER_LEN],
    pub w2: [f32; BUFFER_LEN],
    pub bias: [f32; BUFFER_LEN],
    pub want: [f32; BUFFER_LEN],
    pub got: [f32; BUFFER_LEN],
    pub scratch: [f32; BUFFER_LEN],
    /// Byte buffers for the integer families (reinterpret as `i8` with `as` casts or
    /// `bytemuck`-free loops).
    pub xq: [u8; BUFFER_LEN],
    pub wq: [u8; BUFFER_LEN],
    pub wq2: [u8; BUFFER_LEN],
    pub wantq: [u8; BUFFER_LEN],
    pub gotq: [u8; BUFFER_LEN],
    /// Integer accumulators or biases, and integer scratch.
    pub bias_i32: [i32; BUFFER_LEN],
    pub scratch_i32: [i32; BUFFER_LEN],
}

impl Buffers {
    pub const ZERO: Buffers = Buffers {
        x: [0.0; BUFFER_LEN],
        w: [0.0; BUFFER_LEN],
        w2: [0.0; BUFFER_LEN],
        bias: [0.0; BUFFER_LEN],
        want: [0.0; BUFFER_LEN],
        got: [0.0; BUFFER_LEN],
        scratch: [0.0; BUFFER_LEN],
        xq: [0; BUFFER_LEN],
        wq: [0; BUFFER_LEN],
        wq2: [0; BUFFER_LEN],
        wantq: [0; BUFFER_LEN],
        gotq: [0; BUFFER_LEN],
        bias_i32: [0; BUFFER_LEN],
        scratch_i32: [0; BUFFER_LEN],
    };
}

/// The first output where a path and the reference differ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mismatch {
    /// The path, as the runtime names it (`conv2d_gemm`, `conv2d_depthwise, no scratch`).
    pub path: &'static str,
    pub index: usize,
    pub got: f32,
    pub want: f32,
}

/// The path of a [`Mismatch`] that stands for a panic, which a host's guard caught.
pub const PANICKED: &str = "a path panicked";

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path == PANICKED {
            return f.write_str(PANICKED);
        }
        write!(
            f,
            "{}: output {} is {} where the reference gives {}",
            self.path, self.index, self.got, self.want
        )
    }
}

/// A kernel family: how to draw a case, shrink it, and check every path on it.
pub trait Family {
    /// One geometry and the seed of its data; `Debug` prints it as a Rust literal.
    type Case: Copy + fmt::Debug + Send + 'static;
    const NAME: &'static str;
    /// Cases kept from earlier failures, checked before the random ones.
    const FIXTURES: &'static [Self::Case];
    /// A random case whose buffers fit in [`Buffers`].
    fn draw(rng: &mut Rng) -> Self::Case;
    /// Smaller variants of `case` (one dimension reduced, a stride or pad dropped…),
    /// valid and fitting, written into `out`; returns how many.
    fn shrink(case: &Self::Case, out: &mut [Self::Case; 16]) -> usize;
    /// Runs every path the target takes on `case` against the reference.
    fn check(case: &Self::Case, bufs: &mut Buffers) -> Result<(), Mismatch>;
}

/// What a family's run found.
pub enum Outcome<C> {
    /// Every path matched on every case: fixtures and `cases` random ones.
    Passed { cases: usize },
    /// A case failed; `minimal` is it shrunk as far as it still fails.
    Failed {
        first: C,
        minimal: C,
        mismatch: Mismatch,
    },
}

/// Runs one check; a host's guard turns a panic into a [`Mismatch`] (`catch_unwind`),
/// so that a kernel indexing out of bounds is shrunk like a wrong value.
pub type Guard<'a> =
    &'a mut dyn FnMut(&mut dyn FnMut() -> Result<(), Mismatch>) -> Result<(), Mismatch>;

/// Checks `F`'s fixtures and then `cases` random geometries drawn from `seed`.
pub fn run<F: Family>(seed: u64, cases: usize, bufs: &mut Buffers) -> Outcome<F::Case> {
    run_guarded::<F>(seed, cases, bufs, &mut |check| check())
}

/// [`run`], each check called through `guard`.
pub fn run_guarded<F: Family>(
    seed: u64,
    cases: usize,
    bufs: &mut Buffers,
    guard: Guard<'_>,
) -> Outcome<F::Case> {
    let mut rng = Rng::new(seed);
    let drawn = (0..cases).map(|_| F::draw(&mut rng));
    let mut n = 0;
    for case in F::FIXTURES.iter().copied().chain(drawn) {
        if let Err(mismatch) = guard(&mut || F::check(&case, bufs)) {
            let (minimal, mismatch) = shrink::<F>(case, mismatch, bufs, guard);
            return Outcome::Failed {
                first: case,
                minimal,
                mismatch,
            };
        }
        n += 1;
    }
    Outcome::Passed { cases: n }
}

/// Shrinks a failing case greedily: takes the first smaller variant that still fails,
/// until none does.
fn shrink<F: Family>(
    mut case: F::Case,
    mut mismatch: Mismatch,
    bufs: &mut Buffers,
    guard: Guard<'_>,
) -> (F::Case, Mismatch) {
    let mut candidates = [case; 16];
    // Each step makes the case strictly smaller; the bound only guards a family whose
    // `shrink` would cycle.
    for _ in 0..10_000 {
        let n = F::shrink(&case, &mut candidates);
        let smaller = candidates[..n]
            .iter()
            .find_map(|c| guard(&mut || F::check(c, bufs)).err().map(|m| (*c, m)));
        match smaller {
            Some((c, m)) => (case, mismatch) = (c, m),
            None => break,
        }
    }
    (case, mismatch)
}

/// Whether `got` is within `tolerance` of `want` (NaN only matches NaN).
pub fn close(got: f32, want: f32, tolerance: f32) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    (got - want).abs() <= tolerance
}

/// Fills `got` with NaN, runs a path into it, and compares it with `want`.
pub fn compare(
    path: &'static str,
    got: &mut [f32],
    want: &[f32],
    tolerance: f32,
    run: &mut dyn FnMut(&mut [f32]),
) -> Result<(), Mismatch> {
    got.fill(f32::NAN);
    run(got);
    match got
        .iter()
        .zip(want)
        .position(|(&g, &w)| !close(g, w, tolerance))
    {
        Some(index) => Err(Mismatch {
            path,
            index,
            got: got[index],
            want: want[index],
        }),
        None => Ok(()),
    }
}

/// Every family, as a mask for [`run_families`].
pub const ALL_FAMILIES: u32 = 0x7ff;

/// Runs every family on `cases` random cases (after its fixtures), with the seeds the
/// host test uses, writing one line per family to `out` (the shrunk case on a failure);
/// returns whether all passed. The firmware of each emulated core calls it
/// (`checks/firmware`).
pub fn run_every_family(cases: usize, bufs: &mut Buffers, out: &mut dyn fmt::Write) -> bool {
    run_families(ALL_FAMILIES, cases, bufs, out)
}

/// [`run_every_family`] for the families of `mask`, bit `k` for the family of seed
/// `k + 1` (conv f32, GEMM, conv int8, matmul int8, pooling, reductions, element-wise,
/// recurrent, ternary, transposed conv, spectral). Inlined, so that a constant mask links only its families'
/// kernels (the Cortex-M55's firmware runs in three parts to fit its 512 KiB ITCM).
#[inline(always)]
pub fn run_families(mask: u32, cases: usize, bufs: &mut Buffers, out: &mut dyn fmt::Write) -> bool {
    let mut passed = true;
    let mut run = |bit: u32, f: fn(u64, usize, &mut Buffers, &mut dyn fmt::Write) -> bool| {
        if mask & (1 << bit) != 0 {
            passed &= f(u64::from(bit) + 1, cases, bufs, out);
        }
    };
    run(0, report::<conv::Conv>);
    run(1, report::<gemm::Gemm>);
    run(2, report::<qconv::QConv>);
    run(3, report::<qconv::QMatMul>);
    run(4, report::<pool::Pool>);
    run(5, report::<reduce::Reduce>);
    run(6, report::<elementwise::Elementwise>);
    run(7, report::<recurrent::Recurrent>);
    run(8, report::<ternary::Ternary>);
    run(9, report::<transpose::Transpose>);
    run(10, report::<spectral::Spectral>);
    passed
}

/// Runs `F` and writes its line; whether it passed.
fn report<F: Family>(
    seed: u64,
    cases: usize,
    bufs: &mut Buffers,
    out: &mut dyn fmt::Write,
) -> bool {
    match run::<F>(seed, cases, bufs) {
        Outcome::Passed { cases } => {
            let _ = writeln!(out, "{}: {cases} cases passed", F::NAME);
            true
        }
        Outcome::Failed {
            first,
            minimal,
            mismatch,
        } => {
            let _ = writeln!(
                out,
                "{}: FAILED: {mismatch}\n  first failing case: {first:?}\n  shrunk to: {minimal:?}",
                F::NAME
            );
            false
        }
    }
}
