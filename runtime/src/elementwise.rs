//! Elementwise kernels: broadcasting binary arithmetic, float unary functions and softmax.
//!
//! Every loop here is written so that the operation is chosen once per run, outside the
//! loop, and the loop body is a closure the optimiser can inline and vectorise: a `match`
//! on the op inside the loop would leave a branch in every iteration.

use crate::scalar::{is_float, Scalar};
use crate::shape::Broadcast;
use crate::tokens::tokens;
use crate::KernelError;

tokens! {
    rt::elementwise;
    /// A binary elementwise operation (ONNX `Add`, `Sub`, `Mul`, `Div`, `Max`, `Min`, `Mod`,
    /// `Pow`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum BinaryOp {
        /// `a + b`.
        Add,
        /// `a - b`.
        Sub,
        /// `a * b`.
        Mul,
        /// `a / b`; truncating for integers, which fail on a zero divisor.
        Div,
        /// The larger of `a` and `b`.
        Max,
        /// The smaller of `a` and `b`.
        Min,
        /// `Mod` with `fmod = 0` for integers (the sign of the divisor), C's `fmod` for floats.
        Mod,
        /// `Mod` with `fmod = 1`: C's `fmod` (the sign of the dividend) for every type.
        Fmod,
        /// Python's `%` (the sign of the divisor) for every type: `Mod` with `fmod = 0` on
        /// floats, which opset 28 allows.
        FloorMod,
        /// `a` to the power `b`: `pow` in `f64` for floats; for integers repeated wrapping
        /// multiplication, and a negative exponent gives 0 unless the base is 1 or -1.
        Pow,
    }
}

/// y = a op b with numpy (multidirectional) broadcasting. a_shape and b_shape may have
/// different ranks (right-aligned). y has y_shape = broadcast shape.
///
/// On a [`KernelError::DivisionByZero`], `y` may be partly written.
pub fn binary<T: Scalar>(
    op: BinaryOp,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    y: &mut [T],
    y_shape: &[usize],
) -> Result<(), KernelError> {
    let count: usize = y_shape.iter().product();
    let a_count: usize = a_shape.iter().product();
    let b_count: usize = b_shape.iter().product();
    let y = &mut y[..count];
    if count == 0 {
        return Ok(());
    }
    let (a, b) = (&a[..a_count], &b[..b_count]);
    // The fast paths need no index math at all.
    if a_count == count && b_count == count {
        return apply_run(op, y, Operand::Run(a), Operand::Run(b));
    }
    if a_count == count && b_count == 1 {
        return apply_run(op, y, Operand::Run(a), Operand::Repeat(b[0]));
    }
    if a_count == 1 && b_count == count {
        return apply_run(op, y, Operand::Repeat(a[0]), Operand::Run(b));
    }
    // Everything else (per-channel operands, outer products, …) becomes runs of the
    // coalesced innermost dim, each against a contiguous run or one repeated value.
    let walker = Broadcast::new([a_shape, b_shape], y_shape);
    let inner_len = walker.inner_len();
    let [a_stride, b_stride] = walker.inner_strides();
    walker.try_for_each_run(|y_offset, [a_offset, b_offset]| {
        let run = &mut y[y_offset..y_offset + inner_len];
        let lhs = Operand::of(a, a_offset, a_stride, inner_len);
        let rhs = Operand::of(b, b_offset, b_stride, inner_len);
        apply_run(op, run, lhs, rhs)
    })
}

/// In place: `y` holds one operand with the full y_shape; if `y_is_lhs` it is a
/// (y = y op other) else it is b (y = other op y). `other` broadcasts to y_shape.
pub fn binary_in_place<T: Scalar>(
    op: BinaryOp,
    y_is_lhs: bool,
    y: &mut [T],
    other: &[T],
    other_shape: &[usize],
    y_shape: &[usize],
) -> Result<(), KernelError> {
    let count: usize = y_shape.iter().product();
    let other_count: usize = other_shape.iter().product();
    let y = &mut y[..count];
    if count == 0 {
        return Ok(());
    }
    let other = &other[..other_count];
    let operands = |other| Operand::beside_output(y_is_lhs, other);
    if other_count == count {
        let (lhs, rhs) = operands(Operand::Run(other));
        return apply_run(op, y, lhs, rhs);
    }
    if other_count == 1 {
        let (lhs, rhs) = operands(Operand::Repeat(other[0]));
        return apply_run(op, y, lhs, rhs);
    }
    let walker = Broadcast::new([other_shape], y_shape);
    let inner_len = walker.inner_len();
    let [other_stride] = walker.inner_strides();
    walker.try_for_each_run(|y_offset, [other_offset]| {
        let run = &mut y[y_offset..y_offset + inner_len];
        let (lhs, rhs) = operands(Operand::of(other, other_offset, other_stride, inner_len));
        apply_run(op, run, lhs, rhs)
    })
}

/// One operand of a binary run.
#[derive(Clone, Copy, Debug)]
enum Operand<'a, T> {
    /// A contiguous run as long as the output run.
    Run(&'a [T]),
    /// One value repeated over the whole run.
    Repeat(T),
    /// The output run itself, read before it is overwritten (in-place kernels).
    Output,
}

impl<'a, T: Copy> Operand<'a, T> {
    /// `(lhs, rhs)` for an in-place op whose output is the left operand if `output_is_lhs`.
    #[inline(always)]
    fn beside_output(output_is_lhs: bool, other: Self) -> (Self, Self) {
        if output_is_lhs {
            (Self::Output, other)
        } else {
            (other, Self::Output)
        }
    }

    /// The operand of one broadcast run: contiguous when its stride is 1, else repeated.
    #[inline(always)]
    fn of(data: &'a [T], offset: usize, stride: usize, len: usize) -> Self {
        if stride == 0 {
            Self::Repeat(data[offset])
        } else {
            Self::Run(&data[offset..offset + len])
        }
    }
}

/// Applies `op` over one run; the op is matched once here, not per element.
#[inline]
fn apply_run<T: Scalar>(
    op: BinaryOp,
    y: &mut [T],
    lhs: Operand<'_, T>,
    rhs: Operand<'_, T>,
) -> Result<(), KernelError> {
    // Integer division records a zero divisor instead of returning from inside the loop,
    // so the loop keeps a single exit; for floats the flag is never set and vanishes.
    let mut divided_by_zero = false;
    match op {
        BinaryOp::Add => map2(y, lhs, rhs, |a: T, b| a.add(b)),
        BinaryOp::Sub => map2(y, lhs, rhs, |a: T, b| a.sub(b)),
        BinaryOp::Mul => map2(y, lhs, rhs, |a: T, b| a.mul(b)),
        BinaryOp::Max => map2(y, lhs, rhs, |a: T, b| a.max(b)),
        BinaryOp::Min => map2(y, lhs, rhs, |a: T, b| a.min(b)),
        BinaryOp::Div => map2(y, lhs, rhs, |a: T, b| {
            a.div(b).unwrap_or_else(|_| {
                divided_by_zero = true;
                T::ZERO
            })
        }),
        BinaryOp::FloorMod => map2(y, lhs, rhs, |a: T, b| match a.rem(b) {
            Ok(r) if is_float::<T>() && r != T::ZERO && ((r < T::ZERO) != (b < T::ZERO)) => {
                r.add(b)
            }
            Ok(r) => r,
            Err(_) => {
                divided_by_zero = true;
                T::ZERO
            }
        }),
        BinaryOp::Fmod => map2(y, lhs, rhs, |a: T, b| {
            a.fmod(b).unwrap_or_else(|_| {
                divided_by_zero = true;
                T::ZERO
            })
        }),
        BinaryOp::Mod => map2(y, lhs, rhs, |a: T, b| {
            a.rem(b).unwrap_or_else(|_| {
                divided_by_zero = true;
                T::ZERO
            })
        }),
        BinaryOp::Pow => pow_run(y, lhs, rhs),
    }
    if divided_by_zero {
        Err(KernelError::DivisionByZero)
    } else {
        Ok(())
    }
}

/// `Pow` over one run, with the common constant exponents turned into multiplications
/// (`x ** 2` appears in every decomposed LayerNorm and gives the same bits as `pow`).
#[inline]
fn pow_run<T: Scalar>(y: &mut [T], lhs: Operand<'_, T>, rhs: Operand<'_, T>) {
    if !is_float::<T>() {
        return map2(y, lhs, rhs, int_pow);
    }
    match rhs {
        Operand::Repeat(exponent) if exponent == T::ONE.add(T::ONE) => {
            map2(y, lhs, rhs, |a: T, _| a.mul(a))
        }
        Operand::Repeat(exponent) if exponent == T::ONE => map2(y, lhs, rhs, |a: T, _| a),
        _ => map2(y, lhs, rhs, |a: T, b: T| {
            T::from_f64(libm::pow(a.to_f64(), b.to_f64()))
        }),
    }
}

/// Integer power by repeated wrapping multiplication (by squaring, which wraps to the
/// same result because wrapping multiplication is associative).
#[inline]
fn int_pow<T: Scalar>(base: T, exponent: T) -> T {
    let exponent = exponent.to_i64();
    if exponent < 0 {
        let minus_one = T::ZERO.sub(T::ONE);
        let is_signed = minus_one < T::ZERO;
        return if base == T::ONE {
            T::ONE
        } else if is_signed && base == minus_one {
            if exponent & 1 == 0 {
                T::ONE
            } else {
                minus_one
            }
        } else {
            T::ZERO
        };
    }
    let mut remaining = exponent as u64;
    let mut result = T::ONE;
    let mut square = base;
    while remaining > 0 {
        if remaining & 1 == 1 {
            result = result.mul(square);
        }
        remaining >>= 1;
        if remaining > 0 {
            square = square.mul(square);
        }
    }
    result
}

/// `y[i] = f(lhs[i], rhs[i])` for each combination of operand kinds, so every loop body
/// is branch-free and bounds-check-free.
#[inline(always)]
fn map2<T: Copy, F: FnMut(T, T) -> T>(
    y: &mut [T],
    lhs: Operand<'_, T>,
    rhs: Operand<'_, T>,
    mut f: F,
) {
    let len = y.len();
    match (lhs, rhs) {
        (Operand::Run(a), Operand::Run(b)) => {
            for ((out, &a), &b) in y.iter_mut().zip(&a[..len]).zip(&b[..len]) {
                *out = f(a, b);
            }
        }
        (Operand::Run(a), Operand::Repeat(b)) => {
            for (out, &a) in y.iter_mut().zip(&a[..len]) {
                *out = f(a, b);
            }
        }
        (Operand::Repeat(a), Operand::Run(b)) => {
            for (out, &b) in y.iter_mut().zip(&b[..len]) {
                *out = f(a, b);
            }
        }
        (Operand::Repeat(a), Operand::Repeat(b)) => y.fill(f(a, b)),
        (Operand::Output, Operand::Run(b)) => {
            for (out, &b) in y.iter_mut().zip(&b[..len]) {
                *out = f(*out, b);
            }
        }
        (Operand::Output, Operand::Repeat(b)) => {
            for out in y.iter_mut() {
                *out = f(*out, b);
            }
        }
        (Operand::Run(a), Operand::Output) => {
            for (out, &a) in y.iter_mut().zip(&a[..len]) {
                *out = f(a, *out);
            }
        }
        (Operand::Repeat(a), Operand::Output) => {
            for out in y.iter_mut() {
                *out = f(a, *out);
            }
        }
        (Operand::Output, Operand::Output) => {
            for out in y.iter_mut() {
                *out = f(*out, *out);
            }
        }
    }
}

tokens! {
    rt::elementwise;
    /// A float unary elementwise operation, with its ONNX attributes.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum UnaryOp {
        /// `max(x, 0)`.
        Relu,
        /// `1 / (1 + e^-x)`.
        Sigmoid,
        /// `tanh(x)`.
        Tanh,
        /// `min(max(x, min), max)`.
        Clip { min: f32, max: f32 },
        /// `-x`.
        Neg,
        /// `|x|`.
        Abs,
        /// `e^x`.
        Exp,
        /// `ln(x)`.
        Log,
        /// `√x`.
        Sqrt,
        /// `1 / x`.
        Reciprocal,
        /// Rounds towards -∞.
        Floor,
        /// Rounds towards +∞.
        Ceil,
        /// Rounds to the nearest integer, halves to even.
        Round,
        /// `sin(x)`.
        Sin,
        /// `cos(x)`.
        Cos,
        /// The error function.
        Erf,
        /// `ln(1 + e^x)`.
        Softplus,
        /// `x` for `x ≥ 0`, else `alpha·x`.
        LeakyRelu { alpha: f32 },
        /// `x` for `x > 0`, else `alpha·(e^x − 1)`.
        Elu { alpha: f32 },
        /// `max(0, min(1, alpha·x + beta))`.
        HardSigmoid { alpha: f32, beta: f32 },
        /// `x · max(0, min(1, x/6 + 1/2))`.
        HardSwish,
        /// `gamma·x` for `x > 0`, else `gamma·(alpha·e^x − alpha)`.
        Selu { alpha: f32, gamma: f32 },
        /// `x / (1 + |x|)`.
        Softsign,
        /// -1, 0 or 1 by the sign of `x` (NaN stays NaN).
        Sign,
        /// `x/2 · (1 + erf(x/√2))`, the exact form.
        Gelu,
        /// `x`.
        Identity,
        /// `tan(x)`.
        Tan,
        /// `asin(x)`.
        Asin,
        /// `acos(x)`.
        Acos,
        /// `atan(x)`.
        Atan,
        /// `sinh(x)`.
        Sinh,
        /// `cosh(x)`.
        Cosh,
        /// `asinh(x)`.
        Asinh,
        /// `acosh(x)`.
        Acosh,
        /// `atanh(x)`.
        Atanh,
        /// `max(0, x) + min(0, alpha·(e^(x/alpha) − 1))`.
        Celu { alpha: f32 },
        /// `x` for `x > alpha`, else 0.
        ThresholdedRelu { alpha: f32 },
        /// `x · tanh(softplus(x))`.
        Mish,
        /// `x − bias` for `x > lambd`, `x + bias` for `x < −lambd`, else 0.
        Shrink { bias: f32, lambd: f32 },
        /// `x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))`, Gelu's `approximate = "tanh"`.
        GeluTanh,
        /// `x · sigmoid(alpha·x)`.
        Swish { alpha: f32 },
    }
}

/// `y[i] = op(x[i])`.
pub fn unary(op: UnaryOp, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "unary input and output lengths differ");
    if op == UnaryOp::Identity {
        y.copy_from_slice(x);
        return;
    }
    dispatch_unary(op, OutOfPlace { x, y });
}

/// `y[i] = op(y[i])`.
pub fn unary_in_place(op: UnaryOp, y: &mut [f32]) {
    if op == UnaryOp::Identity {
        return;
    }
    dispatch_unary(op, InPlace { y });
}

/// A loop over elements that takes the per-element function as a type parameter, so
/// [`dispatch_unary`] can match the op once and hand each arm's closure to one loop.
trait UnaryLoop {
    fn run(self, f: impl Fn(f32) -> f32);
}

/// Reads `x`, writes `y`.
struct OutOfPlace<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
}

impl UnaryLoop for OutOfPlace<'_> {
    #[inline(always)]
    fn run(self, f: impl Fn(f32) -> f32) {
        for (out, &value) in self.y.iter_mut().zip(self.x) {
            *out = f(value);
        }
    }
}

/// Overwrites `y`.
struct InPlace<'a> {
    y: &'a mut [f32],
}

impl UnaryLoop for InPlace<'_> {
    #[inline(always)]
    fn run(self, f: impl Fn(f32) -> f32) {
        for value in self.y.iter_mut() {
            *value = f(*value);
        }
    }
}

#[inline]
fn dispatch_unary(op: UnaryOp, elements: impl UnaryLoop) {
    match op {
        UnaryOp::Relu => elements.run(|x| x.max(0.0)),
        UnaryOp::Sigmoid => elements.run(sigmoid),
        UnaryOp::Tanh => elements.run(tanh),
        UnaryOp::Clip { min, max } => elements.run(|x| x.max(min).min(max)),
        UnaryOp::Neg => elements.run(|x| -x),
        UnaryOp::Abs => elements.run(f32::abs),
        UnaryOp::Exp => elements.run(libm::expf),
        UnaryOp::Log => elements.run(libm::logf),
        UnaryOp::Sqrt => elements.run(libm::sqrtf),
        UnaryOp::Reciprocal => elements.run(|x| 1.0 / x),
        UnaryOp::Floor => elements.run(libm::floorf),
        UnaryOp::Ceil => elements.run(libm::ceilf),
        // `rintf` rounds in the default mode, round-half-to-even, as ONNX `Round` requires.
        UnaryOp::Round => elements.run(libm::rintf),
        UnaryOp::Sin => elements.run(libm::sinf),
        UnaryOp::Cos => elements.run(libm::cosf),
        UnaryOp::Erf => elements.run(libm::erff),
        UnaryOp::Softplus => elements.run(softplus),
        UnaryOp::LeakyRelu { alpha } => elements.run(|x| if x >= 0.0 { x } else { alpha * x }),
        UnaryOp::Elu { alpha } => {
            elements.run(|x| if x > 0.0 { x } else { alpha * libm::expm1f(x) })
        }
        UnaryOp::HardSigmoid { alpha, beta } => {
            elements.run(|x| (alpha * x + beta).clamp(0.0, 1.0))
        }
        UnaryOp::HardSwish => elements.run(|x| x * (x * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0)),
        UnaryOp::Selu { alpha, gamma } => elements.run(|x| {
            if x > 0.0 {
                gamma * x
            } else {
                gamma * (alpha * libm::expf(x) - alpha)
            }
        }),
        UnaryOp::Softsign => elements.run(|x| x / (1.0 + x.abs())),
        UnaryOp::Sign => elements.run(|x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else if x == 0.0 {
                0.0
            } else {
                x
            }
        }),
        UnaryOp::Gelu => {
            elements.run(|x| 0.5 * x * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2)))
        }
        UnaryOp::Identity => elements.run(|x| x),
        UnaryOp::Tan => elements.run(libm::tanf),
        UnaryOp::Asin => elements.run(libm::asinf),
        UnaryOp::Acos => elements.run(libm::acosf),
        UnaryOp::Atan => elements.run(libm::atanf),
        UnaryOp::Sinh => elements.run(libm::sinhf),
        UnaryOp::Cosh => elements.run(libm::coshf),
        UnaryOp::Asinh => elements.run(libm::asinhf),
        UnaryOp::Acosh => elements.run(libm::acoshf),
        UnaryOp::Atanh => elements.run(libm::atanhf),
        UnaryOp::Celu { alpha } => {
            elements.run(|x| x.max(0.0) + (alpha * libm::expm1f(x / alpha)).min(0.0))
        }
        UnaryOp::ThresholdedRelu { alpha } => elements.run(|x| if x > alpha { x } else { 0.0 }),
        UnaryOp::Mish => elements.run(|x| x * libm::tanhf(softplus(x))),
        UnaryOp::Shrink { bias, lambd } => elements.run(|x| {
            if x < -lambd {
                x + bias
            } else if x > lambd {
                x - bias
            } else {
                0.0
            }
        }),
        UnaryOp::GeluTanh => elements.run(|x| {
            let inner = core::f32::consts::FRAC_2_SQRT_PI * core::f32::consts::FRAC_1_SQRT_2;
            0.5 * x * (1.0 + libm::tanhf(inner * (x + 0.044_715 * x * x * x)))
        }),
        UnaryOp::Swish { alpha } => elements.run(|x| x * sigmoid(alpha * x)),
    }
}

/// `y[i] = op(x[i])` for any element type: `f64` math (exact for `f64`, rounded for
/// integers), except Abs, Neg, Sign, Relu, Clip and Identity, which integers compute exactly
/// (wrapping). [`unary`] is the `f32` kernel.
pub fn unary_scalar<T: Scalar>(op: UnaryOp, x: &[T], y: &mut [T]) {
    for (out, &v) in y.iter_mut().zip(x) {
        *out = apply_scalar(op, v);
    }
}

/// [`unary_scalar`] in place.
pub fn unary_scalar_in_place<T: Scalar>(op: UnaryOp, y: &mut [T]) {
    for v in y.iter_mut() {
        *v = apply_scalar(op, *v);
    }
}

#[inline]
fn apply_scalar<T: Scalar>(op: UnaryOp, v: T) -> T {
    match op {
        UnaryOp::Abs => v.abs(),
        UnaryOp::Neg => v.neg(),
        UnaryOp::Identity => v,
        UnaryOp::Relu => v.max(T::ZERO),
        UnaryOp::Clip { min, max } => v
            .max(T::from_f64(f64::from(min)))
            .min(T::from_f64(f64::from(max))),
        UnaryOp::Sign if !is_float::<T>() => {
            if v > T::ZERO {
                T::ONE
            } else if v < T::ZERO {
                T::ZERO.sub(T::ONE)
            } else {
                T::ZERO
            }
        }
        _ => T::from_f64(apply_f64(op, v.to_f64())),
    }
}

/// One unary op in `f64`.
fn apply_f64(op: UnaryOp, x: f64) -> f64 {
    let softplus = |x: f64| {
        if x > 0.0 {
            x + libm::log1p(libm::exp(-x))
        } else {
            libm::log1p(libm::exp(x))
        }
    };
    let sigmoid = |x: f64| {
        if x >= 0.0 {
            1.0 / (1.0 + libm::exp(-x))
        } else {
            let e = libm::exp(x);
            e / (1.0 + e)
        }
    };
    match op {
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Tanh => libm::tanh(x),
        UnaryOp::Clip { min, max } => x.max(f64::from(min)).min(f64::from(max)),
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Exp => libm::exp(x),
        UnaryOp::Log => libm::log(x),
        UnaryOp::Sqrt => libm::sqrt(x),
        UnaryOp::Reciprocal => 1.0 / x,
        UnaryOp::Floor => libm::floor(x),
        UnaryOp::Ceil => libm::ceil(x),
        UnaryOp::Round => libm::rint(x),
        UnaryOp::Sin => libm::sin(x),
        UnaryOp::Cos => libm::cos(x),
        UnaryOp::Tan => libm::tan(x),
        UnaryOp::Asin => libm::asin(x),
        UnaryOp::Acos => libm::acos(x),
        UnaryOp::Atan => libm::atan(x),
        UnaryOp::Sinh => libm::sinh(x),
        UnaryOp::Cosh => libm::cosh(x),
        UnaryOp::Asinh => libm::asinh(x),
        UnaryOp::Acosh => libm::acosh(x),
        UnaryOp::Atanh => libm::atanh(x),
        UnaryOp::Erf => libm::erf(x),
        UnaryOp::Softplus => softplus(x),
        UnaryOp::LeakyRelu { alpha } => {
            if x >= 0.0 {
                x
            } else {
                f64::from(alpha) * x
            }
        }
        UnaryOp::Elu { alpha } => {
            if x > 0.0 {
                x
            } else {
                f64::from(alpha) * libm::expm1(x)
            }
        }
        UnaryOp::HardSigmoid { alpha, beta } => {
            (f64::from(alpha) * x + f64::from(beta)).clamp(0.0, 1.0)
        }
        UnaryOp::HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
        UnaryOp::Selu { alpha, gamma } => {
            let (alpha, gamma) = (f64::from(alpha), f64::from(gamma));
            if x > 0.0 {
                gamma * x
            } else {
                gamma * (alpha * libm::exp(x) - alpha)
            }
        }
        UnaryOp::Softsign => x / (1.0 + x.abs()),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        UnaryOp::Gelu => 0.5 * x * (1.0 + libm::erf(x * core::f64::consts::FRAC_1_SQRT_2)),
        UnaryOp::Identity => x,
        UnaryOp::Celu { alpha } => {
            let alpha = f64::from(alpha);
            x.max(0.0) + (alpha * libm::expm1(x / alpha)).min(0.0)
        }
        UnaryOp::ThresholdedRelu { alpha } => {
            if x > f64::from(alpha) {
                x
            } else {
                0.0
            }
        }
        UnaryOp::Mish => x * libm::tanh(softplus(x)),
        UnaryOp::Shrink { bias, lambd } => {
            let (bias, lambd) = (f64::from(bias), f64::from(lambd));
            if x < -lambd {
                x + bias
            } else if x > lambd {
                x - bias
            } else {
                0.0
            }
        }
        UnaryOp::GeluTanh => {
            let inner = core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2;
            0.5 * x * (1.0 + libm::tanh(inner * (x + 0.044_715 * x * x * x)))
        }
        UnaryOp::Swish { alpha } => x * sigmoid(f64::from(alpha) * x),
    }
}

/// The logistic function, written so that `exp` never overflows and neither branch
/// loses relative accuracy: `1 − e^x/(1+e^x)` would cancel for large negative `x`.
#[inline]
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)` without overflow for large `x` or cancellation for very negative `x`.
#[inline]
fn softplus(x: f32) -> f32 {
    if x > 0.0 {
        x + libm::log1pf(libm::expf(-x))
    } else {
        libm::log1pf(libm::expf(x))
    }
}

/// How many columns of a `[axis_len, inner]` block the softmax kernels handle at once;
/// their running maxima and sums live in stack arrays of this length.
const SOFTMAX_COLUMNS: usize = 64;

/// Numerically stable softmax over the middle axis of a [outer, axis_len, inner] view.
pub fn softmax(outer: usize, axis_len: usize, inner: usize, x: &[f32], y: &mut [f32]) {
    softmax_blocks(outer, axis_len, inner, x, y, false);
}

/// `ln(softmax(x))`, computed as `x − max − ln Σ e^(x − max)` so it never takes the log of
/// an underflowed zero.
pub fn log_softmax(outer: usize, axis_len: usize, inner: usize, x: &[f32], y: &mut [f32]) {
    softmax_blocks(outer, axis_len, inner, x, y, true);
}

fn softmax_blocks(
    outer: usize,
    axis_len: usize,
    inner: usize,
    x: &[f32],
    y: &mut [f32],
    log: bool,
) {
    let block = axis_len * inner;
    if block == 0 {
        return;
    }
    let x = &x[..outer * block];
    let y = &mut y[..outer * block];
    for (x_block, y_block) in x.chunks_exact(block).zip(y.chunks_exact_mut(block)) {
        if inner == 1 {
            softmax_row(x_block, y_block, log);
        } else {
            for column0 in (0..inner).step_by(SOFTMAX_COLUMNS) {
                let width = SOFTMAX_COLUMNS.min(inner - column0);
                softmax_columns(x_block, y_block, axis_len, inner, column0, width, log);
            }
        }
    }
}

/// Softmax of one contiguous row.
fn softmax_row(x: &[f32], y: &mut [f32], log: bool) {
    let max = max_of(x);
    if log {
        let sum: f32 = x.iter().map(|&v| libm::expf(v - max)).sum();
        // `(v − max) − ln sum`, not `v − (max + ln sum)`: the shifted value is exact,
        // while `max + ln sum` would round `ln sum` to the precision of `max`.
        let log_sum = libm::logf(sum);
        for (out, &v) in y.iter_mut().zip(x) {
            *out = (v - max) - log_sum;
        }
    } else {
        let mut sum = 0.0;
        for (out, &v) in y.iter_mut().zip(x) {
            let e = libm::expf(v - max);
            *out = e;
            sum += e;
        }
        let scale = 1.0 / sum;
        y.iter_mut().for_each(|v| *v *= scale);
    }
}

/// Softmax down the columns `column0..column0 + width` of a `[axis_len, inner]` block;
/// every inner loop runs along a contiguous row segment.
fn softmax_columns(
    x: &[f32],
    y: &mut [f32],
    axis_len: usize,
    inner: usize,
    column0: usize,
    width: usize,
    log: bool,
) {
    let row = |a: usize| (a * inner + column0, a * inner + column0 + width);
    let mut max = [f32::NEG_INFINITY; SOFTMAX_COLUMNS];
    let max = &mut max[..width];
    for a in 0..axis_len {
        let (start, end) = row(a);
        for (m, &v) in max.iter_mut().zip(&x[start..end]) {
            *m = m.max(v);
        }
    }
    let mut sum = [0.0f32; SOFTMAX_COLUMNS];
    let sum = &mut sum[..width];
    for a in 0..axis_len {
        let (start, end) = row(a);
        let values = max.iter().zip(&x[start..end]);
        if log {
            for (s, (&m, &v)) in sum.iter_mut().zip(values) {
                *s += libm::expf(v - m);
            }
        } else {
            for ((s, out), (&m, &v)) in sum.iter_mut().zip(&mut y[start..end]).zip(values) {
                let e = libm::expf(v - m);
                *out = e;
                *s += e;
            }
        }
    }
    if log {
        for s in sum.iter_mut() {
            *s = libm::logf(*s);
        }
        for a in 0..axis_len {
            let (start, end) = row(a);
            let columns = max.iter().zip(sum.iter());
            for ((out, &v), (&m, &log_sum)) in
                y[start..end].iter_mut().zip(&x[start..end]).zip(columns)
            {
                *out = (v - m) - log_sum;
            }
        }
    } else {
        for s in sum.iter_mut() {
            *s = 1.0 / *s;
        }
        for a in 0..axis_len {
            let (start, end) = row(a);
            for (out, &scale) in y[start..end].iter_mut().zip(sum.iter()) {
                *out *= scale;
            }
        }
    }
}

/// The maximum of a slice (−∞ when empty), in independent lanes so it vectorises.
#[inline]
pub(crate) fn max_of(x: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            // A comparison compiles to one `maxps`; NaN inputs are skipped either way.
            *lane = if v > *lane { v } else { *lane };
        }
    }
    let mut max = f32::NEG_INFINITY;
    for &v in lanes.iter().chain(tail) {
        max = max.max(v);
    }
    max
}

/// `tanh(x)` as the rational approximation `x·P(x²) / Q(x²)` on `[-9, 9]` (degree 13 over
/// degree 6, the coefficients Eigen publishes), evaluated with fused multiply-adds.
///
/// Absolute error below 3e-7 against the exact value, no `exp`, no branches but the
/// clamp. It is also what ONNX Runtime's MLAS evaluates, which matters for recurrent
/// models: their hidden state amplifies any difference in the last bit step after step.
#[inline]
pub fn tanh(x: f32) -> f32 {
    use crate::scalar::fmadd;
    // The published decimal constants, rounded to f32 by the compiler.
    #[allow(clippy::excessive_precision)]
    const ALPHA: [f32; 7] = [
        -2.76076847742355e-16,
        2.00018790482477e-13,
        -8.60467152213735e-11,
        5.12229709037114e-08,
        1.48572235717979e-05,
        6.37261928875436e-04,
        4.89352455891786e-03,
    ];
    #[allow(clippy::excessive_precision)]
    const BETA: [f32; 4] = [
        1.19825839466702e-06,
        1.18534705686654e-04,
        2.26843463243900e-03,
        4.89352518554385e-03,
    ];
    let x = x.clamp(-9.0, 9.0);
    let x2 = x * x;
    let mut p = ALPHA[0];
    for &a in &ALPHA[1..] {
        p = fmadd(p, x2, a);
    }
    let mut q = BETA[0];
    for &b in &BETA[1..] {
        q = fmadd(q, x2, b);
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    fn close(actual: &[f32], expected: &[f32], tolerance: f32) {
        assert_eq!(actual.len(), expected.len());
        for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
            let scale = e.abs().max(1.0);
            assert!(
                (a - e).abs() <= tolerance * scale || (a.is_nan() && e.is_nan()),
                "element {i}: {a} vs {e}"
            );
        }
    }

    #[test]
    fn binary_equal_shapes() {
        let mut y = [0.0f32; 4];
        binary(
            BinaryOp::Sub,
            &[5.0, 6.0, 7.0, 8.0],
            &[2, 2],
            &[1.0, 2.0, 3.0, 4.0],
            &[2, 2],
            &mut y,
            &[2, 2],
        )
        .unwrap();
        assert_eq!(y, [4.0; 4]);
    }

    #[test]
    fn binary_scalar_operands_on_either_side() {
        let mut y = [0i32; 3];
        binary(BinaryOp::Sub, &[10, 20, 30], &[3], &[1], &[], &mut y, &[3]).unwrap();
        assert_eq!(y, [9, 19, 29]);
        binary(
            BinaryOp::Sub,
            &[100],
            &[1, 1],
            &[1, 2, 3],
            &[1, 3],
            &mut y,
            &[1, 3],
        )
        .unwrap();
        assert_eq!(y, [99, 98, 97]);
    }

    #[test]
    fn binary_per_channel_bias() {
        // y [1, 2, 2, 2] = a + b [2, 1, 1].
        let a: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let mut y = [0.0f32; 8];
        binary(
            BinaryOp::Add,
            &a,
            &[1, 2, 2, 2],
            &[10.0, 20.0],
            &[2, 1, 1],
            &mut y,
            &[1, 2, 2, 2],
        )
        .unwrap();
        assert_eq!(y, [10.0, 11.0, 12.0, 13.0, 24.0, 25.0, 26.0, 27.0]);
        // The same with the operands swapped and b of full rank.
        binary(
            BinaryOp::Sub,
            &[10.0, 20.0],
            &[1, 2, 1, 1],
            &a,
            &[1, 2, 2, 2],
            &mut y,
            &[1, 2, 2, 2],
        )
        .unwrap();
        assert_eq!(y, [10.0, 9.0, 8.0, 7.0, 16.0, 15.0, 14.0, 13.0]);
    }

    #[test]
    fn binary_outer_product_and_middle_broadcast() {
        let mut y = [0i64; 6];
        binary(
            BinaryOp::Mul,
            &[1, 2],
            &[2, 1],
            &[1, 10, 100],
            &[3],
            &mut y,
            &[2, 3],
        )
        .unwrap();
        assert_eq!(y, [1, 10, 100, 2, 20, 200]);
        // a [2, 1, 2] + b [3, 1] → y [2, 3, 2].
        let mut y = [0i64; 12];
        binary(
            BinaryOp::Add,
            &[1, 2, 3, 4],
            &[2, 1, 2],
            &[10, 20, 30],
            &[3, 1],
            &mut y,
            &[2, 3, 2],
        )
        .unwrap();
        assert_eq!(y, [11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34]);
    }

    #[test]
    fn binary_integer_division_by_zero_is_an_error() {
        let mut y = [0i32; 2];
        assert_eq!(
            binary(BinaryOp::Div, &[1, 2], &[2], &[1, 0], &[2], &mut y, &[2]),
            Err(KernelError::DivisionByZero)
        );
        assert_eq!(
            binary(BinaryOp::Mod, &[1, 2], &[2], &[0], &[1], &mut y, &[2]),
            Err(KernelError::DivisionByZero)
        );
        binary(BinaryOp::Div, &[7, -7], &[2], &[2], &[1], &mut y, &[2]).unwrap();
        assert_eq!(y, [3, -3]);
        binary(BinaryOp::Mod, &[7, -7], &[2], &[3], &[1], &mut y, &[2]).unwrap();
        assert_eq!(y, [1, 2]);
        let mut floats = [0.0f32; 2];
        binary(
            BinaryOp::Div,
            &[1.0, -1.0],
            &[2],
            &[0.0],
            &[1],
            &mut floats,
            &[2],
        )
        .unwrap();
        assert_eq!(floats, [f32::INFINITY, f32::NEG_INFINITY]);
    }

    #[test]
    fn binary_max_min() {
        let mut y = [0u8; 3];
        binary(BinaryOp::Max, &[1, 5, 3], &[3], &[4], &[1], &mut y, &[3]).unwrap();
        assert_eq!(y, [4, 5, 4]);
        binary(BinaryOp::Min, &[1, 5, 3], &[3], &[4], &[1], &mut y, &[3]).unwrap();
        assert_eq!(y, [1, 4, 3]);
    }

    #[test]
    fn binary_pow_for_floats_and_integers() {
        let mut y = [0.0f32; 3];
        binary(
            BinaryOp::Pow,
            &[1.5, -2.0, 3.0],
            &[3],
            &[2.0],
            &[1],
            &mut y,
            &[3],
        )
        .unwrap();
        assert_eq!(y, [2.25, 4.0, 9.0]);
        binary(
            BinaryOp::Pow,
            &[4.0, 8.0, 2.0],
            &[3],
            &[0.5, 1.0 / 3.0, -1.0],
            &[3],
            &mut y,
            &[3],
        )
        .unwrap();
        close(&y, &[2.0, 2.0, 0.5], 1e-6);
        let mut ints = [0i32; 6];
        binary(
            BinaryOp::Pow,
            &[2, 3, 1, -1, -1, 5],
            &[6],
            &[10, 0, -3, -3, -2, -1],
            &[6],
            &mut ints,
            &[6],
        )
        .unwrap();
        assert_eq!(ints, [1024, 1, 1, -1, 1, 0]);
        let mut bytes = [0u8; 1];
        binary(BinaryOp::Pow, &[3u8], &[1], &[5], &[1], &mut bytes, &[1]).unwrap();
        assert_eq!(bytes, [243]);
        binary(BinaryOp::Pow, &[2u8], &[1], &[9], &[1], &mut bytes, &[1]).unwrap();
        assert_eq!(bytes, [0], "2^9 wraps to 0 in u8");
    }

    #[test]
    fn binary_in_place_on_either_side() {
        let mut y = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        binary_in_place(BinaryOp::Sub, true, &mut y, &[1.0, 2.0], &[2, 1], &[2, 3]).unwrap();
        assert_eq!(y, [0.0, 1.0, 2.0, 2.0, 3.0, 4.0]);
        binary_in_place(BinaryOp::Sub, false, &mut y, &[10.0], &[], &[2, 3]).unwrap();
        assert_eq!(y, [10.0, 9.0, 8.0, 8.0, 7.0, 6.0]);
        binary_in_place(
            BinaryOp::Mul,
            false,
            &mut y,
            &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
            &[2, 3],
            &[2, 3],
        )
        .unwrap();
        assert_eq!(y, [10.0, 0.0, 8.0, 0.0, 7.0, 0.0]);
        let mut ints = [4, 5, 6];
        assert_eq!(
            binary_in_place(BinaryOp::Div, true, &mut ints, &[0], &[1], &[3]),
            Err(KernelError::DivisionByZero)
        );
    }

    #[test]
    fn binary_with_empty_output() {
        let mut y: [f32; 0] = [];
        binary(
            BinaryOp::Add,
            &[],
            &[0, 3],
            &[1.0, 2.0, 3.0],
            &[3],
            &mut y,
            &[0, 3],
        )
        .unwrap();
    }

    fn check_unary(op: UnaryOp, input: &[f32], expected: &[f32], tolerance: f32) {
        let mut y = std::vec![0.0; input.len()];
        unary(op, input, &mut y);
        close(&y, expected, tolerance);
        let mut in_place = input.to_vec();
        unary_in_place(op, &mut in_place);
        close(&in_place, expected, tolerance);
    }

    #[test]
    fn unary_ops_match_their_definitions() {
        let x = [-2.0f32, -0.5, 0.0, 0.5, 2.0];
        let map =
            |f: fn(f64) -> f64| -> Vec<f32> { x.iter().map(|&v| f(v as f64) as f32).collect() };
        check_unary(UnaryOp::Relu, &x, &[0.0, 0.0, 0.0, 0.5, 2.0], 0.0);
        check_unary(
            UnaryOp::Sigmoid,
            &x,
            &map(|v| 1.0 / (1.0 + (-v).exp())),
            1e-6,
        );
        check_unary(UnaryOp::Tanh, &x, &map(f64::tanh), 1e-6);
        check_unary(
            UnaryOp::Clip {
                min: -1.0,
                max: 1.0,
            },
            &x,
            &[-1.0, -0.5, 0.0, 0.5, 1.0],
            0.0,
        );
        check_unary(UnaryOp::Neg, &x, &[2.0, 0.5, 0.0, -0.5, -2.0], 0.0);
        check_unary(UnaryOp::Abs, &x, &[2.0, 0.5, 0.0, 0.5, 2.0], 0.0);
        check_unary(UnaryOp::Exp, &x, &map(f64::exp), 1e-6);
        check_unary(
            UnaryOp::Log,
            &[0.5, 1.0, 2.0],
            &[-core::f32::consts::LN_2, 0.0, core::f32::consts::LN_2],
            1e-6,
        );
        check_unary(UnaryOp::Sqrt, &[0.0, 4.0, 2.25], &[0.0, 2.0, 1.5], 0.0);
        check_unary(UnaryOp::Reciprocal, &[4.0, -0.5], &[0.25, -2.0], 0.0);
        check_unary(UnaryOp::Floor, &[-1.5, 1.5], &[-2.0, 1.0], 0.0);
        check_unary(UnaryOp::Ceil, &[-1.5, 1.5], &[-1.0, 2.0], 0.0);
        check_unary(
            UnaryOp::Round,
            &[0.5, 1.5, 2.5, -0.5, -1.5, 1.4, -2.6],
            &[0.0, 2.0, 2.0, -0.0, -2.0, 1.0, -3.0],
            0.0,
        );
        check_unary(UnaryOp::Sin, &x, &map(f64::sin), 1e-6);
        check_unary(UnaryOp::Cos, &x, &map(f64::cos), 1e-6);
        check_unary(
            UnaryOp::Erf,
            &[0.0, 0.5, -1.0],
            &[0.0, 0.520_499_9, -0.842_700_8],
            1e-6,
        );
        check_unary(
            UnaryOp::Softplus,
            &[-100.0, 0.0, 1.0, 100.0],
            &[0.0, core::f32::consts::LN_2, 1.313_261_7, 100.0],
            1e-6,
        );
        check_unary(
            UnaryOp::LeakyRelu { alpha: 0.1 },
            &x,
            &[-0.2, -0.05, 0.0, 0.5, 2.0],
            1e-7,
        );
        check_unary(
            UnaryOp::Elu { alpha: 2.0 },
            &x,
            &map(|v| if v > 0.0 { v } else { 2.0 * (v.exp() - 1.0) }),
            1e-6,
        );
        check_unary(
            UnaryOp::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            &[-5.0, 0.0, 1.0, 5.0],
            &[0.0, 0.5, 0.7, 1.0],
            1e-7,
        );
        check_unary(
            UnaryOp::HardSwish,
            &[-4.0, -1.0, 0.0, 1.0, 4.0],
            &[0.0, -1.0 / 3.0, 0.0, 2.0 / 3.0, 4.0],
            1e-7,
        );
        check_unary(
            UnaryOp::Selu {
                alpha: 1.673_263_2,
                gamma: 1.050_701,
            },
            &x,
            &map(|v| {
                if v > 0.0 {
                    1.050_701 * v
                } else {
                    1.050_701 * 1.673_263_2 * (v.exp() - 1.0)
                }
            }),
            1e-6,
        );
        check_unary(
            UnaryOp::Softsign,
            &[-3.0, 0.0, 1.0],
            &[-0.75, 0.0, 0.5],
            0.0,
        );
        check_unary(
            UnaryOp::Sign,
            &[-3.0, 0.0, 7.0, f32::NAN],
            &[-1.0, 0.0, 1.0, f32::NAN],
            0.0,
        );
        check_unary(
            UnaryOp::Gelu,
            &[-1.0, 0.0, 1.0, 2.0],
            &[-0.158_655_25, 0.0, 0.841_344_7, 1.954_499_7],
            1e-6,
        );
        check_unary(UnaryOp::Identity, &x, &x, 0.0);
    }

    #[test]
    fn sigmoid_is_accurate_in_both_tails() {
        for &v in &[-80.0f32, -30.0, -10.0, -1e-3, 0.0, 1e-3, 10.0, 30.0] {
            let exact = 1.0 / (1.0 + (-(v as f64)).exp());
            let got = sigmoid(v) as f64;
            assert!(
                (got - exact).abs() <= 1e-6 * exact,
                "sigmoid({v}) = {got}, want {exact}"
            );
        }
    }

    fn naive_softmax(
        outer: usize,
        axis_len: usize,
        inner: usize,
        x: &[f32],
        log: bool,
    ) -> Vec<f32> {
        let mut y = std::vec![0.0f32; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |a: usize| (o * axis_len + a) * inner + i;
                let max = (0..axis_len)
                    .map(|a| x[at(a)] as f64)
                    .fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = (0..axis_len).map(|a| (x[at(a)] as f64 - max).exp()).sum();
                for a in 0..axis_len {
                    let shifted = x[at(a)] as f64 - max;
                    y[at(a)] = if log {
                        shifted - sum.ln()
                    } else {
                        shifted.exp() / sum
                    } as f32;
                }
            }
        }
        y
    }

    #[test]
    fn softmax_matches_naive_on_inner_and_outer_axes() {
        for &(outer, axis_len, inner) in &[(1, 5, 1), (3, 4, 1), (2, 3, 5), (1, 7, 130), (2, 1, 3)]
        {
            let x: Vec<f32> = (0..outer * axis_len * inner)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.7)
                .collect();
            for log in [false, true] {
                let mut y = std::vec![0.0; x.len()];
                if log {
                    log_softmax(outer, axis_len, inner, &x, &mut y);
                } else {
                    softmax(outer, axis_len, inner, &x, &mut y);
                }
                close(&y, &naive_softmax(outer, axis_len, inner, &x, log), 1e-5);
            }
        }
    }

    #[test]
    fn softmax_survives_large_inputs() {
        let mut y = [0.0f32; 3];
        softmax(1, 3, 1, &[1000.0, 1000.0, -1000.0], &mut y);
        assert_eq!(y, [0.5, 0.5, 0.0]);
        log_softmax(1, 3, 1, &[1000.0, 1000.0, -1000.0], &mut y);
        close(
            &y,
            &[
                -core::f32::consts::LN_2,
                -core::f32::consts::LN_2,
                -2000.0 - core::f32::consts::LN_2,
            ],
            1e-6,
        );
    }
}
