//! Constant tensors known at compile time: initializers, `Constant` nodes and folded values.

use std::fmt;

use super::SyntaxError;

use super::dtype::{DType, TensorType};

/// The elements of a constant tensor, one vector type per dtype.
#[derive(Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    /// Booleans as bytes (0 or 1).
    Bool(Vec<u8>),
}

/// Runs `$body` with `$v` bound to the typed vector of a [`Data`], whatever its dtype.
#[macro_export]
macro_rules! with_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::ir::Data::F32($v) => $body,
            $crate::ir::Data::F64($v) => $body,
            $crate::ir::Data::I8($v) => $body,
            $crate::ir::Data::U8($v) => $body,
            $crate::ir::Data::I16($v) => $body,
            $crate::ir::Data::U16($v) => $body,
            $crate::ir::Data::I32($v) => $body,
            $crate::ir::Data::U32($v) => $body,
            $crate::ir::Data::I64($v) => $body,
            $crate::ir::Data::U64($v) => $body,
            $crate::ir::Data::Bool($v) => $body,
        }
    };
}

/// A tensor whose value is known at compile time.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

/// `Data` of `$dtype` from a slice of primitive numbers by `as` casts; booleans by
/// `$truthy` (`x != 0`).
macro_rules! cast_into {
    ($dtype:expr, $values:expr, |$x:ident| $truthy:expr) => {{
        let values = $values;
        macro_rules! cast {
            ($variant:ident, $ty:ty) => {
                Data::$variant(values.iter().map(|&v| v as $ty).collect())
            };
        }
        match $dtype {
            DType::F32 => cast!(F32, f32),
            DType::F64 => cast!(F64, f64),
            DType::I8 => cast!(I8, i8),
            DType::U8 => cast!(U8, u8),
            DType::I16 => cast!(I16, i16),
            DType::U16 => cast!(U16, u16),
            DType::I32 => cast!(I32, i32),
            DType::U32 => cast!(U32, u32),
            DType::I64 => cast!(I64, i64),
            DType::U64 => cast!(U64, u64),
            DType::Bool => Data::Bool(values.iter().map(|&$x| u8::from($truthy)).collect()),
        }
    }};
}

impl Data {
    pub fn dtype(&self) -> DType {
        match self {
            Self::F32(_) => DType::F32,
            Self::F64(_) => DType::F64,
            Self::I8(_) => DType::I8,
            Self::U8(_) => DType::U8,
            Self::I16(_) => DType::I16,
            Self::U16(_) => DType::U16,
            Self::I32(_) => DType::I32,
            Self::U32(_) => DType::U32,
            Self::I64(_) => DType::I64,
            Self::U64(_) => DType::U64,
            Self::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        with_data!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A zero-filled vector of `n` elements of `dtype`.
    pub fn zeros(dtype: DType, n: usize) -> Self {
        match dtype {
            DType::F32 => Self::F32(vec![0.0; n]),
            DType::F64 => Self::F64(vec![0.0; n]),
            DType::I8 => Self::I8(vec![0; n]),
            DType::U8 => Self::U8(vec![0; n]),
            DType::I16 => Self::I16(vec![0; n]),
            DType::U16 => Self::U16(vec![0; n]),
            DType::I32 => Self::I32(vec![0; n]),
            DType::U32 => Self::U32(vec![0; n]),
            DType::I64 => Self::I64(vec![0; n]),
            DType::U64 => Self::U64(vec![0; n]),
            DType::Bool => Self::Bool(vec![0; n]),
        }
    }

    /// Decodes little-endian bytes; `None` when the length is not a multiple of the element size.
    pub fn from_le_bytes(dtype: DType, bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(dtype.size()) {
            return None;
        }
        macro_rules! decode {
            ($variant:ident, $ty:ty) => {
                Self::$variant(
                    bytes
                        .chunks_exact(std::mem::size_of::<$ty>())
                        .map(|c| <$ty>::from_le_bytes(c.try_into().expect("chunk size")))
                        .collect(),
                )
            };
        }
        Some(match dtype {
            DType::F32 => decode!(F32, f32),
            DType::F64 => decode!(F64, f64),
            DType::I8 => decode!(I8, i8),
            DType::U8 => decode!(U8, u8),
            DType::I16 => decode!(I16, i16),
            DType::U16 => decode!(U16, u16),
            DType::I32 => decode!(I32, i32),
            DType::U32 => decode!(U32, u32),
            DType::I64 => decode!(I64, i64),
            DType::U64 => decode!(U64, u64),
            DType::Bool => Self::Bool(bytes.iter().map(|&b| u8::from(b != 0)).collect()),
        })
    }

    /// The elements as little-endian bytes (the layout of the weight blob and of the arena).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        with_data!(self, v => v.iter().flat_map(|x| x.to_le_bytes()).collect())
    }

    /// Every element converted to `f64` (exact for all supported types but 64-bit integers
    /// beyond 2^53).
    #[allow(clippy::unnecessary_cast)]
    pub fn to_f64_vec(&self) -> Vec<f64> {
        with_data!(self, v => v.iter().map(|&x| x as f64).collect())
    }

    /// Every element converted to `i64` (floats truncated).
    #[allow(clippy::unnecessary_cast)]
    pub fn to_i64_vec(&self) -> Vec<i64> {
        with_data!(self, v => v.iter().map(|&x| x as i64).collect())
    }

    /// Builds data of `dtype` from `f64` values with Rust's saturating `as` casts.
    pub fn from_f64(dtype: DType, values: &[f64]) -> Self {
        cast_into!(dtype, values, |x| x != 0.0)
    }

    /// Builds data of `dtype` from `i64` values with Rust's `as` casts (exact for integers).
    pub fn from_i64(dtype: DType, values: &[i64]) -> Self {
        cast_into!(dtype, values, |x| x != 0)
    }
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Data) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    pub fn ty(&self) -> TensorType {
        TensorType::new(self.dtype(), self.shape.clone())
    }

    pub fn n_elems(&self) -> usize {
        self.data.len()
    }

    /// A 1-D `i64` tensor, the type of shapes and axes.
    pub fn from_i64s(values: Vec<i64>) -> Self {
        Self::new(vec![values.len()], Data::I64(values))
    }

    pub fn scalar_f32(value: f32) -> Self {
        Self::new(vec![], Data::F32(vec![value]))
    }

    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The elements as `i64`s, for integer tensors used as shapes, axes or indices.
    pub fn to_i64s(&self) -> Vec<i64> {
        self.data.to_i64_vec()
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ty())?;
        const SHOWN: usize = 8;
        if self.n_elems() <= SHOWN {
            with_data!(&self.data, v => write!(f, " {v:?}"))?;
        }
        Ok(())
    }
}

impl Tensor {
    /// Reads a constant as the IR text writes it: `f32[2] [1.0, 2.0]`, or
    /// `f32[4,4] splat(0.5)` for a tensor filled with one value.
    pub fn parse(text: &str) -> Result<Tensor, SyntaxError> {
        let end = text
            .find(']')
            .ok_or_else(|| format!("`{text}` is not a tensor like `f32[2] [1.0, 2.0]`"))?;
        let ty = TensorType::parse(&text[..=end])?;
        let values = text[end + 1..].trim();
        let n = ty.n_elems();
        let numbers: Vec<f64> = if let Some(v) = values
            .strip_prefix("splat(")
            .and_then(|v| v.strip_suffix(')'))
        {
            vec![parse_number(v)?; n]
        } else if let Some(list) = values.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            list.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(parse_number)
                .collect::<Result<_, _>>()?
        } else {
            return Err(SyntaxError(format!(
                "constant `{text}` needs its values: `[..]` or `splat(v)`"
            )));
        };
        if numbers.len() != n {
            return Err(SyntaxError(format!(
                "{ty} has {n} elements, but {} values are given",
                numbers.len()
            )));
        }
        let data = if ty.dtype.is_float() {
            Data::from_f64(ty.dtype, &numbers)
        } else {
            let ints: Vec<i64> = numbers.iter().map(|&v| v as i64).collect();
            let data = Data::from_i64(
                if ty.dtype == DType::Bool {
                    DType::U8
                } else {
                    ty.dtype
                },
                &ints,
            );
            match data {
                Data::U8(v) if ty.dtype == DType::Bool => Data::Bool(v),
                other => other,
            }
        };
        Ok(Tensor::new(ty.shape, data))
    }
}

/// A number of the IR text: also `NaN`, `inf`, `-inf`, `true` and `false`.
pub fn parse_number(text: &str) -> Result<f64, SyntaxError> {
    match text.trim() {
        "NaN" => Ok(f64::NAN),
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        "true" => Ok(1.0),
        "false" => Ok(0.0),
        t => t
            .parse()
            .map_err(|_| SyntaxError(format!("`{t}` is not a number"))),
    }
}
