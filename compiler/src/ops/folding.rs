//! Helpers for constant folding: element types the runtime kernels compute in, and
//! moving bytes for data-movement ops on any dtype.

use crate::tensor::{DType, Tensor, TensorType};

/// A Rust element type that constant folding computes in.
pub trait Elem: zant_runtime::scalar::Scalar {
    /// Wraps a vector as [`Data`] (`u8` as `U8`; see [`retag`] for booleans).
    fn into_data(v: Vec<Self>) -> crate::tensor::Data;
}

macro_rules! impl_elem {
    ($($ty:ty => $variant:ident),*) => {
        $(impl Elem for $ty {
            fn into_data(v: Vec<Self>) -> crate::tensor::Data {
                crate::tensor::Data::$variant(v)
            }
        })*
    };
}

impl_elem!(f32 => F32, f64 => F64, i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32,
    u32 => U32, i64 => I64, u64 => U64);

/// Wraps a folded vector as data of `dtype` (bytes become `Bool` when `dtype` is bool,
/// and a narrow type's storage units its codes).
pub fn retag<T: Elem>(v: Vec<T>, dtype: DType) -> crate::tensor::Data {
    use crate::tensor::Data;
    match T::into_data(v) {
        Data::U8(b) if dtype == DType::Bool => Data::Bool(b),
        Data::U8(b) if dtype.narrow().is_some() => {
            Data::from_codes(dtype, &b.iter().map(|&c| u32::from(c)).collect::<Vec<_>>())
        }
        Data::U16(b) if dtype.narrow().is_some() => {
            Data::from_codes(dtype, &b.iter().map(|&c| u32::from(c)).collect::<Vec<_>>())
        }
        other => other,
    }
}

/// Folds a data-movement op on any dtype by moving elements as `size`-byte groups:
/// `f(x_bytes, y_bytes, size)` fills the output's bytes (a packed type's elements are
/// its codes, one a byte).
pub fn move_bytes(
    x: &Tensor,
    out: &TensorType,
    f: impl FnOnce(&[u8], &mut [u8], usize),
) -> crate::tensor::Data {
    let (xb, size) = x.data.element_bytes();
    let mut yb = vec![0u8; out.n_elems() * size];
    f(&xb, &mut yb, size);
    crate::tensor::Data::from_element_bytes(out.dtype, &yb).expect("whole elements")
}
