//! Spectral transforms (ONNX `DFT` and `STFT`): the two entry points the compiler emits a
//! call to (`compiler/src/ops/spectral.rs`), `dft` (forward and inverse, real and complex
//! input, one-sided both ways, cut or zero-padded to the length) and `stft` (real and
//! complex signals, with and without a window, one or several frames, so that a real
//! signal's frames go two to a transform and an odd count leaves one alone), each at the
//! precision the target computes in (`f64`, or `f32` on cores without `f64` in hardware).
//!
//! The lengths reach every pass of the mixed-radix FFT: powers of two (radix 4 and 2),
//! 3 and 5 alone and mixed (30, 45, 60, 240, 400, 480), primes run as one direct pass (7,
//! 13, 61) and 49 = 7 · 7.
//!
//! The reference sums every bin directly in `f64` from the spec's formula, its angles
//! reduced to `k · t mod n` first. An output sums at most `n` terms whose magnitudes add
//! to `M` (the inputs' sum of magnitudes; divided by `n` for an inverse, doubled for a
//! one-sided one): an `f32` FFT of `p` passes errs by about `p · u · M` (`u = 2^-24`) and
//! each output must lie within `64 · (p + 2) · u · M` of the reference, far below the
//! error of a wrong twiddle or a misplaced bin, which is of the order of `M / √n`.

use core::f64::consts::TAU;

use zant_runtime::spectral::{self, Dft, Stft};

use crate::{compare, Buffers, Family, Mismatch, Rng};

/// The spectral family.
pub struct Spectral;

/// One transform and the seed of its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    /// The transform's length.
    pub n: usize,
    /// The input's length: along the axis (DFT; bins for a one-sided inverse) or of the
    /// signal (STFT).
    pub len: usize,
    pub complex: bool,
    pub inverse: bool,
    pub onesided: bool,
    /// An STFT whose frames of `n` samples start every `step` samples; 0 for a DFT.
    pub step: usize,
    /// An STFT's frames weighted by a window.
    pub window: bool,
    pub seed: u64,
}

/// Lengths past the small ones: every radix and their mixes, primes, a prime square.
const LENGTHS: [usize; 14] = [
    30, 32, 45, 49, 60, 61, 64, 100, 128, 240, 256, 400, 480, 512,
];

impl Family for Spectral {
    type Case = Case;
    const NAME: &'static str = "spectral (DFT, STFT)";
    const FIXTURES: &'static [Case] = &[
        // The audio front end's shape: 480-point frames every 320 samples, paired.
        Case {
            n: 480,
            len: 1440,
            complex: false,
            inverse: false,
            onesided: true,
            step: 320,
            window: true,
            seed: 1,
        },
        // A one-sided inverse of a length whose half spectrum is longer than it needs.
        Case {
            n: 45,
            len: 30,
            complex: true,
            inverse: true,
            onesided: true,
            step: 0,
            window: false,
            seed: 2,
        },
    ];

    fn draw(rng: &mut Rng) -> Case {
        let n = if rng.one_in(3) {
            rng.range(1, 16)
        } else {
            LENGTHS[rng.range(0, LENGTHS.len() - 1)]
        };
        let seed = rng.next_u64();
        if rng.one_in(3) {
            let step = rng.range(1, n);
            let complex = rng.one_in(3);
            return Case {
                n,
                len: n + step * rng.range(0, 4) + rng.range(0, step - 1),
                complex,
                inverse: false,
                onesided: !complex && !rng.one_in(3),
                step,
                window: !rng.one_in(3),
                seed,
            };
        }
        let inverse = rng.one_in(2);
        let onesided = rng.one_in(2);
        let len = if inverse && onesided {
            rng.range(1, n / 2 + 2)
        } else if rng.one_in(3) {
            rng.range(1, n + 8)
        } else {
            n
        };
        Case {
            n,
            len,
            complex: (inverse && onesided) || rng.one_in(2),
            inverse,
            onesided,
            step: 0,
            window: false,
            seed,
        }
    }

    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let mut k = 0;
        let mut push = |c: Case| {
            if k < out.len() && c != *case && c.n >= 1 && c.len >= 1 {
                out[k] = c;
                k += 1;
            }
        };
        for n in [case.n / 2, case.n - 1] {
            let len = if case.step > 0 {
                case.len.max(n)
            } else {
                case.len.min(n + 8)
            };
            let step = case.step.min(n);
            push(Case {
                n,
                len,
                step,
                ..*case
            });
        }
        if case.step == 0 || case.len > case.n {
            push(Case {
                len: case.len - 1,
                ..*case
            });
        }
        push(Case {
            complex: case.inverse && case.onesided,
            window: false,
            ..*case
        });
        push(Case {
            inverse: false,
            onesided: false,
            len: if case.step > 0 { case.len } else { case.n },
            ..*case
        });
        k
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        let parts = if case.complex { 2 } else { 1 };
        let x = &mut bufs.x[..case.len * parts];
        let mut rng = Rng::new(case.seed);
        rng.fill(x);
        let window = &mut bufs.w[..case.n];
        for w in window.iter_mut() {
            *w = (rng.unit() + 1.0) / 2.0;
        }
        let window = case.window.then_some(&bufs.w[..case.n]);
        let x = &bufs.x[..case.len * parts];
        let scratch = f64_scratch(&mut bufs.scratch, spectral::scratch_len(case.n));
        let (out, tolerance) = reference(case, x, window, &mut bufs.want);
        let want = &bufs.want[..out];
        if case.step > 0 {
            let p = stft_params(case);
            compare("stft", &mut bufs.got[..out], want, tolerance, &mut |y| {
                spectral::stft(&p, x, window, scratch, y)
            })
        } else {
            let p = dft_params(case);
            compare("dft", &mut bufs.got[..out], want, tolerance, &mut |y| {
                spectral::dft(&p, x, scratch, y)
            })
        }
    }
}

fn dft_params(case: &Case) -> Dft {
    Dft {
        outer: 1,
        len: case.len,
        inner: 1,
        complex: case.complex,
        n: case.n,
        inverse: case.inverse,
        onesided: case.onesided,
    }
}

fn stft_params(case: &Case) -> Stft {
    Stft {
        batch: 1,
        signal_len: case.len,
        complex: case.complex,
        step: case.step,
        frames: (case.len - case.n) / case.step + 1,
        frame_len: case.n,
        n: case.n,
        onesided: case.onesided,
    }
}

/// `len` `f64` values of the `f32` scratch, from its first 8-byte boundary.
fn f64_scratch(scratch: &mut [f32], len: usize) -> &mut [f64] {
    let (_, aligned, _) = bytemuck::pod_align_to_mut::<f32, f64>(scratch);
    &mut aligned[..len]
}

/// `e^{iθ}`, `θ = sign · 2π · m / n`, the angle reduced first.
fn root(m: usize, n: usize, sign: f64) -> (f64, f64) {
    let theta = sign * TAU * (m % n) as f64 / n as f64;
    (libm::cos(theta), libm::sin(theta))
}

/// Writes the reference outputs into `want`; returns their count and the tolerance.
fn reference(case: &Case, x: &[f32], window: Option<&[f32]>, want: &mut [f32]) -> (usize, f32) {
    let n = case.n;
    let parts = if case.complex { 2 } else { 1 };
    let sample = |t: usize| {
        let im = if case.complex { x[2 * t + 1] } else { 0.0 };
        (f64::from(x[t * parts]), f64::from(im))
    };
    let passes = (usize::BITS - n.leading_zeros()) as f64 + 2.0;
    let bins = if case.onesided && !case.inverse {
        n / 2 + 1
    } else {
        n
    };
    // The forward transform of `samples(t)`, `t < used`, into `want[base..]`.
    let mut forward = |base: usize, used: usize, samples: &dyn Fn(usize) -> (f64, f64)| {
        let magnitude: f64 = (0..used)
            .map(|t| {
                let (re, im) = samples(t);
                re.abs() + im.abs()
            })
            .sum();
        for k in 0..bins {
            let (mut re, mut im) = (0.0, 0.0);
            for t in 0..used {
                let (xr, xi) = samples(t);
                let (c, s) = root(k * t, n, -1.0);
                re += xr * c - xi * s;
                im += xr * s + xi * c;
            }
            want[base + 2 * k] = re as f32;
            want[base + 2 * k + 1] = im as f32;
        }
        magnitude
    };
    // An STFT's frames past the first, when the case is one.
    let more_frames = (case.len.saturating_sub(n)).checked_div(case.step);
    let magnitude = if let Some(more) = more_frames {
        let frames = more + 1;
        let mut magnitude = 0.0f64;
        for f in 0..frames {
            let framed = |t: usize| {
                let (re, im) = sample(f * case.step + t);
                let w = window.map_or(1.0, |w| f64::from(w[t]));
                (re * w, im * w)
            };
            magnitude = magnitude.max(forward(f * bins * 2, n, &framed));
        }
        return (frames * bins * 2, tolerance(passes, magnitude));
    } else if !case.inverse {
        forward(0, case.len.min(n), &sample)
    } else if !case.onesided {
        // The inverse: the conjugate's forward transform, conjugated and scaled.
        let conj = |t: usize| {
            let (re, im) = sample(t);
            (re, -im)
        };
        let magnitude = forward(0, case.len.min(n), &conj);
        for v in want[..2 * n].chunks_exact_mut(2) {
            v[0] /= n as f32;
            v[1] = -v[1] / n as f32;
        }
        magnitude / n as f64
    } else {
        // numpy's `irfft`: bins 1..n/2 stand for their conjugate partners too.
        let used = case.len.min(n / 2 + 1);
        let mut magnitude = 0.0f64;
        for (t, out) in want.iter_mut().enumerate().take(n) {
            let mut v = 0.0;
            for k in 0..used {
                let (re, im) = sample(k);
                let paired = k != 0 && 2 * k != n;
                let (weight, im) = if paired { (2.0, im) } else { (1.0, 0.0) };
                if t == 0 {
                    magnitude += weight * (re.abs() + im.abs());
                }
                let (c, s) = root(k * t, n, 1.0);
                v += weight * (re * c - im * s);
            }
            *out = (v / n as f64) as f32;
        }
        return (n, tolerance(passes, magnitude / n as f64));
    };
    let out = if case.inverse { 2 * n } else { 2 * bins };
    (out, tolerance(passes, magnitude))
}

/// `64 · (p + 2) · 2^-24 · M`, at least the same for `M = 1`.
fn tolerance(passes: f64, magnitude: f64) -> f32 {
    (64.0 * passes * magnitude.max(1.0) / f64::from(1u32 << 24)) as f32
}
