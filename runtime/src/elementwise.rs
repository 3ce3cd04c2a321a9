//! Elementwise kernels: broadcasting binary arithmetic, float unary functions and softmax.
//!
//! Every loop here is written so that the operation is chosen once per run, outside the
//! loop, and the loop body is a closure the optimiser can inline and vectorise: a `match`
//! on the op inside the loop would leave a branch in every iteration.
//!
//! Each unary formula is written once, over the `Float` trait of [`crate::scalar`], and
//! serves both the `f32` kernel ([`unary`]) and the `f64` that [`unary_scalar`] computes
//! in. Only `Tanh` differs by type: `f32` evaluates the rational approximation [`tanh`].
//! Where vectors fuse multiply-adds, the `f32` kernel runs the whole vectors of `Tanh`
//! (bit for bit the scalar formula), `Exp` (a vector `e^x`, at most 1 ulp), `Sigmoid`
//! and `Swish` (through it, within a few ulp of the scalar result), `Erf`, the exact
//! `Gelu` (minimax pieces and the vector `e^x`) and `GeluTanh` (as `x · sigmoid(2u)`),
//! within stated bounds, in `F32x8`s, or `F32x16`s with AVX-512, and the scalar loop the
//! tail. Where they do not and floats are hardware (Cortex-M4F, M7, M33, x86-64 without
//! FMA), `Sigmoid` and `Swish` take [`fpu`]'s scalar `e^−t` shaped for an FPU, in blocks
//! of eight (at most 3 ulp).

use crate::scalar::{at_least, is_float, Float, Scalar};
use crate::shape::Broadcast;
use crate::tokens::tokens;
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
use crate::unroll::unroll;
use crate::{Activation, KernelError};

mod fpu;

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
        /// `PRelu`: `a · b` where `a < 0`, else `a` (`b` is the slope).
        PRelu,
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

/// `$body` with `$kind` bound to `$act` as a constant of its variant, once per variant,
/// so that the loop in `$body` is compiled per kind with the activation inlined and is
/// vectorised (a match on the activation per value is not).
macro_rules! per_kind {
    ($act:expr, |$kind:ident| $body:expr) => {
        match $act {
            Activation::None => {
                let $kind = Activation::None;
                $body
            }
            Activation::Relu => {
                let $kind = Activation::Relu;
                $body
            }
            Activation::Clip { min, max } => {
                let $kind = Activation::Clip { min, max };
                $body
            }
            kind @ (Activation::Sigmoid | Activation::Swish { .. }) => {
                let $kind = kind;
                $body
            }
        }
    };
}

/// `y = act(a + b)` for two `f32` operands of `y`'s length (a residual connection and
/// the Relu or Clip after it, which the compiler fuses): one pass instead of two.
/// Operands shorter than `y` leave its tail as it is.
pub fn add_activated(a: &[f32], b: &[f32], act: Activation, y: &mut [f32]) {
    let n = y.len().min(a.len()).min(b.len());
    let (a, b, y) = (&a[..n], &b[..n], &mut y[..n]);
    // With AVX-512, sixteen lanes a step (LLVM's own vectorisation keeps to 256-bit
    // vectors on this CPU family), then the tail below.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    let (a, b, y) = {
        use crate::gemm::simd::F32x16;
        let whole = n / 16 * 16;
        let (y, y_tail) = y.split_at_mut(whole);
        per_kind!(act, |kind| for ((y, a), b) in y
            .chunks_exact_mut(16)
            .zip(a.chunks_exact(16))
            .zip(b.chunks_exact(16))
        {
            if let (Some(a), Some(b)) = (a.first_chunk::<16>(), b.first_chunk::<16>()) {
                F32x16::load(a).add(F32x16::load(b)).activate(kind).store(y);
            }
        });
        (&a[whole..], &b[whole..], y_tail)
    };
    per_kind!(
        act,
        |kind| for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
            *y = kind.apply(a + b);
        }
    );
}

/// [`add_activated`] with `y` as one operand: `y = act(y + other)`.
pub fn add_activated_in_place(y: &mut [f32], other: &[f32], act: Activation) {
    let n = y.len().min(other.len());
    let (other, y) = (&other[..n], &mut y[..n]);
    // Sixteen lanes a step with AVX-512, as in [`add_activated`].
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    let (other, y) = {
        use crate::gemm::simd::F32x16;
        let whole = n / 16 * 16;
        let (y, y_tail) = y.split_at_mut(whole);
        per_kind!(
            act,
            |kind| for (y, b) in y.chunks_exact_mut(16).zip(other.chunks_exact(16)) {
                if let (Some(a), Some(b)) = (y.first_chunk::<16>(), b.first_chunk::<16>()) {
                    let sum = F32x16::load(a).add(F32x16::load(b)).activate(kind);
                    sum.store(y);
                }
            }
        );
        (&other[whole..], y_tail)
    };
    per_kind!(act, |kind| for (y, &b) in y.iter_mut().zip(other) {
        *y = kind.apply(*y + b);
    });
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
        BinaryOp::PRelu => map2(
            y,
            lhs,
            rhs,
            |a: T, b| if a < T::ZERO { a.mul(b) } else { a },
        ),
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
    if logistic_without_vectors(op, x, y) {
        return;
    }
    let done = match op {
        UnaryOp::Tanh => map_vectors(TanhLanes, x, y),
        UnaryOp::Sigmoid => map_vectors(SigmoidLanes, x, y),
        UnaryOp::Swish { alpha } => map_vectors(SwishLanes { alpha }, x, y),
        UnaryOp::Exp => map_vectors(ExpLanes, x, y),
        UnaryOp::Erf => map_vectors(ErfLanes, x, y),
        UnaryOp::Gelu => map_vectors(GeluLanes, x, y),
        UnaryOp::GeluTanh => map_vectors(GeluTanhLanes, x, y),
        _ => 0,
    };
    dispatch_unary(
        op,
        OutOfPlace {
            x: &x[done..],
            y: &mut y[done..],
        },
    );
}

/// ONNX `SwiGLU` (opset 28): `y = a · sigmoid(alpha · a) · b` for `a`, `b` and `y` of
/// one length: Swish's vector pass into `y`, then one multiply a value.
pub fn swiglu(alpha: f32, a: &[f32], b: &[f32], y: &mut [f32]) {
    unary(UnaryOp::Swish { alpha }, a, y);
    for (y, &b) in y.iter_mut().zip(b) {
        *y *= b;
    }
}

/// `y[i] = op(y[i])`.
pub fn unary_in_place(op: UnaryOp, y: &mut [f32]) {
    if op == UnaryOp::Identity {
        return;
    }
    if logistic_without_vectors_in_place(op, y) {
        return;
    }
    let done = match op {
        UnaryOp::Tanh => map_vectors_in_place(TanhLanes, y),
        UnaryOp::Sigmoid => map_vectors_in_place(SigmoidLanes, y),
        UnaryOp::Swish { alpha } => map_vectors_in_place(SwishLanes { alpha }, y),
        UnaryOp::Exp => map_vectors_in_place(ExpLanes, y),
        UnaryOp::Erf => map_vectors_in_place(ErfLanes, y),
        UnaryOp::Gelu => map_vectors_in_place(GeluLanes, y),
        UnaryOp::GeluTanh => map_vectors_in_place(GeluTanhLanes, y),
        _ => 0,
    };
    dispatch_unary(op, InPlace { y: &mut y[done..] });
}

/// Sigmoid and Swish where vectors do not fuse multiply-adds and floats are hardware
/// ([`FPU_LOGISTIC`]): [`fpu`]'s scalar `e^−t`, eight elements a block. Says whether
/// `op` was one of them (and done).
#[inline(always)]
fn logistic_without_vectors(op: UnaryOp, x: &[f32], y: &mut [f32]) -> bool {
    if !FPU_LOGISTIC {
        return false;
    }
    match op {
        UnaryOp::Sigmoid => fpu::run(fpu::Sigmoid, x, y),
        UnaryOp::Swish { alpha: 1.0 } => fpu::run(fpu::Silu, x, y),
        UnaryOp::Swish { alpha } => fpu::run(fpu::Swish { alpha }, x, y),
        _ => return false,
    }
    true
}

/// [`logistic_without_vectors`] in place.
#[inline(always)]
fn logistic_without_vectors_in_place(op: UnaryOp, y: &mut [f32]) -> bool {
    if !FPU_LOGISTIC {
        return false;
    }
    match op {
        UnaryOp::Sigmoid => fpu::run_in_place(fpu::Sigmoid, y),
        UnaryOp::Swish { alpha: 1.0 } => fpu::run_in_place(fpu::Silu, y),
        UnaryOp::Swish { alpha } => fpu::run_in_place(fpu::Swish { alpha }, y),
        _ => return false,
    }
    true
}

/// A logistic activation (Sigmoid or Swish) of a Cortex-M GEMM tile of four rows of four
/// as the GEMM finished it, stored as rows `stride` apart from `start` in `y`, where
/// [`FPU_LOGISTIC`] holds (through [`fpu::store_tile`]). Says whether `act` was one (and
/// the tile stored).
#[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), allow(dead_code))]
#[inline(always)]
pub(crate) fn store_logistic_tile(
    act: Activation,
    tile: [[f32; 4]; 4],
    y: &mut [f32],
    at: (usize, usize),
) -> bool {
    if !FPU_LOGISTIC {
        return false;
    }
    match act {
        Activation::Sigmoid => fpu::store_tile(fpu::Sigmoid, tile, y, at),
        Activation::Swish { alpha: 1.0 } => fpu::store_tile(fpu::Silu, tile, y, at),
        Activation::Swish { alpha } => fpu::store_tile(fpu::Swish { alpha }, tile, y, at),
        _ => return false,
    }
    true
}

/// Whether Sigmoid and Swish take [`fpu`]: on the microcontrollers whose floats are
/// hardware and that have no vectors (the Cortex-M4F, M7 and M33; a RISC-V core with
/// the F extension). Soft-float cores (Cortex-M0+ and M3, RV32IMC) keep the scalar
/// formula through `libm`: there each of [`fpu`]'s twenty-odd float operations is a
/// library call, and the Cortex-M3 took 1,729 instructions an element for Sigmoid that
/// way against `expf`'s 1,231. So does x86-64 without FMA (a baseline build, where the
/// ONNX node tests run): its 3 ulp moved a GRU's output, a difference of nearly equal
/// terms, past the node test's tolerance (`test_gru_seq_length`), and a host has
/// vectors for the work that counts. [`fpu`]'s own tests run on every host.
const FPU_LOGISTIC: bool = cfg!(any(
    all(target_arch = "arm", target_feature = "fpregs"),
    all(
        any(target_arch = "riscv32", target_arch = "riscv64"),
        target_feature = "f"
    )
));

/// [`tanh`]'s formula on eight or sixteen lanes, step for step in fused multiply-adds
/// (the single rounding `scalar::fmadd` emulates), so bit for bit the scalar result.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn tanh_lanes<V: Lanes>(x: V) -> V {
    // The bound first: `max`/`min` return their second operand for a NaN, so a NaN
    // input stays NaN, as `f32::clamp` keeps it.
    #[cfg(target_arch = "aarch64")]
    let input = x;
    let x = V::splat(9.0).min(V::splat(-9.0).max(x));
    let x2 = x.mul(x);
    let mut p = V::splat(TANH_ALPHA[0]);
    unroll!(6, |i| p = p.mul_add(x2, V::splat(TANH_ALPHA[i + 1])));
    let mut q = V::splat(TANH_BETA[0]);
    unroll!(3, |i| q = q.mul_add(x2, V::splat(TANH_BETA[i + 1])));
    let y = x.mul(p).div(q);
    // NEON's `fmaxnm`/`fminnm` (`wide`'s `max`/`min` on AArch64) return the number when
    // one operand is NaN, so the clamp turned a NaN into −9 and `tanh` into −1 there
    // (found by the differential checks under qemu-aarch64): NaN lanes, which are
    // neither above −∞ nor below +∞, get their input back.
    #[cfg(target_arch = "aarch64")]
    let y = {
        let low = V::splat(f32::NEG_INFINITY);
        let low_or_nan = V::splat(0.0).sub(input).select_above(low, y, input);
        input.select_above(low, y, low_or_nan)
    };
    y
}

/// Calls `step` with the start of each vector from `from` to `full` (multiples of the
/// lane count).
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn vector_loop(from: usize, full: usize, mut step: impl FnMut(usize)) {
    let mut at = from;
    while at < full {
        step(at);
        at += crate::gemm::simd::LANES;
    }
}

/// A logistic activation (Sigmoid or Swish) of `N` vectors of eight lanes, for the
/// kernels that activate in registers: [`sigmoid_lanes`] and [`swish_lanes`] where
/// vectors fuse multiply-adds, else [`Activation::apply`] per lane. Other activations
/// pass through. One call for all `N`, so that their chains overlap. Only where `F32x8`
/// exists (x86-64 and AArch64; Cortex-M has no vector kernels).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(never)]
pub(crate) fn logistic_lanes<const N: usize>(
    act: Activation,
    x: [crate::gemm::simd::F32x8; N],
) -> [crate::gemm::simd::F32x8; N] {
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    return match act {
        Activation::Sigmoid => x.map(sigmoid_lanes),
        Activation::Swish { alpha } => x.map(|x| swish_lanes(x, alpha)),
        _ => x,
    };
    #[cfg(not(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    )))]
    x.map(|x| crate::gemm::simd::F32x8::from_array(x.to_array().map(|v| act.apply(v))))
}

/// A logistic activation (Sigmoid or Swish) of a short run of a kernel's output in place:
/// sixteen lanes at a time with AVX-512, then eight, then the rest as one vector through
/// a padded copy (the vector formula, not the scalar one: the depthwise kernels' rows of
/// 7 to 28 outputs spent more on `libm` than on the convolution), one by one only without
/// vectors; other activations leave it. Inlined into the kernels' post-store loops,
/// unlike [`unary_in_place`]; only the vector kernels of x86-64 and AArch64 have them.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub(crate) fn logistic_run(act: Activation, y: &mut [f32]) {
    if act.logistic_op().is_none() {
        return;
    }
    let vectors = |y: &mut [f32]| match act {
        Activation::Sigmoid => map_vectors_in_place(SigmoidLanes, y),
        Activation::Swish { alpha } => map_vectors_in_place(SwishLanes { alpha }, y),
        _ => y.len(),
    };
    let done = vectors(y);
    let rest = &mut y[done..];
    if rest.is_empty() {
        return;
    }
    let mut padded = [0.0f32; 16];
    if let Some(head) = padded.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
        if vectors(&mut padded) == padded.len() {
            rest.copy_from_slice(&padded[..rest.len()]);
            return;
        }
    }
    for v in rest {
        *v = act.apply(*v);
    }
}

/// [`logistic_lanes`] on `N` vectors of sixteen lanes (AVX-512 implies FMA), for a
/// kernel that holds several vectors of outputs in registers: one call for all of them,
/// so that their `N` independent chains of `e^x` and the division overlap instead of
/// each call waiting out one chain's latency. Out of line, like [`logistic_lanes`]: the
/// kernels that activate in registers match on the activation per vector, and the
/// polynomial inlined into each arm's site bloated their Relu and Clip loops too.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(never)]
pub(crate) fn logistic_lanes16<const N: usize>(
    act: Activation,
    x: [crate::gemm::simd::F32x16; N],
) -> [crate::gemm::simd::F32x16; N] {
    match act {
        Activation::Sigmoid => x.map(sigmoid_lanes),
        Activation::Swish { alpha } => x.map(|x| swish_lanes(x, alpha)),
        _ => x,
    }
}

/// The lane operations [`exp_lanes`], [`sigmoid_lanes`], [`swish_lanes`], [`erf_lanes`]
/// and [`gelu_lanes`] take, so
/// that one formula serves eight lanes and, with AVX-512, sixteen.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
trait Lanes: Copy {
    fn splat(value: f32) -> Self;
    fn add(self, other: Self) -> Self;
    fn sub(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
    fn div(self, other: Self) -> Self;
    fn mul_add(self, m: Self, a: Self) -> Self;
    fn min(self, other: Self) -> Self;
    fn max(self, other: Self) -> Self;
    fn reinterpret_integers(self) -> Self;
    fn select_above(self, threshold: Self, above: Self, otherwise: Self) -> Self;

    /// `self · 2^n` for lanes `n` holding integers from −150 to 128 and `self` in
    /// `[0.5, 2]`, rounded once. Built from exponent fields: `2^n` as `2^small · 2^normal`,
    /// `normal` the exponent clamped to −126..=127 and `small` (−24..=1) the rest, so that
    /// `self·2^small` is exact and the last product rounds once, into a subnormal, an
    /// infinity or neither. A vector type with a one-instruction scaling overrides it.
    #[inline(always)]
    fn times_pow2(self, n: Self) -> Self {
        /// `2^23`, the weight of the exponent field's lowest bit.
        const EXPONENT_UNIT: f32 = 8_388_608.0;
        let normal = Self::splat(127.0).min(Self::splat(-126.0).max(n));
        let small = n.sub(normal);
        let pow2 = |k: Self| {
            k.mul_add(
                Self::splat(EXPONENT_UNIT),
                Self::splat(127.0 * EXPONENT_UNIT),
            )
            .reinterpret_integers()
        };
        self.mul(pow2(small)).mul(pow2(normal))
    }
}

/// Implements [`Lanes`] for a vector type by its inherent methods of the same names.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
macro_rules! lanes_by_inherent_methods {
    ($($ty:ty $(, $own:ident)*);*) => {$(
        impl Lanes for $ty {
            $(
                #[inline(always)]
                fn $own(self, n: Self) -> Self {
                    <$ty>::$own(self, n)
                }
            )*
            #[inline(always)]
            fn splat(value: f32) -> Self {
                <$ty>::splat(value)
            }
            #[inline(always)]
            fn add(self, other: Self) -> Self {
                <$ty>::add(self, other)
            }
            #[inline(always)]
            fn sub(self, other: Self) -> Self {
                <$ty>::sub(self, other)
            }
            #[inline(always)]
            fn mul(self, other: Self) -> Self {
                <$ty>::mul(self, other)
            }
            #[inline(always)]
            fn div(self, other: Self) -> Self {
                <$ty>::div(self, other)
            }
            #[inline(always)]
            fn mul_add(self, m: Self, a: Self) -> Self {
                <$ty>::mul_add(self, m, a)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                <$ty>::min(self, other)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$ty>::max(self, other)
            }
            #[inline(always)]
            fn reinterpret_integers(self) -> Self {
                <$ty>::reinterpret_integers(self)
            }
            #[inline(always)]
            fn select_above(self, threshold: Self, above: Self, otherwise: Self) -> Self {
                <$ty>::select_above(self, threshold, above, otherwise)
            }
        }
    )*};
}

#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
lanes_by_inherent_methods!(crate::gemm::simd::F32x8);
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
lanes_by_inherent_methods!(crate::gemm::simd::F32x16, times_pow2);

/// `e^x` on eight lanes: `n = round(x·log₂e)`, `r = x − n·ln 2` with `ln 2` in two parts
/// (Cody and Waite: `n·LN2_HI` is exact, so `r` carries one rounding), `e^r` by its
/// Taylor polynomial of degree 7 on `|r| ≤ ln 2 / 2` (truncation below 6e-9, a twentieth
/// of an ulp) in fused multiply-adds, and `e^x = e^r · 2^n` by [`Lanes::times_pow2`] (one
/// `vscalefps` on sixteen lanes, two exponent-field factors on eight), which rounds once.
///
/// Accuracy, checked over every exponent by `exp_lanes_is_within_its_bound`: at most
/// 1 ulp from the correctly rounded `e^x`, subnormal results included (the
/// final multiplication rounds once into them; they are not flushed); a one-off run
/// over all 2^32 inputs found no more than 1 ulp either. `x > 88.722_83`
/// gives `+∞` (as `e^x` overflows `f32`), `x < −103.972_08` gives `+0`, a NaN stays NaN.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn exp_lanes<V: Lanes>(x: V) -> V {
    /// `1.5·2^23`: added to a float of magnitude below `2^22`, the sum's ulp is 1, so the
    /// addition rounds to the nearest integer (ties to even) with no rounding instruction.
    const ROUNDER: f32 = 12_582_912.0;
    /// `ln 2` to 9 significant bits (0x3F318000, 0.693_359_375): `n·LN2_HI` is exact for
    /// `|n| ≤ 2^15`.
    const LN2_HI: f32 = 355.0 / 512.0;
    /// `ln 2 − LN2_HI`.
    const LN2_LO: f32 = -2.121_944_4e-4;
    // The bounds first, as in `tanh_lanes`: a NaN passes through both. Past them the
    // result is already `+∞` (89 gives `1.32·2^128`) or `+0` (`−104` gives
    // `0.97·2^−150`), so the scaling below needs exponents from −150 to 128 only.
    let x = V::splat(89.0).min(V::splat(-104.0).max(x));
    let rounder = V::splat(ROUNDER);
    // One rounding: the fused product `x·log₂e` is exact before the addition rounds it.
    let n = x
        .mul_add(V::splat(core::f32::consts::LOG2_E), rounder)
        .sub(rounder);
    let r = n.mul_add(V::splat(-LN2_HI), x);
    let r = n.mul_add(V::splat(-LN2_LO), r);
    let mut p = V::splat(EXP_TAYLOR[0]);
    unroll!(7, |i| p = p.mul_add(r, V::splat(EXP_TAYLOR[i + 1])));
    p.times_pow2(n)
}

/// `sigmoid(x) = 1 / (1 + e^−x)` on eight lanes, through [`exp_lanes`]. One formula for
/// both tails: for `x ≫ 0`, `1 + e^−x` rounds to 1; for `x ≪ 0` the quotient of 1 by a
/// large `1 + e^−x` keeps `e^−x`'s relative error (there is no subtraction to cancel).
///
/// Accuracy, checked by `sigmoid_lanes_is_within_its_bound`: at most 2 ulp
/// from the correctly rounded result where it is at least `f32::MIN_POSITIVE`
/// (`x ≥ −87.34`; a one-off run over all 2^32 inputs found no more either); below, the subnormal result is the rounded quotient of an accurate
/// `1 + e^−x` down to `x = −88.72`, and `+0` past it, where `e^−x` overflows (the exact
/// value is below `2.7e-39` there). A NaN stays NaN; `±∞` give 1 and 0.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn sigmoid_lanes<V: Lanes>(x: V) -> V {
    let one = V::splat(1.0);
    one.div(one.add(exp_lanes(x.mul(V::splat(-1.0)))))
}

/// `swish(x) = x · sigmoid(alpha·x)` on eight lanes, as `x / (1 + e^−alpha·x)`: one
/// division instead of a division and a product, so one rounding fewer. `alpha·x` is
/// rounded to `f32` first, as the scalar formula rounds it.
///
/// Accuracy, checked by `swish_lanes_is_within_its_bound` (alpha 1, 1.702, 0.5 and −1;
/// a one-off run over all 2^32 inputs at alpha 1 found no more): at most 2 ulp from
/// the correctly rounded `x · sigmoid(alpha·x)` (for that rounded `alpha·x`) where
/// `alpha·x ≥ −87.34` and the result is normal; below, the error is at most `|x|·2^−126` (`e^−alpha·x`
/// overflows past −88.72 and the result is `±0`). `x = −∞` gives NaN (`−∞/∞`), as the
/// scalar formula's `−∞ · 0` does.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn swish_lanes<V: Lanes>(x: V, alpha: f32) -> V {
    // `x·(−alpha)` is `−(alpha·x)` exactly: negation commutes with rounding.
    let exp = exp_lanes(x.mul(V::splat(-alpha)));
    x.div(V::splat(1.0).add(exp))
}

/// Where [`erf_lanes`] and [`gelu_lanes`] change formula: below it `erf(z)` is the odd
/// polynomial `z + z·P(z²)`, above it `1 − e^R(|z|)` (`0x3F6D8000`, 475/512).
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
const ERF_SPLIT: f32 = 475.0 / 512.0;

/// The two pieces of `erf(z)` on eight or sixteen lanes: `(z + z·P(z²), e^R(|z|))`, the
/// first `erf(z)` for `|z| ≤ ERF_SPLIT`, the second `erfc(|z|)` above it. Both are
/// minimax fits with fused multiply-adds, the coefficients Norbert Juffa published for a
/// faithfully rounded `erff` (also in MLX); `e^R` goes through [`exp_lanes`] where he
/// used `expf`, and `R` is raised to `exponent_floor` first. Each lane computes both, and
/// the caller selects: the lanes outside a piece's range may hold anything, `±∞` or NaN
/// included.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn erf_pieces<V: Lanes>(z: V, exponent_floor: f32) -> (V, V) {
    let s = z.mul(z);
    let mut p = V::splat(ERF_SMALL[0]);
    unroll!(5, |i| p = p.mul_add(s, V::splat(ERF_SMALL[i + 1])));
    let small = p.mul_add(z, z);
    // `max(z, −z)` is `|z|`, and a NaN in `z` gives the NaN `−z`.
    let t = z.max(z.mul(V::splat(-1.0)));
    let r = V::splat(ERF_LARGE[0]).mul_add(t, V::splat(ERF_LARGE[1]));
    let u = V::splat(ERF_LARGE[2]).mul_add(t, V::splat(ERF_LARGE[3]));
    let mut r = r.mul_add(s, u);
    unroll!(3, |i| r = r.mul_add(t, V::splat(ERF_LARGE[i + 4])));
    let r = r.mul_add(t, t.mul(V::splat(-1.0)));
    let r = r.max(V::splat(exponent_floor));
    (small, exp_lanes(r))
}

/// `erf(z)` on eight or sixteen lanes, through [`erf_pieces`]: the polynomial for
/// `|z| ≤ 475/512`, else `±(1 − erfc(|z|))`, which cannot cancel there (`erfc(|z|)` is
/// below 0.19).
///
/// Accuracy, checked over every exponent by `erf_lanes_is_within_its_bound`: at most
/// `ERF_ULP` (2) ulp from the correctly rounded `erf(z)`, subnormal inputs and results
/// included (the sweep's worst is 1). `±∞` give `±1`, a NaN stays NaN.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn erf_lanes<V: Lanes>(z: V) -> V {
    // `e^R ≥ e^−87 ≈ 1.6e-38` stays a normal float: past `|z| ≈ 9.3` the exact
    // `erfc(|z|)` is subnormal, and on x86 a product rounding into a subnormal costs a
    // microcode assist of a hundred cycles or more (`Erf` over [−12, 12) took 3.2 ns an
    // element with them, 0.47 without). `erf` is `±1` there in any case.
    let (small, erfc) = erf_pieces(z, -87.0);
    let one_minus = V::splat(1.0).sub(erfc);
    // `0 > z` picks the negative sign; `−0` and NaN fall to the positive one, and a NaN
    // lane takes the polynomial below in any case.
    let large = V::splat(0.0).select_above(z, one_minus.mul(V::splat(-1.0)), one_minus);
    let t = z.max(z.mul(V::splat(-1.0)));
    t.select_above(V::splat(ERF_SPLIT), large, small)
}

/// The exact Gelu, `x/2 · (1 + erf(x/√2))`, on eight or sixteen lanes. `z = x/√2` is
/// rounded to `f32` first, as the scalar formula rounds it; then `1 + erf(z)` comes from
/// [`erf_pieces`] without cancelling: `1 + P` for `|z| ≤ 475/512`, `2 − erfc(z)` above,
/// and `erfc(−z)` itself below `−475/512`, where the scalar `1 + erf(z)` loses the
/// leading bits (for `x = −4` it keeps about 11 of 24).
///
/// Accuracy, checked by `gelu_lanes_is_within_its_bound` against `x/2 · erfc(−z)` in
/// `f64` for that rounded `z`: at most `GELU_ULP` (4) ulp where `z ≥ −475/512` and the
/// result is normal (the sweep's worst is 3, beside the seam, where `1 + P` is near
/// 0.19); below, at most 2 ulp plus `|x|·2^−25`, because Juffa's `e^R` is `erfc(|z|)` to
/// about an ulp of `erf`, not of itself. That term is the error `x/2 · (1 + erf(z))`
/// makes when its sum is rounded once, as ONNX Runtime's unfused Div, Erf, Add, Mul, Mul
/// rounds it; the scalar path (`erfcf`) is accurate to a few ulp there. Where the result
/// is subnormal the error is at most `|x|·2^−126`. `x = −∞` gives NaN (`−∞ · 0`), as the
/// scalar formula does; `+∞` gives `+∞`.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn gelu_lanes<V: Lanes>(x: V) -> V {
    let z = x.mul(V::splat(core::f32::consts::FRAC_1_SQRT_2));
    // No floor: the Gelu's result is subnormal where `e^R` would be (`x < −13.3`), and
    // `x = −∞` must give `−∞ · 0`.
    let (small, erfc) = erf_pieces(z, f32::NEG_INFINITY);
    let split = V::splat(ERF_SPLIT);
    let tails = V::splat(0.0).select_above(z, erfc, V::splat(2.0).sub(erfc));
    let t = z.max(z.mul(V::splat(-1.0)));
    let one_plus_erf = t.select_above(split, tails, V::splat(1.0).add(small));
    x.mul(V::splat(0.5)).mul(one_plus_erf)
}

/// Gelu's tanh form, `x/2 · (1 + tanh(u))` with `u = √(2/π)·(x + 0.044715·x³)`, on eight
/// or sixteen lanes as `x / (1 + e^−2u)`: `1 + tanh(u)` is `2·sigmoid(2u)`, so one
/// [`exp_lanes`] and one division, and no cancellation where `tanh(u)` nears −1.
///
/// Accuracy, checked by `gelu_tanh_lanes_is_within_its_bound` against the formula in
/// `f64`: a relative error of at most `(4 + 8|u|)·2^−24` where the result is normal (the
/// rounding of `u`, a few ulp of it, is amplified by up to `2|u|` in `e^−2u`) and
/// `u ≥ −43.6`; below, where `e^−2u` overflows and the result is `±0` (the exact value
/// is below `3.3e-38`), or where it is subnormal, at most `|x|·2^−126`. `x = −∞` gives NaN
/// (`−∞/∞`), as the scalar formula's `−∞ · 0` does; `+∞` gives `+∞`.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
#[inline(always)]
fn gelu_tanh_lanes<V: Lanes>(x: V) -> V {
    /// `−2·√(2/π)`.
    const MINUS_TWO_INNER: f32 = -2.0 * 0.797_884_6;
    let x2 = x.mul(x);
    let cubic = x2.mul_add(V::splat(0.044_715), V::splat(1.0));
    let minus_two_u = x.mul(V::splat(MINUS_TWO_INNER)).mul(cubic);
    // Raised to −87, where `1 + e^−2u` is already 1, so that `e^−2u` never rounds into a
    // subnormal: on x86 that costs a microcode assist (GeluTanh over [−12, 12) took 1.45
    // ns an element with them, 0.39 without). A NaN `x` still gives NaN through the
    // division.
    let minus_two_u = minus_two_u.max(V::splat(-87.0));
    x.div(V::splat(1.0).add(exp_lanes(minus_two_u)))
}

/// An element-wise function of eight or sixteen lanes, for [`map_vectors`].
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
trait LaneMap: Copy {
    fn apply<V: Lanes>(self, x: V) -> V;
}

/// Unit structs standing for lane functions of one argument, each a [`LaneMap`].
macro_rules! lane_maps {
    ($($name:ident => $function:ident,)*) => {$(
        #[doc = concat!("[`", stringify!($function), "`] as a [`LaneMap`].")]
        #[derive(Clone, Copy)]
        struct $name;

        #[cfg(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        ))]
        impl LaneMap for $name {
            #[inline(always)]
            fn apply<V: Lanes>(self, x: V) -> V {
                $function(x)
            }
        }
    )*};
}

lane_maps! {
    TanhLanes => tanh_lanes,
    ExpLanes => exp_lanes,
    ErfLanes => erf_lanes,
    GeluLanes => gelu_lanes,
    GeluTanhLanes => gelu_tanh_lanes,
    SigmoidLanes => sigmoid_lanes,
}

/// [`swish_lanes`] at `alpha` as a [`LaneMap`].
#[derive(Clone, Copy)]
struct SwishLanes {
    /// Read by the lanes only where vectors fuse multiply-adds.
    #[cfg_attr(
        not(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        )),
        allow(dead_code)
    )]
    alpha: f32,
}

#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
impl LaneMap for SwishLanes {
    #[inline(always)]
    fn apply<V: Lanes>(self, x: V) -> V {
        swish_lanes(x, self.alpha)
    }
}

/// The leading whole vectors of `y = f(x)`: sixteen lanes at a time with AVX-512, then
/// eight, on targets whose vectors fuse multiply-adds. Returns how many elements it
/// wrote; the scalar loop does the rest.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
fn map_vectors<M: LaneMap>(f: M, x: &[f32], y: &mut [f32]) -> usize {
    use crate::gemm::simd::{load_at, store_at, LANES};
    let n = x.len().min(y.len());
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    let wide = {
        use crate::gemm::simd::F32x16;
        let wide = n / 16 * 16;
        for (x, y) in x[..wide]
            .chunks_exact(16)
            .zip(y[..wide].chunks_exact_mut(16))
        {
            if let Some(x) = x.first_chunk::<16>() {
                f.apply(F32x16::load(x)).store(y);
            }
        }
        wide
    };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    let wide = 0;
    let full = n / LANES * LANES;
    vector_loop(wide, full, |at| store_at(f.apply(load_at(x, at)), y, at));
    full
}

/// [`map_vectors`] in place.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
fn map_vectors_in_place<M: LaneMap>(f: M, y: &mut [f32]) -> usize {
    use crate::gemm::simd::{load_at, store_at, LANES};
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    let wide = {
        use crate::gemm::simd::F32x16;
        let wide = y.len() / 16 * 16;
        for y in y[..wide].chunks_exact_mut(16) {
            if let Some(x) = y.first_chunk::<16>() {
                let value = f.apply(F32x16::load(x));
                value.store(y);
            }
        }
        wide
    };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    let wide = 0;
    let full = y.len() / LANES * LANES;
    vector_loop(wide, full, |at| {
        let value = f.apply(load_at(y, at));
        store_at(value, y, at)
    });
    full
}

/// Without fused vectors the scalar loop does every element.
#[cfg(not(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
)))]
#[inline(always)]
fn map_vectors<M>(_f: M, _x: &[f32], _y: &mut [f32]) -> usize {
    0
}

/// Without fused vectors the scalar loop does every element.
#[cfg(not(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
)))]
#[inline(always)]
fn map_vectors_in_place<M>(_f: M, _y: &mut [f32]) -> usize {
    0
}

/// [`erf_pieces`]'s `P(s)`, `s = z²`, highest power first (Juffa: maximum error 0.989
/// ulp with `fmaf`).
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
const ERF_SMALL: [f32; 6] = [
    -5.967_617e-4,
    4.991_194_2e-3,
    -2.676_813_5e-2,
    1.128_199_25e-1,
    -3.761_253_4e-1,
    1.283_791_7e-1,
];

/// [`erf_pieces`]'s `R(t)`, `t = |z|`, as Juffa evaluates it:
/// `(((((c0·t + c1)·t² + c2·t + c3)·t + c4)·t + c5)·t + c6)·t − t` (maximum error 0.995
/// ulp with `expm1f`).
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
const ERF_LARGE: [f32; 7] = [
    -1.728_534_7e-5,
    3.831_971_3e-4,
    -3.883_964_4e-3,
    2.425_462_2e-2,
    -1.067_778_8e-1,
    -6.348_467e-1,
    -1.287_175_1e-1,
];

/// `1/k!` for `k` from 7 down to 0: [`exp_lanes`]'s polynomial, highest power first.
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
const EXP_TAYLOR: [f32; 8] = [
    1.0 / 5040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// `y[i] = op(x[i])` for any element type: `f64` math (exact for `f64`, rounded for
/// integers), except Abs, Neg, Sign, Relu, Clip and Identity, which integers compute exactly
/// (wrapping). [`unary`] is the `f32` kernel.
pub fn unary_scalar<T: Scalar>(op: UnaryOp, x: &[T], y: &mut [T]) {
    if is_float::<T>() || !exact_integer(op, OutOfPlace { x, y: &mut *y }) {
        dispatch_unary(op, ThroughF64 { x, y });
    }
}

/// [`unary_scalar`] in place.
pub fn unary_scalar_in_place<T: Scalar>(op: UnaryOp, y: &mut [T]) {
    if is_float::<T>() || !exact_integer(op, InPlace { y: &mut *y }) {
        dispatch_unary(op, InPlaceThroughF64 { y });
    }
}

/// A loop over elements that computes in `F` and takes the per-element function as a type
/// parameter, so [`dispatch_unary`] can match the op once and hand each arm's closure to
/// one loop.
trait UnaryLoop<F> {
    fn run(self, f: impl Fn(F) -> F);
}

/// Reads `x`, writes `y`.
struct OutOfPlace<'a, T> {
    x: &'a [T],
    y: &'a mut [T],
}

impl<T: Copy> UnaryLoop<T> for OutOfPlace<'_, T> {
    #[inline(always)]
    fn run(self, f: impl Fn(T) -> T) {
        for (out, &value) in self.y.iter_mut().zip(self.x) {
            *out = f(value);
        }
    }
}

/// Overwrites `y`.
struct InPlace<'a, T> {
    y: &'a mut [T],
}

impl<T: Copy> UnaryLoop<T> for InPlace<'_, T> {
    #[inline(always)]
    fn run(self, f: impl Fn(T) -> T) {
        for value in self.y.iter_mut() {
            *value = f(*value);
        }
    }
}

/// Reads `x`, writes `y`, computing in `f64` whatever the element type.
struct ThroughF64<'a, T> {
    x: &'a [T],
    y: &'a mut [T],
}

impl<T: Scalar> UnaryLoop<f64> for ThroughF64<'_, T> {
    #[inline(always)]
    fn run(self, f: impl Fn(f64) -> f64) {
        for (out, &value) in self.y.iter_mut().zip(self.x) {
            *out = T::from_f64(f(value.to_f64()));
        }
    }
}

/// Overwrites `y`, computing in `f64` whatever the element type.
struct InPlaceThroughF64<'a, T> {
    y: &'a mut [T],
}

impl<T: Scalar> UnaryLoop<f64> for InPlaceThroughF64<'_, T> {
    #[inline(always)]
    fn run(self, f: impl Fn(f64) -> f64) {
        for value in self.y.iter_mut() {
            *value = T::from_f64(f(value.to_f64()));
        }
    }
}

/// Every unary formula, written once for `f32` and `f64`. Attributes are widened exactly
/// from `f32`; constants are rounded to `F` once, outside the loop.
#[inline]
fn dispatch_unary<F: Float>(op: UnaryOp, elements: impl UnaryLoop<F>) {
    let (zero, one, half) = (F::ZERO, F::ONE, F::from_f64(0.5));
    match op {
        UnaryOp::Relu => elements.run(|x| x.max(zero)),
        UnaryOp::Sigmoid => elements.run(sigmoid),
        UnaryOp::Tanh => elements.run(F::tanh_op),
        UnaryOp::Clip { min, max } => {
            let (min, max) = (F::from_f32(min), F::from_f32(max));
            elements.run(|x| x.max(min).min(max))
        }
        UnaryOp::Neg => elements.run(|x| -x),
        UnaryOp::Abs => elements.run(|x| x.abs()),
        UnaryOp::Exp => elements.run(F::exp),
        UnaryOp::Log => elements.run(F::ln),
        UnaryOp::Sqrt => elements.run(F::sqrt),
        UnaryOp::Reciprocal => elements.run(|x| one / x),
        UnaryOp::Floor => elements.run(F::floor),
        UnaryOp::Ceil => elements.run(F::ceil),
        // `rint` rounds in the default mode, round-half-to-even, as ONNX `Round` requires.
        UnaryOp::Round => elements.run(F::round_half_even),
        UnaryOp::Sin => elements.run(F::sin),
        UnaryOp::Cos => elements.run(F::cos),
        UnaryOp::Erf => elements.run(F::erf),
        UnaryOp::Softplus => elements.run(softplus),
        UnaryOp::LeakyRelu { alpha } => {
            let alpha = F::from_f32(alpha);
            elements.run(|x| if x >= zero { x } else { alpha * x })
        }
        UnaryOp::Elu { alpha } => {
            let alpha = F::from_f32(alpha);
            elements.run(|x| if x > zero { x } else { alpha * x.exp_m1() })
        }
        UnaryOp::HardSigmoid { alpha, beta } => {
            let (alpha, beta) = (F::from_f32(alpha), F::from_f32(beta));
            elements.run(|x| (alpha * x + beta).clamp(zero, one))
        }
        UnaryOp::HardSwish => {
            // A multiplication by the rounded `1/6` rather than a division: it vectorises
            // better, and it is what the `f32` kernel has always computed.
            let sixth = one / F::from_f64(6.0);
            elements.run(|x| x * (x * sixth + half).clamp(zero, one))
        }
        UnaryOp::Selu { alpha, gamma } => {
            let (alpha, gamma) = (F::from_f32(alpha), F::from_f32(gamma));
            elements.run(|x| {
                if x > zero {
                    gamma * x
                } else {
                    gamma * (alpha * x.exp() - alpha)
                }
            })
        }
        UnaryOp::Softsign => elements.run(|x| x / (one + x.abs())),
        UnaryOp::Sign => elements.run(|x| {
            if x > zero {
                one
            } else if x < zero {
                -one
            } else if x == zero {
                zero
            } else {
                x
            }
        }),
        UnaryOp::Gelu => elements.run(|x| {
            // `1 + erf(z)` is `erfc(−z)`, which keeps its relative accuracy where the sum
            // would cancel (for `x = −4` the `f32` sum keeps about 11 bits of 24).
            let z = x * F::FRAC_1_SQRT_2;
            if z < zero {
                half * x * (-z).erfc()
            } else {
                half * x * (one + z.erf())
            }
        }),
        UnaryOp::Identity => elements.run(|x| x),
        UnaryOp::Tan => elements.run(F::tan),
        UnaryOp::Asin => elements.run(F::asin),
        UnaryOp::Acos => elements.run(F::acos),
        UnaryOp::Atan => elements.run(F::atan),
        UnaryOp::Sinh => elements.run(F::sinh),
        UnaryOp::Cosh => elements.run(F::cosh),
        UnaryOp::Asinh => elements.run(F::asinh),
        UnaryOp::Acosh => elements.run(F::acosh),
        UnaryOp::Atanh => elements.run(F::atanh),
        UnaryOp::Celu { alpha } => {
            let alpha = F::from_f32(alpha);
            elements.run(|x| x.max(zero) + (alpha * (x / alpha).exp_m1()).min(zero))
        }
        UnaryOp::ThresholdedRelu { alpha } => {
            let alpha = F::from_f32(alpha);
            elements.run(|x| if x > alpha { x } else { zero })
        }
        UnaryOp::Mish => elements.run(|x| x * softplus(x).tanh()),
        UnaryOp::Shrink { bias, lambd } => {
            let (bias, lambd) = (F::from_f32(bias), F::from_f32(lambd));
            elements.run(|x| {
                if x < -lambd {
                    x + bias
                } else if x > lambd {
                    x - bias
                } else {
                    zero
                }
            })
        }
        UnaryOp::GeluTanh => {
            // `x/2 · (1 + tanh(u))` as `x · sigmoid(2u)`, the same function: the sum
            // cancels where `tanh(u)` nears −1 (for `x = −4` the `f32` sum kept about 9
            // bits of 24), the logistic form does not.
            let two_inner = F::from_f64(2.0) * F::FRAC_2_SQRT_PI * F::FRAC_1_SQRT_2;
            let cubic = F::from_f64(0.044_715);
            elements.run(|x| x * sigmoid(two_inner * (x + cubic * x * x * x)))
        }
        UnaryOp::Swish { alpha } => {
            let alpha = F::from_f32(alpha);
            elements.run(|x| x * sigmoid(alpha * x))
        }
    }
}

/// Runs `op` exactly (wrapping) on integers when it is Abs, Neg, Sign, Relu, Clip or
/// Identity, and says whether it did; every other op goes through `f64`.
fn exact_integer<T: Scalar>(op: UnaryOp, elements: impl UnaryLoop<T>) -> bool {
    match op {
        UnaryOp::Abs => elements.run(T::abs),
        UnaryOp::Neg => elements.run(T::neg),
        UnaryOp::Identity => elements.run(|v| v),
        UnaryOp::Relu => elements.run(|v| v.max(T::ZERO)),
        UnaryOp::Clip { min, max } => {
            let (min, max) = (T::from_f64(min.into()), T::from_f64(max.into()));
            elements.run(|v| v.max(min).min(max))
        }
        UnaryOp::Sign => elements.run(|v| {
            if v > T::ZERO {
                T::ONE
            } else if v < T::ZERO {
                T::ZERO.sub(T::ONE)
            } else {
                T::ZERO
            }
        }),
        _ => return false,
    }
    true
}

/// The logistic function, written so that `exp` never overflows and neither branch
/// loses relative accuracy: `1 − e^x/(1+e^x)` would cancel for large negative `x`.
#[inline]
fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::ZERO {
        F::ONE / (F::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::ONE + e)
    }
}

/// `ln(1 + e^x)` without overflow for large `x` or cancellation for very negative `x`.
#[inline]
fn softplus<F: Float>(x: F) -> F {
    if x > F::ZERO {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// How many columns of a `[axis_len, inner]` block the softmax kernels handle at once;
/// their running maxima and sums live in stack arrays of this length.
const SOFTMAX_COLUMNS: usize = 64;

/// Numerically stable softmax over the middle axis of a [outer, axis_len, inner] view.
pub fn softmax(outer: usize, axis_len: usize, inner: usize, x: &[f32], y: &mut [f32]) {
    softmax_blocks(outer, axis_len, inner, x, y, false, 1.0);
}

/// `softmax(scale · x)`: a constant `Mul` in front of a Softmax, as attention's
/// `1/√d` scaling, fused into it (`passes::fuse`), so the scores are read once, not
/// scaled into a buffer first. Each `e^(scale·v − max)` takes the product and the shift
/// in one fused multiply-add where vectors fuse them.
pub fn softmax_scaled(
    outer: usize,
    axis_len: usize,
    inner: usize,
    scale: f32,
    x: &[f32],
    y: &mut [f32],
) {
    softmax_blocks(outer, axis_len, inner, x, y, false, scale);
}

/// `ln(softmax(x))`, computed as `x − max − ln Σ e^(x − max)` so it never takes the log of
/// an underflowed zero.
pub fn log_softmax(outer: usize, axis_len: usize, inner: usize, x: &[f32], y: &mut [f32]) {
    softmax_blocks(outer, axis_len, inner, x, y, true, 1.0);
}

/// Softmax (or, with `log`, LogSoftmax) of `scale · x` in `f64` over the middle axis of
/// `[outer, axis_len, inner]`: a plain loop per lane, `e^(v − max)` through `libm::exp`,
/// for the double-precision models of the ONNX tests and scientific exports.
pub fn softmax_f64(
    outer: usize,
    axis_len: usize,
    inner: usize,
    log: bool,
    scale: f64,
    x: &[f64],
    y: &mut [f64],
) {
    let block = axis_len * inner;
    if block == 0 {
        return;
    }
    let blocks = x.chunks_exact(block).zip(y.chunks_exact_mut(block));
    for (x, y) in blocks.take(outer) {
        for lane in 0..inner {
            let at = |i: usize| i * inner + lane;
            let max = (0..axis_len).fold(f64::NEG_INFINITY, |m, i| m.max(x[at(i)] * scale));
            // Each e^(v − max) computed once, kept in `y` until the sum divides it.
            let mut sum = 0.0;
            for i in 0..axis_len {
                let e = libm::exp(x[at(i)] * scale - max);
                y[at(i)] = e;
                sum += e;
            }
            if log {
                let log_sum = libm::log(sum);
                for i in 0..axis_len {
                    y[at(i)] = (x[at(i)] * scale - max) - log_sum;
                }
            } else {
                for i in 0..axis_len {
                    y[at(i)] /= sum;
                }
            }
        }
    }
}

fn softmax_blocks(
    outer: usize,
    axis_len: usize,
    inner: usize,
    x: &[f32],
    y: &mut [f32],
    log: bool,
    scale: f32,
) {
    let block = axis_len * inner;
    if block == 0 {
        return;
    }
    let x = &x[..outer * block];
    let y = &mut y[..outer * block];
    for (x_block, y_block) in x.chunks_exact(block).zip(y.chunks_exact_mut(block)) {
        if inner == 1 {
            softmax_row(x_block, y_block, log, scale);
        } else {
            for column0 in (0..inner).step_by(SOFTMAX_COLUMNS) {
                let width = SOFTMAX_COLUMNS.min(inner - column0);
                let columns = (column0, width);
                softmax_columns(x_block, y_block, (axis_len, inner), columns, log, scale);
            }
        }
    }
}

/// Softmax of one contiguous row, of `scale · x`.
fn softmax_row(x: &[f32], y: &mut [f32], log: bool, scale: f32) {
    let max = scaled_max(x, scale);
    if log {
        let sum: f32 = x.iter().map(|&v| libm::expf(v * scale - max)).sum();
        // `(v − max) − ln sum`, not `v − (max + ln sum)`: the shifted value is exact,
        // while `max + ln sum` would round `ln sum` to the precision of `max`.
        let log_sum = libm::logf(sum);
        for (out, &v) in y.iter_mut().zip(x) {
            *out = (v * scale - max) - log_sum;
        }
    } else {
        let (done, mut sum) = exp_shifted_vectors(x, scale, max, y);
        for (out, &v) in y[done..].iter_mut().zip(&x[done..]) {
            let e = libm::expf(v * scale - max);
            *out = e;
            sum += e;
        }
        let scale = 1.0 / sum;
        y.iter_mut().for_each(|v| *v *= scale);
    }
}

/// The leading whole vectors of `y = e^(x − shift)` through [`exp_lanes`] (within 1 ulp
/// of `libm`'s `expf`, which the tail keeps), on targets whose vectors fuse multiply-adds,
/// and their sum (in sixteen or eight lanes, so in another order than the scalar loop's): how many
/// elements were written, and the sum. A transformer's attention softmax spent 5 ns an
/// element in `expf` (14× ONNX Runtime's time for the same nodes).
#[cfg(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
))]
fn exp_shifted_vectors(x: &[f32], scale: f32, shift: f32, y: &mut [f32]) -> (usize, f32) {
    use crate::gemm::simd::{load_at, store_at, F32x8, LANES};
    let n = x.len().min(y.len());
    // With AVX-512, sixteen lanes first (softmax over rows of 128, `examples/sigmoid`:
    // 0.58 → 0.49 ns an element); their sum is added to the eight-lane vectors'.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    let (wide, total) = {
        use crate::gemm::simd::F32x16;
        let wide = n / 16 * 16;
        let (scale, shift) = (F32x16::splat(scale), F32x16::splat(-shift));
        let mut sum = F32x16::splat(0.0);
        for (x, y) in x[..wide]
            .chunks_exact(16)
            .zip(y[..wide].chunks_exact_mut(16))
        {
            if let Some(x) = x.first_chunk::<16>() {
                let e = exp_lanes(F32x16::load(x).mul_add(scale, shift));
                e.store(y);
                sum = sum.add(e);
            }
        }
        (wide, crate::gemm::horizontal_sum(&sum.to_array()))
    };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    let (wide, total) = (0, 0.0);
    let full = n / LANES * LANES;
    let (scale, shift) = (F32x8::splat(scale), F32x8::splat(-shift));
    let mut sum = F32x8::splat(0.0);
    vector_loop(wide, full, |at| {
        let e = exp_lanes(load_at(x, at).mul_add(scale, shift));
        store_at(e, y, at);
        sum = sum.add(e);
    });
    (full, total + crate::gemm::horizontal_sum(&sum.to_array()))
}

/// Without fused vectors the scalar loop does every element.
#[cfg(not(any(
    all(target_arch = "x86_64", target_feature = "fma"),
    target_arch = "aarch64"
)))]
#[inline(always)]
fn exp_shifted_vectors(_x: &[f32], _scale: f32, _shift: f32, _y: &mut [f32]) -> (usize, f32) {
    (0, 0.0)
}

/// Softmax down the columns `column0..column0 + width` of a `[axis_len, inner]` block;
/// every inner loop runs along a contiguous row segment.
fn softmax_columns(
    x: &[f32],
    y: &mut [f32],
    (axis_len, inner): (usize, usize),
    (column0, width): (usize, usize),
    log: bool,
    scale: f32,
) {
    let row = |a: usize| (a * inner + column0, a * inner + column0 + width);
    let mut max = [f32::NEG_INFINITY; SOFTMAX_COLUMNS];
    let max = &mut max[..width];
    for a in 0..axis_len {
        let (start, end) = row(a);
        for (m, &v) in max.iter_mut().zip(&x[start..end]) {
            *m = at_least(v * scale, *m);
        }
    }
    let mut sum = [0.0f32; SOFTMAX_COLUMNS];
    let sum = &mut sum[..width];
    for a in 0..axis_len {
        let (start, end) = row(a);
        let values = max.iter().zip(&x[start..end]);
        if log {
            for (s, (&m, &v)) in sum.iter_mut().zip(values) {
                *s += libm::expf(v * scale - m);
            }
        } else {
            for ((s, out), (&m, &v)) in sum.iter_mut().zip(&mut y[start..end]).zip(values) {
                let e = libm::expf(v * scale - m);
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
                *out = (v * scale - m) - log_sum;
            }
        }
    } else {
        for s in sum.iter_mut() {
            *s = 1.0 / *s;
        }
        for a in 0..axis_len {
            let (start, end) = row(a);
            for (out, &reciprocal) in y[start..end].iter_mut().zip(sum.iter()) {
                *out *= reciprocal;
            }
        }
    }
}

/// The maximum of `scale · v` over `x` (−∞ when empty): `scale` times [`max_of`] for a
/// positive scale (rounding is monotonic, so the largest product is the product of the
/// largest value), else the products' own maximum.
#[inline]
fn scaled_max(x: &[f32], scale: f32) -> f32 {
    if scale == 1.0 {
        max_of(x)
    } else if scale > 0.0 {
        scale * max_of(x)
    } else {
        x.iter()
            .fold(f32::NEG_INFINITY, |m, &v| at_least(v * scale, m))
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
            // A comparison compiles to one `maxps`; NaN inputs are skipped.
            *lane = at_least(v, *lane);
        }
    }
    // The lanes pairwise (four steps, not sixteen in a chain), then the tail.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        let (low, high) = lanes.split_at_mut(width);
        for (l, &h) in low.iter_mut().zip(high.iter()) {
            *l = at_least(h, *l);
        }
    }
    let mut max = lanes[0];
    for &v in tail {
        max = at_least(v, max);
    }
    max
}

/// [`tanh`]'s numerator coefficients: the published decimal constants, rounded to f32 by
/// the compiler.
#[allow(clippy::excessive_precision)]
const TANH_ALPHA: [f32; 7] = [
    -2.76076847742355e-16,
    2.00018790482477e-13,
    -8.60467152213735e-11,
    5.12229709037114e-08,
    1.48572235717979e-05,
    6.37261928875436e-04,
    4.89352455891786e-03,
];

/// [`tanh`]'s denominator coefficients.
#[allow(clippy::excessive_precision)]
const TANH_BETA: [f32; 4] = [
    1.19825839466702e-06,
    1.18534705686654e-04,
    2.26843463243900e-03,
    4.89352518554385e-03,
];

/// `tanh(x)` as the rational approximation `x·P(x²) / Q(x²)` on `[-9, 9]` (degree 13 over
/// degree 6, the coefficients Eigen publishes), evaluated with fused multiply-adds.
///
/// Absolute error below 3e-7 against the exact value, no `exp`, no branches but the
/// clamp. It is also what ONNX Runtime's MLAS evaluates, which matters for recurrent
/// models: their hidden state amplifies any difference in the last bit step after step.
#[inline]
pub fn tanh(x: f32) -> f32 {
    use crate::scalar::fmadd;
    let x = x.clamp(-9.0, 9.0);
    let x2 = x * x;
    let mut p = TANH_ALPHA[0];
    for &a in &TANH_ALPHA[1..] {
        p = fmadd(p, x2, a);
    }
    let mut q = TANH_BETA[0];
    for &b in &TANH_BETA[1..] {
        q = fmadd(q, x2, b);
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    /// The fused residual Add gives `act(a + b)` bit for bit, as the Add and the
    /// activation apart do (NaN and infinities included), in place on either side or
    /// not, over lengths that leave a vector tail; operands shorter than the output
    /// leave its tail as it was.
    #[test]
    fn add_activated_is_the_add_then_the_activation() {
        let a: Vec<f32> = (0..37)
            .map(|i| match i {
                3 => f32::NAN,
                7 => f32::INFINITY,
                11 => f32::NEG_INFINITY,
                _ => (i as f32 - 18.0) * 0.37,
            })
            .collect();
        let b: Vec<f32> = (0..37).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.5).collect();
        for act in [
            Activation::None,
            Activation::Relu,
            Activation::Clip {
                min: -1.5,
                max: 2.0,
            },
        ] {
            let want: Vec<u32> = a
                .iter()
                .zip(&b)
                .map(|(&a, &b)| act.apply(a + b).to_bits())
                .collect();
            let mut y = std::vec![0.5; 37];
            add_activated(&a, &b, act, &mut y);
            assert_eq!(
                y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want,
                "{act:?}"
            );
            let mut y = a.clone();
            add_activated_in_place(&mut y, &b, act);
            assert_eq!(
                y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want,
                "{act:?}"
            );
            let mut y = b.clone();
            add_activated_in_place(&mut y, &a, act);
            assert_eq!(
                y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want,
                "{act:?}"
            );
            let mut y = std::vec![9.0; 40];
            add_activated(&a, &b, act, &mut y);
            assert_eq!(&y[37..], &[9.0; 3], "{act:?}");
        }
    }

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

    /// One value of every unary op, attributes included.
    fn every_unary_op() -> Vec<UnaryOp> {
        use UnaryOp::*;
        std::vec![
            Relu,
            Sigmoid,
            Tanh,
            Clip {
                min: -1.0,
                max: 2.0
            },
            Neg,
            Abs,
            Exp,
            Log,
            Sqrt,
            Reciprocal,
            Floor,
            Ceil,
            Round,
            Sin,
            Cos,
            Erf,
            Softplus,
            LeakyRelu { alpha: 0.1 },
            Elu { alpha: 0.7 },
            HardSigmoid {
                alpha: 0.2,
                beta: 0.5
            },
            HardSwish,
            Selu {
                alpha: 1.673_263_2,
                gamma: 1.050_701
            },
            Softsign,
            Sign,
            Gelu,
            Identity,
            Tan,
            Asin,
            Acos,
            Atan,
            Sinh,
            Cosh,
            Asinh,
            Acosh,
            Atanh,
            Celu { alpha: 1.3 },
            ThresholdedRelu { alpha: 0.9 },
            Mish,
            Shrink {
                bias: 0.1,
                lambd: 0.5
            },
            GeluTanh,
            Swish { alpha: 1.7 },
        ]
    }

    #[test]
    fn f32_and_f64_compute_the_same_formulas() {
        let x = [-2.0f32, -0.7, -0.1, 0.0, 0.3, 0.9, 1.5, 3.0];
        let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for op in every_unary_op() {
            let mut y = [0.0f32; 8];
            unary(op, &x, &mut y);
            let mut y64 = std::vec![0.0f64; 8];
            unary_scalar(op, &x64, &mut y64);
            for ((&v, &got), &want) in x.iter().zip(&y).zip(&y64) {
                // Outside an op's domain both are NaN, at a pole both infinite; elsewhere
                // `f32` rounding (and the rational `tanh`, within 3e-7) is the only
                // difference.
                let agree = (got.is_nan() && want.is_nan())
                    || f64::from(got) == want
                    || (f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1.0);
                assert!(agree, "{op:?}({v}): f32 {got}, f64 {want}");
            }
        }
        // The `Tanh` op is the rational approximation in `f32`, bit for bit.
        let mut y = [0.0f32; 8];
        unary(UnaryOp::Tanh, &x, &mut y);
        for (&v, &got) in x.iter().zip(&y) {
            assert_eq!(got.to_bits(), tanh(v).to_bits(), "tanh({v})");
        }
    }

    #[test]
    fn tanh_in_vectors_equals_the_scalar_formula() {
        // 4,003 inputs (not a whole number of vectors, so the scalar tail runs too) over
        // and past the clamp, and the specials: where the target's vectors fuse
        // multiply-adds, the vector lanes must give the scalar result bit for bit.
        let mut x: std::vec::Vec<f32> = (0..4000).map(|i| (i as f32 - 2000.0) / 190.0).collect();
        x.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        let mut y = std::vec![0.0f32; x.len()];
        unary(UnaryOp::Tanh, &x, &mut y);
        let mut in_place = x.clone();
        unary_in_place(UnaryOp::Tanh, &mut in_place);
        for ((&v, &got), &got_in_place) in x.iter().zip(&y).zip(&in_place) {
            let want = tanh(v);
            for got in [got, got_in_place] {
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "tanh({v}): {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn unary_scalar_is_exact_on_integers_where_it_can_be() {
        let check = |op: UnaryOp, x: &[i32], expected: &[i32]| {
            let mut y = std::vec![0; x.len()];
            unary_scalar(op, x, &mut y);
            assert_eq!(y, expected, "{op:?}");
            let mut in_place = x.to_vec();
            unary_scalar_in_place(op, &mut in_place);
            assert_eq!(in_place, expected, "{op:?} in place");
        };
        let x = [i32::MIN, -5, 0, 7];
        check(UnaryOp::Abs, &x, &[i32::MIN, 5, 0, 7]);
        check(UnaryOp::Neg, &x, &[i32::MIN, 5, 0, -7]);
        check(UnaryOp::Sign, &x, &[-1, -1, 0, 1]);
        check(UnaryOp::Relu, &x, &[0, 0, 0, 7]);
        check(UnaryOp::Identity, &x, &x);
        // The bounds convert as `as` casts do, truncating: [-1, 2].
        check(
            UnaryOp::Clip {
                min: -1.5,
                max: 2.5,
            },
            &x,
            &[-1, -1, 0, 2],
        );
        // Every other op computes in `f64` and truncates back.
        check(UnaryOp::Exp, &[0, 1, 2], &[1, 2, 7]);
        check(UnaryOp::Sqrt, &[0, 10, -4], &[0, 3, 0]);
        let mut bytes = [1u8, 0, 200];
        unary_scalar_in_place(UnaryOp::Neg, &mut bytes);
        assert_eq!(bytes, [255, 0, 56]);
    }

    #[test]
    fn sign_of_negative_zero_is_positive_zero_in_every_float_type() {
        let mut y = [1.0f32];
        unary(UnaryOp::Sign, &[-0.0], &mut y);
        assert_eq!(y[0].to_bits(), 0);
        let mut y64 = [-0.0f64, f64::NAN];
        unary_scalar_in_place(UnaryOp::Sign, &mut y64);
        assert_eq!(y64[0].to_bits(), 0);
        assert!(y64[1].is_nan());
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

    /// The bound in ulp that `exp_lanes`'s documentation states.
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    const EXP_ULP: u64 = 1;

    /// The bound in ulp that `sigmoid_lanes`'s documentation states.
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    const SIGMOID_ULP: u64 = 2;

    /// The bound in ulp that `swish_lanes`'s documentation states.
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    const SWISH_ULP: u64 = 2;

    /// The bound in ulp that `erf_lanes`'s documentation states.
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    const ERF_ULP: u64 = 2;

    /// The bound in ulp that `gelu_lanes`'s documentation states where `x/√2 ≥ −475/512`.
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    const GELU_ULP: u64 = 4;

    /// The distance in ulp between two floats of the same sign, or across zero, counting
    /// the subnormals and `±∞` as steps like any other.
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    fn ulp_distance(a: f32, b: f32) -> u64 {
        let ordered = |v: f32| {
            let bits = v.to_bits() as i32;
            i64::from(if bits < 0 { i32::MIN - bits } else { bits })
        };
        (ordered(a) - ordered(b)).unsigned_abs()
    }

    /// Inputs over every `f32` exponent (subnormals included), both signs, 384 mantissas
    /// each; the specials; and every float within 200 ulp of the thresholds that
    /// `exp_lanes` documents (overflow at 88.722_83, the first subnormal result at
    /// −87.336_54, zero below −103.972_08) and of sigmoid's.
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    fn sweep() -> Vec<f32> {
        let mut x = Vec::new();
        for biased_exponent in 0u32..=254 {
            for step in 0u32..384 {
                let mantissa = step * ((1 << 23) / 384) + step % 7;
                for sign in [0u32, 1 << 31] {
                    x.push(f32::from_bits(sign | biased_exponent << 23 | mantissa));
                }
            }
        }
        x.extend([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        x.extend([f32::MAX, f32::MIN, f32::MIN_POSITIVE, f32::EPSILON]);
        for threshold in [
            88.722_83f32,
            -87.336_54,
            -103.972_08,
            87.336_54,
            88.5,
            -88.722_83,
        ] {
            for delta in -200i32..=200 {
                x.push(f32::from_bits(
                    threshold.to_bits().wrapping_add_signed(delta),
                ));
            }
        }
        // A dense walk over the range where `e^x` is finite and not zero.
        x.extend((0..200_000).map(|i| -104.0 + i as f32 * (193.0 / 200_000.0)));
        x
    }

    /// `f` on eight lanes at a time over `x` (the last vector padded with zeros).
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    fn lanes_of(
        x: &[f32],
        f: impl Fn(crate::gemm::simd::F32x8) -> crate::gemm::simd::F32x8,
    ) -> Vec<f32> {
        use crate::gemm::simd::F32x8;
        x.chunks(8)
            .flat_map(|chunk| {
                let mut lanes = [0.0f32; 8];
                lanes[..chunk.len()].copy_from_slice(chunk);
                let out = f(F32x8::from_array(lanes)).to_array();
                out[..chunk.len()].to_vec()
            })
            .collect()
    }

    /// `exp_lanes` stays within `EXP_ULP` of `e^x` computed in `f64` and rounded once,
    /// for every input of [`sweep`], subnormal results included; NaN gives NaN.
    #[test]
    fn exp_lanes_is_within_its_bound() {
        #[cfg(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        ))]
        {
            let x = sweep();
            let lanes = lanes_of(&x, exp_lanes);
            // The `f32` kernel, in and out of place: sixteen lanes with AVX-512, then
            // eight, then `expf` on the tail, all within the same bound.
            let mut kernel = std::vec![0.0f32; x.len()];
            unary(UnaryOp::Exp, &x, &mut kernel);
            let mut in_place = x.clone();
            unary_in_place(UnaryOp::Exp, &mut in_place);
            let got = lanes.iter().chain(&kernel).chain(&in_place);
            let mut worst = (0u64, 0.0f32);
            for (&v, &got) in x.iter().cycle().zip(got) {
                let want = libm::exp(f64::from(v)) as f32;
                if v.is_nan() {
                    assert!(got.is_nan(), "exp(NaN) = {got}");
                    continue;
                }
                let ulp = ulp_distance(got, want);
                assert!(
                    ulp <= EXP_ULP,
                    "exp({v:e}) = {got:e}, want {want:e}: {ulp} ulp"
                );
                if ulp > worst.0 {
                    worst = (ulp, v);
                }
            }
            // The documented thresholds, exactly.
            let edges = lanes_of(&[88.722_83, 88.722_84, -103.972_08, -103.972_09], exp_lanes);
            assert!(
                edges[0].is_finite() && edges[1] == f32::INFINITY,
                "{edges:?}"
            );
            assert!(edges[2] > 0.0 && edges[3] == 0.0, "{edges:?}");
            std::println!("exp_lanes: worst {} ulp, at {:e}", worst.0, worst.1);
        }
        #[cfg(not(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        )))]
        std::println!("exp_lanes: NOT RUN (no fused vectors on this target)");
    }

    /// `sigmoid(x)` in `f64`, the reference the vector sigmoid is held to.
    fn sigmoid_f64(x: f64) -> f64 {
        1.0 / (1.0 + libm::exp(-x))
    }

    /// `sigmoid_lanes` stays within `SIGMOID_ULP` of the `f64` sigmoid rounded once where
    /// the result is normal (`x ≥ −87.34`), and below within `2^−126` absolute; `±∞`
    /// give 1 and 0 and NaN gives NaN.
    #[test]
    fn sigmoid_lanes_is_within_its_bound() {
        #[cfg(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        ))]
        {
            let x = sweep();
            let got = lanes_of(&x, sigmoid_lanes);
            let mut worst = (0u64, 0.0f32);
            for (&v, &got) in x.iter().zip(&got) {
                if v.is_nan() {
                    assert!(got.is_nan(), "sigmoid(NaN) = {got}");
                    continue;
                }
                let exact = sigmoid_f64(f64::from(v));
                let want = exact as f32;
                if want >= f32::MIN_POSITIVE {
                    let ulp = ulp_distance(got, want);
                    assert!(
                        ulp <= SIGMOID_ULP,
                        "sigmoid({v:e}) = {got:e}, want {want:e}: {ulp} ulp"
                    );
                    if ulp > worst.0 {
                        worst = (ulp, v);
                    }
                } else {
                    let error = (f64::from(got) - exact).abs();
                    assert!(
                        error <= f64::from(f32::MIN_POSITIVE),
                        "sigmoid({v:e}) = {got:e}, want {exact:e}"
                    );
                }
            }
            let specials = lanes_of(&[f32::INFINITY, f32::NEG_INFINITY], sigmoid_lanes);
            assert_eq!(specials, [1.0, 0.0]);
            std::println!("sigmoid_lanes: worst {} ulp, at {:e}", worst.0, worst.1);
        }
        #[cfg(not(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        )))]
        std::println!("sigmoid_lanes: NOT RUN (no fused vectors on this target)");
    }

    /// `swish_lanes` stays within `SWISH_ULP` of `x · sigmoid(alpha·x)` in `f64` (with
    /// `alpha·x` rounded to `f32`, as both kernels round it) where `alpha·x ≥ −87.34`
    /// and the result is normal, and within `|x|·2^−126` elsewhere, for SiLU
    /// (`alpha` 1) and other `alpha`; the specials follow the scalar formula.
    #[test]
    fn swish_lanes_is_within_its_bound() {
        #[cfg(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        ))]
        {
            let x = sweep();
            for alpha in [1.0f32, 1.702, 0.5, -1.0] {
                let got = lanes_of(&x, |v| swish_lanes(v, alpha));
                let mut worst = (0u64, 0.0f32);
                for (&v, &got) in x.iter().zip(&got) {
                    let product = alpha * v;
                    let scalar = v * sigmoid(product);
                    if !v.is_finite() || !product.is_finite() {
                        // The scalar formula decides: `−∞ · 0` is NaN in both.
                        assert!(
                            got.to_bits() == scalar.to_bits() || (got.is_nan() && scalar.is_nan()),
                            "swish({v:e}, {alpha}) = {got:e}, scalar {scalar:e}"
                        );
                        continue;
                    }
                    let exact = f64::from(v) * sigmoid_f64(f64::from(product));
                    let want = exact as f32;
                    if product >= -87.34 && want.abs() >= f32::MIN_POSITIVE {
                        let ulp = ulp_distance(got, want);
                        assert!(
                            ulp <= SWISH_ULP,
                            "swish({v:e}, {alpha}) = {got:e}, want {want:e}: {ulp} ulp"
                        );
                        if ulp > worst.0 {
                            worst = (ulp, v);
                        }
                    } else {
                        let error = (f64::from(got) - exact).abs();
                        let bound = f64::from(v).abs().max(1.0) * f64::from(f32::MIN_POSITIVE);
                        assert!(
                            error <= bound,
                            "swish({v:e}, {alpha}) = {got:e}, want {exact:e}"
                        );
                    }
                }
                std::println!(
                    "swish_lanes(alpha {alpha}): worst {} ulp, at {:e}",
                    worst.0,
                    worst.1
                );
            }
        }
        #[cfg(not(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        )))]
        std::println!("swish_lanes: NOT RUN (no fused vectors on this target)");
    }

    /// `erf(x)` in `f64`, correctly rounded to `f32` by the final cast in nearly every
    /// case (libm's `erf` is within 1 ulp of `f64`).
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    fn erf_f64(x: f32) -> f32 {
        libm::erf(f64::from(x)) as f32
    }

    /// `erf_lanes` (eight lanes) and the `f32` kernel, in and out of place (sixteen lanes
    /// with AVX-512, then eight, then the scalar `erff` tail) stay within `ERF_ULP` of the
    /// rounded `f64` `erf` for every input of [`sweep`]; `±∞` give `±1`, NaN gives NaN.
    #[test]
    fn erf_lanes_is_within_its_bound() {
        #[cfg(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        ))]
        {
            let mut x = sweep();
            // Dense over the pieces' seam and where `erf` leaves 1 in `f32` (`z ≈ 3.92`).
            x.extend((0..100_003).map(|i| -5.0 + i as f32 * 1e-4));
            let mut kernel = std::vec![0.0f32; x.len()];
            unary(UnaryOp::Erf, &x, &mut kernel);
            let mut in_place = x.clone();
            unary_in_place(UnaryOp::Erf, &mut in_place);
            let lanes = lanes_of(&x, erf_lanes);
            let mut worst = (0u64, 0.0f32);
            for (i, &v) in x.iter().enumerate() {
                for got in [lanes[i], kernel[i], in_place[i]] {
                    if v.is_nan() {
                        assert!(got.is_nan(), "erf(NaN) = {got}");
                        continue;
                    }
                    let want = erf_f64(v);
                    let ulp = ulp_distance(got, want);
                    assert!(
                        ulp <= ERF_ULP,
                        "erf({v:e}) = {got:e}, want {want:e}: {ulp} ulp"
                    );
                    if ulp > worst.0 {
                        worst = (ulp, v);
                    }
                }
            }
            let specials = lanes_of(&[f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0], erf_lanes);
            let bits: Vec<u32> = specials.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bits, [1.0f32, -1.0, 0.0, -0.0].map(f32::to_bits));
            std::println!("erf_lanes: worst {} ulp, at {:e}", worst.0, worst.1);
        }
        #[cfg(not(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        )))]
        std::println!("erf_lanes: NOT RUN (no fused vectors on this target)");
    }

    /// `gelu_lanes` (eight lanes) and the `f32` Gelu kernel, in and out of place, against
    /// `x/2 · erfc(−z)` in `f64`, `z` the rounded `x/√2`: within `GELU_ULP` where
    /// `z ≥ −475/512` and the result is normal; below, within 2 ulp plus `|x|·2^−25`,
    /// or `|x|·2^−126` absolute where the result is subnormal.
    #[test]
    fn gelu_lanes_is_within_its_bound() {
        #[cfg(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        ))]
        {
            let mut x = sweep();
            x.extend((0..100_003).map(|i| -15.0 + i as f32 * 2e-4));
            let mut kernel = std::vec![0.0f32; x.len()];
            unary(UnaryOp::Gelu, &x, &mut kernel);
            let mut in_place = x.clone();
            unary_in_place(UnaryOp::Gelu, &mut in_place);
            let lanes = lanes_of(&x, gelu_lanes);
            let (mut worst, mut worst_tail) = ((0u64, 0.0f32), (0.0f64, 0.0f32));
            for (i, &v) in x.iter().enumerate() {
                for (path, got) in [lanes[i], kernel[i], in_place[i]].into_iter().enumerate() {
                    if !v.is_finite() {
                        let scalar = if v == f32::INFINITY { v } else { f32::NAN };
                        assert!(
                            got.to_bits() == scalar.to_bits() || (got.is_nan() && scalar.is_nan()),
                            "gelu({v:e}) = {got:e}, want {scalar:e}"
                        );
                        continue;
                    }
                    let z = f64::from(v * core::f32::consts::FRAC_1_SQRT_2);
                    let exact = 0.5 * f64::from(v) * libm::erfc(-z);
                    let want = exact as f32;
                    let error = (f64::from(got) - exact).abs();
                    if want.abs() < f32::MIN_POSITIVE {
                        let bound = f64::from(v).abs().max(1.0) * f64::from(f32::MIN_POSITIVE);
                        assert!(error <= bound, "gelu({v:e}) = {got:e}, want {exact:e}");
                    } else if z >= -f64::from(ERF_SPLIT) {
                        let ulp = ulp_distance(got, want);
                        assert!(
                            ulp <= GELU_ULP,
                            "gelu({v:e}) = {got:e}, want {want:e}: {ulp} ulp"
                        );
                        if ulp > worst.0 {
                            worst = (ulp, v);
                        }
                    } else {
                        // `|x|·2^−25` is the error `x/2 · (1 + erf(z))` makes when its
                        // sum is rounded once; `erfc(|z|) = e^R` is accurate to about an
                        // ulp of `erf`, not of itself.
                        let slack = f64::from(v).abs() * 2f64.powi(-25);
                        let ulp = f64::from(want.abs()) * 2f64.powi(-23);
                        let measure = (error - 2.0 * ulp).max(0.0) / slack;
                        assert!(
                            measure <= 1.0,
                            "gelu({v:e}) = {got:e}, want {exact:e}: {measure} of the bound (path {path})"
                        );
                        if measure > worst_tail.0 {
                            worst_tail = (measure, v);
                        }
                    }
                }
            }
            std::println!(
                "gelu_lanes: worst {} ulp, at {:e}; in the tail, {:.3} of the bound at {:e}",
                worst.0,
                worst.1,
                worst_tail.0,
                worst_tail.1
            );
        }
        #[cfg(not(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        )))]
        std::println!("gelu_lanes: NOT RUN (no fused vectors on this target)");
    }

    /// Gelu's tanh form in `f64`, the reference `gelu_tanh_lanes` is held to.
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "fma"),
        target_arch = "aarch64"
    ))]
    fn gelu_tanh_f64(x: f64) -> f64 {
        let u = (2.0 / core::f64::consts::PI).sqrt() * (x + 0.044_715 * x * x * x);
        x / (1.0 + libm::exp(-2.0 * u))
    }

    /// `gelu_tanh_lanes` (eight lanes) and the `f32` GeluTanh kernel, in and out of place
    /// (sixteen lanes with AVX-512, then eight, then the scalar tail), against the formula
    /// in `f64`: a relative error of at most `(4 + 8|u|)·2^−24` where the result is normal
    /// and `u ≥ −43.6`, `|x|·2^−126` absolute elsewhere; `+∞` gives `+∞`, `−∞` and NaN give NaN.
    #[test]
    fn gelu_tanh_lanes_is_within_its_bound() {
        #[cfg(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        ))]
        {
            let mut x = sweep();
            x.extend((0..100_003).map(|i| -12.0 + i as f32 * 2e-4));
            let mut kernel = std::vec![0.0f32; x.len()];
            unary(UnaryOp::GeluTanh, &x, &mut kernel);
            let mut in_place = x.clone();
            unary_in_place(UnaryOp::GeluTanh, &mut in_place);
            let lanes = lanes_of(&x, gelu_tanh_lanes);
            let mut worst = (0.0f64, 0.0f32);
            for (i, &v) in x.iter().enumerate() {
                for got in [lanes[i], kernel[i], in_place[i]] {
                    if !v.is_finite() {
                        let want = if v == f32::INFINITY { v } else { f32::NAN };
                        assert!(
                            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                            "gelu_tanh({v:e}) = {got:e}, want {want:e}"
                        );
                        continue;
                    }
                    let exact = gelu_tanh_f64(f64::from(v));
                    let error = (f64::from(got) - exact).abs();
                    let u = (2.0 / core::f64::consts::PI).sqrt()
                        * (f64::from(v) + 0.044_715 * f64::from(v).powi(3));
                    // Below `u = −43.6`, `e^−2u` overflows (or the result is subnormal).
                    if (exact as f32).abs() < f32::MIN_POSITIVE || u < -43.6 {
                        let bound = f64::from(v).abs().max(1.0) * f64::from(f32::MIN_POSITIVE);
                        assert!(error <= bound, "gelu_tanh({v:e}) = {got:e}, want {exact:e}");
                        continue;
                    }
                    let measure = error / exact.abs() * 2f64.powi(24) / (4.0 + 8.0 * u.abs());
                    assert!(
                        measure <= 1.0,
                        "gelu_tanh({v:e}) = {got:e}, want {exact:e}: {measure} of the bound"
                    );
                    if measure > worst.0 {
                        worst = (measure, v);
                    }
                }
            }
            std::println!(
                "gelu_tanh_lanes: worst {:.3} of the bound, at {:e}",
                worst.0,
                worst.1
            );
        }
        #[cfg(not(any(
            all(target_arch = "x86_64", target_feature = "fma"),
            target_arch = "aarch64"
        )))]
        std::println!("gelu_tanh_lanes: NOT RUN (no fused vectors on this target)");
    }

    /// The kernels' Sigmoid and Swish, in and out of place, over lengths that leave a
    /// scalar tail: the vector lanes and the scalar tail agree with the `f64` formulas.
    #[test]
    fn sigmoid_and_swish_kernels_match_the_f64_formulas() {
        let x: Vec<f32> = (0..4003).map(|i| (i as f32 - 2000.0) / 50.0).collect();
        for op in [
            UnaryOp::Sigmoid,
            UnaryOp::Swish { alpha: 1.0 },
            UnaryOp::Swish { alpha: 1.7 },
        ] {
            let want: Vec<f64> = x
                .iter()
                .map(|&v| match op {
                    UnaryOp::Swish { alpha } => f64::from(v) * sigmoid_f64(f64::from(alpha * v)),
                    _ => sigmoid_f64(f64::from(v)),
                })
                .collect();
            let mut y = std::vec![0.0f32; x.len()];
            unary(op, &x, &mut y);
            let mut in_place = x.clone();
            unary_in_place(op, &mut in_place);
            for ((&v, &want), (&got, &got_in_place)) in
                x.iter().zip(&want).zip(y.iter().zip(&in_place))
            {
                for got in [got, got_in_place] {
                    // Both paths are within a few ulp; 1e-6 relative covers them, with
                    // 1e-37 absolute where the tail's results are tiny.
                    let error = (f64::from(got) - want).abs();
                    assert!(
                        error <= 1e-6 * want.abs() + 1e-37,
                        "{op:?}({v}) = {got:e}, want {want:e}"
                    );
                }
            }
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
        for &(outer, axis_len, inner) in &[
            (1, 5, 1),
            (3, 4, 1),
            (2, 37, 1),
            // Sixteen lanes, eight and a scalar tail with AVX-512.
            (2, 29, 1),
            (1, 128, 1),
            (2, 3, 5),
            (1, 7, 130),
            (2, 1, 3),
        ] {
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

    /// `softmax_f64` agrees with the `f32` kernels' naive reference on rows and columns,
    /// plain and log, and sums each lane to one.
    #[test]
    fn softmax_f64_matches_the_reference() {
        for &(outer, axis_len, inner) in &[(1, 5, 1), (2, 3, 5), (2, 1, 3)] {
            let x: Vec<f32> = (0..outer * axis_len * inner)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.7)
                .collect();
            let wide: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            for log in [false, true] {
                let mut y = std::vec![0.0; x.len()];
                softmax_f64(outer, axis_len, inner, log, 1.0, &wide, &mut y);
                let narrow: Vec<f32> = y.iter().map(|&v| v as f32).collect();
                close(
                    &narrow,
                    &naive_softmax(outer, axis_len, inner, &x, log),
                    1e-5,
                );
                if !log {
                    for o in 0..outer {
                        for lane in 0..inner {
                            let sum: f64 = (0..axis_len)
                                .map(|i| y[(o * axis_len + i) * inner + lane])
                                .sum();
                            assert!((sum - 1.0).abs() < 1e-12, "{sum}");
                        }
                    }
                }
            }
        }
    }

    /// `softmax_scaled` is the softmax of the scaled input (within 1e-5, the products
    /// rounded in another place), rows with every lane width and columns, positive,
    /// negative and unit scales; a unit scale is `softmax` bit for bit.
    #[test]
    fn softmax_scaled_is_the_softmax_of_the_scaled_input() {
        for &(outer, axis_len, inner) in
            &[(3, 4, 1), (2, 29, 1), (4, 128, 1), (2, 3, 5), (1, 7, 130)]
        {
            let x: Vec<f32> = (0..outer * axis_len * inner)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) * 1.3)
                .collect();
            for scale in [0.144_337_57, 2.0, -0.5] {
                let scaled: Vec<f32> = x.iter().map(|v| v * scale).collect();
                let (mut got, mut want) = (std::vec![0.0; x.len()], std::vec![0.0; x.len()]);
                softmax_scaled(outer, axis_len, inner, scale, &x, &mut got);
                softmax(outer, axis_len, inner, &scaled, &mut want);
                close(&got, &want, 1e-5);
            }
            let (mut got, mut want) = (std::vec![0.0; x.len()], std::vec![0.0; x.len()]);
            softmax_scaled(outer, axis_len, inner, 1.0, &x, &mut got);
            softmax(outer, axis_len, inner, &x, &mut want);
            assert_eq!(got, want);
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
