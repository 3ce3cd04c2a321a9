//! Element types and tensor types.

use std::fmt;

use super::SyntaxError;

/// The element types zant compiles. Booleans are stored as one byte (0 or 1), as ONNX does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Bool,
}

impl DType {
    /// Maps an ONNX `TensorProto.DataType` code; `None` for types zant does not support.
    pub fn from_onnx(code: i32) -> Option<Self> {
        Some(match code {
            1 => Self::F32,
            2 => Self::U8,
            3 => Self::I8,
            4 => Self::U16,
            5 => Self::I16,
            6 => Self::I32,
            7 => Self::I64,
            9 => Self::Bool,
            11 => Self::F64,
            12 => Self::U32,
            13 => Self::U64,
            _ => return None,
        })
    }

    /// The ONNX `TensorProto.DataType` code.
    pub fn onnx_code(self) -> i32 {
        match self {
            Self::F32 => 1,
            Self::U8 => 2,
            Self::I8 => 3,
            Self::U16 => 4,
            Self::I16 => 5,
            Self::I32 => 6,
            Self::I64 => 7,
            Self::Bool => 9,
            Self::F64 => 11,
            Self::U32 => 12,
            Self::U64 => 13,
        }
    }

    /// The ONNX name of an unsupported type code, for error messages.
    pub fn onnx_name(code: i32) -> &'static str {
        match code {
            0 => "undefined",
            8 => "string",
            10 => "float16",
            14 => "complex64",
            15 => "complex128",
            16 => "bfloat16",
            17..=20 => "float8",
            21 | 22 => "int4/uint4",
            23 => "float4",
            _ => match Self::from_onnx(code) {
                Some(d) => d.name(),
                None => "unknown",
            },
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 | Self::U8 | Self::Bool => 1,
            Self::I16 | Self::U16 => 2,
            Self::F32 | Self::I32 | Self::U32 => 4,
            Self::F64 | Self::I64 | Self::U64 => 8,
        }
    }

    /// The Rust element type in generated code (booleans are `u8`).
    pub fn rust_name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::I8 => "i8",
            Self::U8 | Self::Bool => "u8",
            Self::I16 => "i16",
            Self::U16 => "u16",
            Self::I32 => "i32",
            Self::U32 => "u32",
            Self::I64 => "i64",
            Self::U64 => "u64",
        }
    }

    /// The short name used in the IR text form and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            other => other.rust_name(),
        }
    }

    /// The dtype of a [`DType::name`], as the IR text parser reads it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Every dtype.
    pub const ALL: [DType; 11] = [
        Self::F32,
        Self::F64,
        Self::I8,
        Self::U8,
        Self::I16,
        Self::U16,
        Self::I32,
        Self::U32,
        Self::I64,
        Self::U64,
        Self::Bool,
    ];

    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }

    pub fn is_int(self) -> bool {
        !self.is_float() && self != Self::Bool
    }

    /// The numpy `.npy` type string (little endian).
    pub fn npy_descr(self) -> &'static str {
        match self {
            Self::F32 => "<f4",
            Self::F64 => "<f8",
            Self::I8 => "|i1",
            Self::U8 => "|u1",
            Self::Bool => "|b1",
            Self::I16 => "<i2",
            Self::U16 => "<u2",
            Self::I32 => "<i4",
            Self::U32 => "<u4",
            Self::I64 => "<i8",
            Self::U64 => "<u8",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dtype and a static shape: every value in the IR has one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TensorType {
    pub fn new(dtype: DType, shape: Vec<usize>) -> Self {
        Self { dtype, shape }
    }

    /// The number of elements (1 for a scalar).
    pub fn n_elems(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn n_bytes(&self) -> usize {
        self.n_elems() * self.dtype.size()
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

impl TensorType {
    /// Reads a type as the IR text writes it: `f32[1,3,8,8]`, or `f32[]` for a scalar.
    pub fn parse(text: &str) -> Result<TensorType, SyntaxError> {
        let t = text.trim();
        let (dtype, dims) = t
            .strip_suffix(']')
            .and_then(|t| t.split_once('['))
            .ok_or_else(|| format!("`{t}` is not a type like `f32[1,3]`"))?;
        let dtype =
            DType::from_name(dtype).ok_or_else(|| format!("unknown element type `{dtype}`"))?;
        let shape = dims
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.parse().map_err(|_| format!("`{d}` is not a dimension")))
            .collect::<Result<_, _>>()?;
        Ok(TensorType::new(dtype, shape))
    }
}
