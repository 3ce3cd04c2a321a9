//! Element types and tensor types.

use std::fmt;

use super::SyntaxError;

/// The element types zant compiles. Booleans are stored as one byte (0 or 1), as ONNX does.
///
/// The narrow types (half precision, float8, float4 and the sub-byte integers) are stored
/// as ONNX stores them in `raw_data` (see `zant_runtime::narrow`): `u16` bit patterns,
/// `u8` codes, and two 4-bit or four 2-bit elements a byte.
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
    F16,
    BF16,
    F8E4M3FN,
    F8E4M3FNUZ,
    F8E5M2,
    F8E5M2FNUZ,
    F8E8M0,
    F4E2M1,
    I4,
    U4,
    I2,
    U2,
}

impl DType {
    /// Maps an ONNX `TensorProto.DataType` code; `None` for types zant does not support.
    pub fn from_onnx(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.onnx_code() == code)
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
            Self::F16 => 10,
            Self::F64 => 11,
            Self::U32 => 12,
            Self::U64 => 13,
            Self::BF16 => 16,
            Self::F8E4M3FN => 17,
            Self::F8E4M3FNUZ => 18,
            Self::F8E5M2 => 19,
            Self::F8E5M2FNUZ => 20,
            Self::U4 => 21,
            Self::I4 => 22,
            Self::F4E2M1 => 23,
            Self::F8E8M0 => 24,
            Self::U2 => 25,
            Self::I2 => 26,
        }
    }

    /// The name of a type code for error messages: the short name of a type zant
    /// supports, the ONNX name of one it does not.
    pub fn onnx_name(code: i32) -> &'static str {
        if let Some(dtype) = Self::from_onnx(code) {
            return dtype.name();
        }
        match code {
            0 => "undefined",
            1 => "float",
            2 => "uint8",
            3 => "int8",
            4 => "uint16",
            5 => "int16",
            6 => "int32",
            7 => "int64",
            8 => "string",
            9 => "bool",
            10 => "float16",
            11 => "double",
            12 => "uint32",
            13 => "uint64",
            14 => "complex64",
            15 => "complex128",
            16 => "bfloat16",
            17 => "float8e4m3fn",
            18 => "float8e4m3fnuz",
            19 => "float8e5m2",
            20 => "float8e5m2fnuz",
            21 => "uint4",
            22 => "int4",
            23 => "float4e2m1",
            24 => "float8e8m0",
            25 => "uint2",
            26 => "int2",
            27 => "float6e2m3",
            28 => "float6e3m2",
            _ => "unknown",
        }
    }

    /// The runtime's description of a narrow type; `None` for the types Rust has.
    pub fn narrow(self) -> Option<zant_runtime::narrow::Format> {
        use zant_runtime::narrow::Format;
        Some(match self {
            Self::F16 => Format::F16,
            Self::BF16 => Format::BF16,
            Self::F8E4M3FN => Format::F8E4M3FN,
            Self::F8E4M3FNUZ => Format::F8E4M3FNUZ,
            Self::F8E5M2 => Format::F8E5M2,
            Self::F8E5M2FNUZ => Format::F8E5M2FNUZ,
            Self::F8E8M0 => Format::F8E8M0,
            Self::F4E2M1 => Format::F4E2M1,
            Self::I4 => Format::I4,
            Self::U4 => Format::U4,
            Self::I2 => Format::I2,
            Self::U2 => Format::U2,
            _ => return None,
        })
    }

    /// Bytes per storage unit: per element, except for the packed sub-byte types, whose
    /// unit is a byte of several elements.
    pub fn size(self) -> usize {
        match self {
            Self::I8 | Self::U8 | Self::Bool => 1,
            Self::I16 | Self::U16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 | Self::U32 => 4,
            Self::F64 | Self::I64 | Self::U64 => 8,
            Self::F8E4M3FN | Self::F8E4M3FNUZ | Self::F8E5M2 | Self::F8E5M2FNUZ => 1,
            Self::F8E8M0 | Self::F4E2M1 | Self::I4 | Self::U4 | Self::I2 | Self::U2 => 1,
        }
    }

    /// Bits per element.
    pub fn bits_per_element(self) -> usize {
        match self.narrow() {
            Some(f) => f.bits(),
            None => 8 * self.size(),
        }
    }

    /// Whether several elements share a byte (the 4- and 2-bit types).
    pub fn is_packed(self) -> bool {
        self.narrow().is_some_and(|f| f.is_packed())
    }

    /// Storage units that hold `n` elements: `n`, or the bytes of `n` packed elements.
    pub fn storage_len(self, n: usize) -> usize {
        match self.narrow() {
            Some(f) => f.storage_len(n),
            None => n,
        }
    }

    /// Bytes that hold `n` elements.
    pub fn n_bytes(self, n: usize) -> usize {
        self.storage_len(n) * self.size()
    }

    /// The Rust type of a storage unit in generated code: booleans are `u8`, half
    /// precision is `u16` bits, the other narrow types are bytes.
    pub fn rust_name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::I8 => "i8",
            Self::U8 | Self::Bool => "u8",
            Self::I16 => "i16",
            Self::U16 | Self::F16 | Self::BF16 => "u16",
            Self::I32 => "i32",
            Self::U32 => "u32",
            Self::I64 => "i64",
            Self::U64 => "u64",
            _ => "u8",
        }
    }

    /// The short name used in the IR text form and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::F16 => "f16",
            Self::BF16 => "bf16",
            Self::F8E4M3FN => "f8e4m3fn",
            Self::F8E4M3FNUZ => "f8e4m3fnuz",
            Self::F8E5M2 => "f8e5m2",
            Self::F8E5M2FNUZ => "f8e5m2fnuz",
            Self::F8E8M0 => "f8e8m0",
            Self::F4E2M1 => "f4e2m1",
            Self::I4 => "i4",
            Self::U4 => "u4",
            Self::I2 => "i2",
            Self::U2 => "u2",
            other => other.rust_name(),
        }
    }

    /// The dtype of a [`DType::name`], as the IR text parser reads it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Every dtype.
    pub const ALL: [DType; 23] = [
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
        Self::F16,
        Self::BF16,
        Self::F8E4M3FN,
        Self::F8E4M3FNUZ,
        Self::F8E5M2,
        Self::F8E5M2FNUZ,
        Self::F8E8M0,
        Self::F4E2M1,
        Self::I4,
        Self::U4,
        Self::I2,
        Self::U2,
    ];

    /// Whether the type holds floating-point values (narrow ones included).
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64) || self.is_narrow_float()
    }

    /// A narrow float: half precision, float8 or float4. Ops without a kernel for them
    /// compute in `f32` (see `onnx::narrow`).
    pub fn is_narrow_float(self) -> bool {
        self.narrow().is_some_and(|f| !f.is_int())
    }

    pub fn is_int(self) -> bool {
        !self.is_float() && self != Self::Bool
    }

    /// The numpy `.npy` type string (little endian) of what the runner reads and writes:
    /// numpy's own types, `<f2` for float16, and for the types numpy lacks what
    /// `ml_dtypes` writes, raw bytes (`<V2`, `|V1`), sub-byte types one element a byte.
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
            Self::F16 => "<f2",
            Self::BF16 => "<V2",
            _ => "|V1",
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

    /// Storage units of the tensor (see [`DType::storage_len`]).
    pub fn storage_len(&self) -> usize {
        self.dtype.storage_len(self.n_elems())
    }

    pub fn n_bytes(&self) -> usize {
        self.dtype.n_bytes(self.n_elems())
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
