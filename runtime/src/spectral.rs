//! Spectral kernels: ONNX `DFT` ([`dft`]) and `STFT` ([`stft`]).
//!
//! Each signal is transformed by a mixed-radix fast Fourier transform (self-sorting
//! Stockham passes of radix 4, 2, 3, 5 and, for what remains, the smallest
//! prime factor, so a prime length is one direct `O(n²)` pass): `O(n log n)` for the lengths
//! models use (512, 400 = 2⁴·5², 480 = 2⁵·3·5). The plan reserves the scratch
//! ([`scratch_len`]): a table of the `n` twiddles `e^{-2πi·t/n}`, computed once per call
//! from their exact angle index (so quarter turns are exact), and two work buffers. An
//! inverse transform conjugates its input and output around the forward one. The
//! arithmetic is `f64` where the core has it in hardware and `f32` elsewhere (`Work`).
//!
//! Signals are stored as ONNX stores them: a trailing dim of 1 (real) or 2 (real and
//! imaginary parts, interleaved).

use core::f64::consts::FRAC_PI_2;

use crate::scalar::{Float, Scalar};
use crate::tokens::tokens;

tokens! {
    rt::spectral;
    /// The geometry of a [`dft`] call: the input is `[outer, len, inner, 1 or 2]` (the
    /// transformed axis in the middle), the output `[outer, bins, inner, 1 or 2]`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Dft {
        /// The product of the dims before the axis.
        pub outer: usize,
        /// The input's length along the axis.
        pub len: usize,
        /// The product of the dims between the axis and the trailing complex dim.
        pub inner: usize,
        /// Whether the input has imaginary parts (a trailing dim of 2, not 1).
        pub complex: bool,
        /// The transform's length (ONNX `dft_length`): the signal is cut or zero-padded to it.
        pub n: usize,
        /// The inverse transform, scaled by `1/n`.
        pub inverse: bool,
        /// Forward: only bins `0..=n/2` (a real signal's spectrum is conjugate symmetric).
        /// Inverse: the input is such a half spectrum and the output is the real signal.
        pub onesided: bool,
    }
}

tokens! {
    rt::spectral;
    /// The geometry of an [`stft`] call: the signal is `[batch, signal_len, 1 or 2]`, the
    /// output `[batch, frames, bins, 2]`, frame `f` starting at sample `f · step`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Stft {
        pub batch: usize,
        pub signal_len: usize,
        /// Whether the signal has imaginary parts (a trailing dim of 2, not 1).
        pub complex: bool,
        /// The samples between the starts of two frames.
        pub step: usize,
        pub frames: usize,
        /// The samples each frame reads (the window's length); those past the signal's end
        /// read as zeros.
        pub frame_len: usize,
        /// The transform's length (ONNX `frame_length`): each frame is cut or zero-padded to it.
        pub n: usize,
        /// Only bins `0..=n/2`.
        pub onesided: bool,
    }
}

impl Dft {
    /// The output's length along the axis: `n/2 + 1` bins for a one-sided forward
    /// transform, `n` otherwise.
    pub const fn out_len(&self) -> usize {
        if self.onesided && !self.inverse {
            self.n / 2 + 1
        } else {
            self.n
        }
    }

    /// The output's trailing dim: 1 for a one-sided inverse (a real signal), 2 otherwise.
    pub const fn out_parts(&self) -> usize {
        if self.onesided && self.inverse {
            1
        } else {
            2
        }
    }
}

impl Stft {
    /// The bins of each frame's spectrum: `n/2 + 1` when one-sided, `n` otherwise.
    pub const fn bins(&self) -> usize {
        if self.onesided {
            self.n / 2 + 1
        } else {
            self.n
        }
    }
}

/// ONNX `DFT`: the transform of every signal along the axis of `p`.
///
/// `x` holds `outer · len · inner · (1 or 2)` elements and `y` `outer · out_len · inner ·
/// out_parts` ([`Dft::out_len`], [`Dft::out_parts`]); `scratch` at least
/// [`scratch_len`]`(p.n)` values.
pub fn dft<T: Scalar>(p: &Dft, x: &[T], scratch: &mut [f64], y: &mut [T]) {
    dft_in::<T, Work>(p, x, Work::scratch(scratch), y);
}

/// [`dft`] computing in `R`.
fn dft_in<T: Scalar, R: Real>(p: &Dft, x: &[T], scratch: &mut [R], y: &mut [T]) {
    let parts_in = if p.complex { 2 } else { 1 };
    let (bins, parts_out) = (p.out_len(), p.out_parts());
    let Some(mut fft) = Fft::new(p.n, scratch) else {
        return;
    };
    for o in 0..p.outer {
        for i in 0..p.inner {
            let sample = |t: usize| {
                let at = ((o * p.len + t) * p.inner + i) * parts_in;
                let im = if p.complex { R::of(x[at + 1]) } else { R::ZERO };
                (R::of(x[at]), im)
            };
            let out_at = |k: usize| ((o * bins + k) * p.inner + i) * parts_out;
            if p.onesided && p.inverse {
                // The half spectrum's bins past `n/2` are ignored, as numpy's `irfft` does.
                let used = p.len.min(p.n / 2 + 1);
                fft.inverse_real(used, sample, |t, v| y[out_at(t)] = R::to::<T>(v));
            } else {
                let used = p.len.min(p.n);
                fft.transform(used, p.inverse, bins, sample, |k, re, im| {
                    let at = out_at(k);
                    y[at] = R::to::<T>(re);
                    y[at + 1] = R::to::<T>(im);
                });
            }
        }
    }
}

/// ONNX `STFT`: the forward transform of every frame of every signal, each frame weighted
/// by `window` (`frame_len` values) when there is one.
///
/// `x` holds `batch · signal_len · (1 or 2)` elements and `y` `batch · frames · bins · 2`
/// ([`Stft::bins`]); `scratch` at least [`scratch_len`]`(p.n)` values.
pub fn stft<T: Scalar>(p: &Stft, x: &[T], window: Option<&[T]>, scratch: &mut [f64], y: &mut [T]) {
    stft_in::<T, Work>(p, x, window, Work::scratch(scratch), y);
}

/// [`stft`] computing in `R`.
fn stft_in<T: Scalar, R: Real>(
    p: &Stft,
    x: &[T],
    window: Option<&[T]>,
    scratch: &mut [R],
    y: &mut [T],
) {
    let parts_in = if p.complex { 2 } else { 1 };
    let bins = p.bins();
    let used = p.frame_len.min(p.n);
    let Some(mut fft) = Fft::new(p.n, scratch) else {
        return;
    };
    // Frame `g` of all `batch · frames`: its sample `t` (windowed; zero past the signal's
    // end) and where its bins go.
    let sample = |g: usize, t: usize| {
        let (b, f) = (g / p.frames, g % p.frames);
        let s = f * p.step + t;
        if s >= p.signal_len {
            return (R::ZERO, R::ZERO);
        }
        let at = (b * p.signal_len + s) * parts_in;
        let w = window.map_or(R::ONE, |w| R::of(w[t]));
        let im = if p.complex { R::of(x[at + 1]) } else { R::ZERO };
        (R::of(x[at]) * w, im * w)
    };
    let total = p.batch * p.frames;
    let mut g = 0;
    // A real signal's frames go two to a transform.
    while !p.complex && g + 1 < total {
        let (base_a, base_b) = (g * bins * 2, (g + 1) * bins * 2);
        fft.transform_real_pair(
            used,
            bins,
            |t| sample(g, t).0,
            |t| sample(g + 1, t).0,
            |k, (ar, ai), (br, bi)| {
                y[base_a + 2 * k] = R::to::<T>(ar);
                y[base_a + 2 * k + 1] = R::to::<T>(ai);
                y[base_b + 2 * k] = R::to::<T>(br);
                y[base_b + 2 * k + 1] = R::to::<T>(bi);
            },
        );
        g += 2;
    }
    for g in g..total {
        let base = g * bins * 2;
        fft.transform(
            used,
            false,
            bins,
            |t| sample(g, t),
            |k, re, im| {
                y[base + 2 * k] = R::to::<T>(re);
                y[base + 2 * k + 1] = R::to::<T>(im);
            },
        );
    }
}

/// The `f64` values of scratch [`dft`] and [`stft`] need for a transform of length `n`:
/// the twiddle table and two work buffers, `n` complex values each.
pub const fn scratch_len(n: usize) -> usize {
    6 * n
}

/// A transform of length `n` over scratch: the twiddles `e^{-2πi·t/n}` (`t < n`) and two
/// work buffers, all interleaved real and imaginary parts.
struct Fft<'a, R> {
    n: usize,
    twiddles: &'a [R],
    a: &'a mut [R],
    b: &'a mut [R],
}

impl<'a, R: Real> Fft<'a, R> {
    /// The transform of length `n`, its twiddles computed into `scratch`; `None` for `n = 0`
    /// or scratch shorter than [`scratch_len`] (the plan reserves it; an empty transform
    /// has nothing to write).
    fn new(n: usize, scratch: &'a mut [R]) -> Option<Self> {
        if n == 0 || scratch.len() < scratch_len(n) {
            return None;
        }
        let (twiddles, rest) = scratch.split_at_mut(2 * n);
        let (a, rest) = rest.split_at_mut(2 * n);
        let b = &mut rest[..2 * n];
        for (t, w) in twiddles.chunks_exact_mut(2).enumerate() {
            let (cos, sin) = twiddle(t, n);
            w[0] = R::from_f64(cos);
            w[1] = R::from_f64(-sin);
        }
        Some(Self { n, twiddles, a, b })
    }

    /// Bins `0..bins` of the transform of the samples `sample(t)`, `t < used` (the rest are
    /// zeros), each written by `put(k, re, im)`: `Σ x[t] e^{-2πi·kt/n}` forward,
    /// `(1/n) Σ x[t] e^{2πi·kt/n}` inverse (the forward transform of the conjugate,
    /// conjugated).
    fn transform(
        &mut self,
        used: usize,
        inverse: bool,
        bins: usize,
        sample: impl Fn(usize) -> (R, R),
        mut put: impl FnMut(usize, R, R),
    ) {
        let (sign, scale) = if inverse {
            (-R::ONE, R::from_f64(1.0 / self.n as f64))
        } else {
            (R::ONE, R::ONE)
        };
        for (t, v) in self.a.chunks_exact_mut(2).enumerate() {
            let (re, im) = if t < used {
                sample(t)
            } else {
                (R::ZERO, R::ZERO)
            };
            v[0] = re;
            v[1] = sign * im;
        }
        let out = self.forward();
        for (k, v) in out.chunks_exact(2).take(bins).enumerate() {
            put(k, v[0] * scale, sign * v[1] * scale);
        }
    }

    /// [`Fft::transform`] forward of two real signals at once, `a(t)` and `b(t)`: one
    /// complex transform of `a + i·b`, whose bins `Z[k]` and `Z[n-k]` give both spectra
    /// (`A[k] = (Z[k] + conj Z[n-k]) / 2`, `B[k] = (Z[k] - conj Z[n-k]) / 2i`).
    fn transform_real_pair(
        &mut self,
        used: usize,
        bins: usize,
        a: impl Fn(usize) -> R,
        b: impl Fn(usize) -> R,
        mut put: impl FnMut(usize, (R, R), (R, R)),
    ) {
        let n = self.n;
        for (t, v) in self.a.chunks_exact_mut(2).enumerate() {
            (v[0], v[1]) = if t < used {
                (a(t), b(t))
            } else {
                (R::ZERO, R::ZERO)
            };
        }
        let half = R::from_f64(0.5);
        let z = self.forward();
        for k in 0..bins {
            let m = if k == 0 { 0 } else { n - k };
            let (zr, zi) = (z[2 * k], z[2 * k + 1]);
            let (mr, mi) = (z[2 * m], z[2 * m + 1]);
            put(
                k,
                (half * (zr + mr), half * (zi - mi)),
                (half * (zi + mi), half * (mr - zr)),
            );
        }
    }

    /// The real length-`n` signal whose spectrum starts with the `used` bins `sample(k)` and
    /// is conjugate symmetric, each sample written by `put(t, v)`: numpy's `irfft`. The
    /// imaginary parts of bin 0 and (for even `n`) bin `n/2` do not count, since they have
    /// no conjugate partner. The whole spectrum is built (bin `n - k` the conjugate of bin
    /// `k`) and transformed back; its result is real.
    fn inverse_real(
        &mut self,
        used: usize,
        sample: impl Fn(usize) -> (R, R),
        mut put: impl FnMut(usize, R),
    ) {
        let n = self.n;
        self.a.fill(R::ZERO);
        for k in 0..used.min(n / 2 + 1) {
            let (re, im) = sample(k);
            let im = if k == 0 || 2 * k == n { R::ZERO } else { im };
            // The inverse is the forward transform of the conjugate (conjugated, which
            // leaves the real part alone).
            self.a[2 * k] = re;
            self.a[2 * k + 1] = -im;
            if k != 0 && 2 * k != n {
                self.a[2 * (n - k)] = re;
                self.a[2 * (n - k) + 1] = im;
            }
        }
        let scale = R::from_f64(1.0 / n as f64);
        let out = self.forward();
        for (t, v) in out.chunks_exact(2).enumerate() {
            put(t, v[0] * scale);
        }
    }

    /// The forward transform of `a`, by self-sorting (Stockham) decimation-in-frequency
    /// passes that alternate between the two buffers; returns the one holding the bins in
    /// order.
    fn forward(&mut self) -> &[R] {
        let n = self.n;
        let (mut from, mut to) = (&mut *self.a, &mut *self.b);
        // Each pass splits sequences of `len` values at stride `stride` into `radix` of
        // `len / radix`: `y[q + s(r·p + k)] = w_len^{pk} · Σ_j x[q + s(p + j·m)] ω_r^{jk}`.
        let (mut len, mut stride) = (n, 1);
        while len > 1 {
            let radix = radix(len);
            let m = len / radix;
            // `w_len^e` is the table's entry `e · n / len`.
            let step = n / len;
            for p in 0..m {
                for q in 0..stride {
                    let at = |j: usize| 2 * (q + stride * (p + j * m));
                    let put = |k: usize| 2 * (q + stride * (radix * p + k));
                    let w = |k: usize| {
                        let e = 2 * p * k * step;
                        (self.twiddles[e], self.twiddles[e + 1])
                    };
                    match radix {
                        2 => {
                            let (a0, a1) = (load(from, at(0)), load(from, at(1)));
                            store(to, put(0), add(a0, a1));
                            store(to, put(1), mul(sub(a0, a1), w(1)));
                        }
                        4 => {
                            let (a0, a1) = (load(from, at(0)), load(from, at(1)));
                            let (a2, a3) = (load(from, at(2)), load(from, at(3)));
                            let (t0, t1) = (add(a0, a2), sub(a0, a2));
                            let (t2, t3) = (add(a1, a3), sub(a1, a3));
                            // ω_4 = -i: b1 = t1 - i·t3, b3 = t1 + i·t3.
                            let b1 = (t1.0 + t3.1, t1.1 - t3.0);
                            let b3 = (t1.0 - t3.1, t1.1 + t3.0);
                            store(to, put(0), add(t0, t2));
                            store(to, put(1), mul(b1, w(1)));
                            store(to, put(2), mul(sub(t0, t2), w(2)));
                            store(to, put(3), mul(b3, w(3)));
                        }
                        3 => {
                            let (a0, a1, a2) =
                                (load(from, at(0)), load(from, at(1)), load(from, at(2)));
                            // ω_3 = -1/2 - i·√3/2: b1,2 = a0 - (a1 + a2)/2 ∓ i·√3/2·(a1 - a2).
                            let (t, d) = (add(a1, a2), sub(a1, a2));
                            let half = R::from_f64(0.5);
                            let mid = (a0.0 - half * t.0, a0.1 - half * t.1);
                            let s = R::from_f64(SIN_60);
                            let rot = (s * d.1, -(s * d.0));
                            store(to, put(0), add(a0, t));
                            store(to, put(1), mul(add(mid, rot), w(1)));
                            store(to, put(2), mul(sub(mid, rot), w(2)));
                        }
                        5 => {
                            let (a0, a1, a2) =
                                (load(from, at(0)), load(from, at(1)), load(from, at(2)));
                            let (a3, a4) = (load(from, at(3)), load(from, at(4)));
                            // b_k and b_{5-k} share their real combination and differ in
                            // the sign of the sine one.
                            let (t1, t2) = (add(a1, a4), add(a2, a3));
                            let (d1, d2) = (sub(a1, a4), sub(a2, a3));
                            let (c72, c144) = (R::from_f64(COS_72), R::from_f64(COS_144));
                            let (s72, s144) = (R::from_f64(SIN_72), R::from_f64(SIN_144));
                            let near = (
                                a0.0 + c72 * t1.0 + c144 * t2.0,
                                a0.1 + c72 * t1.1 + c144 * t2.1,
                            );
                            let far = (
                                a0.0 + c144 * t1.0 + c72 * t2.0,
                                a0.1 + c144 * t1.1 + c72 * t2.1,
                            );
                            // -i·(s1·d1 + s2·d2) and -i·(s2·d1 - s1·d2).
                            let s_near = (s72 * d1.0 + s144 * d2.0, s72 * d1.1 + s144 * d2.1);
                            let s_far = (s144 * d1.0 - s72 * d2.0, s144 * d1.1 - s72 * d2.1);
                            let rot_near = (s_near.1, -s_near.0);
                            let rot_far = (s_far.1, -s_far.0);
                            store(to, put(0), add(a0, add(t1, t2)));
                            store(to, put(1), mul(add(near, rot_near), w(1)));
                            store(to, put(2), mul(add(far, rot_far), w(2)));
                            store(to, put(3), mul(sub(far, rot_far), w(3)));
                            store(to, put(4), mul(sub(near, rot_near), w(4)));
                        }
                        _ => {
                            // ω_r^e is the table's entry `(e mod r) · n / r`.
                            let root = n / radix;
                            for k in 0..radix {
                                let mut sum = (R::ZERO, R::ZERO);
                                for j in 0..radix {
                                    let e = 2 * ((j * k) % radix) * root;
                                    let omega = (self.twiddles[e], self.twiddles[e + 1]);
                                    sum = add(sum, mul(load(from, at(j)), omega));
                                }
                                store(to, put(k), mul(sum, w(k)));
                            }
                        }
                    }
                }
            }
            core::mem::swap(&mut from, &mut to);
            len = m;
            stride *= radix;
        }
        from
    }
}

/// The precision a transform computes in: `f64` where the core does it in hardware (x86-64,
/// AArch64, Cortex-M with a double-precision FPU, RISC-V with `d`), `f32` where `f64`
/// would be software (the Cortex-M4F and M33, whose FPU is single precision, and cores
/// without an FPU, where `f32` is the cheaper software): there the spectra differ from
/// the host's by `f32` rounding (about `1e-6` relative after a 480-point transform).
#[cfg(not(any(
    all(target_arch = "arm", not(target_feature = "vfp2")),
    all(target_arch = "riscv32", not(target_feature = "d")),
)))]
type Work = f64;
#[cfg(any(
    all(target_arch = "arm", not(target_feature = "vfp2")),
    all(target_arch = "riscv32", not(target_feature = "d")),
))]
type Work = f32;

/// A float the transforms compute in (`f32` or `f64`): the crate's [`Float`], which has
/// the arithmetic and `Scalar`'s zero, one and `from_f64`, and the conversions a signal
/// and the scratch need.
trait Real: Float {
    /// A sample of the signal (`f32` or `f64`; the ops take float signals only).
    fn of<T: Scalar>(v: T) -> Self;
    /// A result as the signal's type.
    fn to<T: Scalar>(self) -> T;
    /// The caller's `f64` scratch as this type: `f32` has twice the values.
    fn scratch(scratch: &mut [f64]) -> &mut [Self];
}

impl Real for f64 {
    fn of<T: Scalar>(v: T) -> Self {
        v.to_f64()
    }
    fn to<T: Scalar>(self) -> T {
        T::from_f64(self)
    }
    fn scratch(scratch: &mut [f64]) -> &mut [Self] {
        scratch
    }
}

impl Real for f32 {
    fn of<T: Scalar>(v: T) -> Self {
        // An `f32` signal is read as it is, without a round trip through `f64` (software
        // on the cores this type is for); the cast fails for any other size.
        bytemuck::try_cast::<T, f32>(v).unwrap_or_else(|_| v.to_f64() as f32)
    }
    fn to<T: Scalar>(self) -> T {
        bytemuck::try_cast::<f32, T>(self).unwrap_or_else(|_| T::from_f64(f64::from(self)))
    }
    fn scratch(scratch: &mut [f64]) -> &mut [Self] {
        bytemuck::cast_slice_mut(scratch)
    }
}

/// `sin 60°`, `cos 72°`, `sin 72°`, `cos 144°`, `sin 144°`: the roots of the radix-3 and
/// radix-5 passes.
const SIN_60: f64 = 0.866_025_403_784_438_6;
const COS_72: f64 = 0.309_016_994_374_947_45;
const SIN_72: f64 = 0.951_056_516_295_153_5;
const COS_144: f64 = -0.809_016_994_374_947_5;
const SIN_144: f64 = 0.587_785_252_292_473_1;

/// The radix of the next pass over sequences of `len > 1`: 4, 2, 3 or 5 where it divides,
/// else the smallest prime factor (`len` itself when prime: one direct pass).
fn radix(len: usize) -> usize {
    for r in [4, 2, 3, 5] {
        if len.is_multiple_of(r) {
            return r;
        }
    }
    let mut r = 7;
    while r * r <= len {
        if len.is_multiple_of(r) {
            return r;
        }
        r += 2;
    }
    len
}

fn load<R: Real>(v: &[R], at: usize) -> (R, R) {
    (v[at], v[at + 1])
}

fn store<R: Real>(v: &mut [R], at: usize, (re, im): (R, R)) {
    v[at] = re;
    v[at + 1] = im;
}

fn add<R: Real>(a: (R, R), b: (R, R)) -> (R, R) {
    (a.0 + b.0, a.1 + b.1)
}

fn sub<R: Real>(a: (R, R), b: (R, R)) -> (R, R) {
    (a.0 - b.0, a.1 - b.1)
}

fn mul<R: Real>(a: (R, R), b: (R, R)) -> (R, R) {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// `e^{iθ}` for `θ = 2π · m / n` (`m < n`), as `(cos θ, sin θ)`.
///
/// The angle is reduced to its quadrant with integers, so quarter turns are exact (the
/// imaginary part of a real signal's bin 0 and `n/2` comes out as zero, not `1e-16`).
fn twiddle(m: usize, n: usize) -> (f64, f64) {
    let quarters = 4 * m as u64;
    let (quadrant, rest) = (quarters / n as u64, quarters % n as u64);
    let (sin, cos) = libm::sincos(FRAC_PI_2 * rest as f64 / n as f64);
    match quadrant {
        0 => (cos, sin),
        1 => (-sin, cos),
        2 => (-cos, -sin),
        _ => (sin, -cos),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::f64::consts::TAU;

    use super::*;

    /// The naive complex DFT of `x` (pairs), cut or zero-padded to `n`: the reference,
    /// written from the textbook formula with unreduced angles.
    fn naive(x: &[(f64, f64)], n: usize, inverse: bool) -> [(f64, f64); 64] {
        let mut y = [(0.0, 0.0); 64];
        let sign = if inverse { 1.0 } else { -1.0 };
        for (k, yk) in y.iter_mut().enumerate().take(n) {
            for (t, &(xr, xi)) in x.iter().enumerate().take(n) {
                let theta = sign * TAU * (k * t) as f64 / n as f64;
                yk.0 += xr * theta.cos() - xi * theta.sin();
                yk.1 += xr * theta.sin() + xi * theta.cos();
            }
            if inverse {
                yk.0 /= n as f64;
                yk.1 /= n as f64;
            }
        }
        y
    }

    /// Deterministic test values in `[-1, 1)`.
    fn signal(len: usize, seed: u32) -> [(f64, f64); 64] {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            f64::from(state % 2000) / 1000.0 - 1.0
        };
        let mut x = [(0.0, 0.0); 64];
        for v in x.iter_mut().take(len) {
            *v = (next(), next());
        }
        x
    }

    fn close(got: f64, want: f64, what: &str) {
        // Both sides sum at most 64 terms of magnitude ≤ 2 in f64.
        assert!((got - want).abs() <= 1e-9, "{what}: got {got}, want {want}");
    }

    /// Runs [`dft`] on one signal of `len` values between an outer dim of 2 and an inner
    /// dim of 3 (every signal a shifted copy), and checks each against `want(signal)`.
    fn check(len: usize, complex: bool, n: usize, inverse: bool, onesided: bool) {
        let p = Dft {
            outer: 2,
            len,
            inner: 3,
            complex,
            n,
            inverse,
            onesided,
        };
        let parts_in = if complex { 2 } else { 1 };
        let mut x = [0.0f64; 2 * 64 * 3 * 2];
        let mut signals = [[(0.0, 0.0); 64]; 6];
        for o in 0..2 {
            for i in 0..3 {
                let mut s = signal(len, (o * 3 + i) as u32);
                for (t, v) in s.iter_mut().enumerate().take(len) {
                    if !complex {
                        v.1 = 0.0;
                    }
                    let at = ((o * len + t) * 3 + i) * parts_in;
                    x[at] = v.0;
                    if complex {
                        x[at + 1] = v.1;
                    }
                }
                signals[o * 3 + i] = s;
            }
        }
        let (bins, parts_out) = (p.out_len(), p.out_parts());
        let mut y = [f64::NAN; 2 * 64 * 3 * 2];
        let mut scratch = [f64::NAN; scratch_len(64)];
        dft(
            &p,
            &x[..2 * len * 3 * parts_in],
            &mut scratch,
            &mut y[..2 * bins * 3 * parts_out],
        );
        for o in 0..2 {
            for i in 0..3 {
                let s = &signals[o * 3 + i];
                let want = if onesided && inverse {
                    // The full spectrum the half one stands for, then a complex inverse
                    // whose imaginary parts must vanish.
                    let mut full = [(0.0, 0.0); 64];
                    for (k, bin) in full.iter_mut().enumerate().take(n) {
                        let (source, conj) = if k <= n / 2 { (k, 1.0) } else { (n - k, -1.0) };
                        if source < len {
                            *bin = (s[source].0, conj * s[source].1);
                        }
                    }
                    full[0].1 = 0.0;
                    if n.is_multiple_of(2) {
                        full[n / 2].1 = 0.0;
                    }
                    let signal = naive(&full[..n], n, true);
                    for v in signal.iter().take(n) {
                        close(v.1, 0.0, "imaginary part of the real inverse");
                    }
                    signal
                } else {
                    naive(&s[..len], n, inverse)
                };
                for (k, w) in want.iter().enumerate().take(bins) {
                    let at = ((o * bins + k) * 3 + i) * parts_out;
                    let what = std::format!("len {len} n {n} bin {k}");
                    close(y[at], w.0, &what);
                    if parts_out == 2 {
                        close(y[at + 1], w.1, &what);
                    }
                }
            }
        }
    }

    #[test]
    fn matches_the_naive_transform() {
        // Every pass radix (4, 2, 3, 5, larger primes: 7 in 49, 13, 61 alone) and mixes
        // of them.
        for len in [1, 2, 3, 4, 5, 6, 8, 10, 12, 13, 15, 16, 30, 45, 49, 60, 61] {
            for complex in [false, true] {
                for inverse in [false, true] {
                    check(len, complex, len, inverse, false);
                }
                // Forward one-sided.
                check(len, complex, len, false, true);
            }
            // Cut and zero-padded.
            check(len, true, len + 3, false, false);
            check(len, false, len.div_ceil(2), true, false);
        }
    }

    #[test]
    fn f32_work_matches_f64_work() {
        // The cores without a double-precision FPU compute in `f32` (`Work`): the same
        // transforms, within `f32` rounding of sums of up to 64 terms of magnitude ≤ 2.
        for (n, complex, inverse, onesided) in [
            (12, true, false, false),
            (30, false, false, true),
            (45, true, true, false),
            (49, false, false, false),
            (60, true, true, true),
            (61, false, false, true),
        ] {
            let len = if inverse && onesided { n / 2 + 1 } else { n };
            let p = Dft {
                outer: 1,
                len,
                inner: 1,
                complex,
                n,
                inverse,
                onesided,
            };
            let parts = if complex { 2 } else { 1 };
            let x: std::vec::Vec<f32> = signal(64, n as u32)
                .iter()
                .flat_map(|v| [v.0 as f32, v.1 as f32])
                .take(len * parts)
                .collect();
            let out = p.out_len() * p.out_parts();
            let (mut wide, mut narrow) = (std::vec![0.0f32; out], std::vec![0.0f32; out]);
            dft(&p, &x, &mut [0.0; scratch_len(64)], &mut wide);
            dft_in::<f32, f32>(&p, &x, &mut [0.0; 2 * scratch_len(64)], &mut narrow);
            for (k, (a, b)) in wide.iter().zip(&narrow).enumerate() {
                assert!((a - b).abs() <= 1e-4, "n {n} value {k}: f64 {a}, f32 {b}");
            }
        }
        // An STFT of a real signal, its frames paired.
        let x: std::vec::Vec<f32> = signal(64, 3).iter().map(|v| v.0 as f32).collect();
        let window: std::vec::Vec<f32> = signal(20, 4).iter().map(|v| v.1 as f32).collect();
        let p = Stft {
            batch: 1,
            signal_len: 64,
            complex: false,
            step: 11,
            frames: 5,
            frame_len: 20,
            n: 20,
            onesided: true,
        };
        let out = 5 * p.bins() * 2;
        let (mut wide, mut narrow) = (std::vec![0.0f32; out], std::vec![0.0f32; out]);
        stft(
            &p,
            &x,
            Some(&window[..20]),
            &mut [0.0; scratch_len(20)],
            &mut wide,
        );
        let scratch = &mut [0.0f32; 2 * scratch_len(20)];
        stft_in::<f32, f32>(&p, &x, Some(&window[..20]), scratch, &mut narrow);
        for (k, (a, b)) in wide.iter().zip(&narrow).enumerate() {
            assert!((a - b).abs() <= 1e-5, "stft value {k}: f64 {a}, f32 {b}");
        }
        assert!(wide.iter().any(|v| v.abs() > 0.5), "{wide:?}");
    }

    #[test]
    fn inverts_half_spectra() {
        // ONNX's default length for a one-sided inverse, odd lengths, and a half spectrum
        // longer than the length needs.
        for len in [2, 3, 6, 9, 32] {
            check(len, true, 2 * (len - 1), true, true);
            check(len, true, 2 * len - 1, true, true);
            check(len, true, len, true, true);
        }
    }

    #[test]
    fn known_spectra() {
        // An impulse has a flat spectrum; a constant has all its energy in bin 0.
        let p = Dft {
            outer: 1,
            len: 5,
            inner: 1,
            complex: false,
            n: 5,
            inverse: false,
            onesided: false,
        };
        let mut y = [0.0f32; 10];
        let scratch = &mut [0.0; scratch_len(7)];
        dft(&p, &[1.0, 0.0, 0.0, 0.0, 0.0], scratch, &mut y);
        assert_eq!(y, [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
        dft(&p, &[2.0; 5], scratch, &mut y);
        assert!((y[0] - 10.0).abs() < 1e-6);
        assert!(y[1..].iter().all(|v| v.abs() < 1e-6), "{y:?}");
        // The one-sided round trip gives the real signal back, at an even and an odd length.
        for n in [6, 7] {
            let x: [f32; 7] = [0.5, -1.0, 2.0, 0.25, 3.0, -2.5, 1.5];
            let forward = Dft {
                len: n,
                n,
                onesided: true,
                ..p
            };
            let mut half = [0.0f32; 8];
            dft(
                &forward,
                &x[..n],
                scratch,
                &mut half[..forward.out_len() * 2],
            );
            let inverse = Dft {
                len: forward.out_len(),
                complex: true,
                inverse: true,
                ..forward
            };
            let mut back = [0.0f32; 7];
            dft(
                &inverse,
                &half[..forward.out_len() * 2],
                scratch,
                &mut back[..n],
            );
            for (got, want) in back.iter().zip(&x[..n]) {
                assert!((got - want).abs() < 1e-5, "n {n}: {back:?} vs {x:?}");
            }
        }
    }

    #[test]
    fn stft_frames() {
        // Two frames of 4 samples, a step of 2 over 6 samples, a window, two batches:
        // every frame equals the DFT of its windowed samples.
        let x: [f64; 12] = [
            1.0, 2.0, -1.0, 0.5, 3.0, -2.0, // batch 0
            0.0, 1.0, 0.0, -1.0, 2.0, 4.0, // batch 1
        ];
        let window = [0.5, 1.0, 1.0, 0.5];
        for onesided in [false, true] {
            let p = Stft {
                batch: 2,
                signal_len: 6,
                complex: false,
                step: 2,
                frames: 2,
                frame_len: 4,
                n: 4,
                onesided,
            };
            let bins = p.bins();
            assert_eq!(bins, if onesided { 3 } else { 4 });
            let mut y = [f64::NAN; 2 * 2 * 4 * 2];
            let scratch = &mut [0.0; scratch_len(4)];
            stft(&p, &x, Some(&window), scratch, &mut y[..2 * 2 * bins * 2]);
            for b in 0..2 {
                for f in 0..2 {
                    let mut frame = [(0.0, 0.0); 64];
                    for t in 0..4 {
                        frame[t].0 = x[b * 6 + f * 2 + t] * window[t];
                    }
                    let want = naive(&frame[..4], 4, false);
                    for (k, w) in want.iter().enumerate().take(bins) {
                        let at = ((b * 2 + f) * bins + k) * 2;
                        close(y[at], w.0, "stft real part");
                        close(y[at + 1], w.1, "stft imaginary part");
                    }
                }
            }
        }
        // Frames of a real signal go two to a transform: an odd count leaves one alone,
        // and a length of 30 takes the radix-2, 3 and 5 passes.
        let x = signal(60, 7);
        let samples: std::vec::Vec<f64> = x.iter().take(60).map(|v| v.0).collect();
        let window = signal(30, 8);
        let window: std::vec::Vec<f64> = window.iter().take(30).map(|v| v.0).collect();
        for (batch, signal_len) in [(1, 60), (3, 20), (2, 30)] {
            let frames = (signal_len - 20) / 9 + 1;
            let p = Stft {
                batch,
                signal_len,
                complex: false,
                step: 9,
                frames,
                frame_len: 20,
                n: 30,
                onesided: true,
            };
            let bins = p.bins();
            let mut y = std::vec![f64::NAN; batch * frames * bins * 2];
            let x = &samples[..batch * signal_len];
            stft(
                &p,
                x,
                Some(&window[..20]),
                &mut [0.0; scratch_len(30)],
                &mut y,
            );
            for b in 0..batch {
                for f in 0..frames {
                    let mut frame = [(0.0, 0.0); 64];
                    for t in 0..20 {
                        frame[t].0 = x[b * signal_len + f * 9 + t] * window[t];
                    }
                    let want = naive(&frame[..30], 30, false);
                    for (k, w) in want.iter().enumerate().take(bins) {
                        let at = ((b * frames + f) * bins + k) * 2;
                        let what = std::format!("batch {batch} frame {f} bin {k}");
                        close(y[at], w.0, &what);
                        close(y[at + 1], w.1, &what);
                    }
                }
            }
        }
        // Without a window, a frame reading past the end sees zeros.
        let p = Stft {
            batch: 1,
            signal_len: 3,
            complex: true,
            step: 2,
            frames: 2,
            frame_len: 2,
            n: 2,
            onesided: false,
        };
        let mut y = [0.0f32; 8];
        stft(
            &p,
            &[1.0, 1.0, 2.0, 0.0, 3.0, -1.0],
            None,
            &mut [0.0; scratch_len(2)],
            &mut y,
        );
        assert_eq!(y, [3.0, 1.0, -1.0, 1.0, 3.0, -1.0, 3.0, -1.0]);
    }
}
