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
    /// The narrow types hold each element's code, its bits right-aligned, one element per
    /// entry even for the packed sub-byte types: [`Data::to_le_bytes`] packs them.
    F16(Vec<u16>),
    BF16(Vec<u16>),
    F8E4M3FN(Vec<u8>),
    F8E4M3FNUZ(Vec<u8>),
    F8E5M2(Vec<u8>),
    F8E5M2FNUZ(Vec<u8>),
    F8E8M0(Vec<u8>),
    F4E2M1(Vec<u8>),
    I4(Vec<u8>),
    U4(Vec<u8>),
    I2(Vec<u8>),
    U2(Vec<u8>),
}

/// Calls `$m!` with the name of every [`Data`] variant, for folds that move elements of
/// any type (`run_all!(run)` → `run!(F32, F64, …)`).
#[macro_export]
macro_rules! all_dtypes {
    ($m:ident) => {
        $m!(
            F32, F64, I8, U8, I16, U16, I32, U32, I64, U64, Bool, F16, BF16, F8E4M3FN, F8E4M3FNUZ,
            F8E5M2, F8E5M2FNUZ, F8E8M0, F4E2M1, I4, U4, I2, U2
        )
    };
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
            $crate::ir::Data::F16($v) => $body,
            $crate::ir::Data::BF16($v) => $body,
            $crate::ir::Data::F8E4M3FN($v) => $body,
            $crate::ir::Data::F8E4M3FNUZ($v) => $body,
            $crate::ir::Data::F8E5M2($v) => $body,
            $crate::ir::Data::F8E5M2FNUZ($v) => $body,
            $crate::ir::Data::F8E8M0($v) => $body,
            $crate::ir::Data::F4E2M1($v) => $body,
            $crate::ir::Data::I4($v) => $body,
            $crate::ir::Data::U4($v) => $body,
            $crate::ir::Data::I2($v) => $body,
            $crate::ir::Data::U2($v) => $body,
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
            narrow => {
                let format = narrow.narrow().expect("every other type is narrow");
                let to = zant_runtime::narrow::Encoding::new(format);
                let codes: Vec<u32> = values
                    .iter()
                    .map(|&v| {
                        if format.is_int() {
                            (v as i64 as u32) & ((1 << format.bits()) - 1)
                        } else {
                            zant_runtime::narrow::encode(to, v as f64)
                        }
                    })
                    .collect();
                Data::from_codes(narrow, &codes)
            }
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
            Self::F16(_) => DType::F16,
            Self::BF16(_) => DType::BF16,
            Self::F8E4M3FN(_) => DType::F8E4M3FN,
            Self::F8E4M3FNUZ(_) => DType::F8E4M3FNUZ,
            Self::F8E5M2(_) => DType::F8E5M2,
            Self::F8E5M2FNUZ(_) => DType::F8E5M2FNUZ,
            Self::F8E8M0(_) => DType::F8E8M0,
            Self::F4E2M1(_) => DType::F4E2M1,
            Self::I4(_) => DType::I4,
            Self::U4(_) => DType::U4,
            Self::I2(_) => DType::I2,
            Self::U2(_) => DType::U2,
        }
    }

    /// Data of a narrow `dtype` from element codes (bits right-aligned).
    ///
    /// # Panics
    ///
    /// When `dtype` is not narrow: a compiler bug.
    pub fn from_codes(dtype: DType, codes: &[u32]) -> Self {
        let wide = || codes.iter().map(|&c| c as u16).collect();
        let bytes = || codes.iter().map(|&c| c as u8).collect();
        match dtype {
            DType::F16 => Self::F16(wide()),
            DType::BF16 => Self::BF16(wide()),
            DType::F8E4M3FN => Self::F8E4M3FN(bytes()),
            DType::F8E4M3FNUZ => Self::F8E4M3FNUZ(bytes()),
            DType::F8E5M2 => Self::F8E5M2(bytes()),
            DType::F8E5M2FNUZ => Self::F8E5M2FNUZ(bytes()),
            DType::F8E8M0 => Self::F8E8M0(bytes()),
            DType::F4E2M1 => Self::F4E2M1(bytes()),
            DType::I4 => Self::I4(bytes()),
            DType::U4 => Self::U4(bytes()),
            DType::I2 => Self::I2(bytes()),
            DType::U2 => Self::U2(bytes()),
            other => panic!("{other} is not a narrow type"),
        }
    }

    /// The element codes of narrow data (bits right-aligned); `None` for other types.
    pub fn codes(&self) -> Option<Vec<u32>> {
        match self {
            Self::F16(v) | Self::BF16(v) => Some(v.iter().map(|&c| u32::from(c)).collect()),
            Self::F8E4M3FN(v)
            | Self::F8E4M3FNUZ(v)
            | Self::F8E5M2(v)
            | Self::F8E5M2FNUZ(v)
            | Self::F8E8M0(v)
            | Self::F4E2M1(v)
            | Self::I4(v)
            | Self::U4(v)
            | Self::I2(v)
            | Self::U2(v) => Some(v.iter().map(|&c| u32::from(c)).collect()),
            _ => None,
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
            narrow => Self::from_codes(narrow, &vec![0; n]),
        }
    }

    /// Decodes little-endian bytes in the storage layout of `dtype` (packed for the
    /// sub-byte types); `None` when they are not whole storage units.
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
            DType::F16 => Self::F16(decode!(U16, u16).into_u16()),
            DType::BF16 => Self::BF16(decode!(U16, u16).into_u16()),
            narrow => {
                // Every element of the bytes, padding included: see `from_storage`.
                let bits = narrow.narrow().expect("narrow").bits();
                let per = 8 / bits;
                let mask = (1u32 << bits) - 1;
                let codes: Vec<u32> = bytes
                    .iter()
                    .flat_map(|&b| (0..per).map(move |k| (u32::from(b) >> (k * bits)) & mask))
                    .collect();
                Self::from_codes(narrow, &codes)
            }
        })
    }

    /// Decodes the `n` elements of `dtype` that `bytes` store; `None` unless `bytes` is
    /// exactly their storage (a packed last byte's padding is dropped).
    pub fn from_storage(dtype: DType, bytes: &[u8], n: usize) -> Option<Self> {
        if bytes.len() != dtype.n_bytes(n) {
            return None;
        }
        let mut data = Self::from_le_bytes(dtype, bytes)?;
        data.truncate(n);
        Some(data)
    }

    /// Keeps the first `n` elements.
    fn truncate(&mut self, n: usize) {
        with_data!(self, v => v.truncate(n));
    }

    fn into_u16(self) -> Vec<u16> {
        match self {
            Self::U16(v) => v,
            _ => unreachable!("decoded as u16"),
        }
    }

    /// The elements as little-endian bytes in storage layout (the layout of the weight
    /// blob and of the arena): packed for the sub-byte types.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        if let (Some(format), Some(codes)) = (self.dtype().narrow(), self.codes()) {
            if format.is_packed() {
                let bits = format.bits();
                let per = 8 / bits;
                return codes
                    .chunks(per)
                    .map(|chunk| {
                        chunk
                            .iter()
                            .enumerate()
                            .fold(0u8, |byte, (k, &c)| byte | ((c as u8) << (k * bits)))
                    })
                    .collect();
            }
        }
        with_data!(self, v => v.iter().flat_map(|x| x.to_le_bytes()).collect())
    }

    /// Every element's own bytes, one element after the other (a packed type's codes one
    /// a byte), and the bytes per element: what data-movement folds move around.
    pub fn element_bytes(&self) -> (Vec<u8>, usize) {
        if self.dtype().is_packed() {
            let codes = self.codes().unwrap_or_default();
            return (codes.iter().map(|&c| c as u8).collect(), 1);
        }
        (self.to_le_bytes(), self.dtype().size())
    }

    /// The inverse of [`Data::element_bytes`].
    pub fn from_element_bytes(dtype: DType, bytes: &[u8]) -> Option<Self> {
        if dtype.is_packed() {
            let codes: Vec<u32> = bytes.iter().map(|&b| u32::from(b)).collect();
            return Some(Self::from_codes(dtype, &codes));
        }
        Self::from_le_bytes(dtype, bytes)
    }

    /// Every element converted to `f64` (exact for all supported types but 64-bit integers
    /// beyond 2^53).
    #[allow(clippy::unnecessary_cast)]
    pub fn to_f64_vec(&self) -> Vec<f64> {
        if let (Some(format), Some(codes)) = (self.dtype().narrow(), self.codes()) {
            return codes
                .iter()
                .map(|&c| zant_runtime::narrow::decode(format, c))
                .collect();
        }
        with_data!(self, v => v.iter().map(|&x| x as f64).collect())
    }

    /// Every element converted to `i64` (floats truncated, saturating).
    #[allow(clippy::unnecessary_cast)]
    pub fn to_i64_vec(&self) -> Vec<i64> {
        if self.dtype().narrow().is_some() {
            return self.to_f64_vec().iter().map(|&v| v as i64).collect();
        }
        with_data!(self, v => v.iter().map(|&x| x as i64).collect())
    }

    /// Builds data of `dtype` from `f64` values with Rust's saturating `as` casts (narrow
    /// floats round to nearest even, sub-byte integers wrap).
    #[allow(clippy::unnecessary_cast)]
    pub fn from_f64(dtype: DType, values: &[f64]) -> Self {
        cast_into!(dtype, values, |x| x != 0.0)
    }

    /// Builds data of `dtype` from `i64` values with Rust's `as` casts (exact for integers
    /// that fit).
    #[allow(clippy::unnecessary_cast)]
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
            if self.dtype().narrow().is_some() {
                // Narrow elements show their values, which the text form reads back.
                let values = self.data.to_f64_vec();
                if self.dtype().is_float() {
                    write!(f, " {values:?}")?;
                } else {
                    write!(
                        f,
                        " {:?}",
                        values.iter().map(|&v| v as i64).collect::<Vec<_>>()
                    )?;
                }
            } else {
                with_data!(&self.data, v => write!(f, " {v:?}"))?;
            }
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
