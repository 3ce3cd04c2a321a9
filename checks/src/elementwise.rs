//! Element-wise kernels: every entry point the compiler emits a call to from
//! `rt::elementwise` and `rt::norm` — `binary` and `binary_in_place` (either operand as
//! the output) over numpy broadcasts for `f32`, `i32`, `u8` and `i8`; `add_activated` and
//! `add_activated_in_place`; `unary` and `unary_in_place` for every `UnaryOp`, and
//! `unary_scalar` and `unary_scalar_in_place` for the integer ops; `softmax`,
//! `softmax_scaled` and `log_softmax` over rows and columns; `layer_norm` (every affine
//! combination, with and without its statistics), `rms_norm`, `group_norm` (also
//! InstanceNormalization's kernel) and `lrn`
//! — against references in `f64`.
//!
//! Integers and the correctly rounded float operations (`+`, `−`, `×`, `÷`, `√`,
//! `fmod`, the comparisons) are compared exactly. Every other float is compared within
//! a bound on the kernel's rounding, element by element: the accuracy the runtime
//! documents for a vector path (in ulp from the correctly rounded result, as its own
//! tests state them) or, where the path is `libm`'s scalar formula, the sum of that
//! formula's roundings, each `libm` call taken at the accuracy stated beside
//! [`unary_expect`]. Lengths fall on and beside every vector width (whole AVX-512 and
//! AVX vectors, their tails, one element) and values span the `f32` range: subnormals,
//! `±0`, infinities, NaN, and the thresholds where the kernels change formula.

use zant_runtime::activation::Activation;
use zant_runtime::elementwise::{self, BinaryOp, UnaryOp};
use zant_runtime::norm::{self, Norm};
use zant_runtime::scalar::Scalar;
use zant_runtime::KernelError;

use crate::exact::Output;
use crate::{Buffers, Family, Mismatch, Rng, BUFFER_LEN};

/// The element-wise family.
pub struct Elementwise;

/// One element-wise node and the seed of its data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub op: Op,
    pub seed: u64,
}

/// The node, with the shapes and attributes its kernels take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// `y = a op b`, the operands broadcast numpy's way to the output shape.
    Binary {
        op: BinaryOp,
        elem: Elem,
        a: Shape,
        b: Shape,
    },
    /// `y = act(a + b)` over two operands of one length.
    AddActivated { act: Activation, len: usize },
    /// `y = op(x)` on `f32`.
    Unary { op: UnaryOp, len: usize },
    /// `y = op(x)` on integers: the ops the compiler allows them (Abs, Neg, Sign, Relu,
    /// Clip, Identity).
    UnaryInteger { op: UnaryOp, elem: Elem, len: usize },
    /// Softmax (plain, scaled by `scale`, and its log) over the middle axis of
    /// `[outer, axis_len, inner]`, the inputs drawn from `[-range, range)`.
    Softmax {
        outer: usize,
        axis_len: usize,
        inner: usize,
        scale: f32,
        range: f32,
    },
    /// LayerNormalization and RMSNormalization of `rows` rows of `cols`, the inputs
    /// `offset` plus a value in `[-1, 1)`.
    LayerNorm {
        rows: usize,
        cols: usize,
        epsilon: f32,
        offset: f32,
    },
    /// GroupNormalization of `[batch, channels, spatial]` in `groups` groups (one channel
    /// a group: InstanceNormalization), with a scale and bias per channel or per group.
    GroupNorm {
        batch: usize,
        channels: usize,
        groups: usize,
        spatial: usize,
        epsilon: f32,
        per_channel: bool,
    },
    /// LRN of `[batch, channels, spatial]` over windows of `size` channels.
    Lrn {
        batch: usize,
        channels: usize,
        spatial: usize,
        size: usize,
        alpha: f32,
        beta: f32,
        bias: f32,
    },
}

/// An element type of the generic kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    F32,
    I32,
    U8,
    I8,
}

/// A tensor shape of rank 0 to 4: the first `rank` of `dims`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub rank: usize,
    pub dims: [usize; 4],
}

/// Lengths on and beside the vector widths (8 and 16 lanes, the kernels' unrolled
/// pairs), which select the whole-vector loops and their scalar tails.
const TAILS: [usize; 18] = [
    1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 48, 63, 64, 65,
];

/// `f32`'s unit roundoff, `2^−24`: one correctly rounded operation errs by at most this
/// much of its result (in the normal range).
pub(crate) const U: f64 = 1.0 / 16_777_216.0;
/// The smallest subnormal `f32`, `2^−149`: the absolute error of a rounding into the
/// subnormal range.
pub(crate) const TINY: f64 = 1.401_298_464_324_817e-45;
/// The smallest normal `f32`, `2^−126`.
pub(crate) const MIN_NORMAL: f64 = 1.175_494_350_822_287_5e-38;

/// The most elements one operand or output of a case holds: every buffer fits, and a
/// debug build checks 200 cases in a few seconds.
const MAX_ELEMENTS: usize = 6000;
const _: () = assert!(MAX_ELEMENTS <= BUFFER_LEN);

/// `v²`.
fn square(v: f64) -> f64 {
    v * v
}

impl Shape {
    const SCALAR: Shape = Shape {
        rank: 0,
        dims: [1; 4],
    };

    fn dims(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    fn count(&self) -> usize {
        self.dims().iter().product()
    }

    /// The dimensions right-aligned to rank 4, leading ones filled with 1.
    fn padded(&self) -> [usize; 4] {
        let mut out = [1; 4];
        out[4 - self.rank..].copy_from_slice(self.dims());
        out
    }

    /// This shape with its leading dimension dropped.
    fn without_first(&self) -> Shape {
        let mut dims = [1; 4];
        if self.rank > 0 {
            dims[..self.rank - 1].copy_from_slice(&self.dims[1..self.rank]);
        }
        Shape {
            rank: self.rank.saturating_sub(1),
            dims,
        }
    }
}

/// The numpy broadcast of `a` and `b`, if they broadcast.
fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
    let (pa, pb) = (a.padded(), b.padded());
    let rank = a.rank.max(b.rank);
    let mut padded = [1; 4];
    for i in 0..4 {
        padded[i] = match (pa[i], pb[i]) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    let mut dims = [1; 4];
    dims[..rank].copy_from_slice(&padded[4 - rank..]);
    Some(Shape { rank, dims })
}

/// The element of an operand of padded shape `operand` that output element `i` (of the
/// padded output shape `y`) reads.
fn operand_index(y: &[usize; 4], operand: &[usize; 4], mut i: usize) -> usize {
    let mut index = [0; 4];
    for axis in (0..4).rev() {
        index[axis] = i % y[axis];
        i /= y[axis];
    }
    let mut offset = 0;
    for axis in 0..4 {
        let at = if operand[axis] == 1 { 0 } else { index[axis] };
        offset = offset * operand[axis] + at;
    }
    offset
}

/// A length for a run of element-wise work: mostly on or beside a vector width, now
/// and then anything up to `max`.
fn length(rng: &mut Rng, max: usize) -> usize {
    match rng.range(0, 5) {
        0 => rng.range(1, max),
        // A whole number of sixteen-lane vectors, give or take one.
        1 => {
            let whole = 16 * rng.range(1, (max / 16).max(1));
            (whole + rng.range(0, 2)).saturating_sub(1).clamp(1, max)
        }
        _ => TAILS[rng.range(0, TAILS.len() - 1)],
    }
}

/// A value where the kernels change formula (the vector `e^x`'s overflow and underflow
/// bounds, the logistic functions' normal range, `tanh`'s clamp, `erf`'s seam, the
/// HardSwish knees…), nudged by a few ulp in [`any_value`].
const THRESHOLDS: [f32; 20] = [
    88.722_83,
    89.0,
    -87.336_55,
    -88.722_83,
    -103.972_08,
    -104.0,
    9.0,
    -9.0,
    0.927_734_4,
    -0.927_734_4,
    1.312_016_5,
    -1.312_016_5,
    3.0,
    -3.0,
    -13.3,
    -43.6,
    1.0,
    -1.0,
    0.5,
    1e-4,
];

/// A float from anywhere in the `f32` range: small values, values of a few hundred, any
/// finite bit pattern, subnormals, the kernels' thresholds give or take a few ulp,
/// halves (rounding ties), and `±0`, `±∞`, NaN, `±f32::MAX`.
fn any_value(rng: &mut Rng) -> f32 {
    let sign = |rng: &mut Rng| if rng.one_in(2) { -1.0 } else { 1.0 };
    match rng.range(0, 11) {
        0..=2 => rng.unit(),
        3 => rng.unit() * 8.0,
        4 => rng.unit() * 256.0,
        5 => {
            let bits = (rng.next_u64() >> 32) as u32;
            // Any exponent but the all-ones of infinities and NaN.
            if bits & 0x7f80_0000 == 0x7f80_0000 {
                f32::from_bits(bits & !0x0080_0000)
            } else {
                f32::from_bits(bits)
            }
        }
        6 => sign(rng) * f32::from_bits(rng.range(1, 0x007f_ffff) as u32),
        7 | 8 => {
            let v = THRESHOLDS[rng.range(0, THRESHOLDS.len() - 1)] * sign(rng);
            let nudge = rng.range(0, 8) as i32 - 4;
            f32::from_bits(v.to_bits().wrapping_add_signed(nudge))
        }
        9 => (rng.range(0, 40) as f32 - 20.0) * 0.5,
        _ => [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            -f32::MAX,
            f32::MIN_POSITIVE,
        ][rng.range(0, 7)],
    }
}

/// `(a, b)` ulp apart, counting across zero (`±0` are one value); NaN is not a float
/// here, and is handled by the callers.
fn ulps_apart(a: f32, b: f32) -> u64 {
    let key = |v: f32| {
        let i = i64::from(v.to_bits() as i32);
        if i < 0 {
            i64::from(i32::MIN) - i
        } else {
            i
        }
    };
    (key(a) - key(b)).unsigned_abs()
}

/// The ulp of `f32` at the magnitude of `v` (that of the binade `v` rounds into).
pub(crate) fn ulp32(v: f64) -> f64 {
    let rounded = (v.abs() as f32).min(f32::MAX);
    let exponent = (rounded.to_bits() >> 23) & 0xff;
    let ulp = match exponent {
        0 => f32::from_bits(1),
        1..=23 => f32::from_bits(1 << (exponent - 1)),
        _ => f32::from_bits((exponent - 23) << 23),
    };
    f64::from(ulp)
}

/// `n · u / (1 − n · u)`: the bound on the relative error of a sum of `n` terms of one
/// sign (of `Σ|terms|` otherwise) in `f32`, whatever the order of the additions.
pub(crate) fn gamma(n: usize) -> f64 {
    let nu = n as f64 * U;
    nu / (1.0 - nu)
}

/// The error of `clamp(t, lo, hi)` when `t` errs by `e`: `e` (clamping cannot add any),
/// or 0 when every value within `e` of `t` clamps to the same bound.
fn clamp_err(t: f64, e: f64, lo: f64, hi: f64) -> f64 {
    if t - e > hi || t + e < lo {
        0.0
    } else {
        e
    }
}

/// What a float path must give for one element: within `ulps` of `want` rounded to
/// `f32`, or within `abs` of `want` itself (NaN only for NaN, an infinity only for that
/// infinity).
#[derive(Clone, Copy, Debug)]
struct Expect {
    want: f64,
    ulps: u64,
    abs: f64,
}

impl Expect {
    /// Correctly rounded: the `f32` nearest `want`, exactly.
    fn exact(want: f64) -> Self {
        Expect {
            want,
            ulps: 0,
            abs: 0.0,
        }
    }

    /// Within `ulps` of the correctly rounded result.
    fn ulps(want: f64, ulps: u64) -> Self {
        Expect {
            want,
            ulps,
            abs: 0.0,
        }
    }

    /// Within `abs` of the exact result.
    fn within(want: f64, abs: f64) -> Self {
        Expect { want, ulps: 0, abs }
    }

    /// Writes the rounded reference and the absolute bound, widened by the distance the
    /// rounding of the reference moved it, for [`verify`].
    fn store(self, want: &mut f32, tolerance: &mut f32) {
        *want = self.want as f32;
        let abs = if self.abs.is_finite() { self.abs } else { 0.0 };
        let rounding = (self.want - f64::from(*want)).abs();
        let widened = (abs + if rounding.is_finite() { rounding } else { 0.0 }) * (1.0 + 1e-6);
        *tolerance = if abs > 0.0 { widened as f32 } else { 0.0 };
    }
}

/// The logistic function in `f64`.
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::exp(-x))
    } else {
        let e = libm::exp(x);
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)` in `f64`.
pub(crate) fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + libm::log1p(libm::exp(-x))
    } else {
        libm::log1p(libm::exp(x))
    }
}

/// The exact result of `op` at `x` and the bound the `f32` kernels must meet there.
///
/// The bounds, and where they come from:
/// - Exact (0 ulp): Relu, Clip, Neg, Abs, Floor, Ceil, Round, Sign, Identity,
///   ThresholdedRelu (no rounding at all); Sqrt, Reciprocal, LeakyRelu, Shrink (one
///   IEEE operation, correctly rounded).
/// - Exp: 1 ulp (`exp_lanes`' documented bound; `expf` on the tail).
/// - Erf: 2 ulp (`erf_lanes`' documented `ERF_ULP`; `erff` on the tail).
/// - Tanh: an absolute `3e-7` (`elementwise::tanh`'s documented bound; its vector lanes
///   are bit for bit the scalar formula, which [`Elementwise::check`] tests apart).
/// - Sigmoid: 3 ulp (the FPU kernel's documented bound; `sigmoid_lanes`' is 2), or the
///   scalar formula's `4u` relative (`e^x` within 1 ulp, `1 + e` and the quotient
///   rounded), or `2^−126` where the result is subnormal (both kernels' documented
///   bound there).
/// - Swish: 3 ulp of `x · sigmoid(rounded alpha·x)` (the FPU kernel's; `swish_lanes`' 2),
///   or `5u` relative for the scalar formula (the sigmoid's `4u` and the product), or
///   `|x|·2^−126` where the documented bounds end.
/// - Gelu: 4 ulp of `x/2 · erfc(−z)` for the rounded `z = x/√2` (`gelu_lanes`'
///   `GELU_ULP`), 2 ulp plus `|x|·2^−25` below `z = −475/512` (documented), `7u` relative
///   for the scalar formula (`erfcf`, which the runtime calls "accurate to a few ulp",
///   within 3 and the product), `|x|·2^−126` where the result is subnormal.
/// - GeluTanh: `(5 + 18|u|)·2^−24` relative with `u = √(2/π)(x + 0.044715x³)` — the
///   documented `(4 + 8|u|)` of the vectors, and for the scalar formula the rounding of
///   `2u` (nine roundings of its constants and products, amplified by up to `|2u|` in
///   the logistic) with the logistic's `4u` and the product — and `|x|·2^−126` where the
///   result is subnormal or `e^−2u` overflows.
/// - The other transcendental functions are `libm`'s `f32` functions, for which the
///   runtime documents no bound of its own: 1 ulp for `logf`, `sinf`, `cosf`, `tanf`,
///   `asinf`, `acosf`, `atanf`; 2 ulp for `sinhf` and `coshf` (built on `expm1f` and
///   `expf` with a rounding more) and for `asinhf`, `acoshf`, `atanhf` (their sources
///   state 1.6, 2 and 1.7 ulp).
/// - The formulas on top of `libm` get the sum of their roundings, each `libm` call
///   within 1 ulp (`2u` relative) except `tanhf` (2 ulp): Softplus `5u`, Elu `3u`,
///   Celu `4u`, Softsign `2u`, Mish `10u` relative; HardSigmoid, HardSwish and Selu an
///   absolute bound on their intermediate sums, which cancel. A subnormal result adds
///   the subnormal roundings (`2^−149` each, times `|x|` where a product follows).
fn unary_expect(op: UnaryOp, x: f32) -> Expect {
    let v = f64::from(x);
    let subnormal_floor = |want: f64, scale: f64| {
        if want.abs() < MIN_NORMAL {
            scale * MIN_NORMAL
        } else {
            0.0
        }
    };
    match op {
        // `Scalar::max`: a NaN operand loses to the number.
        UnaryOp::Relu => Expect::exact(if x > 0.0 { v } else { 0.0 }),
        UnaryOp::Sigmoid => {
            let want = sigmoid(v);
            Expect {
                want,
                ulps: 3,
                abs: 4.0 * U * want.abs() + subnormal_floor(want, 1.0),
            }
        }
        UnaryOp::Tanh => Expect::within(libm::tanh(v), 3e-7),
        UnaryOp::Clip { min, max } => Expect::exact(f64::from(x.max(min).min(max))),
        UnaryOp::Neg => Expect::exact(-v),
        UnaryOp::Abs => Expect::exact(v.abs()),
        UnaryOp::Exp => Expect::ulps(libm::exp(v), 1),
        UnaryOp::Log => Expect::ulps(if x < 0.0 { f64::NAN } else { libm::log(v) }, 1),
        UnaryOp::Sqrt => Expect::exact(libm::sqrt(v)),
        UnaryOp::Reciprocal => Expect::exact(1.0 / v),
        UnaryOp::Floor => Expect::exact(libm::floor(v)),
        UnaryOp::Ceil => Expect::exact(libm::ceil(v)),
        UnaryOp::Round => Expect::exact(libm::rint(v)),
        UnaryOp::Sin => Expect::ulps(libm::sin(v), 1),
        UnaryOp::Cos => Expect::ulps(libm::cos(v), 1),
        UnaryOp::Erf => Expect::ulps(libm::erf(v), 2),
        UnaryOp::Softplus => {
            let want = softplus(v);
            Expect::within(want, 5.0 * U * want.abs() + 2.0 * TINY)
        }
        UnaryOp::LeakyRelu { alpha } => {
            Expect::exact(if x >= 0.0 { v } else { f64::from(alpha) * v })
        }
        UnaryOp::Elu { alpha } => {
            if x > 0.0 {
                Expect::exact(v)
            } else {
                let want = f64::from(alpha) * libm::expm1(v);
                Expect::within(want, 3.0 * U * want.abs() + 2.0 * TINY)
            }
        }
        UnaryOp::HardSigmoid { alpha, beta } => {
            let product = f64::from(alpha) * v;
            let t = product + f64::from(beta);
            let e = U * (product.abs() + t.abs());
            Expect::within(t.clamp(0.0, 1.0), clamp_err(t, e, 0.0, 1.0) + 2.0 * TINY)
        }
        UnaryOp::HardSwish => {
            let inner = v / 6.0 + 0.5;
            let want = v * inner.clamp(0.0, 1.0);
            // `x · (1/6 rounded)` rounds, the constant errs by `u/6`, the `+ 1/2` rounds.
            let e_inner = U * (2.0 * (v / 6.0).abs() + inner.abs());
            let abs = if x.is_finite() {
                v.abs() * clamp_err(inner, e_inner, 0.0, 1.0) + U * want.abs() + 2.0 * TINY
            } else {
                0.0
            };
            Expect::within(want, abs)
        }
        UnaryOp::Selu { alpha, gamma } => {
            let (alpha, gamma) = (f64::from(alpha), f64::from(gamma));
            if x > 0.0 {
                Expect::exact(gamma * v)
            } else {
                let e = libm::exp(v);
                let want = gamma * (alpha * e - alpha);
                // `e` within 1 ulp and `alpha·e` rounded, then the difference (which
                // cancels near 0) and the product by `gamma`.
                let abs =
                    gamma * alpha * U * (3.0 * e + (e - 1.0).abs()) + U * want.abs() + 2.0 * TINY;
                Expect::within(want, abs)
            }
        }
        UnaryOp::Softsign => {
            let want = v / (1.0 + v.abs());
            Expect::within(want, 2.0 * U * want.abs())
        }
        UnaryOp::Sign => Expect::exact(if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            v
        }),
        UnaryOp::Gelu => {
            let z = f64::from(x * core::f32::consts::FRAC_1_SQRT_2);
            let want = 0.5 * v * libm::erfc(-z);
            let abs = if x.is_finite() {
                let scalar = 7.0 * U * want.abs();
                let lower_tail = 2.0 * ulp32(want) + v.abs() * U / 2.0;
                scalar.max(lower_tail) + subnormal_floor(want, v.abs().max(1.0))
            } else {
                0.0
            };
            Expect { want, ulps: 4, abs }
        }
        UnaryOp::Identity => Expect::exact(v),
        UnaryOp::Tan => Expect::ulps(libm::tan(v), 1),
        UnaryOp::Asin => Expect::ulps(libm::asin(v), 1),
        UnaryOp::Acos => Expect::ulps(libm::acos(v), 1),
        UnaryOp::Atan => Expect::ulps(libm::atan(v), 1),
        UnaryOp::Sinh => Expect::ulps(libm::sinh(v), 2),
        UnaryOp::Cosh => Expect::ulps(libm::cosh(v), 2),
        UnaryOp::Asinh => Expect::ulps(libm::asinh(v), 2),
        // `libm`'s `f64` `acosh` returns a number for some `x < −1`; the domain first.
        UnaryOp::Acosh => Expect::ulps(if x < 1.0 { f64::NAN } else { libm::acosh(v) }, 2),
        UnaryOp::Atanh => Expect::ulps(libm::atanh(v), 2),
        UnaryOp::Celu { alpha } => {
            let alpha = f64::from(alpha);
            // The runtime's `max` and `min` drop a NaN operand (`Scalar::max`).
            let want = if x.is_nan() {
                0.0
            } else {
                v.max(0.0) + (alpha * libm::expm1(v / alpha)).min(0.0)
            };
            Expect::within(want, 4.0 * U * want.abs() + 2.0 * TINY)
        }
        UnaryOp::ThresholdedRelu { alpha } => Expect::exact(if x > alpha { v } else { 0.0 }),
        UnaryOp::Mish => {
            let want = v * libm::tanh(softplus(v));
            let abs = if x.is_finite() {
                10.0 * U * want.abs() + 4.0 * (v.abs() + 1.0) * TINY
            } else {
                0.0
            };
            Expect::within(want, abs)
        }
        UnaryOp::Shrink { bias, lambd } => Expect::exact(if x < -lambd {
            v + f64::from(bias)
        } else if x > lambd {
            v - f64::from(bias)
        } else {
            0.0
        }),
        UnaryOp::GeluTanh => {
            let u = libm::sqrt(2.0 / core::f64::consts::PI) * (v + 0.044_715 * v * v * v);
            // `x/2 · (1 + tanh(u))` as `x · sigmoid(2u)`, the same function: the sum
            // cancels in `f64` too where `tanh(u)` rounds to −1.
            let want = v * sigmoid(2.0 * u);
            let abs = if x.is_finite() {
                (5.0 + 18.0 * u.abs()) * U * want.abs() + v.abs() * MIN_NORMAL
            } else {
                0.0
            };
            Expect::within(want, abs)
        }
        UnaryOp::Swish { alpha } => {
            // The documented bounds are of the formula at `alpha·x` rounded to `f32`, as
            // both the scalar formula and the lanes round it.
            let t = f64::from(alpha * x);
            let want = v * sigmoid(t);
            let abs = if x.is_finite() {
                5.0 * U * want.abs() + v.abs().max(1.0) * MIN_NORMAL
            } else {
                0.0
            };
            Expect { want, ulps: 3, abs }
        }
    }
}

/// One of each `UnaryOp`, its attributes drawn from the values models use.
fn draw_unary(rng: &mut Rng) -> UnaryOp {
    let pick = |rng: &mut Rng, values: &[f32]| values[rng.range(0, values.len() - 1)];
    match rng.range(0, 43) {
        0 => UnaryOp::Relu,
        1 => UnaryOp::Sigmoid,
        2 => UnaryOp::Tanh,
        3 => {
            let (min, max) = [(-1.0, 2.0), (0.0, 6.0), (-0.25, 0.5)][rng.range(0, 2)];
            UnaryOp::Clip { min, max }
        }
        4 => UnaryOp::Neg,
        5 => UnaryOp::Abs,
        6 => UnaryOp::Exp,
        7 => UnaryOp::Log,
        8 => UnaryOp::Sqrt,
        9 => UnaryOp::Reciprocal,
        10 => UnaryOp::Floor,
        11 => UnaryOp::Ceil,
        12 => UnaryOp::Round,
        13 => UnaryOp::Sin,
        14 => UnaryOp::Cos,
        15 => UnaryOp::Erf,
        16 => UnaryOp::Softplus,
        17 => UnaryOp::LeakyRelu {
            alpha: pick(rng, &[0.01, 0.1, 0.2, -0.5]),
        },
        18 => UnaryOp::Elu {
            alpha: pick(rng, &[1.0, 0.7, 2.0]),
        },
        19 => {
            let (alpha, beta) = [(0.2, 0.5), (1.0 / 6.0, 0.5), (0.5, 0.3)][rng.range(0, 2)];
            UnaryOp::HardSigmoid { alpha, beta }
        }
        20 => UnaryOp::HardSwish,
        21 => UnaryOp::Selu {
            alpha: 1.673_263_2,
            gamma: 1.050_701,
        },
        22 => UnaryOp::Softsign,
        23 => UnaryOp::Sign,
        24 => UnaryOp::Gelu,
        25 => UnaryOp::Identity,
        26 => UnaryOp::Tan,
        27 => UnaryOp::Asin,
        28 => UnaryOp::Acos,
        29 => UnaryOp::Atan,
        30 => UnaryOp::Sinh,
        31 => UnaryOp::Cosh,
        32 => UnaryOp::Asinh,
        33 => UnaryOp::Acosh,
        34 => UnaryOp::Atanh,
        35 => UnaryOp::Celu {
            alpha: pick(rng, &[1.0, 1.3, 0.5]),
        },
        36 => UnaryOp::ThresholdedRelu {
            alpha: pick(rng, &[1.0, 0.9, -0.5]),
        },
        37 => UnaryOp::Mish,
        38 => {
            let (bias, lambd) = [(0.0, 0.5), (0.1, 0.5), (0.5, 1.0)][rng.range(0, 2)];
            UnaryOp::Shrink { bias, lambd }
        }
        39 => UnaryOp::GeluTanh,
        // SiLU, and Swish at the `alpha` of the GELU approximation and two others.
        _ => UnaryOp::Swish {
            alpha: pick(rng, &[1.0, 1.702, 0.5, -1.0]),
        },
    }
}

/// An activation `add_activated` fuses.
fn draw_activation(rng: &mut Rng) -> Activation {
    match rng.range(0, 5) {
        0 => Activation::None,
        1 => Activation::Relu,
        2 => Activation::Clip {
            min: -0.25,
            max: 0.5,
        },
        3 => Activation::Clip { min: 0.0, max: 6.0 },
        4 => Activation::Sigmoid,
        _ => Activation::Swish {
            alpha: if rng.one_in(2) { 1.0 } else { 1.702 },
        },
    }
}

/// The activation of the sum `s` (already rounded to `f32`, as the kernel rounds it):
/// a NaN gives Relu's and Clip's lower bound (`Activation::apply`'s documented rule),
/// and Sigmoid and Swish have the bounds of their unary ops.
fn activation_expect(act: Activation, s: f32) -> Expect {
    match act {
        Activation::None => Expect::exact(f64::from(s)),
        Activation::Relu => Expect::exact(if s > 0.0 { f64::from(s) } else { 0.0 }),
        Activation::Clip { min, max } => {
            let low = if s > min { s } else { min };
            Expect::exact(f64::from(if low < max { low } else { max }))
        }
        Activation::Sigmoid => unary_expect(UnaryOp::Sigmoid, s),
        Activation::Swish { alpha } => unary_expect(UnaryOp::Swish { alpha }, s),
    }
}

/// Compares `got` with the references of [`Expect::store`]: each element equal to
/// `want`, NaN where it is NaN, within `ulps` of it, or within its `tolerance`.
fn verify(
    path: &'static str,
    got: &[f32],
    want: &[f32],
    tolerance: &[f32],
    ulps: u64,
) -> Result<(), Mismatch> {
    for (index, ((&g, &w), &t)) in got.iter().zip(want).zip(tolerance).enumerate() {
        let accepted = if w.is_nan() || g.is_nan() {
            w.is_nan() && g.is_nan()
        } else {
            g == w
                || (g.is_finite() && w.is_finite() && ulps_apart(g, w) <= ulps)
                || (g.is_finite() && (f64::from(g) - f64::from(w)).abs() <= f64::from(t))
        };
        if !accepted {
            return Err(Mismatch {
                path,
                index,
                got: g,
                want: w,
            });
        }
    }
    Ok(())
}

/// The first element where `got` and `want` differ.
fn verify_exact<T: Output>(path: &'static str, got: &[T], want: &[T]) -> Result<(), Mismatch> {
    match got.iter().zip(want).position(|(g, w)| !g.same(*w)) {
        Some(index) => Err(Mismatch {
            path,
            index,
            got: got[index].report(),
            want: want[index].report(),
        }),
        None => Ok(()),
    }
}

/// A mismatch that is not an element: a path returned an error where the reference has
/// none (`got` 1) or no error where it has one (`want` 1).
fn wrong_result(path: &'static str, failed: bool) -> Mismatch {
    Mismatch {
        path,
        index: 0,
        got: if failed { 1.0 } else { 0.0 },
        want: if failed { 0.0 } else { 1.0 },
    }
}

/// An integer element type of the binary and unary kernels, with the exact arithmetic
/// of the reference (in `i128`, wrapped to the type).
trait Int: Output + Scalar + Ord {
    const SIGNED: bool;
    const BITS: u32;
    fn wide(self) -> i128;
    /// `v` modulo `2^BITS`, as the type's two's complement.
    fn wrap(v: i128) -> Self;
    /// A random value: small ones, the type's extremes, or any bit pattern.
    fn draw(rng: &mut Rng) -> Self;
    /// The case's operands and outputs: `a`, `b`, the reference and the path's output.
    fn views(bufs: &mut Buffers, n: usize) -> (&mut [Self], &mut [Self], &mut [Self], &mut [Self]);
    /// A `Clip` bound as the kernel converts it: widened to `f64`, then a saturating
    /// `as` cast.
    fn from_attribute(v: f32) -> Self;
}

/// Implements [`Int`] for a primitive integer type.
macro_rules! impl_int {
    ($ty:ident, $signed:expr) => {
        impl Int for $ty {
            const SIGNED: bool = $signed;
            const BITS: u32 = <$ty>::BITS;
            fn wide(self) -> i128 {
                i128::from(self)
            }
            fn wrap(v: i128) -> Self {
                v as $ty
            }
            fn draw(rng: &mut Rng) -> Self {
                match rng.range(0, 5) {
                    0 | 1 => (rng.range(0, 40) as i128 - if $signed { 20 } else { 0 }) as $ty,
                    2 => [
                        <$ty>::MIN,
                        <$ty>::MAX,
                        0,
                        1,
                        (1i128 << (<$ty>::BITS - 1)) as $ty,
                    ][rng.range(0, 4)],
                    _ => rng.next_u64() as $ty,
                }
            }
            fn views(
                bufs: &mut Buffers,
                n: usize,
            ) -> (&mut [Self], &mut [Self], &mut [Self], &mut [Self]) {
                int_views!($ty, bufs, n)
            }
            fn from_attribute(v: f32) -> Self {
                f64::from(v) as $ty
            }
        }
    };
}

/// The buffers an integer case works in: `i32` views of the float buffers, byte
/// buffers for `u8` and `i8`.
macro_rules! int_views {
    (i32, $bufs:ident, $n:ident) => {{
        let Buffers {
            x, w, want, got, ..
        } = $bufs;
        (
            bytemuck::cast_slice_mut(&mut x[..$n]),
            bytemuck::cast_slice_mut(&mut w[..$n]),
            bytemuck::cast_slice_mut(&mut want[..$n]),
            bytemuck::cast_slice_mut(&mut got[..$n]),
        )
    }};
    ($ty:ident, $bufs:ident, $n:ident) => {{
        let Buffers {
            xq,
            wq,
            wantq,
            gotq,
            ..
        } = $bufs;
        (
            bytemuck::cast_slice_mut(&mut xq[..$n]),
            bytemuck::cast_slice_mut(&mut wq[..$n]),
            bytemuck::cast_slice_mut(&mut wantq[..$n]),
            bytemuck::cast_slice_mut(&mut gotq[..$n]),
        )
    }};
}

impl_int!(i32, true);
impl_int!(u8, false);
impl_int!(i8, true);

/// Python's `%`: the remainder with the sign of the divisor.
fn floor_rem(a: i128, b: i128) -> i128 {
    let r = a % b;
    if r != 0 && (r < 0) != (b < 0) {
        r + b
    } else {
        r
    }
}

/// `a op b` on integers, or `None` for a zero divisor.
fn int_binary<T: Int>(op: BinaryOp, a: T, b: T) -> Option<T> {
    let (x, y) = (a.wide(), b.wide());
    Some(T::wrap(match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div if y == 0 => return None,
        BinaryOp::Div => x / y,
        BinaryOp::Max => x.max(y),
        BinaryOp::Min => x.min(y),
        BinaryOp::Mod | BinaryOp::FloorMod | BinaryOp::Fmod if y == 0 => return None,
        BinaryOp::Mod | BinaryOp::FloorMod => floor_rem(x, y),
        BinaryOp::Fmod => x % y,
        BinaryOp::Pow => return Some(int_pow(a, b)),
        BinaryOp::PRelu => {
            if x < 0 {
                x * y
            } else {
                x
            }
        }
    }))
}

/// `base^exponent` modulo `2^BITS` (repeated wrapping multiplication); a negative
/// exponent gives 0 but for a base of 1 or −1.
fn int_pow<T: Int>(base: T, exponent: T) -> T {
    let (b, e) = (base.wide(), exponent.wide());
    if e < 0 {
        return T::wrap(match b {
            1 => 1,
            -1 if T::SIGNED => {
                if e % 2 == 0 {
                    1
                } else {
                    -1
                }
            }
            _ => 0,
        });
    }
    // Modular exponentiation in `u128`, reduced modulo `2^BITS` at each step.
    let mask = (1u128 << T::BITS) - 1;
    let (mut result, mut square, mut remaining) = (1u128, (b as u128) & mask, e as u128);
    while remaining > 0 {
        if remaining & 1 == 1 {
            result = result.wrapping_mul(square) & mask;
        }
        square = square.wrapping_mul(square) & mask;
        remaining >>= 1;
    }
    T::wrap(result as i128)
}

/// `a op b` on `f32`, in `f64` and rounded: exact for every op (the sum, difference,
/// product and quotient of two `f32`s are exact in `f64` or round there no differently,
/// `fmod` is exact, and `Pow` is `libm`'s `pow` in `f64`, the runtime's documented
/// formula).
fn float_binary(op: BinaryOp, a: f32, b: f32) -> f32 {
    let (x, y) = (f64::from(a), f64::from(b));
    let value = match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        // `Scalar::max` and `min`: a NaN operand loses to a number.
        BinaryOp::Max if a.is_nan() => y,
        BinaryOp::Max if b.is_nan() || x > y => x,
        BinaryOp::Max => y,
        BinaryOp::Min if a.is_nan() => y,
        BinaryOp::Min if b.is_nan() || x < y => x,
        BinaryOp::Min => y,
        BinaryOp::Mod | BinaryOp::Fmod => libm::fmod(x, y),
        BinaryOp::FloorMod => {
            let r = libm::fmod(x, y);
            if r != 0.0 && (r < 0.0) != (y < 0.0) {
                r + y
            } else {
                r
            }
        }
        BinaryOp::Pow => libm::pow(x, y),
        BinaryOp::PRelu => {
            if a < 0.0 {
                x * y
            } else {
                x
            }
        }
    };
    value as f32
}

/// A float operand of a binary op: mostly small values (exponents of `Pow` among them:
/// 2 and 1, which the kernel turns into a product and a copy), and any float now and
/// then.
fn binary_value(rng: &mut Rng) -> f32 {
    match rng.range(0, 9) {
        0..=4 => rng.unit() * 4.0,
        5 => [2.0, 1.0, 0.5, -1.0, 3.0][rng.range(0, 4)],
        6 => (rng.range(0, 20) as f32 - 10.0) * 0.5,
        _ => any_value(rng),
    }
}

/// A binary op of any of the kernel's kinds.
fn draw_binary_op(rng: &mut Rng) -> BinaryOp {
    [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Mod,
        BinaryOp::Fmod,
        BinaryOp::FloorMod,
        BinaryOp::Pow,
        BinaryOp::PRelu,
    ][rng.range(0, 10)]
}

/// An output shape of rank 1 to 4, its innermost dimension on or beside a vector width.
fn draw_shape(rng: &mut Rng) -> Shape {
    let rank = rng.range(1, 4);
    let mut dims = [1; 4];
    for d in dims.iter_mut().take(rank) {
        *d = if rng.one_in(3) { 1 } else { rng.range(1, 6) };
    }
    dims[rank - 1] = length(rng, 80);
    Shape { rank, dims }
}

/// An operand of output shape `y`: the whole shape, a scalar, or the shape with some
/// dimensions 1 (a per-channel bias, a row, an outer product's factor), perhaps of a
/// lower rank.
fn draw_operand(rng: &mut Rng, y: &Shape) -> Shape {
    match rng.range(0, 5) {
        0 | 1 => *y,
        2 => {
            if rng.one_in(2) {
                Shape::SCALAR
            } else {
                Shape {
                    rank: rng.range(1, y.rank),
                    dims: [1; 4],
                }
            }
        }
        _ => {
            let rank = rng.range(1, y.rank);
            let mut dims = [1; 4];
            for (i, d) in dims.iter_mut().enumerate().take(rank) {
                let extent = y.dims[y.rank - rank + i];
                *d = if rng.one_in(2) { 1 } else { extent };
            }
            Shape { rank, dims }
        }
    }
}

impl Family for Elementwise {
    type Case = Case;
    const NAME: &'static str = "elementwise";
    const FIXTURES: &'static [Case] = &[
        // Acosh(−103.97208) is −2.2384052, not NaN (ONNX's `acosh` is NaN below 1), on
        // every target: `libm::acoshf` 0.2.16 tests `|x| < 2` and `|x| < 2^12` on the
        // magnitude and evaluates `log(2x − 1/(x + √(x² − 1)))` for negative `x` too,
        // which is finite for some `x ≤ −2` (`acosh` in `f64` likewise). Upstream fixed
        // `libm` after 0.2.16 (rust-lang/compiler-builtins#1070); the runtime's Acosh
        // now gives NaN below 1 itself.
        Case {
            op: Op::Unary {
                op: UnaryOp::Acosh,
                len: 1,
            },
            seed: 53,
        },
        // Tanh of 96 values with a NaN among them on AArch64: NEON's `fmaxnm` in the
        // clamp to ±9 turned the NaN into −9, so `tanh` gave −1 (fixed in `tanh_lanes`).
        Case {
            op: Op::Unary {
                op: UnaryOp::Tanh,
                len: 96,
            },
            seed: 15967408530772990469,
        },
    ];

    fn draw(rng: &mut Rng) -> Case {
        loop {
            // Unary ops get the most cases: there are 44 of them.
            let op = match rng.range(0, 15) {
                0..=3 => {
                    let y = draw_shape(rng);
                    let elem =
                        [Elem::F32, Elem::F32, Elem::I32, Elem::U8, Elem::I8][rng.range(0, 4)];
                    Op::Binary {
                        op: draw_binary_op(rng),
                        elem,
                        a: draw_operand(rng, &y),
                        b: draw_operand(rng, &y),
                    }
                }
                4 => Op::AddActivated {
                    act: draw_activation(rng),
                    len: length(rng, 2048),
                },
                5..=10 => Op::Unary {
                    op: draw_unary(rng),
                    len: length(rng, 4096),
                },
                11 => {
                    let op = match rng.range(0, 5) {
                        0 => UnaryOp::Abs,
                        1 => UnaryOp::Neg,
                        2 => UnaryOp::Sign,
                        3 => UnaryOp::Relu,
                        4 => UnaryOp::Identity,
                        _ => {
                            let (min, max) =
                                [(-1.5, 2.7), (0.0, 6.0), (-300.0, 300.0)][rng.range(0, 2)];
                            UnaryOp::Clip { min, max }
                        }
                    };
                    Op::UnaryInteger {
                        op,
                        elem: [Elem::I32, Elem::U8, Elem::I8][rng.range(0, 2)],
                        len: length(rng, 300),
                    }
                }
                12 => {
                    // Rows (`inner` 1), and columns across the kernel's 64-column blocks.
                    let inner = if rng.one_in(2) {
                        1
                    } else {
                        [2, 3, 17, 63, 64, 65, 130][rng.range(0, 6)]
                    };
                    Op::Softmax {
                        outer: rng.range(1, 3),
                        axis_len: length(rng, 300),
                        inner,
                        scale: [1.0, 0.125, 0.353_553_38, -0.5, 3.0][rng.range(0, 4)],
                        range: [1.0, 30.0, 1000.0][rng.range(0, 2)],
                    }
                }
                13 => Op::LayerNorm {
                    rows: rng.range(1, 6),
                    cols: length(rng, 700),
                    epsilon: [1e-5, 1e-3, 0.1][rng.range(0, 2)],
                    offset: [0.0, 0.0, 1.0, 100.0][rng.range(0, 3)],
                },
                _ => {
                    if rng.one_in(2) {
                        let groups = rng.range(1, 4);
                        Op::GroupNorm {
                            batch: rng.range(1, 2),
                            channels: groups * rng.range(1, 4),
                            groups,
                            spatial: length(rng, 200),
                            epsilon: [1e-5, 1e-3][rng.range(0, 1)],
                            per_channel: rng.one_in(2),
                        }
                    } else {
                        let channels = rng.range(1, 12);
                        Op::Lrn {
                            batch: rng.range(1, 2),
                            channels,
                            spatial: length(rng, 40),
                            size: rng.range(1, 7),
                            alpha: [1e-4, 0.5, 3.0][rng.range(0, 2)],
                            beta: [0.75, 0.5, 1.0][rng.range(0, 2)],
                            bias: [1.0, 2.0][rng.range(0, 1)],
                        }
                    }
                }
            };
            let case = Case {
                op,
                seed: rng.next_u64(),
            };
            if fits(&case) {
                return case;
            }
        }
    }

    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let mut n = 0;
        let mut push = |op: Op| {
            let c = Case { op, ..*case };
            if n < out.len() && c != *case && fits(&c) {
                out[n] = c;
                n += 1;
            }
        };
        // Halves, one less, and whole vectors less (the remainder on its own, and with
        // one sixteen-lane vector before it): a failing tail keeps failing at its
        // length modulo the vector width.
        let smaller = |v: usize| {
            [
                v / 2,
                v - 1,
                v.saturating_sub(8),
                v.saturating_sub(16),
                v % 16 + 16,
                v % 16,
            ]
            .map(|v| v.max(1))
        };
        match case.op {
            Op::Binary { op, elem, a, b } => {
                let binary = |a, b| Op::Binary { op, elem, a, b };
                push(binary(a.without_first(), b));
                push(binary(a, b.without_first()));
                // One axis smaller in both operands where they span it.
                let y = broadcast(&a, &b).unwrap_or(a);
                for axis in 0..y.rank {
                    for extent in smaller(y.dims[axis]) {
                        let resize = |s: Shape| {
                            let mut s = s;
                            let at = (axis + s.rank).checked_sub(y.rank);
                            if let Some(at) = at.filter(|&at| s.dims[at] != 1) {
                                s.dims[at] = extent;
                            }
                            s
                        };
                        push(binary(resize(a), resize(b)));
                    }
                }
            }
            Op::AddActivated { act, len } => {
                for len in smaller(len) {
                    push(Op::AddActivated { act, len });
                }
                push(Op::AddActivated {
                    act: Activation::None,
                    len,
                });
            }
            Op::Unary { op, len } => {
                for len in smaller(len) {
                    push(Op::Unary { op, len });
                }
            }
            Op::UnaryInteger { op, elem, len } => {
                for len in smaller(len) {
                    push(Op::UnaryInteger { op, elem, len });
                }
            }
            Op::Softmax {
                outer,
                axis_len,
                inner,
                scale,
                range,
            } => {
                let softmax = |outer, axis_len, inner| Op::Softmax {
                    outer,
                    axis_len,
                    inner,
                    scale,
                    range,
                };
                push(softmax(1, axis_len, inner));
                for a in smaller(axis_len) {
                    push(softmax(outer, a, inner));
                }
                for i in smaller(inner) {
                    push(softmax(outer, axis_len, i));
                }
            }
            Op::LayerNorm {
                rows,
                cols,
                epsilon,
                offset,
            } => {
                let layer_norm = |rows, cols, offset| Op::LayerNorm {
                    rows,
                    cols,
                    epsilon,
                    offset,
                };
                for r in smaller(rows) {
                    push(layer_norm(r, cols, offset));
                }
                for c in smaller(cols) {
                    push(layer_norm(rows, c, offset));
                }
                push(layer_norm(rows, cols, 0.0));
            }
            Op::GroupNorm {
                batch,
                channels,
                groups,
                spatial,
                epsilon,
                per_channel,
            } => {
                let group = |batch, groups, per_group, spatial| Op::GroupNorm {
                    batch,
                    channels: groups * per_group,
                    groups,
                    spatial,
                    epsilon,
                    per_channel,
                };
                let per_group = channels / groups;
                push(group(1, groups, per_group, spatial));
                for g in smaller(groups) {
                    push(group(batch, g, per_group, spatial));
                }
                for c in smaller(per_group) {
                    push(group(batch, groups, c, spatial));
                }
                for s in smaller(spatial) {
                    push(group(batch, groups, per_group, s));
                }
            }
            Op::Lrn {
                batch,
                channels,
                spatial,
                size,
                alpha,
                beta,
                bias,
            } => {
                let lrn = |batch, channels, spatial, size| Op::Lrn {
                    batch,
                    channels,
                    spatial,
                    size,
                    alpha,
                    beta,
                    bias,
                };
                push(lrn(1, channels, spatial, size));
                for c in smaller(channels) {
                    push(lrn(batch, c, spatial, size));
                }
                for s in smaller(spatial) {
                    push(lrn(batch, channels, s, size));
                }
                push(lrn(batch, channels, spatial, size.saturating_sub(1).max(1)));
            }
        }
        n
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        let mut rng = Rng::new(case.seed);
        match case.op {
            Op::Binary { op, elem, a, b } => {
                let y = broadcast(&a, &b).unwrap_or(a);
                match elem {
                    Elem::F32 => check_binary_f32(op, (a, b, y), &mut rng, bufs),
                    Elem::I32 => check_binary_int::<i32>(op, (a, b, y), &mut rng, bufs),
                    Elem::U8 => check_binary_int::<u8>(op, (a, b, y), &mut rng, bufs),
                    Elem::I8 => check_binary_int::<i8>(op, (a, b, y), &mut rng, bufs),
                }
            }
            Op::AddActivated { act, len } => check_add_activated(act, len, &mut rng, bufs),
            Op::Unary { op, len } => check_unary(op, len, &mut rng, bufs),
            Op::UnaryInteger { op, elem, len } => match elem {
                Elem::I32 => check_unary_int::<i32>(op, len, &mut rng, bufs),
                Elem::U8 => check_unary_int::<u8>(op, len, &mut rng, bufs),
                Elem::I8 | Elem::F32 => check_unary_int::<i8>(op, len, &mut rng, bufs),
            },
            Op::Softmax {
                outer,
                axis_len,
                inner,
                scale,
                range,
            } => check_softmax((outer, axis_len, inner), scale, range, &mut rng, bufs),
            Op::LayerNorm {
                rows,
                cols,
                epsilon,
                offset,
            } => check_layer_norm(
                &Norm {
                    rows,
                    cols,
                    epsilon,
                },
                offset,
                &mut rng,
                bufs,
            ),
            Op::GroupNorm {
                batch,
                channels,
                groups,
                spatial,
                epsilon,
                per_channel,
            } => check_group_norm(
                (batch, channels, groups, spatial),
                (epsilon, per_channel),
                &mut rng,
                bufs,
            ),
            Op::Lrn {
                batch,
                channels,
                spatial,
                size,
                alpha,
                beta,
                bias,
            } => check_lrn(
                (batch, channels, spatial),
                (size, alpha, beta, bias),
                &mut rng,
                bufs,
            ),
        }
    }
}

/// Whether `case` is valid (its operands broadcast) and its buffers fit.
fn fits(case: &Case) -> bool {
    match case.op {
        Op::Binary { a, b, .. } => broadcast(&a, &b).is_some_and(|y| {
            y.rank >= 1 && y.count() <= MAX_ELEMENTS && a.count() >= 1 && b.count() >= 1
        }),
        Op::AddActivated { len, .. } | Op::Unary { len, .. } | Op::UnaryInteger { len, .. } => {
            (1..=MAX_ELEMENTS).contains(&len)
        }
        Op::Softmax {
            outer,
            axis_len,
            inner,
            ..
        } => outer * axis_len * inner <= MAX_ELEMENTS && outer * axis_len * inner >= 1,
        Op::LayerNorm { rows, cols, .. } => rows * cols <= MAX_ELEMENTS && rows * cols >= 1,
        Op::GroupNorm {
            batch,
            channels,
            spatial,
            ..
        }
        | Op::Lrn {
            batch,
            channels,
            spatial,
            ..
        } => (1..=MAX_ELEMENTS).contains(&(batch * channels * spatial)),
    }
}

/// `binary` and, where an operand has the output's element count, `binary_in_place`
/// with it as the output, on `f32`: exact, NaN for NaN.
fn check_binary_f32(
    op: BinaryOp,
    (a_shape, b_shape, y_shape): (Shape, Shape, Shape),
    rng: &mut Rng,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    let (n_a, n_b, n_y) = (a_shape.count(), b_shape.count(), y_shape.count());
    let mut rng_b = Rng::new(rng.next_u64());
    for v in &mut bufs.x[..n_a] {
        *v = binary_value(rng);
    }
    for v in &mut bufs.w[..n_b] {
        // Exponents of 2 and 1 often: as one repeated exponent the kernel turns them
        // into a product and a copy.
        *v = if op == BinaryOp::Pow && rng_b.one_in(2) {
            [2.0, 1.0][rng_b.range(0, 1)]
        } else {
            binary_value(&mut rng_b)
        };
    }
    let (py, pa, pb) = (y_shape.padded(), a_shape.padded(), b_shape.padded());
    for i in 0..n_y {
        let (ia, ib) = (operand_index(&py, &pa, i), operand_index(&py, &pb, i));
        bufs.want[i] = float_binary(op, bufs.x[ia], bufs.w[ib]);
    }
    let Buffers {
        x, w, want, got, ..
    } = bufs;
    let (a, b, want, got) = (&x[..n_a], &w[..n_b], &want[..n_y], &mut got[..n_y]);
    let shapes = (a_shape.dims(), b_shape.dims(), y_shape.dims());
    got.iter_mut().zip(want).for_each(|(g, w)| *g = w.other());
    let result = elementwise::binary(op, a, shapes.0, b, shapes.1, got, shapes.2);
    if result.is_err() {
        return Err(wrong_result("binary::<f32>", true));
    }
    verify_exact("binary::<f32>", got, want)?;
    if n_a == n_y {
        got.copy_from_slice(a);
        let result = elementwise::binary_in_place(op, true, got, b, shapes.1, shapes.2);
        if result.is_err() {
            return Err(wrong_result("binary_in_place::<f32>, y = a", true));
        }
        verify_exact("binary_in_place::<f32>, y = a", got, want)?;
    }
    if n_b == n_y {
        got.copy_from_slice(b);
        let result = elementwise::binary_in_place(op, false, got, a, shapes.0, shapes.2);
        if result.is_err() {
            return Err(wrong_result("binary_in_place::<f32>, y = b", true));
        }
        verify_exact("binary_in_place::<f32>, y = b", got, want)?;
    }
    Ok(())
}

/// `binary` and `binary_in_place` on integers: wrapping arithmetic, exact, and
/// `DivisionByZero` where a divisor the output reads is zero (in one case in four; in
/// the others zero divisors are made 1).
fn check_binary_int<T: Int>(
    op: BinaryOp,
    (a_shape, b_shape, y_shape): (Shape, Shape, Shape),
    rng: &mut Rng,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    let (n_a, n_b, n_y) = (a_shape.count(), b_shape.count(), y_shape.count());
    let allow_zero = rng.one_in(4);
    let mut rng_b = Rng::new(rng.next_u64());
    let n = n_a.max(n_b).max(n_y);
    let (a, b, want, got) = T::views(bufs, n);
    for v in &mut a[..n_a] {
        *v = T::draw(rng);
    }
    for v in &mut b[..n_b] {
        *v = if op == BinaryOp::Pow && !rng_b.one_in(8) {
            // Small exponents, negative ones among them, so that powers do not all
            // wrap to 0.
            T::wrap(rng_b.range(0, 14) as i128 - if T::SIGNED { 3 } else { 0 })
        } else {
            T::draw(&mut rng_b)
        };
        if !allow_zero && *v == T::wrap(0) {
            *v = T::wrap(1);
        }
    }
    let (a, b, want, got) = (&a[..n_a], &b[..n_b], &mut want[..n_y], &mut got[..n_y]);
    let (py, pa, pb) = (y_shape.padded(), a_shape.padded(), b_shape.padded());
    let mut divided_by_zero = false;
    for (i, w) in want.iter_mut().enumerate() {
        let (ia, ib) = (operand_index(&py, &pa, i), operand_index(&py, &pb, i));
        match int_binary(op, a[ia], b[ib]) {
            Some(v) => *w = v,
            None => divided_by_zero = true,
        }
    }
    let shapes = (a_shape.dims(), b_shape.dims(), y_shape.dims());
    let check = |path, result: Result<(), KernelError>, got: &[T]| match result {
        Err(KernelError::DivisionByZero) if divided_by_zero => Ok(()),
        Ok(()) if !divided_by_zero => verify_exact(path, got, want),
        _ => Err(wrong_result(path, result.is_err())),
    };
    got.iter_mut()
        .zip(want.iter())
        .for_each(|(g, w)| *g = w.other());
    let result = elementwise::binary(op, a, shapes.0, b, shapes.1, got, shapes.2);
    check("binary, integer", result, got)?;
    if n_a == n_y {
        got.copy_from_slice(a);
        let result = elementwise::binary_in_place(op, true, got, b, shapes.1, shapes.2);
        check("binary_in_place, integer, y = a", result, got)?;
    }
    if n_b == n_y {
        got.copy_from_slice(b);
        let result = elementwise::binary_in_place(op, false, got, a, shapes.0, shapes.2);
        check("binary_in_place, integer, y = b", result, got)?;
    }
    Ok(())
}

/// `add_activated` and `add_activated_in_place` with either operand as the output.
fn check_add_activated(
    act: Activation,
    len: usize,
    rng: &mut Rng,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    for i in 0..len {
        bufs.x[i] = any_value(rng);
        bufs.w[i] = if rng.one_in(2) {
            rng.unit()
        } else {
            any_value(rng)
        };
        let sum = bufs.x[i] + bufs.w[i];
        activation_expect(act, sum).store(&mut bufs.want[i], &mut bufs.w2[i]);
    }
    let ulps = activation_expect(act, 0.0).ulps;
    let Buffers {
        x,
        w,
        w2,
        want,
        got,
        ..
    } = bufs;
    let (a, b, tolerance) = (&x[..len], &w[..len], &w2[..len]);
    let (want, got) = (&want[..len], &mut got[..len]);
    got.fill(f32::NAN);
    elementwise::add_activated(a, b, act, got);
    verify("add_activated", got, want, tolerance, ulps)?;
    got.copy_from_slice(a);
    elementwise::add_activated_in_place(got, b, act);
    verify("add_activated_in_place, y = a", got, want, tolerance, ulps)?;
    got.copy_from_slice(b);
    elementwise::add_activated_in_place(got, a, act);
    verify("add_activated_in_place, y = b", got, want, tolerance, ulps)
}

/// `unary` and `unary_in_place`; for Tanh also the documented equality of its vector
/// lanes with the scalar `elementwise::tanh`, bit for bit.
fn check_unary(op: UnaryOp, len: usize, rng: &mut Rng, bufs: &mut Buffers) -> Result<(), Mismatch> {
    for i in 0..len {
        bufs.x[i] = any_value(rng);
        unary_expect(op, bufs.x[i]).store(&mut bufs.want[i], &mut bufs.w2[i]);
    }
    let ulps = unary_expect(op, 0.0).ulps;
    let Buffers {
        x, w2, want, got, ..
    } = bufs;
    let (x, tolerance, want, got) = (&x[..len], &w2[..len], &want[..len], &mut got[..len]);
    got.fill(f32::NAN);
    elementwise::unary(op, x, got);
    verify("unary", got, want, tolerance, ulps)?;
    if op == UnaryOp::Tanh {
        for (i, (&g, &v)) in got.iter().zip(x).enumerate() {
            let scalar = elementwise::tanh(v);
            if g.to_bits() != scalar.to_bits() && !(g.is_nan() && scalar.is_nan()) {
                return Err(Mismatch {
                    path: "unary(Tanh) against the scalar tanh, bit for bit",
                    index: i,
                    got: g,
                    want: scalar,
                });
            }
        }
    }
    got.copy_from_slice(x);
    elementwise::unary_in_place(op, got);
    verify("unary_in_place", got, want, tolerance, ulps)
}

/// `unary_scalar` and `unary_scalar_in_place` on integers, exact (wrapping Abs and Neg,
/// Clip's bounds converted as `as` casts).
fn check_unary_int<T: Int>(
    op: UnaryOp,
    len: usize,
    rng: &mut Rng,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    let (x, _, want, got) = T::views(bufs, len);
    for (v, w) in x.iter_mut().zip(want.iter_mut()) {
        *v = T::draw(rng);
        let wide = v.wide();
        *w = match op {
            UnaryOp::Abs => T::wrap(wide.abs()),
            UnaryOp::Neg => T::wrap(-wide),
            UnaryOp::Sign => T::wrap(wide.signum()),
            UnaryOp::Relu => T::wrap(wide.max(0)),
            UnaryOp::Clip { min, max } => {
                Ord::min(Ord::max(*v, T::from_attribute(min)), T::from_attribute(max))
            }
            _ => *v,
        };
    }
    got.iter_mut()
        .zip(want.iter())
        .for_each(|(g, w)| *g = w.other());
    elementwise::unary_scalar(op, x, got);
    verify_exact("unary_scalar, integer", got, want)?;
    got.copy_from_slice(x);
    elementwise::unary_scalar_in_place(op, got);
    verify_exact("unary_scalar_in_place, integer", got, want)
}

/// Softmax of the columns of `[outer, axis_len, inner]` at `scale`, into `want` with
/// each element's bound in `tolerance` (`log` for `log_softmax`).
///
/// The bound: each exponent `scale·v − max` rounds in its product (by `u·|scale·v|`;
/// none at scale 1) and its difference (`u·|scale·v − max|`), and `e^t` errs by 1 ulp
/// (`2u` relative; `exp_lanes` and `expf` alike), so each `e` errs by `A = those three`
/// relative; the sum of the `e` (all positive, in any order) by their `e`-weighted mean
/// `A` plus `γ(axis_len)`; the reciprocal and the product round once each. `log_softmax`
/// errs by the difference's rounding, the error of `ln Σ` (the sum's relative error
/// and `logf`'s ulp of it) and the last subtraction's rounding. The rounding of `max`
/// itself shifts every exponent alike and cancels. A result rounding into the
/// subnormals may lose up to `2^−146` more.
fn softmax_reference(
    (outer, axis_len, inner): (usize, usize, usize),
    scale: f32,
    log: bool,
    x: &[f32],
    want: &mut [f32],
    tolerance: &mut [f32],
) {
    let scale = f64::from(scale);
    let product_rounds = if scale == 1.0 { 0.0 } else { U };
    for o in 0..outer {
        for i in 0..inner {
            let at = |a: usize| (o * axis_len + a) * inner + i;
            let scaled = |a: usize| scale * f64::from(x[at(a)]);
            let max = (0..axis_len).map(scaled).fold(f64::NEG_INFINITY, f64::max);
            let exp_error = |a: usize| {
                let t = scaled(a);
                product_rounds * t.abs() + U * (t - max).abs() + 2.0 * U
            };
            let (mut sum, mut weighted) = (0.0, 0.0);
            for a in 0..axis_len {
                let e = libm::exp(scaled(a) - max);
                sum += e;
                weighted += e * exp_error(a);
            }
            let sum_error = weighted / sum + gamma(axis_len);
            let log_sum = libm::log(sum);
            for a in 0..axis_len {
                let t = scaled(a) - max;
                let expect = if log {
                    let want = t - log_sum;
                    let abs = product_rounds * scaled(a).abs()
                        + U * t.abs()
                        + sum_error
                        + 2.0 * U * log_sum.abs()
                        + U * want.abs();
                    Expect::within(want, abs)
                } else {
                    let want = libm::exp(t) / sum;
                    let abs = want * (exp_error(a) + sum_error + 2.0 * U) + 64.0 * TINY;
                    Expect::within(want, abs)
                };
                expect.store(&mut want[at(a)], &mut tolerance[at(a)]);
            }
        }
    }
}

/// A softmax entry point: its name, the scale it applies, whether it is the log, and a
/// call of it into `y`.
type SoftmaxPath<'a> = (&'static str, f32, bool, &'a dyn Fn(&mut [f32]));

/// `softmax`, `softmax_scaled` at the case's scale, and `log_softmax`.
fn check_softmax(
    dims: (usize, usize, usize),
    scale: f32,
    range: f32,
    rng: &mut Rng,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    let (outer, axis_len, inner) = dims;
    let n = outer * axis_len * inner;
    for v in &mut bufs.x[..n] {
        *v = rng.unit() * range;
    }
    let Buffers {
        x, w2, want, got, ..
    } = bufs;
    let (x, tolerance, want, got) = (&x[..n], &mut w2[..n], &mut want[..n], &mut got[..n]);
    let paths: [SoftmaxPath<'_>; 3] = [
        ("softmax", 1.0, false, &|y| {
            elementwise::softmax(outer, axis_len, inner, x, y)
        }),
        ("softmax_scaled", scale, false, &|y| {
            elementwise::softmax_scaled(outer, axis_len, inner, scale, x, y)
        }),
        ("log_softmax", 1.0, true, &|y| {
            elementwise::log_softmax(outer, axis_len, inner, x, y)
        }),
    ];
    for (path, scale, log, run) in paths {
        softmax_reference(dims, scale, log, x, want, tolerance);
        got.fill(f32::NAN);
        run(got);
        verify(path, got, want, tolerance, 0)?;
    }
    Ok(())
}

/// The statistics of one row as `layer_norm` computes them, with bounds on their
/// errors: `(mean, its error, inverse standard deviation, its relative error)`.
///
/// The sum of a row errs by `γ(n)·Σ|x|` and the mean rounds once more. The squared
/// deviations are taken from the kernel's rounded mean, whose exact variance exceeds the
/// true one by the square of the mean's error; each deviation and square rounds (`3u`
/// relative), their sum by `γ(n)`, the quotient once. `var + ε` rounds; the square root
/// halves its relative error and rounds; the reciprocal rounds.
fn row_statistics(row: &[f32], epsilon: f64) -> (f64, f64, f64, f64) {
    let n = row.len() as f64;
    let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let abs_sum = row.iter().map(|&v| f64::from(v).abs()).sum::<f64>();
    let mean_error = gamma(row.len()) * abs_sum / n + U * mean.abs();
    let var = row
        .iter()
        .map(|&v| (f64::from(v) - mean) * (f64::from(v) - mean))
        .sum::<f64>()
        / n;
    let var_error =
        (4.0 * U + gamma(row.len())) * (var + mean_error * mean_error) + mean_error * mean_error;
    let shifted = var + epsilon;
    let inv = 1.0 / libm::sqrt(shifted);
    let inv_error = 0.5 * (var_error + U * shifted) / shifted + 2.0 * U;
    (mean, mean_error, inv, inv_error)
}

/// `layer_norm` with every combination of scale and bias, with and without the mean and
/// inverse standard deviation outputs, and `rms_norm` with and without a scale.
fn check_layer_norm(
    p: &Norm,
    offset: f32,
    rng: &mut Rng,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    let (rows, cols) = (p.rows, p.cols);
    let n = rows * cols;
    for v in &mut bufs.x[..n] {
        *v = offset + rng.unit();
    }
    rng.fill(&mut bufs.w[..cols]);
    rng.fill(&mut bufs.bias[..cols]);
    let epsilon = f64::from(p.epsilon);
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
    let (x, scale, bias) = (&x[..n], &w[..cols], &bias[..cols]);
    let (tolerance, want, got) = (&mut w2[..n], &mut want[..n], &mut got[..n]);
    // The statistics' references and bounds, and the kernel's statistics.
    let (stats_want, rest) = scratch.split_at_mut(2 * rows);
    let (stats_tolerance, rest) = rest.split_at_mut(2 * rows);
    let (mean_got, rest) = rest.split_at_mut(rows);
    let inv_got = &mut rest[..rows];
    for (with_scale, with_bias) in [(true, true), (true, false), (false, true), (false, false)] {
        for r in 0..rows {
            let row = &x[r * cols..][..cols];
            let (mean, mean_error, inv, inv_error) = row_statistics(row, epsilon);
            Expect::within(mean, mean_error).store(&mut stats_want[r], &mut stats_tolerance[r]);
            Expect::within(inv, inv * inv_error)
                .store(&mut stats_want[rows + r], &mut stats_tolerance[rows + r]);
            for c in 0..cols {
                let s = if with_scale { f64::from(scale[c]) } else { 1.0 };
                let b = if with_bias { f64::from(bias[c]) } else { 0.0 };
                let d = f64::from(row[c]) - mean;
                let normalised = d * inv;
                let want_value = normalised * s + b;
                // `(v − mean)` with the mean's error and a rounding, times `inv` with its
                // error and a rounding, times the scale (a rounding), plus the bias.
                let abs = s.abs()
                    * (inv * (mean_error + U * d.abs()) + normalised.abs() * (inv_error + U))
                    + U * (normalised * s).abs()
                    + U * want_value.abs();
                Expect::within(want_value, abs)
                    .store(&mut want[r * cols + c], &mut tolerance[r * cols + c]);
            }
        }
        let (s, b) = (with_scale.then_some(scale), with_bias.then_some(bias));
        for stats in [true, false] {
            got.fill(f32::NAN);
            mean_got.fill(f32::NAN);
            inv_got.fill(f32::NAN);
            let (mean_out, inv_out) = if stats {
                (Some(&mut *mean_got), Some(&mut *inv_got))
            } else {
                (None, None)
            };
            norm::layer_norm(p, x, s, b, got, mean_out, inv_out);
            verify("layer_norm", got, want, tolerance, 0)?;
            if stats {
                let (want_mean, want_inv) = stats_want.split_at(rows);
                let (tolerance_mean, tolerance_inv) = stats_tolerance.split_at(rows);
                verify("layer_norm, Mean", mean_got, want_mean, tolerance_mean, 0)?;
                verify("layer_norm, InvStdDev", inv_got, want_inv, tolerance_inv, 0)?;
            }
        }
    }
    // RMSNormalization: `x · (1/√(mean(x²) + ε)) · scale`; the squares and their sum err
    // by `(u + γ(n))` relative, the mean, `+ ε`, the root and the reciprocal as above,
    // and the two products round once each.
    for with_scale in [true, false] {
        for r in 0..rows {
            let row = &x[r * cols..][..cols];
            let mean_square = row.iter().map(|&v| square(f64::from(v))).sum::<f64>() / cols as f64;
            let shifted = mean_square + epsilon;
            let inv = 1.0 / libm::sqrt(shifted);
            let square_error = (2.0 * U + gamma(cols)) * mean_square + U * shifted;
            let inv_error = 0.5 * square_error / shifted + 2.0 * U;
            for c in 0..cols {
                let s = if with_scale { f64::from(scale[c]) } else { 1.0 };
                let want_value = f64::from(row[c]) * inv * s;
                Expect::within(
                    want_value,
                    want_value.abs() * (inv_error + 2.0 * U) + 2.0 * TINY,
                )
                .store(&mut want[r * cols + c], &mut tolerance[r * cols + c]);
            }
        }
        got.fill(f32::NAN);
        norm::rms_norm(p, x, with_scale.then_some(scale), got);
        verify("rms_norm", got, want, tolerance, 0)?;
    }
    Ok(())
}

/// `group_norm` with a scale and bias per channel or per group (InstanceNormalization
/// is its case of one channel a group). The bound is `layer_norm`'s for a row of a
/// group's values: the statistics summed in `f32` lanes, `(v − mean)` times
/// `inv · scale` (one rounding more than the reference's `inv`), plus the bias.
fn check_group_norm(
    (batch, channels, groups, spatial): (usize, usize, usize, usize),
    (epsilon, per_channel): (f32, bool),
    rng: &mut Rng,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    let n = batch * channels * spatial;
    let params = if per_channel { channels } else { groups };
    for v in &mut bufs.x[..n] {
        *v = rng.unit() * 4.0 + if rng.one_in(4) { 10.0 } else { 0.0 };
    }
    rng.fill(&mut bufs.w[..params]);
    rng.fill(&mut bufs.bias[..params]);
    let Buffers {
        x,
        w,
        w2,
        bias,
        want,
        got,
        ..
    } = bufs;
    let (x, scale, bias) = (&x[..n], &w[..params], &bias[..params]);
    let (tolerance, want, got) = (&mut w2[..n], &mut want[..n], &mut got[..n]);
    let per_group = channels / groups;
    let len = per_group * spatial;
    for (k, block) in x.chunks_exact(len).enumerate() {
        let g = k % groups;
        let (mean, mean_error, inv, inv_error) = row_statistics(block, f64::from(epsilon));
        for (i, &v) in block.iter().enumerate() {
            let at = if per_channel {
                g * per_group + i / spatial
            } else {
                g
            };
            let (s, b) = (f64::from(scale[at]), f64::from(bias[at]));
            let d = f64::from(v) - mean;
            let normalised = d * inv;
            let want_value = normalised * s + b;
            let abs = s.abs()
                * (inv * (mean_error + U * d.abs()) + normalised.abs() * (inv_error + 2.0 * U))
                + U * (normalised * s).abs()
                + U * want_value.abs();
            Expect::within(want_value, abs)
                .store(&mut want[k * len + i], &mut tolerance[k * len + i]);
        }
    }
    got.fill(f32::NAN);
    norm::group_norm(groups, channels, spatial, epsilon, x, scale, bias, got);
    verify("group_norm", got, want, tolerance, 0)?;
    Ok(())
}

/// `lrn`. The bound: the window's squares and their sum err by `(u + γ(size))`
/// relative, `alpha/size` and its product by the sum round once each, `+ bias` rounds
/// (all terms positive), `powf` errs by 1 ulp and multiplies the base's relative error
/// by `|beta|`, and the quotient rounds.
fn check_lrn(
    (batch, channels, spatial): (usize, usize, usize),
    (size, alpha, beta, bias): (usize, f32, f32, f32),
    rng: &mut Rng,
    bufs: &mut Buffers,
) -> Result<(), Mismatch> {
    let n = batch * channels * spatial;
    let range = if rng.one_in(2) { 1.0 } else { 20.0 };
    for v in &mut bufs.x[..n] {
        *v = rng.unit() * range;
    }
    let Buffers {
        x, w2, want, got, ..
    } = bufs;
    let (x, tolerance, want, got) = (&x[..n], &mut w2[..n], &mut want[..n], &mut got[..n]);
    let (before, after) = ((size - 1) / 2, size / 2);
    let plane = channels * spatial;
    let (alpha64, beta64, bias64) = (f64::from(alpha), f64::from(beta), f64::from(bias));
    for b in 0..batch {
        for c in 0..channels {
            let (lo, hi) = (c.saturating_sub(before), (c + after).min(channels - 1));
            for s in 0..spatial {
                let at = |k: usize| b * plane + k * spatial + s;
                let sum: f64 = (lo..=hi).map(|k| square(f64::from(x[at(k)]))).sum();
                let scaled = alpha64 / size as f64 * sum;
                let base = bias64 + scaled;
                let base_error = scaled * (3.0 * U + gamma(size)) + U * base;
                let want_value = f64::from(x[at(c)]) / libm::pow(base, beta64);
                let relative = beta64.abs() * base_error / base + 3.0 * U;
                Expect::within(want_value, want_value.abs() * relative + 2.0 * TINY)
                    .store(&mut want[at(c)], &mut tolerance[at(c)]);
            }
        }
    }
    got.fill(f32::NAN);
    norm::lrn(channels, spatial, size, alpha, beta, bias, x, got);
    verify("lrn", got, want, tolerance, 0)
}
