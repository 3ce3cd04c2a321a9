//! Reads numpy's `.npy` files into a [`Tensor`], for inputs bound at compile time
//! (`--bind NAME=FILE.npy`, `Builder::bind`).
//!
//! The format is small (a magic string, a Python dict literal naming the element type,
//! the order and the shape, then the raw elements), so the library reads it itself: a
//! build script that binds an input compiles no `.npy` crate and no Python-literal parser.
//! Every element type zant has is read, in either byte order and in C or Fortran order.

use super::{DType, Data, Tensor};

/// Decodes the bytes of a `.npy` file; the message says what is wrong with it.
pub fn decode(bytes: &[u8]) -> Result<Tensor, String> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or("not a .npy file (no \\x93NUMPY magic)")?;
    let (header_len, rest) = match rest {
        [1, _, a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) as usize, rest),
        [2 | 3, _, a, b, c, d, rest @ ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, rest),
        [major, ..] => return Err(format!(".npy format version {major} is not supported")),
        [] => return Err("the .npy header is truncated".into()),
    };
    if rest.len() < header_len {
        return Err("the .npy header is truncated".into());
    }
    let header = std::str::from_utf8(&rest[..header_len])
        .map_err(|_| "the .npy header is not text".to_string())?;
    let raw = &rest[header_len..];

    let descr = quoted(field(header, "descr")?)?;
    let (swap, dtype) = element_type(descr)?;
    let fortran = match field(header, "fortran_order")?.trim() {
        "True" => true,
        "False" => false,
        other => return Err(format!("fortran_order is `{other}`, not True or False")),
    };
    let shape = shape(field(header, "shape")?)?;

    let n_elems = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or("the shape's element count overflows")?;
    let size = dtype.size();
    let n_bytes = n_elems
        .checked_mul(size)
        .ok_or("the shape's byte count overflows")?;
    if raw.len() != n_bytes {
        return Err(format!(
            "the header says {n_elems} elements of {descr} ({n_bytes} bytes), the file holds {} bytes",
            raw.len()
        ));
    }
    let mut le = raw.to_vec();
    if swap {
        for element in le.chunks_exact_mut(size) {
            element.reverse();
        }
    }
    if fortran && shape.len() > 1 {
        le = c_order(&le, &shape, size);
    }
    let data = Data::from_le_bytes(dtype, &le).ok_or("the data does not divide into elements")?;
    Ok(Tensor::new(shape, data))
}

/// The text after `'key':` in the header dict, up to the next top-level comma.
fn field<'a>(header: &'a str, key: &str) -> Result<&'a str, String> {
    let quoted_key = format!("'{key}'");
    let at = header
        .find(&quoted_key)
        .ok_or_else(|| format!("the .npy header has no `{key}`"))?;
    let after = header[at + quoted_key.len()..]
        .trim_start()
        .strip_prefix(':')
        .ok_or_else(|| format!("`{key}` in the .npy header has no value"))?;
    // The shape is a tuple, whose commas are nested in parentheses.
    let mut depth = 0usize;
    for (i, c) in after.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' | '}' if depth == 0 => return Ok(after[..i].trim()),
            _ => {}
        }
    }
    Ok(after.trim())
}

fn quoted(value: &str) -> Result<&str, String> {
    value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(|| {
            format!("descr is `{value}`; only plain element types are supported, not records")
        })
}

/// The element type of a descr such as `<f4` or `|b1`, and whether its bytes are big endian.
fn element_type(descr: &str) -> Result<(bool, DType), String> {
    let (order, code) = descr.split_at(descr.len().min(1));
    let big = match order {
        "<" | "|" => false,
        ">" => true,
        "=" => cfg!(target_endian = "big"),
        _ => return Err(format!("descr `{descr}` has no byte order")),
    };
    // `DType::npy_descr` names each type in little-endian form (`<f4`, `|u1`).
    let dtype = DType::ALL
        .into_iter()
        .find(|d| d.npy_descr().get(1..) == Some(code))
        .ok_or_else(|| format!("element type `{descr}` is not one zant compiles"))?;
    Ok((big && dtype.size() > 1, dtype))
}

/// A Python tuple of dims: `()`, `(5,)`, `(2, 3)`.
fn shape(value: &str) -> Result<Vec<usize>, String> {
    let inner = value
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or_else(|| format!("shape `{value}` is not a tuple"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("`{d}` in shape `{value}` is not a dimension"))
        })
        .collect()
}

/// Reorders elements of `size` bytes stored first axis fastest into last axis fastest.
fn c_order(bytes: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    let n_elems = bytes.len() / size;
    let mut index = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(bytes.len());
    for _ in 0..n_elems {
        let at = index
            .iter()
            .zip(shape)
            .rev()
            .fold(0, |at, (&i, &d)| at * d + i);
        out.extend_from_slice(&bytes[at * size..(at + 1) * size]);
        for axis in (0..shape.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as `numpy.save` lays it out (format 1.0, header padded to 64 bytes).
    fn npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let fortran = if fortran { "True" } else { "False" };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
        header.push('\n');
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend((header.len() as u16).to_le_bytes());
        file.extend(header.as_bytes());
        file.extend(data);
        file
    }

    fn check(file: &[u8], expect: Result<Tensor, &str>) {
        match (decode(file), expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got:?} should say {want:?}"),
            (got, want) => panic!("got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn numpy_files_decode() {
        let f32s: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        check(
            &npy("<f4", false, "(2,)", &f32s),
            Ok(Tensor::new(vec![2], Data::F32(vec![1.5, -2.0]))),
        );
        check(
            &npy("|b1", false, "(1, 3)", &[1, 0, 1]),
            Ok(Tensor::new(vec![1, 3], Data::Bool(vec![1, 0, 1]))),
        );
        // A scalar, and a big-endian i64.
        check(
            &npy(">i8", false, "()", &16000i64.to_be_bytes()),
            Ok(Tensor::new(vec![], Data::I64(vec![16000]))),
        );
        // Fortran order: [[0, 1, 2], [3, 4, 5]] stored column by column.
        check(
            &npy("|u1", true, "(2, 3)", &[0, 3, 1, 4, 2, 5]),
            Ok(Tensor::new(vec![2, 3], Data::U8(vec![0, 1, 2, 3, 4, 5]))),
        );
    }

    #[test]
    fn bad_files_are_named() {
        check(b"PK\x03\x04", Err("not a .npy file"));
        check(
            &npy("<c8", false, "(1,)", &[0; 8]),
            Err("`<c8` is not one zant compiles"),
        );
        check(
            &npy("<f4", false, "(3,)", &[0; 8]),
            Err("3 elements of <f4 (12 bytes), the file holds 8"),
        );
        check(&npy("<f4", false, "(a,)", &[]), Err("`a` in shape"));
        let mut truncated = npy("<f4", false, "(1,)", &[0; 4]);
        truncated.truncate(20);
        check(&truncated, Err("truncated"));
    }
}
