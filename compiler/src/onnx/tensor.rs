//! `TensorProto` → [`Tensor`]: typed and raw fields, and external data files.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

use super::proto::{TensorProto, DATA_LOCATION_EXTERNAL};
use crate::ir::{DType, Data, Tensor};
use crate::limits::check_constant_bytes;
use crate::ops::checked_elems;

/// Decodes a tensor. `base_dir` is the model's folder, the only place external data may
/// come from; `None` refuses external data altogether.
pub fn decode(t: &TensorProto, base_dir: Option<&Path>) -> Result<Tensor, String> {
    let dtype = DType::from_onnx(t.data_type).ok_or_else(|| {
        format!(
            "element type {} (code {}) is not supported",
            DType::onnx_name(t.data_type),
            t.data_type
        )
    })?;
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is negative")))
        .collect::<Result<Vec<_>, _>>()?;
    let n = checked_elems(&shape).map_err(|e| e.to_string())?;
    let n_bytes = dtype.n_bytes(n);
    check_constant_bytes(n_bytes)?;
    let data = if t.data_location == DATA_LOCATION_EXTERNAL {
        let bytes = read_external(t, base_dir, n_bytes)?;
        Data::from_storage(dtype, &bytes, n).expect("length checked")
    } else if !t.raw_data.is_empty() || n == 0 {
        if t.raw_data.len() != n_bytes {
            return Err(format!(
                "raw_data holds {} bytes but shape {shape:?} of {dtype} needs {n_bytes}",
                t.raw_data.len(),
            ));
        }
        Data::from_storage(dtype, &t.raw_data, n).expect("length checked")
    } else {
        typed_field(t, dtype)?
    };
    if data.len() != n {
        return Err(format!(
            "tensor holds {} elements but shape {shape:?} needs {n}",
            data.len()
        ));
    }
    Ok(Tensor::new(shape, data))
}

/// Reads the typed repeated field that ONNX uses for `dtype`.
/// The bytes `t`'s type and shape declare, when both are valid (else `decode` says why).
pub(crate) fn declared_bytes(t: &TensorProto) -> Option<usize> {
    let dtype = DType::from_onnx(t.data_type)?;
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(dtype.n_bytes(checked_elems(&shape).ok()?))
}

fn typed_field(t: &TensorProto, dtype: DType) -> Result<Data, String> {
    let ints = &t.int32_data;
    Ok(match dtype {
        DType::F32 => Data::F32(t.float_data.clone()),
        DType::F64 => Data::F64(t.double_data.clone()),
        DType::I64 => Data::I64(t.int64_data.clone()),
        DType::I32 => Data::I32(ints.clone()),
        DType::I8 => Data::I8(ints.iter().map(|&v| v as i8).collect()),
        DType::U8 => Data::U8(ints.iter().map(|&v| v as u8).collect()),
        DType::I16 => Data::I16(ints.iter().map(|&v| v as i16).collect()),
        DType::U16 => Data::U16(ints.iter().map(|&v| v as u16).collect()),
        DType::Bool => Data::Bool(ints.iter().map(|&v| u8::from(v != 0)).collect()),
        DType::U32 => Data::U32(t.uint64_data.iter().map(|&v| v as u32).collect()),
        DType::U64 => Data::U64(t.uint64_data.clone()),
        narrow if narrow.is_packed() => {
            // Each `int32_data` entry holds one byte of packed elements.
            let bytes: Vec<u8> = ints.iter().map(|&v| v as u8).collect();
            let n: usize = t.dims.iter().map(|&d| d as usize).product();
            return Data::from_storage(narrow, &bytes, n).ok_or_else(|| {
                format!(
                    "int32_data holds {} packed bytes but {n} elements of {narrow} need {}",
                    bytes.len(),
                    narrow.n_bytes(n)
                )
            });
        }
        // Half precision and float8: one element's bits per `int32_data` entry.
        narrow => Data::from_codes(narrow, &ints.iter().map(|&v| v as u32).collect::<Vec<_>>()),
    })
}

/// Reads external data, refusing any location that is absolute or leaves the model folder.
fn read_external(
    t: &TensorProto,
    base_dir: Option<&Path>,
    n_bytes: usize,
) -> Result<Vec<u8>, String> {
    let base_dir = base_dir.ok_or("external data is only allowed in a model loaded from a file")?;
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for entry in &t.external_data {
        match entry.key.as_str() {
            "location" => location = Some(entry.value.as_str()),
            "offset" => {
                offset = entry
                    .value
                    .parse()
                    .map_err(|_| "external data offset is not a number")?
            }
            "length" => {
                length = Some(
                    entry
                        .value
                        .parse::<u64>()
                        .map_err(|_| "external data length is not a number")?,
                )
            }
            _ => {}
        }
    }
    let location = location.ok_or("external data has no `location`")?;
    let rel = Path::new(location);
    let escapes = rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if location.is_empty() || escapes {
        return Err(format!(
            "external data location `{location}` is refused: it must be a relative path inside the model's folder"
        ));
    }
    let path = base_dir.join(rel);
    // Symbolic links could still point outside: compare canonical paths.
    let canonical_base = base_dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve the model folder: {e}"))?;
    let canonical = path
        .canonicalize()
        .map_err(|e| format!("external data file `{location}`: {e}"))?;
    if !canonical.starts_with(&canonical_base) {
        return Err(format!(
            "external data location `{location}` is refused: it resolves outside the model's folder"
        ));
    }
    if let Some(len) = length {
        if len != n_bytes as u64 {
            return Err(format!(
                "external data length {len} does not match the {n_bytes} bytes the shape needs"
            ));
        }
    }
    let mut file =
        File::open(&canonical).map_err(|e| format!("external data file `{location}`: {e}"))?;
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    if offset
        .checked_add(n_bytes as u64)
        .is_none_or(|end| end > file_len)
    {
        return Err(format!(
            "external data file `{location}` is {file_len} bytes; it cannot hold {n_bytes} bytes at offset {offset}"
        ));
    }
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| e.to_string())?;
    let mut bytes = vec![0; n_bytes];
    file.read_exact(&mut bytes)
        .map_err(|e| format!("external data file `{location}`: {e}"))?;
    Ok(bytes)
}

/// Encodes a tensor as a `TensorProto` with `raw_data` (used to write test data).
pub fn encode(t: &Tensor, name: &str) -> TensorProto {
    TensorProto {
        dims: t.shape.iter().map(|&d| d as i64).collect(),
        data_type: t.dtype().onnx_code(),
        name: name.to_string(),
        raw_data: t.data.to_le_bytes(),
        ..Default::default()
    }
}
