//! Kernels that address elements one by one through index math: ONNX `GatherElements`,
//! `ScatterElements`, `GatherND`, `ScatterND`, `OneHot`, `Trilu`, `Tile`, `Pad` (every
//! mode), `CumSum`, `TopK`, `Hardmax`, `IsNaN` and `IsInf`.
//!
//! They walk the output (or the updates) in order with a multi-index and compute each
//! source position; simple rather than fast, for the ops that models use in small places.
//! Indices read from tensors are checked: one out of range is a [`KernelError`].

use crate::scalar::{Index, Scalar};
use crate::shape::resolve_index;
use crate::tokens::tokens;
use crate::{KernelError, MAX_RANK};

/// Row-major strides of `shape` in a fixed array.
fn strides_of(shape: &[usize]) -> [usize; MAX_RANK] {
    assert!(shape.len() <= MAX_RANK, "rank exceeds MAX_RANK");
    let mut strides = [0usize; MAX_RANK];
    let mut stride = 1;
    for d in (0..shape.len()).rev() {
        strides[d] = stride;
        stride *= shape[d];
    }
    strides
}

/// Advances a row-major multi-index over `shape` by one.
fn step(index: &mut [usize], shape: &[usize]) {
    for d in (0..shape.len()).rev() {
        index[d] += 1;
        if index[d] < shape[d] {
            return;
        }
        index[d] = 0;
    }
}

/// `y[i][j][k] = data[index[i][j][k]][j][k]` along `axis` (here axis 0); `y` has the shape
/// of `indices`.
pub fn gather_elements<T: Copy, I: Index>(
    data: &[T],
    data_shape: &[usize],
    indices: &[I],
    indices_shape: &[usize],
    axis: usize,
    y: &mut [T],
) -> Result<(), KernelError> {
    let strides = strides_of(data_shape);
    let mut index = [0usize; MAX_RANK];
    let rank = indices_shape.len();
    for (out, &position) in y.iter_mut().zip(indices) {
        let p = resolve_index(position.to_i64(), data_shape[axis])?;
        let mut offset = 0;
        for d in 0..rank {
            offset += if d == axis { p } else { index[d] } * strides[d];
        }
        *out = data[offset];
        step(&mut index[..rank], indices_shape);
    }
    Ok(())
}

tokens! {
    rt::index;
    /// How `ScatterElements` and `ScatterND` combine an update with the value already there.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum ScatterReduce {
        None,
        Add,
        Mul,
        Max,
        Min,
    }
}

#[inline]
fn combine<T: Scalar>(reduction: ScatterReduce, old: T, new: T) -> T {
    match reduction {
        ScatterReduce::None => new,
        ScatterReduce::Add => old.add(new),
        ScatterReduce::Mul => old.mul(new),
        ScatterReduce::Max => old.max(new),
        ScatterReduce::Min => old.min(new),
    }
}

/// `y = data`, then `y[..index..] op= updates[..]` along `axis`, in update order.
#[allow(clippy::too_many_arguments)]
pub fn scatter_elements<T: Scalar, I: Index>(
    data: &[T],
    data_shape: &[usize],
    indices: &[I],
    indices_shape: &[usize],
    updates: &[T],
    axis: usize,
    reduction: ScatterReduce,
    y: &mut [T],
) -> Result<(), KernelError> {
    y.copy_from_slice(&data[..y.len()]);
    let strides = strides_of(data_shape);
    let mut index = [0usize; MAX_RANK];
    let rank = indices_shape.len();
    for (&position, &update) in indices.iter().zip(updates) {
        let p = resolve_index(position.to_i64(), data_shape[axis])?;
        let mut offset = 0;
        for d in 0..rank {
            offset += if d == axis { p } else { index[d] } * strides[d];
        }
        y[offset] = combine(reduction, y[offset], update);
        step(&mut index[..rank], indices_shape);
    }
    Ok(())
}

/// The offset of the slice an index tuple of `GatherND`/`ScatterND` points at.
fn nd_offset<I: Index>(
    tuple: &[I],
    data_shape: &[usize],
    strides: &[usize],
) -> Result<usize, KernelError> {
    let mut offset = 0;
    for (d, &position) in tuple.iter().enumerate() {
        offset += resolve_index(position.to_i64(), data_shape[d])? * strides[d];
    }
    Ok(offset)
}

/// `y = data`, then each index tuple (the last dim of `indices`) addresses a slice of `y`
/// that the matching slice of `updates` replaces (or combines into).
pub fn scatter_nd<T: Scalar, I: Index>(
    data: &[T],
    data_shape: &[usize],
    indices: &[I],
    tuple_len: usize,
    updates: &[T],
    reduction: ScatterReduce,
    y: &mut [T],
) -> Result<(), KernelError> {
    y.copy_from_slice(&data[..y.len()]);
    let strides = strides_of(data_shape);
    let slice_len: usize = data_shape[tuple_len..].iter().product();
    if tuple_len == 0 {
        return Ok(());
    }
    for (tuple, update) in indices
        .chunks_exact(tuple_len)
        .zip(updates.chunks(slice_len.max(1)))
    {
        let offset = nd_offset(tuple, data_shape, &strides[..tuple_len])?;
        for (out, &u) in y[offset..offset + slice_len].iter_mut().zip(update) {
            *out = combine(reduction, *out, u);
        }
    }
    Ok(())
}

/// `GatherND`: `data` seen as `batch` blocks of `data_shape` (the dims after the batch
/// dims); each index tuple of `tuple_len` picks a slice of its batch's block.
pub fn gather_nd<T: Copy, I: Index>(
    data: &[T],
    batch: usize,
    data_shape: &[usize],
    indices: &[I],
    tuple_len: usize,
    y: &mut [T],
) -> Result<(), KernelError> {
    let strides = strides_of(data_shape);
    let block: usize = data_shape.iter().product();
    let slice_len: usize = data_shape[tuple_len..].iter().product();
    let tuples_per_batch = indices.len() / tuple_len.max(1) / batch.max(1);
    let mut out = 0;
    for b in 0..batch {
        for t in 0..tuples_per_batch {
            let start = (b * tuples_per_batch + t) * tuple_len;
            let offset = nd_offset(
                &indices[start..start + tuple_len],
                data_shape,
                &strides[..tuple_len],
            )?;
            let source = &data[b * block + offset..][..slice_len];
            y[out..out + slice_len].copy_from_slice(source);
            out += slice_len;
        }
    }
    Ok(())
}

/// `OneHot`: `indices` seen as `[outer, inner]`, the output as `[outer, depth, inner]`;
/// negative indices count from `depth`, out-of-range ones give an all-`off` row.
pub fn one_hot<T: Copy, I: Scalar>(
    indices: &[I],
    outer: usize,
    inner: usize,
    depth: usize,
    off: T,
    on: T,
    y: &mut [T],
) {
    y.fill(off);
    for o in 0..outer {
        for i in 0..inner {
            let v = indices[o * inner + i].to_f64() as i64;
            let v = if v < 0 { v + depth as i64 } else { v };
            if (0..depth as i64).contains(&v) {
                y[(o * depth + v as usize) * inner + i] = on;
            }
        }
    }
}

/// `Trilu`: keeps the upper (or lower) triangle of each `rows × cols` matrix, from
/// diagonal `k`, and zeroes the rest.
pub fn trilu<T: Scalar>(x: &[T], rows: usize, cols: usize, k: i64, upper: bool, y: &mut [T]) {
    if rows * cols == 0 {
        return;
    }
    for (matrix, out) in x.chunks(rows * cols).zip(y.chunks_mut(rows * cols)) {
        for r in 0..rows {
            for c in 0..cols {
                let diff = c as i64 - r as i64;
                let keep = if upper { diff >= k } else { diff <= k };
                out[r * cols + c] = if keep { matrix[r * cols + c] } else { T::ZERO };
            }
        }
    }
}

/// `Tile`: `y[i] = x[i mod x_shape]` per dim.
pub fn tile<T: Copy>(x: &[T], x_shape: &[usize], y: &mut [T], y_shape: &[usize]) {
    let strides = strides_of(x_shape);
    let rank = y_shape.len();
    let mut index = [0usize; MAX_RANK];
    for out in y.iter_mut() {
        let mut offset = 0;
        for d in 0..rank {
            offset += (index[d] % x_shape[d]) * strides[d];
        }
        *out = x[offset];
        step(&mut index[..rank], y_shape);
    }
}

tokens! {
    rt::index;
    /// How `Pad` fills the border.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum PadMode {
        Constant,
        Reflect,
        Edge,
        Wrap,
    }
}

/// `Pad` in any mode: `pads_begin[d]` elements before dim `d` (negative crops), `y_shape`
/// the padded shape.
pub fn pad<T: Copy>(
    x: &[T],
    x_shape: &[usize],
    pads_begin: &[i64],
    mode: PadMode,
    value: T,
    y: &mut [T],
    y_shape: &[usize],
) {
    let strides = strides_of(x_shape);
    let rank = y_shape.len();
    let mut index = [0usize; MAX_RANK];
    'out: for out in y.iter_mut() {
        let mut offset = 0;
        for d in 0..rank {
            let n = x_shape[d] as i64;
            let mut i = index[d] as i64 - pads_begin[d];
            if !(0..n).contains(&i) {
                match mode {
                    PadMode::Constant => {
                        *out = value;
                        step(&mut index[..rank], y_shape);
                        continue 'out;
                    }
                    PadMode::Edge => i = i.clamp(0, n - 1),
                    PadMode::Wrap => i = i.rem_euclid(n),
                    PadMode::Reflect => {
                        if n == 1 {
                            i = 0;
                        } else {
                            let period = 2 * (n - 1);
                            i = i.rem_euclid(period);
                            if i >= n {
                                i = period - i;
                            }
                        }
                    }
                }
            }
            offset += i as usize * strides[d];
        }
        *out = x[offset];
        step(&mut index[..rank], y_shape);
    }
}

/// `CumSum` along the middle axis of `[outer, axis_len, inner]`.
pub fn cumsum<T: Scalar>(
    x: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    exclusive: bool,
    reverse: bool,
    y: &mut [T],
) {
    scan(
        x,
        outer,
        axis_len,
        inner,
        exclusive,
        reverse,
        y,
        T::ZERO,
        T::add,
    );
}

/// `CumProd` along the middle axis of `[outer, axis_len, inner]`.
pub fn cumprod<T: Scalar>(
    x: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    exclusive: bool,
    reverse: bool,
    y: &mut [T],
) {
    scan(
        x,
        outer,
        axis_len,
        inner,
        exclusive,
        reverse,
        y,
        T::ONE,
        T::mul,
    );
}

/// A running fold along the middle axis, from `init`.
#[allow(clippy::too_many_arguments)]
fn scan<T: Scalar>(
    x: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    exclusive: bool,
    reverse: bool,
    y: &mut [T],
    init: T,
    fold: impl Fn(T, T) -> T,
) {
    for o in 0..outer {
        for i in 0..inner {
            let mut sum = init;
            for step in 0..axis_len {
                let a = if reverse { axis_len - 1 - step } else { step };
                let at = (o * axis_len + a) * inner + i;
                if exclusive {
                    y[at] = sum;
                    sum = fold(sum, x[at]);
                } else {
                    sum = fold(sum, x[at]);
                    y[at] = sum;
                }
            }
        }
    }
}

/// `TopK` along the middle axis of `[outer, axis_len, inner]`: the `k` largest (or
/// smallest) values, sorted, ties to the lower index; `values` and `indices` are
/// `[outer, k, inner]`. `scratch` holds at least `axis_len` indices.
#[allow(clippy::too_many_arguments)]
pub fn top_k<T: Scalar>(
    x: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    k: usize,
    largest: bool,
    values: &mut [T],
    indices: &mut [i64],
) {
    for o in 0..outer {
        for i in 0..inner {
            let at = |a: usize| x[(o * axis_len + a) * inner + i];
            // Selection by repeated scans: k is small in practice and no scratch is needed.
            let mut last: Option<(T, usize)> = None;
            for j in 0..k {
                let mut best: Option<(T, usize)> = None;
                for a in 0..axis_len {
                    let v = at(a);
                    let after_last = match last {
                        None => true,
                        Some((lv, li)) => {
                            if largest {
                                v < lv || (v == lv && a > li)
                            } else {
                                v > lv || (v == lv && a > li)
                            }
                        }
                    };
                    if !after_last {
                        continue;
                    }
                    let better = match best {
                        None => true,
                        Some((bv, _)) => {
                            if largest {
                                v > bv
                            } else {
                                v < bv
                            }
                        }
                    };
                    if better {
                        best = Some((v, a));
                    }
                }
                let (v, a) = best.unwrap_or((T::ZERO, 0));
                values[(o * k + j) * inner + i] = v;
                indices[(o * k + j) * inner + i] = a as i64;
                last = best;
            }
        }
    }
}

/// `Hardmax` along the middle axis of `[outer, axis_len, inner]`: 1 at the first largest
/// value, 0 elsewhere.
pub fn hardmax<T: Scalar>(x: &[T], outer: usize, axis_len: usize, inner: usize, y: &mut [T]) {
    y.fill(T::ZERO);
    if axis_len == 0 {
        return;
    }
    for o in 0..outer {
        for i in 0..inner {
            let at = |a: usize| (o * axis_len + a) * inner + i;
            let mut best = 0;
            for a in 1..axis_len {
                if x[at(a)] > x[at(best)] {
                    best = a;
                }
            }
            y[at(best)] = T::ONE;
        }
    }
}

/// `IsNaN`.
pub fn is_nan<T: Scalar>(x: &[T], y: &mut [u8]) {
    for (out, &v) in y.iter_mut().zip(x) {
        *out = u8::from(v.to_f64().is_nan());
    }
}

/// `IsInf`, detecting positive and/or negative infinity.
pub fn is_inf<T: Scalar>(x: &[T], positive: bool, negative: bool, y: &mut [u8]) {
    for (out, &v) in y.iter_mut().zip(x) {
        let v = v.to_f64();
        *out = u8::from((positive && v == f64::INFINITY) || (negative && v == f64::NEG_INFINITY));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_and_scatter_elements() {
        let mut y = [0; 4];
        gather_elements(&[1, 2, 3, 4], &[2, 2], &[0i64, 0, 1, 0], &[2, 2], 1, &mut y).unwrap();
        assert_eq!(y, [1, 1, 4, 3]);
        scatter_elements(
            &[0; 4],
            &[2, 2],
            &[1i64, -2],
            &[1, 2],
            &[5, 6],
            0,
            ScatterReduce::Add,
            &mut y,
        )
        .unwrap();
        assert_eq!(y, [0, 6, 5, 0]);
        assert!(gather_elements(&[1, 2], &[2], &[2i64], &[1], 0, &mut y[..1]).is_err());
    }

    #[test]
    fn pad_modes() {
        let x = [1, 2, 3];
        let mut y = [0; 7];
        for (mode, want) in [
            (PadMode::Constant, [9, 9, 1, 2, 3, 9, 9]),
            (PadMode::Edge, [1, 1, 1, 2, 3, 3, 3]),
            (PadMode::Reflect, [3, 2, 1, 2, 3, 2, 1]),
            (PadMode::Wrap, [2, 3, 1, 2, 3, 1, 2]),
        ] {
            pad(&x, &[3], &[2], mode, 9, &mut y, &[7]);
            assert_eq!(y, want, "{mode:?}");
        }
    }

    #[test]
    fn top_k_sorts_and_breaks_ties_low() {
        let mut values = [0; 3];
        let mut indices = [0i64; 3];
        top_k(&[3, 1, 3, 2], 1, 4, 1, 3, true, &mut values, &mut indices);
        assert_eq!((values, indices), ([3, 3, 2], [0, 2, 3]));
        top_k(&[3, 1, 3, 2], 1, 4, 1, 3, false, &mut values, &mut indices);
        assert_eq!((values, indices), ([1, 2, 3], [1, 3, 0]));
    }

    #[test]
    fn cumsum_exclusive_reverse() {
        let mut y = [0; 3];
        cumsum(&[1, 2, 3], 1, 3, 1, true, true, &mut y);
        assert_eq!(y, [5, 3, 0]);
    }
}

/// `ReverseSequence`: in each batch entry `b`, the first `lens[b]` steps along the time
/// axis reversed and the rest copied. `x` is `[time, batch, inner]` when `time_first`,
/// else `[batch, time, inner]`. A length outside `0..=time` is an error (`y` may then be
/// partly written).
pub fn reverse_sequence<T: Copy>(
    x: &[T],
    time: usize,
    batch: usize,
    inner: usize,
    time_first: bool,
    lens: &[i64],
    y: &mut [T],
) -> Result<(), KernelError> {
    let at = |t: usize, b: usize| {
        if time_first {
            (t * batch + b) * inner
        } else {
            (b * time + t) * inner
        }
    };
    for (b, &len) in lens.iter().enumerate().take(batch) {
        let n = usize::try_from(len)
            .ok()
            .filter(|&n| n <= time)
            .ok_or(KernelError::SequenceLength { len, seq_len: time })?;
        for t in 0..time {
            let from = if t < n { n - 1 - t } else { t };
            let (src, dst) = (at(from, b), at(t, b));
            y[dst..dst + inner].copy_from_slice(&x[src..src + inner]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod reverse_sequence_tests {
    use super::*;

    #[test]
    fn reverses_each_batch_entry_to_its_length() {
        // [time 4, batch 2, inner 1]: entry 0 reversed over 3 steps, entry 1 over all 4.
        let x = [0, 10, 1, 11, 2, 12, 3, 13];
        let mut y = [0; 8];
        reverse_sequence(&x, 4, 2, 1, true, &[3, 4], &mut y).unwrap();
        assert_eq!(y, [2, 13, 1, 12, 0, 11, 3, 10]);
        // Batch first: [batch 2, time 3, inner 2].
        let x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let mut y = [0; 12];
        reverse_sequence(&x, 3, 2, 2, false, &[2, 0], &mut y).unwrap();
        assert_eq!(y, [3, 4, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(
            reverse_sequence(&x, 3, 2, 2, false, &[4, 0], &mut y),
            Err(KernelError::SequenceLength { len: 4, seq_len: 3 })
        );
    }
}
