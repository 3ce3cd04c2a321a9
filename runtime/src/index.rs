//! Kernels that address elements one by one through index math: ONNX `GatherElements`,
//! `ScatterElements`, `GatherND`, `ScatterND`, `OneHot`, `Trilu`, `Tile`, `Pad` (every
//! mode), `CumSum`, `TopK`, `Hardmax`, `IsNaN`, `IsInf` and `Col2Im`.
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

/// `TensorScatter` (opset 24), a KV cache's update: `y = past`, then for each of the
/// `outer` rows before the sequence axis (`outer / batch` of them per batch entry) its
/// `seq_len` positions of `update` (each `inner` values) written from the batch entry's
/// `write_indices` value on (0 without them), modulo `max_len` when `circular`. A write
/// index that is negative, or (not circular) one that would run past `max_len`, is an
/// error.
#[allow(clippy::too_many_arguments)]
pub fn tensor_scatter<T: Copy>(
    (batch, outer, max_len, seq_len, inner): (usize, usize, usize, usize, usize),
    past: &[T],
    update: &[T],
    write_indices: Option<&[i64]>,
    circular: bool,
    y: &mut [T],
) -> Result<(), KernelError> {
    let len = outer * max_len * inner;
    y[..len].copy_from_slice(&past[..len]);
    if batch == 0 || max_len == 0 {
        return Ok(());
    }
    let per_batch = outer / batch;
    for o in 0..outer {
        let start = write_indices
            .and_then(|w| w.get(o / per_batch))
            .copied()
            .unwrap_or(0);
        let out_of_range = KernelError::IndexOutOfRange {
            index: start,
            len: max_len,
        };
        let start = usize::try_from(start).map_err(|_| out_of_range)?;
        if !circular && start.saturating_add(seq_len) > max_len {
            return Err(out_of_range);
        }
        for s in 0..seq_len {
            let at = if circular {
                (start % max_len + s) % max_len
            } else {
                start + s
            };
            let (Some(dst), Some(src)) = (
                y.get_mut((o * max_len + at) * inner..(o * max_len + at + 1) * inner),
                update.get((o * seq_len + s) * inner..(o * seq_len + s + 1) * inner),
            ) else {
                return Err(out_of_range);
            };
            dst.copy_from_slice(src);
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

tokens! {
    rt::index;
    /// The geometry of ONNX `Col2Im` over `rank` spatial dims (the first `rank` entries of
    /// each array count): the image, the block, and the sliding of the block over the
    /// padded image.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Col2Im {
        /// Spatial dims.
        pub rank: usize,
        /// The image's extent per spatial dim.
        pub image: [usize; MAX_RANK],
        /// The block's extent per spatial dim.
        pub block: [usize; MAX_RANK],
        /// How many block positions fit per spatial dim: the columns are their product.
        pub n_blocks: [usize; MAX_RANK],
        pub dilations: [usize; MAX_RANK],
        /// Padding before each spatial dim (the end padding only bounds `n_blocks`).
        pub pads_begin: [usize; MAX_RANK],
        pub strides: [usize; MAX_RANK],
    }
}

impl Col2Im {
    /// The geometry of blocks `block` sliding over image `image` padded by `pads_begin`
    /// and `pads_end`, with `dilations` and `strides` (one entry per spatial dim, 1 to
    /// [`MAX_RANK`] of them, the same count in each), or `None` where the counts differ,
    /// a block, dilation or stride is 0, a dilated block is larger than its padded dim,
    /// or a size overflows.
    pub fn new(
        image: &[usize],
        block: &[usize],
        dilations: &[usize],
        pads_begin: &[usize],
        pads_end: &[usize],
        strides: &[usize],
    ) -> Option<Col2Im> {
        let rank = image.len();
        let lens = [block, dilations, pads_begin, pads_end, strides].map(<[usize]>::len);
        if rank == 0 || rank > MAX_RANK || lens.iter().any(|&len| len != rank) {
            return None;
        }
        let mut p = Col2Im {
            rank,
            image: [0; MAX_RANK],
            block: [0; MAX_RANK],
            n_blocks: [0; MAX_RANK],
            dilations: [0; MAX_RANK],
            pads_begin: [0; MAX_RANK],
            strides: [0; MAX_RANK],
        };
        for d in 0..rank {
            if block[d] == 0 || dilations[d] == 0 || strides[d] == 0 {
                return None;
            }
            let padded = image[d]
                .checked_add(pads_begin[d])?
                .checked_add(pads_end[d])?;
            let span = (block[d] - 1).checked_mul(dilations[d])?.checked_add(1)?;
            p.n_blocks[d] = padded.checked_sub(span)? / strides[d] + 1;
            p.image[d] = image[d];
            p.block[d] = block[d];
            p.dilations[d] = dilations[d];
            p.pads_begin[d] = pads_begin[d];
            p.strides[d] = strides[d];
        }
        Some(p)
    }

    /// The elements of one block: the rows of one channel's columns.
    pub fn block_len(&self) -> usize {
        self.block[..self.rank].iter().product()
    }

    /// The block positions: the columns.
    pub fn n_columns(&self) -> usize {
        self.n_blocks[..self.rank].iter().product()
    }

    /// The elements of one channel's image.
    pub fn image_len(&self) -> usize {
        self.image[..self.rank].iter().product()
    }
}

/// ONNX `Col2Im`: `x` is `[channels, block_len, n_columns]` (the batch folded into the
/// channels), `y` is `[channels, image…]`. Every column element is added into the image
/// element its block position and offset in the block land on; those that land in the
/// padding are dropped, and image elements no block covers are 0.
pub fn col2im<T: Scalar>(p: &Col2Im, x: &[T], y: &mut [T]) {
    let rank = p.rank.min(MAX_RANK);
    let (block_len, n_columns, image_len) = (p.block_len(), p.n_columns(), p.image_len());
    if block_len == 0 || n_columns == 0 || image_len == 0 {
        y.fill(T::ZERO);
        return;
    }
    let image_strides = strides_of(&p.image[..rank]);
    for (x, y) in x
        .chunks_exact(block_len * n_columns)
        .zip(y.chunks_exact_mut(image_len))
    {
        y.fill(T::ZERO);
        let mut offset_in_block = [0usize; MAX_RANK];
        for rows in x.chunks_exact(n_columns) {
            let mut position = [0usize; MAX_RANK];
            'column: for &value in rows {
                let mut at = 0;
                let mut inside = true;
                for d in 0..rank {
                    let i = (position[d] * p.strides[d] + offset_in_block[d] * p.dilations[d])
                        .wrapping_sub(p.pads_begin[d]);
                    if i >= p.image[d] {
                        inside = false;
                        break;
                    }
                    at += i * image_strides[d];
                }
                step(&mut position[..rank], &p.n_blocks[..rank]);
                if !inside {
                    continue 'column;
                }
                if let Some(out) = y.get_mut(at) {
                    *out = out.add(value);
                }
            }
            step(&mut offset_in_block[..rank], &p.block[..rank]);
        }
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

    /// Two batch entries of a cache of 4 positions, 1 value each, a 2-position update:
    /// linear from each entry's write index, circular wrapping, and the errors.
    #[test]
    fn tensor_scatter_writes_each_entry_at_its_index() {
        let past = [1, 2, 3, 4, 5, 6, 7, 8];
        let update = [10, 11, 20, 21];
        let mut y = [0; 8];
        tensor_scatter(
            (2, 2, 4, 2, 1),
            &past,
            &update,
            Some(&[1, 2]),
            false,
            &mut y,
        )
        .unwrap();
        assert_eq!(y, [1, 10, 11, 4, 5, 6, 20, 21]);
        tensor_scatter((2, 2, 4, 2, 1), &past, &update, None, false, &mut y).unwrap();
        assert_eq!(y, [10, 11, 3, 4, 20, 21, 7, 8]);
        tensor_scatter((2, 2, 4, 2, 1), &past, &update, Some(&[3, 7]), true, &mut y).unwrap();
        assert_eq!(y, [11, 2, 3, 10, 21, 6, 7, 20]);
        let overflow = tensor_scatter(
            (2, 2, 4, 2, 1),
            &past,
            &update,
            Some(&[3, 0]),
            false,
            &mut y,
        );
        assert_eq!(
            overflow,
            Err(KernelError::IndexOutOfRange { index: 3, len: 4 })
        );
        let negative = tensor_scatter(
            (2, 2, 4, 2, 1),
            &past,
            &update,
            Some(&[0, -1]),
            true,
            &mut y,
        );
        assert_eq!(
            negative,
            Err(KernelError::IndexOutOfRange { index: -1, len: 4 })
        );
    }

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

#[cfg(test)]
mod col2im_tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;

    /// `Col2Im` straight from its definition: every (channel, offset in the block, block
    /// position) triple by flat index, each multi-index by division.
    fn naive(p: &Col2Im, channels: usize, x: &[i64]) -> Vec<i64> {
        let rank = p.rank;
        let (block_len, n_columns, image_len) = (p.block_len(), p.n_columns(), p.image_len());
        let unflatten = |mut flat: usize, shape: &[usize]| {
            let mut index = vec![0; shape.len()];
            for d in (0..shape.len()).rev() {
                index[d] = flat % shape[d];
                flat /= shape[d];
            }
            index
        };
        let mut y = vec![0; channels * image_len];
        for c in 0..channels {
            for k in 0..block_len {
                let offset = unflatten(k, &p.block[..rank]);
                for l in 0..n_columns {
                    let position = unflatten(l, &p.n_blocks[..rank]);
                    let mut at = 0i64;
                    let mut inside = true;
                    for d in 0..rank {
                        let i = (position[d] * p.strides[d] + offset[d] * p.dilations[d]) as i64
                            - p.pads_begin[d] as i64;
                        inside &= (0..p.image[d] as i64).contains(&i);
                        at = at * p.image[d] as i64 + i;
                    }
                    if inside {
                        y[c * image_len + at as usize] += x[(c * block_len + k) * n_columns + l];
                    }
                }
            }
        }
        y
    }

    fn geometry(
        image: &[usize],
        block: &[usize],
        dilations: &[usize],
        pads: (&[usize], &[usize]),
        strides: &[usize],
    ) -> Col2Im {
        Col2Im::new(image, block, dilations, pads.0, pads.1, strides).unwrap()
    }

    /// Image, block, dilations, pads (begin, end) and strides.
    type Case = (
        &'static [usize],
        &'static [usize],
        &'static [usize],
        (&'static [usize], &'static [usize]),
        &'static [usize],
    );

    #[test]
    fn col2im_matches_its_definition() {
        let cases: [Case; 6] = [
            (&[5, 5], &[1, 5], &[1, 1], (&[0, 0], &[0, 0]), &[1, 1]),
            (&[6, 6], &[2, 2], &[1, 5], (&[0, 0], &[0, 0]), &[1, 1]),
            (&[5, 5], &[1, 5], &[1, 1], (&[0, 1], &[0, 1]), &[1, 1]),
            (&[5, 5], &[3, 3], &[1, 1], (&[0, 0], &[0, 0]), &[2, 2]),
            (
                &[3, 4, 5],
                &[1, 1, 5],
                &[1, 1, 1],
                (&[0, 0, 0], &[0, 0, 0]),
                &[1, 1, 1],
            ),
            (&[4, 7], &[2, 3], &[2, 1], (&[1, 2], &[2, 0]), &[3, 2]),
        ];
        for (image, block, dilations, pads, strides) in cases {
            let p = geometry(image, block, dilations, pads, strides);
            let channels = 2;
            let len = channels * p.block_len() * p.n_columns();
            let x: Vec<i64> = (0..len as i64).map(|v| v * v % 97 - 40).collect();
            let mut y = vec![i64::MAX; channels * p.image_len()];
            col2im(&p, &x, &mut y);
            assert_eq!(y, naive(&p, channels, &x), "{p:?}");
        }
    }

    #[test]
    fn col2im_overlaps_add_up() {
        // A 1-D image of 3 with blocks of 2 at stride 1: the middle element is covered twice.
        let p = geometry(&[3], &[2], &[1], (&[0], &[0]), &[1]);
        let mut y = [0.0f32; 3];
        col2im(&p, &[1.0, 2.0, 10.0, 20.0], &mut y);
        assert_eq!(y, [1.0, 12.0, 20.0]);
    }
}
