//! The element types the generic kernels accept, and the arithmetic they share.
//!
//! Integer arithmetic wraps (ONNX Runtime wraps too, and a debug-build overflow panic
//! would be a panic reachable from input data); integer division by zero is returned as
//! [`KernelError::DivisionByZero`]. Float arithmetic follows IEEE 754 and never fails.

use crate::KernelError;

/// Element types the generic kernels accept.
pub trait Scalar: bytemuck::Pod + PartialOrd + Default + core::fmt::Debug {
    /// The additive identity.
    const ZERO: Self;
    /// The multiplicative identity.
    const ONE: Self;
    /// `self + o`, wrapping for integers.
    fn add(self, o: Self) -> Self;
    /// `self - o`, wrapping for integers.
    fn sub(self, o: Self) -> Self;
    /// `self * o`, wrapping for integers.
    fn mul(self, o: Self) -> Self;
    /// `self / o`: truncating and wrapping for integers, which fail on a zero divisor.
    fn div(self, o: Self) -> Result<Self, KernelError>;
    /// ONNX `Mod` with `fmod = 0`: for integers the result takes the sign of the divisor
    /// (Python's `%`); for floats it is C's `fmod` (the sign of the dividend), which is
    /// what ONNX requires for floats (`fmod = 1`).
    fn rem(self, o: Self) -> Result<Self, KernelError>;
    /// The larger of two values (for floats, a NaN operand loses to a number).
    fn max(self, o: Self) -> Self;
    /// The smaller of two values (for floats, a NaN operand loses to a number).
    fn min(self, o: Self) -> Self;
    /// `-self`, wrapping for integers (so unsigned negation is `wrapping_neg`).
    fn neg(self) -> Self;
    /// `|self|`, wrapping for signed integers (`MIN.abs() == MIN`).
    fn abs(self) -> Self;
    /// The value as `f64` (rounded for 64-bit integers beyond 2^53).
    fn to_f64(self) -> f64;
    /// A saturating `as` cast from `f64` (NaN becomes 0 for integers).
    fn from_f64(v: f64) -> Self;
    /// The value as `i64` (an `as` cast: floats saturate, `u64` wraps).
    fn to_i64(self) -> i64;
    /// The value as `i128`: exact for integers, an `as` cast (truncating, saturating) for floats.
    fn to_i128(self) -> i128;
    /// An `as` cast from `i128`: wrapping for integers, rounding for floats.
    fn from_i128(v: i128) -> Self;
    /// C's `fmod`: the remainder with the sign of the dividend (ONNX `Mod` with
    /// `fmod = 1`); integers fail on a zero divisor.
    fn fmod(self, o: Self) -> Result<Self, KernelError>;
}

/// Integer types that ONNX uses for indices (`Gather`, `ScatterND`, …).
pub trait Index: bytemuck::Pod {
    /// The index as `i64`.
    fn to_i64(self) -> i64;
}

impl Index for i32 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
}

impl Index for i64 {
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self
    }
}

/// Whether `T` is a float type; constant after monomorphisation, so a branch on it costs
/// nothing. Integers truncate 0.5 to 0, floats keep it.
#[inline(always)]
pub(crate) fn is_float<T: Scalar>() -> bool {
    T::from_f64(0.5) != T::ZERO
}

macro_rules! impl_float {
    ($ty:ty, $fmod:path) => {
        impl Scalar for $ty {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;

            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self + o
            }

            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self - o
            }

            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self * o
            }

            #[inline(always)]
            fn div(self, o: Self) -> Result<Self, KernelError> {
                Ok(self / o)
            }

            #[inline(always)]
            fn rem(self, o: Self) -> Result<Self, KernelError> {
                Ok($fmod(self, o))
            }

            #[inline(always)]
            fn max(self, o: Self) -> Self {
                <$ty>::max(self, o)
            }

            #[inline(always)]
            fn min(self, o: Self) -> Self {
                <$ty>::min(self, o)
            }

            #[inline(always)]
            fn neg(self) -> Self {
                -self
            }

            #[inline(always)]
            fn abs(self) -> Self {
                <$ty>::abs(self)
            }

            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }

            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $ty
            }

            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }

            #[inline(always)]
            fn to_i128(self) -> i128 {
                self as i128
            }

            #[inline(always)]
            fn from_i128(v: i128) -> Self {
                v as $ty
            }

            #[inline(always)]
            fn fmod(self, o: Self) -> Result<Self, KernelError> {
                Ok($fmod(self, o))
            }
        }
    };
}

impl_float!(f32, libm::fmodf);
impl_float!(f64, libm::fmod);

macro_rules! impl_int {
    ($ty:ty, abs: $abs:expr, divisor_sign: $divisor_sign:expr) => {
        impl Scalar for $ty {
            const ZERO: Self = 0;
            const ONE: Self = 1;

            #[inline(always)]
            fn add(self, o: Self) -> Self {
                self.wrapping_add(o)
            }

            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                self.wrapping_sub(o)
            }

            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                self.wrapping_mul(o)
            }

            #[inline(always)]
            fn div(self, o: Self) -> Result<Self, KernelError> {
                if o == 0 {
                    return Err(KernelError::DivisionByZero);
                }
                // `MIN / -1` overflows; wrapping gives `MIN`, as C on two's complement does.
                Ok(self.wrapping_div(o))
            }

            #[inline(always)]
            fn rem(self, o: Self) -> Result<Self, KernelError> {
                if o == 0 {
                    return Err(KernelError::DivisionByZero);
                }
                // Rust's `%` takes the sign of the dividend; ONNX wants the divisor's.
                let divisor_sign: fn(Self, Self) -> Self = $divisor_sign;
                Ok(divisor_sign(self.wrapping_rem(o), o))
            }

            #[inline(always)]
            fn max(self, o: Self) -> Self {
                Ord::max(self, o)
            }

            #[inline(always)]
            fn min(self, o: Self) -> Self {
                Ord::min(self, o)
            }

            #[inline(always)]
            fn neg(self) -> Self {
                self.wrapping_neg()
            }

            #[inline(always)]
            fn abs(self) -> Self {
                let abs: fn(Self) -> Self = $abs;
                abs(self)
            }

            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }

            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $ty
            }

            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }

            #[inline(always)]
            fn to_i128(self) -> i128 {
                self as i128
            }

            #[inline(always)]
            fn from_i128(v: i128) -> Self {
                v as $ty
            }

            #[inline(always)]
            fn fmod(self, o: Self) -> Result<Self, KernelError> {
                if o == 0 {
                    return Err(KernelError::DivisionByZero);
                }
                Ok(self.wrapping_rem(o))
            }
        }
    };
}

/// Moves a signed remainder onto the divisor's side of zero (Python's `%`).
macro_rules! signed_divisor_sign {
    () => {
        |remainder, divisor| {
            if remainder != 0 && ((remainder < 0) != (divisor < 0)) {
                remainder.wrapping_add(divisor)
            } else {
                remainder
            }
        }
    };
}

impl_int!(i8, abs: i8::wrapping_abs, divisor_sign: signed_divisor_sign!());
impl_int!(i16, abs: i16::wrapping_abs, divisor_sign: signed_divisor_sign!());
impl_int!(i32, abs: i32::wrapping_abs, divisor_sign: signed_divisor_sign!());
impl_int!(i64, abs: i64::wrapping_abs, divisor_sign: signed_divisor_sign!());
// Unsigned remainders already have the (non-negative) sign of the divisor.
impl_int!(u8, abs: |v| v, divisor_sign: |remainder, _| remainder);
impl_int!(u16, abs: |v| v, divisor_sign: |remainder, _| remainder);
impl_int!(u32, abs: |v| v, divisor_sign: |remainder, _| remainder);
impl_int!(u64, abs: |v| v, divisor_sign: |remainder, _| remainder);

/// The float element types, `f32` and `f64`, with the math the unary formulas need, so
/// [`crate::elementwise`] writes each formula once for both. Every function is `libm`'s in
/// the type's own precision, except [`Float::tanh_op`].
pub(crate) trait Float:
    Scalar
    + core::ops::Add<Output = Self>
    + core::ops::Sub<Output = Self>
    + core::ops::Mul<Output = Self>
    + core::ops::Div<Output = Self>
    + core::ops::Neg<Output = Self>
{
    /// `1/√2`.
    const FRAC_1_SQRT_2: Self;
    /// `2/√π`.
    const FRAC_2_SQRT_PI: Self;
    /// An ONNX float attribute, exactly.
    fn from_f32(v: f32) -> Self;
    /// `self` limited to `[lo, hi]` (NaN stays NaN).
    fn clamp(self, lo: Self, hi: Self) -> Self;
    fn exp(self) -> Self;
    /// `e^self − 1`, accurate near 0.
    fn exp_m1(self) -> Self;
    fn ln(self) -> Self;
    /// `ln(1 + self)`, accurate near 0.
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn floor(self) -> Self;
    fn ceil(self) -> Self;
    /// Rounds to the nearest integer, halves to even (`rint` in the default rounding mode).
    fn round_half_even(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn tan(self) -> Self;
    fn asin(self) -> Self;
    fn acos(self) -> Self;
    fn atan(self) -> Self;
    fn sinh(self) -> Self;
    fn cosh(self) -> Self;
    fn asinh(self) -> Self;
    /// NaN below 1, as the spec has it.
    fn acosh(self) -> Self;
    fn atanh(self) -> Self;
    fn erf(self) -> Self;
    /// `1 − erf(x)`, without the cancellation (for the exact Gelu's negative side).
    fn erfc(self) -> Self;
    /// `libm`'s `tanh`, for the formulas built on it (Mish, the tanh form of Gelu).
    fn tanh(self) -> Self;
    /// The `Tanh` op itself: for `f32` the rational approximation ONNX Runtime evaluates
    /// ([`crate::elementwise::tanh`]), which recurrent models need bit for bit; for `f64`
    /// `libm`'s.
    fn tanh_op(self) -> Self;
}

macro_rules! impl_float_math {
    ($ty:ident, $tanh_op:path, $acosh:ident, [$($method:ident => $libm:ident),* $(,)?]) => {
        impl Float for $ty {
            const FRAC_1_SQRT_2: Self = core::$ty::consts::FRAC_1_SQRT_2;
            const FRAC_2_SQRT_PI: Self = core::$ty::consts::FRAC_2_SQRT_PI;

            #[inline(always)]
            fn from_f32(v: f32) -> Self {
                v.into()
            }

            #[inline(always)]
            fn clamp(self, lo: Self, hi: Self) -> Self {
                <$ty>::clamp(self, lo, hi)
            }

            #[inline(always)]
            fn tanh_op(self) -> Self {
                $tanh_op(self)
            }

            /// NaN below 1: libm 0.2.16's `acoshf` and `acosh` look only at |x| and
            /// return a finite value for some x ≤ −2 (fixed upstream after that release;
            /// found by the differential checks, checks/).
            #[inline(always)]
            fn acosh(self) -> Self {
                if self < 1.0 {
                    <$ty>::NAN
                } else {
                    libm::$acosh(self)
                }
            }

            $(
                #[inline(always)]
                fn $method(self) -> Self {
                    libm::$libm(self)
                }
            )*
        }
    };
}

impl_float_math!(f32, crate::elementwise::tanh, acoshf, [
    exp => expf, exp_m1 => expm1f, ln => logf, ln_1p => log1pf, sqrt => sqrtf,
    floor => floorf, ceil => ceilf, round_half_even => rintf, sin => sinf, cos => cosf,
    tan => tanf, asin => asinf, acos => acosf, atan => atanf, sinh => sinhf, cosh => coshf,
    asinh => asinhf, atanh => atanhf, erf => erff, erfc => erfcf, tanh => tanhf,
]);
impl_float_math!(f64, libm::tanh, acosh, [
    exp => exp, exp_m1 => expm1, ln => log, ln_1p => log1p, sqrt => sqrt,
    floor => floor, ceil => ceil, round_half_even => rint, sin => sin, cos => cos,
    tan => tan, asin => asin, acos => acos, atan => atan, sinh => sinh, cosh => cosh,
    asinh => asinh, atanh => atanh, erf => erf, erfc => erfc, tanh => tanh,
]);

/// `max(x, bound)` as one comparison: a NaN `x` (or any `x` that does not compare
/// greater) gives `bound`, as `vmaxps` does with `bound` second. Also a running maximum
/// that skips NaN inputs. `f32::max` is LLVM's `maxnum`, which becomes a call to `fmaxf`
/// at opt-level "z" on x86_64; this compiles to one `maxps` at every level.
#[inline(always)]
pub fn at_least<T: PartialOrd>(x: T, bound: T) -> T {
    if x > bound {
        x
    } else {
        bound
    }
}

/// `min(x, bound)` as one comparison: a NaN `x` gives `bound` (see [`at_least`]).
#[inline(always)]
pub fn at_most<T: PartialOrd>(x: T, bound: T) -> T {
    if x < bound {
        x
    } else {
        bound
    }
}

/// `a·b + c` rounded once to `f32`, as a fused multiply-add instruction computes it.
///
/// The product of two `f32`s is exact in `f64` and the sum is rounded once to `f64` and
/// then to `f32`; that double rounding differs from a true FMA only when the `f64` sum
/// lands exactly halfway between two `f32`s. `core` offers no `mul_add` without `std`,
/// and this form vectorises on every target.
///
/// On an Arm core with an FPU it is the FPU's fused multiply-add
/// ([`crate::dsp::fma_f32`]), rounded once as x86-64's vectors round it, since `f64` is
/// software on a single-precision FPU.
#[inline(always)]
pub fn fmadd(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(all(target_arch = "arm", target_feature = "fpregs"))]
    {
        crate::dsp::fma_f32(a, b, c)
    }
    #[cfg(not(all(target_arch = "arm", target_feature = "fpregs")))]
    {
        (f64::from(a) * f64::from(b) + f64::from(c)) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmadd_rounds_once() {
        // 1 + 2^-23 squared is 1 + 2^-22 + 2^-46: rounded first, the product is 1 + 2^-22
        // and the sum with -(1 + 2^-22) is 0; fused, the sum keeps 2^-46.
        let x = 1.0 + f32::EPSILON;
        let c = -(1.0 + 2.0 * f32::EPSILON);
        assert_eq!(x * x + c, 0.0);
        assert_eq!(fmadd(x, x, c), f32::EPSILON * f32::EPSILON);
        assert_eq!(fmadd(3.0, 0.5, 0.25), 1.75);
    }

    #[test]
    fn integer_arithmetic_wraps() {
        assert_eq!(Scalar::add(i8::MAX, 1), i8::MIN);
        assert_eq!(0u8.sub(1), u8::MAX);
        assert_eq!(i32::MAX.mul(2), -2);
        assert_eq!(i32::MIN.div(-1), Ok(i32::MIN));
        assert_eq!(Scalar::abs(i64::MIN), i64::MIN);
        assert_eq!(5u32.neg(), 5u32.wrapping_neg());
    }

    #[test]
    fn integer_division_by_zero_is_an_error() {
        assert_eq!(7i32.div(0), Err(KernelError::DivisionByZero));
        assert_eq!(7u8.rem(0), Err(KernelError::DivisionByZero));
        assert_eq!(7i32.div(2), Ok(3));
        assert_eq!((-7i32).div(2), Ok(-3));
    }

    #[test]
    fn integer_remainder_takes_the_sign_of_the_divisor() {
        assert_eq!(7i32.rem(3), Ok(1));
        assert_eq!((-7i32).rem(3), Ok(2));
        assert_eq!(7i32.rem(-3), Ok(-2));
        assert_eq!((-7i32).rem(-3), Ok(-1));
        assert_eq!((-6i8).rem(3), Ok(0));
        assert_eq!(i8::MIN.rem(-1), Ok(0));
        assert_eq!(7u16.rem(3), Ok(1));
    }

    #[test]
    fn float_division_never_fails() {
        assert_eq!(1.0f32.div(0.0), Ok(f32::INFINITY));
        assert!(0.0f64.div(0.0).unwrap().is_nan());
        assert_eq!((-7.5f32).rem(2.0), Ok(-1.5));
    }

    #[test]
    fn conversions_saturate() {
        assert_eq!(u8::from_f64(300.0), 255);
        assert_eq!(i8::from_f64(-300.0), -128);
        assert_eq!(i32::from_f64(f64::NAN), 0);
        assert_eq!(i16::from_f64(-2.7), -2);
        assert_eq!(f32::from_f64(1.5), 1.5);
        assert_eq!(u64::MAX.to_i64(), -1);
        assert_eq!(3.9f32.to_i64(), 3);
        assert_eq!(Index::to_i64(-4i32), -4);
    }

    #[test]
    fn float_detection() {
        assert!(is_float::<f32>());
        assert!(is_float::<f64>());
        assert!(!is_float::<i8>());
        assert!(!is_float::<u64>());
    }
}
