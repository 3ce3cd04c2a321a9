//! Comparisons, boolean logic, bit shifts and type casts: the element-wise kernels whose
//! output type differs from their input type. Booleans are bytes, 0 or 1.

use crate::scalar::{is_float, Scalar};
use crate::shape::zip_broadcast;
use crate::tokens::tokens;
use crate::KernelError;

tokens! {
    rt::logic;
    /// A comparison (ONNX `Equal`, `Less`, `LessOrEqual`, `Greater`, `GreaterOrEqual`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum CompareOp {
        Equal,
        Less,
        LessOrEqual,
        Greater,
        GreaterOrEqual,
    }
}

/// `y = a op b` as 0/1 bytes, with numpy broadcasting. A NaN compares false (and unequal).
pub fn compare<T: Scalar>(
    op: CompareOp,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    y: &mut [u8],
    y_shape: &[usize],
) {
    let result: Result<(), core::convert::Infallible> = match op {
        CompareOp::Equal => zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |a, b| {
            Ok(u8::from(a == b))
        }),
        CompareOp::Less => zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |a, b| {
            Ok(u8::from(a < b))
        }),
        CompareOp::LessOrEqual => zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |a, b| {
            Ok(u8::from(a <= b))
        }),
        CompareOp::Greater => zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |a, b| {
            Ok(u8::from(a > b))
        }),
        CompareOp::GreaterOrEqual => zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |a, b| {
            Ok(u8::from(a >= b))
        }),
    };
    let Ok(()) = result;
}

tokens! {
    rt::logic;
    /// A boolean operation (ONNX `And`, `Or`, `Xor`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum LogicOp {
        And,
        Or,
        Xor,
    }
}

/// `y = a op b` on 0/1 bytes (any non-zero byte is true), with numpy broadcasting.
pub fn logic(
    op: LogicOp,
    a: &[u8],
    a_shape: &[usize],
    b: &[u8],
    b_shape: &[usize],
    y: &mut [u8],
    y_shape: &[usize],
) {
    let f = match op {
        LogicOp::And => |a: bool, b: bool| a && b,
        LogicOp::Or => |a: bool, b: bool| a || b,
        LogicOp::Xor => |a: bool, b: bool| a != b,
    };
    let result: Result<(), core::convert::Infallible> =
        zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |a, b| {
            Ok(u8::from(f(a != 0, b != 0)))
        });
    let Ok(()) = result;
}

/// `y = !x` on 0/1 bytes.
pub fn not(x: &[u8], y: &mut [u8]) {
    for (out, &v) in y.iter_mut().zip(x) {
        *out = u8::from(v == 0);
    }
}

/// ONNX `BitShift`: `a << b` (`left`) or `a >> b`, with numpy broadcasting; a signed right
/// shift is arithmetic (opset 28). A shift that is negative or the type's width or more
/// leaves only the sign fill: -1 for a right shift of a negative value, else 0.
pub fn bit_shift<T: Scalar>(
    left: bool,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    y: &mut [T],
    y_shape: &[usize],
) {
    let bits = (core::mem::size_of::<T>() * 8) as i128;
    let result: Result<(), core::convert::Infallible> =
        zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |a: T, b: T| {
            let shift = b.to_i128();
            Ok(if !(0..bits).contains(&shift) {
                if !left && a < T::ZERO {
                    T::ZERO.sub(T::ONE)
                } else {
                    T::ZERO
                }
            } else if left {
                T::from_i128(a.to_i128() << shift)
            } else {
                T::from_i128(a.to_i128() >> shift)
            })
        });
    let Ok(()) = result;
}

tokens! {
    rt::logic;
    /// A bitwise operation on integers (ONNX `BitwiseAnd`, `BitwiseOr`, `BitwiseXor`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum BitwiseOp {
        And,
        Or,
        Xor,
    }
}

/// `y = a op b` bit by bit, with numpy broadcasting.
pub fn bitwise<T: Scalar>(
    op: BitwiseOp,
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    y: &mut [T],
    y_shape: &[usize],
) {
    let f = match op {
        BitwiseOp::And => |a: i128, b: i128| a & b,
        BitwiseOp::Or => |a: i128, b: i128| a | b,
        BitwiseOp::Xor => |a: i128, b: i128| a ^ b,
    };
    let result: Result<(), core::convert::Infallible> =
        zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |a: T, b: T| {
            Ok(T::from_i128(f(a.to_i128(), b.to_i128())))
        });
    let Ok(()) = result;
}

/// `y = !x` bit by bit (ONNX `BitwiseNot`).
pub fn bitwise_not<T: Scalar>(x: &[T], y: &mut [T]) {
    for (out, &v) in y.iter_mut().zip(x) {
        *out = T::from_i128(!v.to_i128());
    }
}

/// ONNX `Cast` to a numeric type: floats to integers truncate toward zero and saturate
/// (NaN becomes 0), integers to integers wrap, integers to floats round to nearest.
pub fn cast<A: Scalar, B: Scalar>(x: &[A], y: &mut [B]) {
    if is_float::<A>() {
        for (out, &v) in y.iter_mut().zip(x) {
            *out = B::from_f64(v.to_f64());
        }
    } else {
        for (out, &v) in y.iter_mut().zip(x) {
            *out = B::from_i128(v.to_i128());
        }
    }
}

/// ONNX `Cast` to bool: any value but zero is true (NaN included).
pub fn cast_to_bool<A: Scalar>(x: &[A], y: &mut [u8]) {
    for (out, &v) in y.iter_mut().zip(x) {
        *out = u8::from(v != A::ZERO);
    }
}

/// `Pow` with an exponent of another type than the base: computed in `f64` and cast to
/// the base's type (an integer base truncates).
pub fn pow_mixed<T: Scalar, E: Scalar>(
    a: &[T],
    a_shape: &[usize],
    b: &[E],
    b_shape: &[usize],
    y: &mut [T],
    y_shape: &[usize],
) -> Result<(), KernelError> {
    zip_broadcast(a, a_shape, b, b_shape, y, y_shape, |a: T, b: E| {
        Ok(T::from_f64(libm::pow(a.to_f64(), b.to_f64())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_broadcast_and_reject_nan() {
        let mut y = [9u8; 4];
        compare(
            CompareOp::Less,
            &[1.0f32, f32::NAN],
            &[2, 1],
            &[0.0, 5.0],
            &[2],
            &mut y,
            &[2, 2],
        );
        assert_eq!(y, [0, 1, 0, 0]);
        compare(
            CompareOp::Equal,
            &[3i64, 4],
            &[2],
            &[4],
            &[],
            &mut y[..2],
            &[2],
        );
        assert_eq!(&y[..2], &[0, 1]);
    }

    #[test]
    fn logic_and_not() {
        let mut y = [0u8; 4];
        logic(LogicOp::Xor, &[0, 1, 1, 0], &[4], &[1], &[1], &mut y, &[4]);
        assert_eq!(y, [1, 0, 0, 1]);
        not(&[0, 1], &mut y[..2]);
        assert_eq!(&y[..2], &[1, 0]);
    }

    #[test]
    fn shifts_past_the_width_give_zero() {
        let mut y = [0u8; 3];
        bit_shift(true, &[1u8, 3, 255], &[3], &[2, 7, 8], &[3], &mut y, &[3]);
        assert_eq!(y, [4, 128, 0]);
        bit_shift(false, &[16u8, 3, 255], &[3], &[2, 1, 9], &[3], &mut y, &[3]);
        assert_eq!(y, [4, 1, 0]);
    }

    #[test]
    fn casts_truncate_wrap_and_saturate() {
        let mut ints = [0i32; 4];
        cast(&[1.9f32, -1.9, f32::NAN, 1e20], &mut ints);
        assert_eq!(ints, [1, -1, 0, i32::MAX]);
        let mut bytes = [0u8; 2];
        cast(&[257i64, -1], &mut bytes);
        assert_eq!(bytes, [1, 255]);
        let mut floats = [0.0f64; 2];
        cast(&[u64::MAX, 3], &mut floats);
        assert_eq!(floats, [u64::MAX as f64, 3.0]);
        cast_to_bool(&[0.0f32, f32::NAN], &mut bytes);
        assert_eq!(bytes, [0, 1]);
    }
}
