//! Shape arithmetic shared by the ops' inference and folding.

use super::OpError;

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// The product of `factors` as a MAC count ([`super::OpKind::macs`]), saturating rather
/// than overflowing, so that no shape can make a count panic.
pub fn mac_count(factors: impl IntoIterator<Item = usize>) -> u64 {
    factors
        .into_iter()
        .fold(1u64, |n, f| n.saturating_mul(f as u64))
}

/// `(outer, axis_len, inner)` of a shape viewed around `axis`.
pub fn around_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// Normalises a possibly negative axis against `rank`.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize, OpError> {
    let r = rank as i64;
    if axis < -r || axis >= r.max(1) {
        return Err(OpError::shape(format!(
            "axis {axis} is out of range for rank {rank}"
        )));
    }
    Ok(if axis < 0 {
        (axis + r) as usize
    } else {
        axis as usize
    })
}

/// `axis` if a shape of `rank` has it: an axis normalised against another rank, or a
/// scalar's axis 0, which [`normalize_axis`] lets through for ops on scalars, is refused.
pub fn existing_axis(axis: usize, rank: usize) -> Result<usize, OpError> {
    if axis >= rank {
        return Err(OpError::shape(format!(
            "axis {axis} is out of range for rank {rank}"
        )));
    }
    Ok(axis)
}

/// [`around_axis`] for an axis that was normalised against another rank, checked
/// against this shape.
pub fn around_checked_axis(shape: &[usize], axis: usize) -> Result<(usize, usize, usize), OpError> {
    existing_axis(axis, shape.len())?;
    Ok(around_axis(shape, axis))
}

/// Numpy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, OpError> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(OpError::shape(format!(
                    "shapes {a:?} and {b:?} do not broadcast"
                )))
            }
        };
    }
    Ok(out)
}

/// Checks an element count against a bound so hostile shapes fail cleanly, not by overflow.
pub fn checked_elems(shape: &[usize]) -> Result<usize, OpError> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMS)
        .ok_or_else(|| {
            OpError::unsupported(format!(
                "shape {shape:?} has too many elements (limit {MAX_ELEMS}, limits::MAX_ELEMS)"
            ))
        })
}

pub use crate::limits::MAX_ELEMS;
