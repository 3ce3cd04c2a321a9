//! Data movement: copy, transpose, concat, gather, slice, expand, pad and where.
//!
//! This module also holds [`Broadcast`], the numpy-broadcasting walker that `expand`,
//! `where_select` and the elementwise binary kernels share. It coalesces the output shape
//! into as few dims as the operands' layouts allow, so the common cases (equal shapes, a
//! per-channel operand, a scalar) turn into a handful of long contiguous runs, and only a
//! genuinely scattered broadcast pays for odometer index math per short run.

use crate::copy;
use crate::scalar::Index;
use crate::{KernelError, MAX_RANK};

/// `y = x`.
#[inline]
pub fn copy<T: Copy>(x: &[T], y: &mut [T]) {
    y.copy_from_slice(x);
}

/// `y` takes the bytes of `x` as they are (ONNX `BitCast`): the same number of bytes, read
/// as another element type.
pub fn copy_bytes<A: bytemuck::Pod, B: bytemuck::Pod>(x: &[A], y: &mut [B]) {
    bytemuck::cast_slice_mut::<B, u8>(y).copy_from_slice(bytemuck::cast_slice(x));
}

/// y = x permuted: y_shape[i] = x_shape[perm[i]].
pub fn transpose<T: Copy>(x: &[T], x_shape: &[usize], perm: &[usize], y: &mut [T]) {
    transpose_with(x, x_shape, perm, y, transpose_2d);
}

/// [`transpose`] of `f32` values: where the last two axes swap (a batched 2-D transpose,
/// such as attention's keys `[tokens, heads, depth] → [heads, depth, tokens]` or an NHWC
/// image into NCHW), whole 16 × 16 tiles (8 × 8 without AVX-512) go through registers:
/// sixteen row loads, the in-register transpose and sixteen row stores, where the
/// generic tiles read each value on its own (a transformer's key transpose, 48 × 128 per
/// head: 0.78 ns an element).
pub fn transpose_f32(x: &[f32], x_shape: &[usize], perm: &[usize], y: &mut [f32]) {
    transpose_with(x, x_shape, perm, y, transpose_2d_f32);
}

/// [`transpose`] with `tile_2d` for a batched 2-D transpose (its arguments as
/// [`transpose_2d`]'s).
#[inline(always)]
fn transpose_with<T: Copy>(
    x: &[T],
    x_shape: &[usize],
    perm: &[usize],
    y: &mut [T],
    tile_2d: fn(&[T], usize, usize, usize, &mut [T]),
) {
    let rank = x_shape.len();
    assert!(rank <= MAX_RANK, "rank exceeds MAX_RANK");
    assert_eq!(perm.len(), rank, "perm and shape ranks differ");
    let mut x_strides = [0usize; MAX_RANK];
    let mut stride = 1;
    for d in (0..rank).rev() {
        x_strides[d] = stride;
        stride *= x_shape[d];
    }
    let count = stride;
    let y = &mut y[..count];
    if count == 0 {
        return;
    }
    // Walk y in order; each y dim reads x with the stride of the x dim it came from.
    let mut dims = Dims::default();
    for &axis in perm {
        dims.push(x_shape[axis], x_strides[axis]);
    }
    if dims.rank == 0 {
        // A single element: one contiguous run of length one.
        dims.rank = 1;
        dims.strides[0] = 1;
    }
    let rank = dims.rank;
    let inner_len = dims.extents[rank - 1];
    let inner_stride = dims.strides[rank - 1];
    if inner_stride == 1 {
        // The innermost dims kept their order: copy whole runs.
        dims.for_each_run(|y_offset, x_offset| {
            y[y_offset..y_offset + inner_len].copy_from_slice(&x[x_offset..x_offset + inner_len]);
        });
    } else if rank >= 2 && dims.strides[rank - 2] == 1 {
        // The last two dims swapped (a batched 2-D transpose): go tile by tile so both the
        // rows read and the rows written stay in L1.
        let rows = dims.extents[rank - 2];
        let block = rows * inner_len;
        // Walk the batch dims only: the rows dim becomes a run of length one, so each
        // visit is one batch entry.
        dims.rank -= 1;
        dims.extents[rank - 2] = 1;
        dims.for_each_run(|batch_idx, x_offset| {
            tile_2d(
                &x[x_offset..],
                inner_stride,
                rows,
                inner_len,
                &mut y[batch_idx * block..(batch_idx + 1) * block],
            );
        });
    } else {
        dims.for_each_run(|y_offset, x_offset| {
            let run = &mut y[y_offset..y_offset + inner_len];
            copy::strided_run(run, &x[x_offset..], inner_stride);
        });
    }
}

/// `y[r][c] = x[r + c * x_col_stride]` for an `rows × cols` output, in square tiles.
fn transpose_2d<T: Copy>(x: &[T], x_col_stride: usize, rows: usize, cols: usize, y: &mut [T]) {
    // Two to four rows of a packed matrix (an NHWC image of a few channels into NCHW,
    // as mlperf-vww's input): one pass per row over exact chunks, which vectorizes into
    // wide loads and shuffles. The tiles below ran eight values per strided run, as
    // scatters: 14 µs of mlperf-vww's 200.
    #[cfg(not(zant_size))]
    if x_col_stride == rows {
        match rows {
            2 => return deinterleave::<T, 2>(x, cols, y),
            3 => return deinterleave::<T, 3>(x, cols, y),
            4 => return deinterleave::<T, 4>(x, cols, y),
            _ => {}
        }
    }
    const TILE: usize = 8;
    for row0 in (0..rows).step_by(TILE) {
        let row1 = (row0 + TILE).min(rows);
        for col0 in (0..cols).step_by(TILE) {
            let col1 = (col0 + TILE).min(cols);
            for row in row0..row1 {
                let out = &mut y[row * cols + col0..row * cols + col1];
                let x = &x[row + col0 * x_col_stride..];
                copy::strided_run(out, x, x_col_stride);
            }
        }
    }
}

/// [`transpose_2d`] of `f32` values, whole tiles of [`TILE_F32`] in registers, the
/// strips past them through [`transpose_2d`].
fn transpose_2d_f32(x: &[f32], x_col_stride: usize, rows: usize, cols: usize, y: &mut [f32]) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        const T: usize = TILE_F32;
        let (whole_rows, whole_cols) = (rows / T * T, cols / T * T);
        if whole_rows > 0 && whole_cols > 0 && x_col_stride >= rows {
            for row0 in (0..whole_rows).step_by(T) {
                for col0 in (0..whole_cols).step_by(T) {
                    transpose_tile(x, x_col_stride, (row0, col0), cols, y);
                }
                // The columns past the whole tiles, for these rows.
                if whole_cols < cols {
                    for row in row0..row0 + T {
                        let out = &mut y[row * cols + whole_cols..(row + 1) * cols];
                        copy::strided_run(out, &x[row + whole_cols * x_col_stride..], x_col_stride);
                    }
                }
            }
            // The rows past the whole tiles.
            for row in whole_rows..rows {
                let out = &mut y[row * cols..(row + 1) * cols];
                copy::strided_run(out, &x[row..], x_col_stride);
            }
            return;
        }
    }
    transpose_2d(x, x_col_stride, rows, cols, y);
}

/// The side of the square tiles [`transpose_2d_f32`] moves through registers.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
const TILE_F32: usize = 16;
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(all(target_arch = "x86_64", target_feature = "avx512f"))
))]
const TILE_F32: usize = crate::gemm::simd::LANES;

/// One tile: `y[row0 + i][col0 + j] = x[row0 + i + (col0 + j) · x_col_stride]`.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn transpose_tile(
    x: &[f32],
    x_col_stride: usize,
    (row0, col0): (usize, usize),
    cols: usize,
    y: &mut [f32],
) {
    use crate::gemm::simd::F32x16;
    use crate::unroll::unroll;
    let mut v = [F32x16::splat(0.0); 16];
    unroll!(16, |j| if let Some(c) = x
        .get(row0 + (col0 + j) * x_col_stride..)
        .and_then(<[f32]>::first_chunk::<16>)
    {
        v[j] = F32x16::load(c);
    });
    let t = F32x16::transpose_16x16(v);
    unroll!(16, |i| t[i].store(&mut y[(row0 + i) * cols + col0..]));
}

/// One tile of 8 × 8 (see the AVX-512 one).
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(all(target_arch = "x86_64", target_feature = "avx512f"))
))]
#[inline(always)]
fn transpose_tile(
    x: &[f32],
    x_col_stride: usize,
    (row0, col0): (usize, usize),
    cols: usize,
    y: &mut [f32],
) {
    use crate::gemm::simd::{load_at, store_at, transpose, F32x8, LANES};
    use crate::unroll::unroll;
    let mut v = [F32x8::splat(0.0); LANES];
    unroll!(LANES, |j| v[j] =
        load_at(x, row0 + (col0 + j) * x_col_stride));
    let t = transpose(v);
    unroll!(LANES, |i| store_at(t[i], y, (row0 + i) * cols + col0));
}

/// `y[r][c] = x[c * N + r]` for `N` rows of `cols`: row by row over `x` in chunks of `N`.
#[cfg(not(zant_size))]
fn deinterleave<T: Copy, const N: usize>(x: &[T], cols: usize, y: &mut [T]) {
    for (r, out) in y.chunks_exact_mut(cols).take(N).enumerate() {
        let r = r.min(N - 1);
        for (value, chunk) in out.iter_mut().zip(x.chunks_exact(N)) {
            *value = chunk[r];
        }
    }
}

/// Concatenation along an axis, seen as [outer, axis_len_i, inner] blocks: `parts[i]` has outer*axis_lens[i]*inner elements.
pub fn concat<T: Copy>(
    parts: &[&[T]],
    axis_lens: &[usize],
    outer: usize,
    inner: usize,
    y: &mut [T],
) {
    assert_eq!(parts.len(), axis_lens.len(), "one axis length per part");
    let mut offset = 0;
    for outer_idx in 0..outer {
        for (part, &axis_len) in parts.iter().zip(axis_lens) {
            let block = axis_len * inner;
            y[offset..offset + block].copy_from_slice(&part[outer_idx * block..][..block]);
            offset += block;
        }
    }
}

/// ONNX Gather: data seen as [outer, axis_len, inner]; y is [outer, indices.len(), inner].
/// Negative indices count from the end; anything outside -axis_len..axis_len returns
/// IndexOutOfRange. All indices are checked before anything is copied.
pub fn gather<T: Copy, I: Index>(
    data: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    indices: &[I],
    y: &mut [T],
) -> Result<(), KernelError> {
    for &index in indices {
        resolve_index(index.to_i64(), axis_len)?;
    }
    let n_indices = indices.len();
    let y = &mut y[..outer * n_indices * inner];
    if inner == 1 {
        // Gathering single elements (an embedding of width 1, a lookup table): skip the
        // per-index slice copy.
        for (outer_idx, out) in y.chunks_exact_mut(n_indices.max(1)).enumerate() {
            let source = &data[outer_idx * axis_len..][..axis_len];
            for (out, &index) in out.iter_mut().zip(indices) {
                // Already validated above, so the fallback is never taken.
                let position = resolve_index(index.to_i64(), axis_len).unwrap_or(0);
                *out = source[position];
            }
        }
        return Ok(());
    }
    let mut offset = 0;
    for outer_idx in 0..outer {
        let source = &data[outer_idx * axis_len * inner..][..axis_len * inner];
        for &index in indices {
            let position = resolve_index(index.to_i64(), axis_len)?;
            copy::copy(
                &mut y[offset..offset + inner],
                &source[position * inner..][..inner],
            );
            offset += inner;
        }
    }
    Ok(())
}

/// Maps an ONNX index (negative counts from the end) to a position in `0..len`.
#[inline(always)]
pub(crate) fn resolve_index(index: i64, len: usize) -> Result<usize, KernelError> {
    let out_of_range = KernelError::IndexOutOfRange { index, len };
    let len_i64 = i64::try_from(len).map_err(|_| out_of_range)?;
    let position = if index < 0 {
        index.wrapping_add(len_i64)
    } else {
        index
    };
    if (0..len_i64).contains(&position) {
        Ok(position as usize)
    } else {
        Err(out_of_range)
    }
}

/// Strided slice: y[i] = x[starts[d] + i_d * steps[d]] per dim d (steps may be negative,
/// starts already clamped by the caller), y_shape given.
pub fn slice<T: Copy>(
    x: &[T],
    x_shape: &[usize],
    starts: &[i64],
    steps: &[i64],
    y: &mut [T],
    y_shape: &[usize],
) {
    let rank = x_shape.len();
    assert!(rank <= MAX_RANK, "rank exceeds MAX_RANK");
    assert!(starts.len() == rank && steps.len() == rank && y_shape.len() == rank);
    let count: usize = y_shape.iter().product();
    let y = &mut y[..count];
    if count == 0 {
        return;
    }
    // Element strides of x, and the signed x stride of each y dim.
    let mut base = 0i64;
    let mut y_strides = [0i64; MAX_RANK];
    let mut x_stride = 1i64;
    for d in (0..rank).rev() {
        base += starts[d] * x_stride;
        y_strides[d] = steps[d] * x_stride;
        x_stride *= x_shape[d] as i64;
    }
    // Merge a dim into the one before it when the pair walks x with one constant stride,
    // so that a slice of the outer dims only copies long contiguous runs.
    let mut extents = [1usize; MAX_RANK];
    let mut strides = [0i64; MAX_RANK];
    let mut merged_rank = 0;
    for d in 0..rank {
        let extent = y_shape[d];
        if extent == 1 {
            continue;
        }
        if merged_rank > 0 && strides[merged_rank - 1] == y_strides[d] * extent as i64 {
            extents[merged_rank - 1] *= extent;
            strides[merged_rank - 1] = y_strides[d];
        } else {
            extents[merged_rank] = extent;
            strides[merged_rank] = y_strides[d];
            merged_rank += 1;
        }
    }
    if merged_rank == 0 {
        y[0] = x[base as usize];
        return;
    }
    let inner_len = extents[merged_rank - 1];
    let inner_stride = strides[merged_rank - 1];
    let n_runs = count / inner_len;
    let mut index = [0usize; MAX_RANK];
    let mut x_offset = base;
    for run in y.chunks_exact_mut(inner_len).take(n_runs) {
        if inner_stride == 1 {
            let start = x_offset as usize;
            run.copy_from_slice(&x[start..start + inner_len]);
        } else {
            let mut position = x_offset;
            for out in run.iter_mut() {
                *out = x[position as usize];
                position += inner_stride;
            }
        }
        let mut d = merged_rank - 1;
        while d > 0 {
            d -= 1;
            index[d] += 1;
            x_offset += strides[d];
            if index[d] < extents[d] {
                break;
            }
            index[d] = 0;
            x_offset -= strides[d] * extents[d] as i64;
        }
    }
}

/// numpy broadcast of x (x_shape, right-aligned) to y_shape (Expand).
pub fn expand<T: Copy>(x: &[T], x_shape: &[usize], y: &mut [T], y_shape: &[usize]) {
    let walker = Broadcast::new([x_shape], y_shape);
    let inner_len = walker.inner_len();
    let [x_stride] = walker.inner_strides();
    walker.for_each_run(|y_offset, [x_offset]| {
        let run = &mut y[y_offset..y_offset + inner_len];
        if x_stride == 0 {
            run.fill(x[x_offset]);
        } else {
            run.copy_from_slice(&x[x_offset..x_offset + inner_len]);
        }
    });
}

/// Constant padding of each dim by pads_begin/pads_end (non-negative) with `value`.
pub fn pad_constant<T: Copy>(
    x: &[T],
    x_shape: &[usize],
    pads_begin: &[usize],
    pads_end: &[usize],
    value: T,
    y: &mut [T],
) {
    let rank = x_shape.len();
    assert!(rank <= MAX_RANK, "rank exceeds MAX_RANK");
    assert!(pads_begin.len() == rank && pads_end.len() == rank);
    if rank == 0 {
        y[0] = x[0];
        return;
    }
    let mut y_shape = [0usize; MAX_RANK];
    let mut x_strides = [0usize; MAX_RANK];
    let mut stride = 1;
    for d in (0..rank).rev() {
        y_shape[d] = pads_begin[d] + x_shape[d] + pads_end[d];
        x_strides[d] = stride;
        stride *= x_shape[d];
    }
    let row_len = y_shape[rank - 1];
    let count: usize = y_shape[..rank].iter().product();
    let y = &mut y[..count];
    if count == 0 {
        return;
    }
    let (left, width) = (pads_begin[rank - 1], x_shape[rank - 1]);
    // Walk y row by row; a row either lies wholly in the padding of some outer dim, or
    // is one x row with padding on both sides.
    let mut index = [0usize; MAX_RANK];
    for row in y.chunks_exact_mut(row_len) {
        let mut x_offset = 0;
        let mut inside = true;
        for d in 0..rank - 1 {
            let i = index[d];
            if i < pads_begin[d] || i >= pads_begin[d] + x_shape[d] {
                inside = false;
                break;
            }
            x_offset += (i - pads_begin[d]) * x_strides[d];
        }
        if inside {
            row[..left].fill(value);
            row[left..left + width].copy_from_slice(&x[x_offset..x_offset + width]);
            row[left + width..].fill(value);
        } else {
            row.fill(value);
        }
        let mut d = rank - 1;
        while d > 0 {
            d -= 1;
            index[d] += 1;
            if index[d] < y_shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
}

/// y[i] = if cond[i] { a[i] } else { b[i] } with numpy broadcasting of all three to y_shape.
#[allow(clippy::too_many_arguments)]
pub fn where_select<T: Copy>(
    cond: &[u8],
    cond_shape: &[usize],
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    y: &mut [T],
    y_shape: &[usize],
) {
    let walker = Broadcast::new([cond_shape, a_shape, b_shape], y_shape);
    let inner_len = walker.inner_len();
    let strides = walker.inner_strides();
    walker.for_each_run(|y_offset, [cond_offset, a_offset, b_offset]| {
        let run = &mut y[y_offset..y_offset + inner_len];
        // Each operand is either a contiguous run (stride 1) or one repeated value
        // (stride 0); cutting it to exactly the elements read lets the loop drop its
        // bounds checks.
        let cond = &cond[cond_offset..cond_offset + run_len(strides[0], inner_len)];
        let a = &a[a_offset..a_offset + run_len(strides[1], inner_len)];
        let b = &b[b_offset..b_offset + run_len(strides[2], inner_len)];
        match strides {
            [1, 1, 1] => select_run::<T, 1, 1, 1>(run, cond, a, b),
            [1, 1, 0] => select_run::<T, 1, 1, 0>(run, cond, a, b),
            [1, 0, 1] => select_run::<T, 1, 0, 1>(run, cond, a, b),
            [1, 0, 0] => select_run::<T, 1, 0, 0>(run, cond, a, b),
            [0, 1, 1] => select_run::<T, 0, 1, 1>(run, cond, a, b),
            [0, 1, 0] => select_run::<T, 0, 1, 0>(run, cond, a, b),
            [0, 0, 1] => select_run::<T, 0, 0, 1>(run, cond, a, b),
            _ => select_run::<T, 0, 0, 0>(run, cond, a, b),
        }
    });
}

/// The number of elements a run of `inner_len` reads from an operand with this stride.
#[inline(always)]
fn run_len(stride: usize, inner_len: usize) -> usize {
    if stride == 0 {
        1
    } else {
        inner_len
    }
}

/// One run of `where_select` with the operand strides (0 or 1) known at compile time.
#[inline(always)]
fn select_run<T: Copy, const COND: usize, const A: usize, const B: usize>(
    y: &mut [T],
    cond: &[u8],
    a: &[T],
    b: &[T],
) {
    for (i, out) in y.iter_mut().enumerate() {
        *out = if cond[i * COND] != 0 {
            a[i * A]
        } else {
            b[i * B]
        };
    }
}

/// `y[i] = f(a[i], b[i])` with numpy broadcasting of `a` and `b` to `y_shape`, for kernels
/// whose operands and output have different types (comparisons, mixed-type `Pow`).
/// Stops at the first error `f` returns.
#[allow(clippy::too_many_arguments)]
pub fn zip_broadcast<A: Copy, B: Copy, Y, E>(
    a: &[A],
    a_shape: &[usize],
    b: &[B],
    b_shape: &[usize],
    y: &mut [Y],
    y_shape: &[usize],
    mut f: impl FnMut(A, B) -> Result<Y, E>,
) -> Result<(), E> {
    let walker = Broadcast::new([a_shape, b_shape], y_shape);
    let inner_len = walker.inner_len();
    let [a_stride, b_stride] = walker.inner_strides();
    walker.try_for_each_run(|y_offset, [a_offset, b_offset]| {
        let run = &mut y[y_offset..y_offset + inner_len];
        for (i, out) in run.iter_mut().enumerate() {
            *out = f(a[a_offset + i * a_stride], b[b_offset + i * b_stride])?;
        }
        Ok(())
    })
}

/// A numpy broadcast of `N` inputs to one output shape, coalesced into as few dims as the
/// layouts allow, walked as runs of the innermost dim.
///
/// Input strides are 0 along broadcast dims. Two neighbouring dims merge when every input
/// steps through them with one constant stride (both contiguous, or both broadcast), and
/// dims of extent 1 vanish; so a `[1, C, H, W]` output with a `[C, 1, 1]` operand becomes
/// `C` runs of `H·W` against one scalar each, and equal shapes become a single run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Broadcast<const N: usize> {
    rank: usize,
    extents: [usize; MAX_RANK],
    strides: [[usize; MAX_RANK]; N],
    is_empty: bool,
}

impl<const N: usize> Broadcast<N> {
    /// Plans the walk of `y_shape`, with each of `input_shapes` right-aligned against it.
    pub(crate) fn new(input_shapes: [&[usize]; N], y_shape: &[usize]) -> Self {
        let rank = y_shape.len();
        assert!(rank <= MAX_RANK, "rank exceeds MAX_RANK");
        let mut input_strides = [[0usize; MAX_RANK]; N];
        for (shape, strides) in input_shapes.iter().zip(input_strides.iter_mut()) {
            assert!(
                shape.len() <= rank,
                "an input has a larger rank than the output"
            );
            let leading = rank - shape.len();
            let mut stride = 1;
            for d in (leading..rank).rev() {
                let extent = shape[d - leading];
                if extent != 1 {
                    assert_eq!(extent, y_shape[d], "shapes do not broadcast");
                    strides[d] = stride;
                }
                stride *= extent;
            }
        }
        let mut walker = Self {
            rank: 0,
            extents: [1; MAX_RANK],
            strides: [[0; MAX_RANK]; N],
            is_empty: y_shape.contains(&0),
        };
        for (d, &extent) in y_shape.iter().enumerate() {
            if extent == 1 {
                continue;
            }
            let last = walker.rank.wrapping_sub(1);
            let merges = walker.rank > 0
                && (0..N).all(|k| walker.strides[k][last] == input_strides[k][d] * extent);
            let slot = if merges {
                walker.extents[last] *= extent;
                last
            } else {
                walker.extents[walker.rank] = extent;
                walker.rank += 1;
                walker.rank - 1
            };
            for (strides, input) in walker.strides.iter_mut().zip(&input_strides) {
                strides[slot] = input[d];
            }
        }
        // A single element still makes one run of length one.
        walker.rank = walker.rank.max(1);
        walker
    }

    /// The length of every run.
    #[inline]
    pub(crate) fn inner_len(&self) -> usize {
        self.extents[self.rank - 1]
    }

    /// Each input's stride within a run: 1 (contiguous) or 0 (one repeated value).
    #[inline]
    pub(crate) fn inner_strides(&self) -> [usize; N] {
        core::array::from_fn(|k| self.strides[k][self.rank - 1])
    }

    /// Calls `visit(y_offset, input_offsets)` for each run, in output order.
    #[inline]
    pub(crate) fn for_each_run(&self, mut visit: impl FnMut(usize, [usize; N])) {
        let result: Result<(), core::convert::Infallible> =
            self.try_for_each_run(|y_offset, offsets| {
                visit(y_offset, offsets);
                Ok(())
            });
        let Ok(()) = result;
    }

    /// Like [`Self::for_each_run`], stopping at the first error.
    #[inline]
    pub(crate) fn try_for_each_run<E>(
        &self,
        mut visit: impl FnMut(usize, [usize; N]) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.is_empty {
            return Ok(());
        }
        let outer_rank = self.rank - 1;
        let inner_len = self.extents[outer_rank];
        let n_runs: usize = self.extents[..outer_rank].iter().product();
        let mut index = [0usize; MAX_RANK];
        let mut offsets = [0usize; N];
        let mut y_offset = 0;
        for _ in 0..n_runs {
            visit(y_offset, offsets)?;
            y_offset += inner_len;
            let mut d = outer_rank;
            while d > 0 {
                d -= 1;
                index[d] += 1;
                for (offset, strides) in offsets.iter_mut().zip(&self.strides) {
                    *offset += strides[d];
                }
                if index[d] < self.extents[d] {
                    break;
                }
                index[d] = 0;
                for (offset, strides) in offsets.iter_mut().zip(&self.strides) {
                    *offset -= strides[d] * self.extents[d];
                }
            }
        }
        Ok(())
    }
}

/// A walk over an output with one input at arbitrary (non-negative) strides, coalesced
/// like [`Broadcast`]; used by `transpose`.
#[derive(Clone, Copy, Debug)]
struct Dims {
    rank: usize,
    extents: [usize; MAX_RANK],
    strides: [usize; MAX_RANK],
}

impl Default for Dims {
    fn default() -> Self {
        Self {
            rank: 0,
            extents: [1; MAX_RANK],
            strides: [0; MAX_RANK],
        }
    }
}

impl Dims {
    /// Appends an output dim, merging it into the previous one when possible.
    fn push(&mut self, extent: usize, stride: usize) {
        if extent == 1 {
            return;
        }
        if self.rank > 0 && self.strides[self.rank - 1] == stride * extent {
            self.extents[self.rank - 1] *= extent;
            self.strides[self.rank - 1] = stride;
        } else {
            self.extents[self.rank] = extent;
            self.strides[self.rank] = stride;
            self.rank += 1;
        }
    }

    /// Calls `visit(y_offset, x_offset)` for each run of the innermost dim; the walk must
    /// have at least one dim and one element.
    fn for_each_run(&self, mut visit: impl FnMut(usize, usize)) {
        let outer_rank = self.rank - 1;
        let inner_len = self.extents[outer_rank];
        let n_runs: usize = self.extents[..outer_rank].iter().product();
        let mut index = [0usize; MAX_RANK];
        let mut x_offset = 0;
        for run in 0..n_runs {
            visit(run * inner_len, x_offset);
            let mut d = outer_rank;
            while d > 0 {
                d -= 1;
                index[d] += 1;
                x_offset += self.strides[d];
                if index[d] < self.extents[d] {
                    break;
                }
                index[d] = 0;
                x_offset -= self.strides[d] * self.extents[d];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    fn iota(n: usize) -> Vec<i32> {
        (0..n as i32).collect()
    }

    /// `transpose_f32` moves every value where the generic `transpose` does, on batched
    /// 2-D transposes with whole register tiles, partial ones and none (rows and columns
    /// of 1 to 40), and on permutations that are not (contiguous runs, strided runs).
    #[test]
    fn transpose_f32_matches_the_generic_transpose() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[1, 128, 4, 48], &[0, 2, 3, 1]),
            (&[2, 16, 16], &[0, 2, 1]),
            (&[3, 17, 33], &[0, 2, 1]),
            (&[40, 8], &[1, 0]),
            (&[8, 40], &[1, 0]),
            (&[1, 5, 7], &[0, 2, 1]),
            (&[2, 3, 32, 24], &[1, 0, 3, 2]),
            (&[2, 3, 4, 5], &[0, 2, 1, 3]),
            (&[4, 6, 20], &[2, 0, 1]),
        ];
        for &(shape, perm) in cases {
            let n: usize = shape.iter().product();
            let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let (mut want, mut got) = (std::vec![f32::NAN; n], std::vec![f32::NAN; n]);
            transpose(&x, shape, perm, &mut want);
            transpose_f32(&x, shape, perm, &mut got);
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{shape:?} {perm:?}"
            );
        }
    }

    /// Row-major strides of a shape.
    fn strides_of(shape: &[usize]) -> Vec<usize> {
        let mut strides = std::vec![1; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            strides[d] = strides[d + 1] * shape[d + 1];
        }
        strides
    }

    /// The multi-index of flat position `flat` in `shape`.
    fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
        let mut index = std::vec![0; shape.len()];
        for d in (0..shape.len()).rev() {
            index[d] = flat % shape[d];
            flat /= shape[d];
        }
        index
    }

    fn naive_transpose(x: &[i32], shape: &[usize], perm: &[usize]) -> Vec<i32> {
        let y_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let x_strides = strides_of(shape);
        (0..x.len())
            .map(|flat| {
                let y_index = unravel(flat, &y_shape);
                let offset: usize = (0..perm.len())
                    .map(|i| y_index[i] * x_strides[perm[i]])
                    .sum();
                x[offset]
            })
            .collect()
    }

    fn check_transpose(shape: &[usize], perm: &[usize]) {
        let x = iota(shape.iter().product());
        let mut y = std::vec![-1; x.len()];
        transpose(&x, shape, perm, &mut y);
        assert_eq!(
            y,
            naive_transpose(&x, shape, perm),
            "shape {shape:?} perm {perm:?}"
        );
    }

    #[test]
    fn transpose_matches_naive() {
        check_transpose(&[2, 3], &[1, 0]);
        check_transpose(&[17, 11], &[1, 0]);
        check_transpose(&[2, 3, 4], &[0, 2, 1]);
        check_transpose(&[2, 3, 4], &[2, 0, 1]);
        check_transpose(&[2, 3, 4], &[1, 0, 2]);
        check_transpose(&[1, 3, 5, 7], &[0, 2, 3, 1]);
        check_transpose(&[1, 5, 7, 3], &[0, 3, 1, 2]);
        // NHWC images of two and four channels into NCHW (rows of a packed matrix).
        check_transpose(&[2, 6, 5, 2], &[0, 3, 1, 2]);
        check_transpose(&[1, 4, 9, 4], &[0, 3, 1, 2]);
        check_transpose(&[9, 2], &[1, 0]);
        check_transpose(&[2, 1, 3, 1, 4], &[4, 3, 2, 1, 0]);
        check_transpose(&[3, 4], &[0, 1]);
        check_transpose(&[5], &[0]);
        check_transpose(&[], &[]);
        check_transpose(&[2, 0, 3], &[2, 1, 0]);
    }

    #[test]
    fn concat_interleaves_blocks() {
        // Concatenating [2,1,2] and [2,2,2] along axis 1.
        let a = [1, 2, 3, 4];
        let b = [5, 6, 7, 8, 9, 10, 11, 12];
        let mut y = [0; 12];
        concat(&[&a, &b], &[1, 2], 2, 2, &mut y);
        assert_eq!(y, [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12]);
    }

    #[test]
    fn gather_rows_with_negative_indices() {
        // data [3, 2] gathered along axis 0.
        let data = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut y = [0.0; 6];
        gather(&data, 1, 3, 2, &[2i64, -3, -1], &mut y).unwrap();
        assert_eq!(y, [5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    }

    #[test]
    fn gather_single_elements_along_the_last_axis() {
        // data [2, 3] gathered along axis 1.
        let data = [1, 2, 3, 4, 5, 6];
        let mut y = [0; 4];
        gather(&data, 2, 3, 1, &[0i32, -1], &mut y).unwrap();
        assert_eq!(y, [1, 3, 4, 6]);
    }

    #[test]
    fn gather_rejects_out_of_range_indices() {
        let data = [1, 2, 3];
        let mut y = [0; 2];
        assert_eq!(
            gather(&data, 1, 3, 1, &[0i64, 3], &mut y),
            Err(KernelError::IndexOutOfRange { index: 3, len: 3 })
        );
        assert_eq!(
            gather(&data, 1, 3, 1, &[-4i32], &mut y[..1]),
            Err(KernelError::IndexOutOfRange { index: -4, len: 3 })
        );
        assert_eq!(
            gather(&data, 1, 3, 1, &[i64::MIN], &mut y[..1]),
            Err(KernelError::IndexOutOfRange {
                index: i64::MIN,
                len: 3
            })
        );
        let mut wide = [0; 4];
        assert_eq!(
            gather(&[1, 2, 3, 4], 1, 2, 2, &[2i64], &mut wide[..2]),
            Err(KernelError::IndexOutOfRange { index: 2, len: 2 })
        );
    }

    #[test]
    fn gather_with_no_indices_writes_nothing() {
        let mut y: [i32; 0] = [];
        gather(&[1, 2, 3], 1, 3, 1, &[] as &[i64], &mut y).unwrap();
    }

    fn check_slice(shape: &[usize], starts: &[i64], steps: &[i64], y_shape: &[usize]) {
        let x = iota(shape.iter().product());
        let x_strides = strides_of(shape);
        let count: usize = y_shape.iter().product();
        let expected: Vec<i32> = (0..count)
            .map(|flat| {
                let index = unravel(flat, y_shape);
                let offset: i64 = (0..shape.len())
                    .map(|d| (starts[d] + index[d] as i64 * steps[d]) * x_strides[d] as i64)
                    .sum();
                x[offset as usize]
            })
            .collect();
        let mut y = std::vec![-1; count];
        slice(&x, shape, starts, steps, &mut y, y_shape);
        assert_eq!(
            y, expected,
            "shape {shape:?} starts {starts:?} steps {steps:?}"
        );
    }

    #[test]
    fn slice_matches_naive() {
        check_slice(&[10], &[2], &[3], &[3]);
        check_slice(&[10], &[9], &[-2], &[5]);
        check_slice(&[4, 5], &[1, 0], &[1, 1], &[2, 5]);
        check_slice(&[4, 5], &[3, 4], &[-1, -1], &[4, 5]);
        check_slice(&[2, 3, 4], &[0, 1, 1], &[1, 1, 2], &[2, 2, 2]);
        check_slice(&[2, 3, 4], &[1, 0, 0], &[1, 1, 1], &[1, 3, 4]);
        check_slice(&[1, 3, 1], &[0, 2, 0], &[1, 1, 1], &[1, 1, 1]);
        check_slice(&[3, 3], &[0, 0], &[1, 1], &[0, 3]);
    }

    #[test]
    fn expand_broadcasts_rows_columns_and_scalars() {
        let mut y = [0; 6];
        expand(&[1, 2, 3], &[3], &mut y, &[2, 3]);
        assert_eq!(y, [1, 2, 3, 1, 2, 3]);
        expand(&[1, 2], &[2, 1], &mut y, &[2, 3]);
        assert_eq!(y, [1, 1, 1, 2, 2, 2]);
        expand(&[7], &[], &mut y, &[3, 2]);
        assert_eq!(y, [7; 6]);
        let mut y = [0; 12];
        expand(&[1, 2, 3, 4], &[2, 1, 2], &mut y, &[2, 3, 2]);
        assert_eq!(y, [1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4]);
    }

    #[test]
    fn pad_constant_surrounds_the_input() {
        // [2, 2] padded by one row on top and one column on each side.
        let x = [1, 2, 3, 4];
        let mut y = [-1; 12];
        pad_constant(&x, &[2, 2], &[1, 1], &[0, 1], 0, &mut y);
        assert_eq!(y, [0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0]);
        // Padding the outer dim of a rank-3 tensor fills whole planes.
        let mut y = [-1; 8];
        pad_constant(&x, &[1, 2, 2], &[1, 0, 0], &[0, 0, 0], 9, &mut y);
        assert_eq!(y, [9, 9, 9, 9, 1, 2, 3, 4]);
        let mut y = [-1; 1];
        pad_constant(&[5], &[], &[], &[], 0, &mut y);
        assert_eq!(y, [5]);
    }

    #[test]
    fn where_select_broadcasts_all_three_operands() {
        let mut y = [0; 6];
        // cond [2, 1], a [3], b scalar.
        where_select(
            &[1, 0],
            &[2, 1],
            &[1, 2, 3],
            &[3],
            &[9],
            &[],
            &mut y,
            &[2, 3],
        );
        assert_eq!(y, [1, 2, 3, 9, 9, 9]);
        // cond [3], a [2, 3], b [2, 1].
        where_select(
            &[0, 1, 0],
            &[3],
            &[1, 2, 3, 4, 5, 6],
            &[2, 3],
            &[7, 8],
            &[2, 1],
            &mut y,
            &[2, 3],
        );
        assert_eq!(y, [7, 2, 7, 8, 5, 8]);
        // Everything full-sized.
        where_select(
            &[1, 0, 1, 0, 1, 0],
            &[6],
            &[1; 6],
            &[6],
            &[2; 6],
            &[6],
            &mut y,
            &[6],
        );
        assert_eq!(y, [1, 2, 1, 2, 1, 2]);
    }

    #[test]
    fn broadcast_coalesces_per_channel_operands() {
        let walker = Broadcast::new([&[1, 4, 3, 5][..], &[4, 1, 1][..]], &[1, 4, 3, 5]);
        assert_eq!(walker.rank, 2);
        assert_eq!(walker.inner_len(), 15);
        assert_eq!(walker.inner_strides(), [1, 0]);
        let mut runs = Vec::new();
        walker.for_each_run(|y_offset, offsets| runs.push((y_offset, offsets)));
        assert_eq!(
            runs,
            [(0, [0, 0]), (15, [15, 1]), (30, [30, 2]), (45, [45, 3])]
        );
        let equal = Broadcast::new([&[2, 3][..], &[2, 3][..]], &[2, 3]);
        assert_eq!((equal.rank, equal.inner_len()), (1, 6));
    }
}
