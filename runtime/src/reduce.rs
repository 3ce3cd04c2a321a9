//! Reductions (ONNX `Reduce*`) and `ArgMax` / `ArgMin`.
//!
//! A reduction first merges neighbouring axes that are both reduced or both kept, and
//! drops axes of extent 1, then picks a loop shape:
//!
//! * the reduced axes are trailing (`[kept, reduced]`: a mean over the last axis or over
//!   `H·W`): each output folds one contiguous run, in independent lanes that vectorise;
//! * one reduced block with kept axes after it (`[kept, reduced, kept]`): each output
//!   row accumulates whole contiguous input rows;
//! * anything else: per output, an odometer over the reduced axes.
//!
//! Every op is a fold (sum, product, max or min) of a mapped value (itself, its square,
//! its absolute value) followed by a finishing step (divide by the count, square root,
//! log), except `LogSumExp`, which subtracts the maximum first so `exp` cannot overflow.

use crate::scalar::{is_float, Scalar};
use crate::tokens::tokens;
use crate::unroll::unroll;
use crate::MAX_RANK;

tokens! {
    rt::reduce;
    /// A reduction (ONNX `ReduceSum`, `ReduceMean`, …).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum ReduceOp {
        /// `Σ x`.
        Sum,
        /// `Σ x / count`.
        Mean,
        /// The largest value.
        Max,
        /// The smallest value.
        Min,
        /// `Π x`.
        Prod,
        /// `Σ x²`.
        SumSquare,
        /// `Σ |x|`.
        L1,
        /// `√(Σ x²)`.
        L2,
        /// `ln Σ x`.
        LogSum,
        /// `ln Σ eˣ`.
        LogSumExp,
    }
}

/// Reduces x (x_shape) over the axes whose bit is set in `axes_mask` (bit i = axis i); y
/// has x's element count divided by the reduced extents (keepdims does not change the data
/// layout). An empty reduction (some reduced axis has extent 0) yields the op's identity
/// (Sum 0, Prod 1, Max -inf, Min +inf, …).
pub fn reduce_f32(op: ReduceOp, x: &[f32], x_shape: &[usize], axes_mask: u32, y: &mut [f32]) {
    // The generic kernel monomorphises to the same vectorised loops for f32.
    reduce::<f32>(op, x, x_shape, axes_mask, y);
}

/// [`reduce_f32`] for any [`Scalar`]: Sum, Mean (an integer mean truncates), Max, Min,
/// Prod, SumSquare and L1 in `T` (wrapping for integers); L2, LogSum and LogSumExp finish
/// (and LogSumExp accumulates) in `f64`.
pub fn reduce<T: Scalar>(op: ReduceOp, x: &[T], x_shape: &[usize], axes_mask: u32, y: &mut [T]) {
    let layout = Layout::new(x_shape, axes_mask);
    let y = &mut y[..layout.outputs];
    let x = &x[..layout.outputs * layout.count];
    if y.is_empty() {
        return;
    }
    match op {
        ReduceOp::Sum | ReduceOp::Mean | ReduceOp::LogSum => layout.fold(x, y, T::ZERO, Sum),
        ReduceOp::SumSquare | ReduceOp::L2 => layout.fold(x, y, T::ZERO, SumOfSquares),
        ReduceOp::L1 => layout.fold(x, y, T::ZERO, SumOfMagnitudes),
        ReduceOp::Prod => layout.fold(x, y, T::ONE, Product),
        ReduceOp::Max => layout.fold(x, y, T::from_f64(f64::NEG_INFINITY), Max),
        ReduceOp::Min => layout.fold(x, y, T::from_f64(f64::INFINITY), Min),
        ReduceOp::LogSumExp => {
            layout.fold(x, y, T::from_f64(f64::NEG_INFINITY), Max);
            layout.log_sum_exp(x, y);
        }
    }
    match op {
        ReduceOp::Mean => divide_by_count(y, layout.count),
        ReduceOp::L2 => y
            .iter_mut()
            .for_each(|v| *v = T::from_f64(libm::sqrt(v.to_f64()))),
        ReduceOp::LogSum => y
            .iter_mut()
            .for_each(|v| *v = T::from_f64(libm::log(v.to_f64()))),
        _ => {}
    }
}

/// `y /= count`: exact integer division when `count` fits in `T`, else through `f64`
/// (an `i8` sum of more than 127 values has wrapped anyway). An empty mean is NaN for
/// floats and 0 for integers.
fn divide_by_count<T: Scalar>(y: &mut [T], count: usize) {
    if count == 0 {
        y.fill(T::from_f64(f64::NAN));
        return;
    }
    let divisor = T::from_f64(count as f64);
    if divisor.to_f64() == count as f64 && (is_float::<T>() || divisor != T::ZERO) {
        for v in y.iter_mut() {
            *v = v.div(divisor).unwrap_or(T::ZERO);
        }
    } else {
        for v in y.iter_mut() {
            *v = T::from_f64(libm::trunc(v.to_f64() / count as f64));
        }
    }
}

/// The index of the largest value along the middle axis of `[outer, axis_len, inner]`;
/// ties go to the first index, or to the last with `select_last_index`.
pub fn arg_max<T: Scalar>(
    x: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    select_last_index: bool,
    y: &mut [i64],
) {
    if select_last_index {
        arg_best(x, outer, axis_len, inner, y, |value: T, best: T| {
            value >= best
        });
    } else {
        arg_best(x, outer, axis_len, inner, y, |value: T, best: T| {
            value > best
        });
    }
}

/// The index of the smallest value along the middle axis of `[outer, axis_len, inner]`;
/// ties go to the first index, or to the last with `select_last_index`.
pub fn arg_min<T: Scalar>(
    x: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    select_last_index: bool,
    y: &mut [i64],
) {
    if select_last_index {
        arg_best(x, outer, axis_len, inner, y, |value: T, best: T| {
            value <= best
        });
    } else {
        arg_best(x, outer, axis_len, inner, y, |value: T, best: T| {
            value < best
        });
    }
}

/// How many columns of an `[axis_len, inner]` block are reduced at once; their running
/// state lives in stack arrays of this length.
const COLUMNS: usize = 64;

/// The shared arg-max/arg-min loop: `replaces(value, best)` says whether a later value
/// takes over. An empty axis gives index 0.
fn arg_best<T: Scalar>(
    x: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    y: &mut [i64],
    replaces: impl Fn(T, T) -> bool,
) {
    let y = &mut y[..outer * inner];
    if axis_len == 0 {
        y.fill(0);
        return;
    }
    // No outputs (an empty axis after this one): nothing to do, and no block to cut the
    // input into (`chunks_exact(0)` panics; found by the differential checks, checks/).
    if y.is_empty() {
        return;
    }
    let block = axis_len * inner;
    let x = &x[..outer * block];
    if inner == 1 {
        for (out, row) in y.iter_mut().zip(x.chunks_exact(axis_len)) {
            let mut best = row[0];
            let mut best_idx = 0;
            for (idx, &value) in row.iter().enumerate().skip(1) {
                if replaces(value, best) {
                    best = value;
                    best_idx = idx;
                }
            }
            *out = best_idx as i64;
        }
        return;
    }
    // Walk whole rows so each step reads contiguous memory.
    for (x_block, y_block) in x.chunks_exact(block).zip(y.chunks_exact_mut(inner)) {
        for column0 in (0..inner).step_by(COLUMNS) {
            let width = COLUMNS.min(inner - column0);
            let mut best = [T::ZERO; COLUMNS];
            let best = &mut best[..width];
            let best_idx = &mut y_block[column0..column0 + width];
            best.copy_from_slice(&x_block[column0..column0 + width]);
            best_idx.fill(0);
            for a in 1..axis_len {
                let row = &x_block[a * inner + column0..][..width];
                for ((b, idx), &value) in best.iter_mut().zip(best_idx.iter_mut()).zip(row) {
                    if replaces(value, *b) {
                        *b = value;
                        *idx = a as i64;
                    }
                }
            }
        }
    }
}

/// The input seen as alternating blocks of kept and reduced axes.
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// Merged axes, outermost first.
    extents: [usize; MAX_RANK],
    reduced: [bool; MAX_RANK],
    rank: usize,
    /// The number of outputs.
    outputs: usize,
    /// The number of inputs folded into each output.
    count: usize,
}

/// The loop shape a [`Layout`] allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `[outer kept, count reduced]`.
    Trailing { outer: usize },
    /// `[outer kept, count reduced, inner kept]`.
    Middle { outer: usize, inner: usize },
    /// Anything else.
    General,
}

impl Layout {
    fn new(x_shape: &[usize], axes_mask: u32) -> Self {
        assert!(x_shape.len() <= MAX_RANK, "rank exceeds MAX_RANK");
        let mut layout = Layout {
            extents: [1; MAX_RANK],
            reduced: [false; MAX_RANK],
            rank: 0,
            outputs: 1,
            count: 1,
        };
        for (axis, &extent) in x_shape.iter().enumerate() {
            let reduced = axes_mask & (1 << axis) != 0;
            if reduced {
                layout.count *= extent;
            } else {
                layout.outputs *= extent;
            }
            if extent == 1 {
                continue;
            }
            if layout.rank > 0 && layout.reduced[layout.rank - 1] == reduced {
                layout.extents[layout.rank - 1] *= extent;
            } else {
                layout.extents[layout.rank] = extent;
                layout.reduced[layout.rank] = reduced;
                layout.rank += 1;
            }
        }
        layout
    }

    fn shape(&self) -> Shape {
        let axes = &self.reduced[..self.rank];
        match axes {
            [] | [true] | [false] | [false, true] => Shape::Trailing {
                outer: self.outputs,
            },
            [true, false] | [false, true, false] => Shape::Middle {
                outer: if axes[0] { 1 } else { self.extents[0] },
                inner: self.extents[self.rank - 1],
            },
            _ => Shape::General,
        }
    }

    /// `y[o] = fold(init, map(x) for each input of output o)`.
    #[inline(always)]
    fn fold<T: Scalar>(&self, x: &[T], y: &mut [T], init: T, op: impl Fold<T>) {
        if self.count == 0 {
            y.fill(init);
            return;
        }
        match self.shape() {
            Shape::Trailing { .. } => {
                for (out, run) in y.iter_mut().zip(x.chunks_exact(self.count)) {
                    *out = fold_run(run, init, op);
                }
            }
            Shape::Middle { inner, .. } => {
                for (y_row, x_block) in y
                    .chunks_exact_mut(inner)
                    .zip(x.chunks_exact(self.count * inner))
                {
                    fold_columns(x_block, y_row, self.count, init, op);
                }
            }
            Shape::General => {
                let (kept, reduced) = self.split();
                let mut outputs = y.iter_mut();
                kept.for_each(|base| {
                    let mut acc = init;
                    reduced.for_each(|offset| acc = op.fold(acc, op.map(x[base + offset])));
                    if let Some(out) = outputs.next() {
                        *out = acc;
                    }
                });
            }
        }
    }

    /// Second pass of LogSumExp: `y` holds each output's maximum on entry and
    /// `max + ln Σ e^(x − max)` on exit, accumulated in `f64`.
    fn log_sum_exp<T: Scalar>(&self, x: &[T], y: &mut [T]) {
        if self.count == 0 {
            return;
        }
        // An infinite or NaN maximum is already the answer (and x − max would be NaN).
        let finish = |max: T, sum: f64| {
            let max = max.to_f64();
            if max.is_finite() {
                T::from_f64(max + libm::log(sum))
            } else {
                T::from_f64(max)
            }
        };
        match self.shape() {
            Shape::Trailing { .. } => {
                for (out, run) in y.iter_mut().zip(x.chunks_exact(self.count)) {
                    let max = out.to_f64();
                    let sum: f64 = run.iter().map(|v| libm::exp(v.to_f64() - max)).sum();
                    *out = finish(*out, sum);
                }
            }
            Shape::Middle { inner, .. } => {
                for (y_row, x_block) in y
                    .chunks_exact_mut(inner)
                    .zip(x.chunks_exact(self.count * inner))
                {
                    for column0 in (0..inner).step_by(COLUMNS) {
                        let width = COLUMNS.min(inner - column0);
                        let maxima = &mut y_row[column0..column0 + width];
                        let mut sums = [0.0f64; COLUMNS];
                        let sums = &mut sums[..width];
                        for row in x_block.chunks_exact(inner) {
                            let row = &row[column0..column0 + width];
                            for ((s, max), value) in sums.iter_mut().zip(maxima.iter()).zip(row) {
                                *s += libm::exp(value.to_f64() - max.to_f64());
                            }
                        }
                        for (max, &s) in maxima.iter_mut().zip(sums.iter()) {
                            *max = finish(*max, s);
                        }
                    }
                }
            }
            Shape::General => {
                let (kept, reduced) = self.split();
                let mut outputs = y.iter_mut();
                kept.for_each(|base| {
                    let Some(out) = outputs.next() else { return };
                    let max = out.to_f64();
                    let mut sum = 0.0;
                    reduced.for_each(|offset| sum += libm::exp(x[base + offset].to_f64() - max));
                    *out = finish(*out, sum);
                });
            }
        }
    }

    /// The kept and the reduced axes as two odometers over input offsets.
    fn split(&self) -> (Odometer, Odometer) {
        let mut kept = Odometer::default();
        let mut reduced = Odometer::default();
        let mut stride = 1;
        for d in (0..self.rank).rev() {
            let walk = if self.reduced[d] {
                &mut reduced
            } else {
                &mut kept
            };
            walk.push_outer(self.extents[d], stride);
            stride *= self.extents[d];
        }
        (kept, reduced)
    }
}

/// Visits the offsets of a strided box of up to [`MAX_RANK`] axes in row-major order.
#[derive(Clone, Copy, Debug)]
struct Odometer {
    /// Axes innermost first.
    extents: [usize; MAX_RANK],
    strides: [usize; MAX_RANK],
    rank: usize,
}

impl Default for Odometer {
    fn default() -> Self {
        Self {
            extents: [1; MAX_RANK],
            strides: [0; MAX_RANK],
            rank: 0,
        }
    }
}

impl Odometer {
    /// Adds an axis outside all the existing ones.
    fn push_outer(&mut self, extent: usize, stride: usize) {
        self.extents[self.rank] = extent;
        self.strides[self.rank] = stride;
        self.rank += 1;
    }

    /// Calls `visit(offset)` for every point of the box (once, with 0, for rank 0).
    #[inline(always)]
    fn for_each(&self, mut visit: impl FnMut(usize)) {
        let (inner_len, inner_stride) = (self.extents[0], self.strides[0]);
        let n_runs: usize = self.extents[1..self.rank.max(1)].iter().product();
        let mut index = [0usize; MAX_RANK];
        let mut offset = 0;
        for _ in 0..n_runs {
            for t in 0..inner_len {
                visit(offset + t * inner_stride);
            }
            let axes = index.iter_mut().zip(&self.extents).zip(&self.strides);
            for ((i, &extent), &stride) in axes.take(self.rank).skip(1) {
                *i += 1;
                offset += stride;
                if *i < extent {
                    break;
                }
                *i = 0;
                offset -= stride * extent;
            }
        }
    }
}

/// Folds one contiguous run in independent lanes (so the loop vectorises even though
/// float addition is not associative), then folds the lanes.
#[inline(always)]
fn fold_run<T: Scalar>(run: &[T], init: T, op: impl Fold<T>) -> T {
    const LANES: usize = 16;
    let mut lanes = [init; LANES];
    let chunks = run.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane = op.fold(*lane, op.map(value));
        }
    }
    // The lanes in halves (8 + 8, 4 + 4, 2 + 2, 1 + 1): four dependent steps, each a
    // shuffle and one vector operation, where folding them one by one was a chain of
    // sixteen (a 7 × 7 plane's global average spent most of its time there).
    let mut width = LANES / 2;
    while width > 0 {
        let (low, high) = lanes.split_at_mut(width);
        for (a, &b) in low.iter_mut().zip(high.iter()) {
            *a = op.fold(*a, b);
        }
        width /= 2;
    }
    let mut acc = op.fold(init, lanes[0]);
    for &value in tail {
        acc = op.fold(acc, op.map(value));
    }
    acc
}

/// `Σ x` over a contiguous run, in [`fold_run`]'s independent lanes (so it vectorises).
#[inline]
pub(crate) fn sum_of(x: &[f32]) -> f32 {
    fold_run(x, 0.0, Sum)
}

/// `Σ (x − centre)²` over a contiguous run, in [`fold_run`]'s lanes: a variance's sum.
#[inline]
pub(crate) fn squared_deviations(x: &[f32], centre: f32) -> f32 {
    fold_run(x, 0.0, SquaredDeviation(centre))
}

/// `Σ x²` over a contiguous run, in [`fold_run`]'s lanes.
#[inline]
pub(crate) fn sum_of_squares(x: &[f32]) -> f32 {
    fold_run(x, 0.0, SumOfSquares)
}

/// ONNX `LpNormalization` along the middle axis of `[outer, axis_len, inner]`:
/// `x / ‖x‖_p` (p is 1 or 2), with a zero norm giving 0. Norms accumulate in `f64`.
pub fn lp_normalize<T: Scalar>(
    x: &[T],
    outer: usize,
    axis_len: usize,
    inner: usize,
    p: u8,
    y: &mut [T],
) {
    for o in 0..outer {
        for i in 0..inner {
            let at = |a: usize| (o * axis_len + a) * inner + i;
            let mut norm = 0.0f64;
            for a in 0..axis_len {
                let v = x[at(a)].to_f64();
                norm += if p == 1 { v.abs() } else { v * v };
            }
            if p != 1 {
                norm = libm::sqrt(norm);
            }
            for a in 0..axis_len {
                y[at(a)] = if norm == 0.0 {
                    T::ZERO
                } else {
                    T::from_f64(x[at(a)].to_f64() / norm)
                };
            }
        }
    }
}

/// ONNX `MeanVarianceNormalization` over the axes whose bit is set in `axes_mask`:
/// `y = (x − E[x]) / (√(E[x²] − E[x]²) + 1e-9)`, the statistics of each group of values
/// that differ only along those axes, as the op's definition computes them (its
/// variance is `E[x²] − E[x]²`, its epsilon added to the deviation), accumulated in
/// `f64`. A negative variance from rounding gives NaN, as the definition's `Sqrt` does.
pub fn mean_variance_normalize(x: &[f32], x_shape: &[usize], axes_mask: u32, y: &mut [f32]) {
    if x_shape.len() > MAX_RANK {
        return;
    }
    let layout = Layout::new(x_shape, axes_mask);
    let n = layout.outputs * layout.count;
    let (Some(x), Some(y)) = (x.get(..n), y.get_mut(..n)) else {
        return;
    };
    if n == 0 {
        return;
    }
    let (kept, reduced) = layout.split();
    let count = layout.count as f64;
    kept.for_each(|base| {
        let (mut sum, mut squares) = (0.0f64, 0.0f64);
        reduced.for_each(|offset| {
            let v = f64::from(x[base + offset]);
            sum += v;
            squares += v * v;
        });
        let mean = sum / count;
        let std_dev = libm::sqrt(squares / count - mean * mean);
        let divisor = std_dev + 1e-9;
        reduced.for_each(|offset| {
            y[base + offset] = ((f64::from(x[base + offset]) - mean) / divisor) as f32;
        });
    });
}

/// What a reduction folds: `fold(acc, map(x))` over the reduced inputs. A trait with
/// always-inlined methods rather than two closures, which opt-level "z" would leave as two
/// calls per element.
trait Fold<T>: Copy {
    fn fold(self, acc: T, value: T) -> T;
    fn map(self, value: T) -> T;
}

/// Columns kept per tile of [`fold_columns`]: eight accumulators stay in registers
/// while the rows stream past, so each input costs one load and one fold.
const COLUMN_TILE: usize = 8;

/// `y[j] = fold(init, map(x[r][j]) for r in 0..rows)` over a row-major `[rows, y.len()]`
/// block: the middle-axis reduction. The columns go in tiles of [`COLUMN_TILE`]
/// accumulators (unrolled, so they survive opt-level "z"), the rest one at a time; the
/// order of the folds per output is the rows' order either way.
#[inline(always)]
fn fold_columns<T: Scalar>(x: &[T], y: &mut [T], rows: usize, init: T, op: impl Fold<T>) {
    let inner = y.len();
    let x = &x[..rows * inner];
    let tiled = inner - inner % COLUMN_TILE;
    let mut column = 0;
    while column < tiled {
        let mut acc = [init; COLUMN_TILE];
        let mut offset = column;
        for _ in 0..rows {
            // Indexed through a reference: copying the run out first is a `memcpy` call
            // at "z".
            if let Some(values) = x[offset..].first_chunk::<COLUMN_TILE>() {
                unroll!(COLUMN_TILE, |j| acc[j] = op.fold(acc[j], op.map(values[j])));
            }
            offset += inner;
        }
        if let Some(out) = y[column..].first_chunk_mut::<COLUMN_TILE>() {
            *out = acc;
        }
        column += COLUMN_TILE;
    }
    for (j, out) in y.iter_mut().enumerate().skip(tiled) {
        let mut acc = init;
        for r in 0..rows {
            acc = op.fold(acc, op.map(x[r * inner + j]));
        }
        *out = acc;
    }
}

/// Defines a [`Fold`] from its fold and map expressions.
macro_rules! folds {
    ($($(#[$doc:meta])* $name:ident: |$a:ident, $b:ident| $fold:expr, |$v:ident| $map:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy)]
        struct $name;

        impl<T: Scalar> Fold<T> for $name {
            #[inline(always)]
            fn fold(self, $a: T, $b: T) -> T {
                $fold
            }

            #[inline(always)]
            fn map(self, $v: T) -> T {
                $map
            }
        }
    )*};
}

folds! {
    /// Sum, Mean, LogSum.
    Sum: |a, b| a.add(b), |v| v;
    /// SumSquare, L2.
    SumOfSquares: |a, b| a.add(b), |v| v.mul(v);
    /// L1.
    SumOfMagnitudes: |a, b| a.add(b), |v| v.abs();
    /// Prod.
    Product: |a, b| a.mul(b), |v| v;
    /// Max, and LogSumExp's first pass.
    Max: |a, b| a.max(b), |v| v;
    /// Min.
    Min: |a, b| a.min(b), |v| v;
}

/// [`squared_deviations`]'s fold: the squared distance from a centre, summed.
#[derive(Clone, Copy)]
struct SquaredDeviation(f32);

impl Fold<f32> for SquaredDeviation {
    #[inline(always)]
    fn fold(self, acc: f32, value: f32) -> f32 {
        acc + value
    }

    #[inline(always)]
    fn map(self, value: f32) -> f32 {
        (value - self.0) * (value - self.0)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    /// The reference: for each output, collect its inputs by brute-force index math.
    fn naive(op: ReduceOp, x: &[f64], shape: &[usize], mask: u32) -> Vec<f64> {
        let rank = shape.len();
        let kept: Vec<usize> = (0..rank).filter(|&d| mask & (1 << d) == 0).collect();
        let outputs: usize = kept.iter().map(|&d| shape[d]).product();
        let mut groups = std::vec![Vec::new(); outputs];
        for (flat, &value) in x.iter().enumerate() {
            let mut rest = flat;
            let mut index = std::vec![0; rank];
            for d in (0..rank).rev() {
                index[d] = rest % shape[d];
                rest /= shape[d];
            }
            let out = kept.iter().fold(0, |acc, &d| acc * shape[d] + index[d]);
            groups[out].push(value);
        }
        groups
            .iter()
            .map(|g| {
                let sum: f64 = g.iter().sum();
                match op {
                    ReduceOp::Sum => sum,
                    ReduceOp::Mean => sum / g.len() as f64,
                    ReduceOp::Max => g.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    ReduceOp::Min => g.iter().copied().fold(f64::INFINITY, f64::min),
                    ReduceOp::Prod => g.iter().product(),
                    ReduceOp::SumSquare => g.iter().map(|v| v * v).sum(),
                    ReduceOp::L1 => g.iter().map(|v| v.abs()).sum(),
                    ReduceOp::L2 => g.iter().map(|v| v * v).sum::<f64>().sqrt(),
                    ReduceOp::LogSum => sum.ln(),
                    ReduceOp::LogSumExp => g.iter().map(|v| v.exp()).sum::<f64>().ln(),
                }
            })
            .collect()
    }

    const OPS: [ReduceOp; 10] = [
        ReduceOp::Sum,
        ReduceOp::Mean,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::Prod,
        ReduceOp::SumSquare,
        ReduceOp::L1,
        ReduceOp::L2,
        ReduceOp::LogSum,
        ReduceOp::LogSumExp,
    ];

    fn check_f32(shape: &[usize], mask: u32) {
        let count: usize = shape.iter().product();
        // Positive values near 1 keep products and logs well conditioned.
        let x: Vec<f32> = (0..count)
            .map(|i| 0.75 + ((i * 37 % 19) as f32) / 36.0)
            .collect();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for op in OPS {
            let expected = naive(op, &x64, shape, mask);
            let mut y = std::vec![f32::NAN; expected.len()];
            reduce_f32(op, &x, shape, mask, &mut y);
            for (i, (&a, &e)) in y.iter().zip(&expected).enumerate() {
                let tolerance = 1e-5 * e.abs().max(1.0);
                assert!(
                    ((a as f64) - e).abs() <= tolerance,
                    "{op:?} shape {shape:?} mask {mask:b}: element {i}: {a} vs {e}"
                );
            }
        }
    }

    #[test]
    fn reductions_match_naive_for_every_layout() {
        // Trailing axes: last axis, H·W of NCHW, everything.
        check_f32(&[3, 37], 0b10);
        check_f32(&[2, 3, 4, 5], 0b1100);
        check_f32(&[2, 3, 4], 0b111);
        // A middle block: channels of NCHW, the first axis.
        check_f32(&[2, 3, 4, 5], 0b0010);
        check_f32(&[5, 70], 0b01);
        check_f32(&[1, 15, 16], 0b010);
        // Scattered axes.
        check_f32(&[2, 3, 4, 5], 0b0101);
        check_f32(&[3, 2, 4, 1, 3], 0b11010);
        // Axes of extent 1 and no reduced axes at all.
        check_f32(&[1, 6, 1], 0b101);
        check_f32(&[4, 3], 0);
        check_f32(&[], 0);
    }

    #[test]
    fn mean_variance_normalize_matches_the_definition() {
        extern crate std;
        use std::vec::Vec;
        // [2, 3, 2] over axes 0 and 2 (a group per middle index) and over every axis.
        let shape = [2usize, 3, 2];
        let x: Vec<f32> = (0..12).map(|i| ((i * 7 % 5) as f32) * 0.5 - 1.0).collect();
        for mask in [0b101u32, 0b111, 0b010] {
            let mut y = [f32::NAN; 12];
            mean_variance_normalize(&x, &shape, mask, &mut y);
            for (i, &got) in y.iter().enumerate() {
                let idx = [i / 6, i / 2 % 3, i % 2];
                let group: Vec<f64> = (0..12)
                    .filter(|&j| {
                        let jdx = [j / 6, j / 2 % 3, j % 2];
                        (0..3).all(|a| mask & (1 << a) != 0 || jdx[a] == idx[a])
                    })
                    .map(|j| f64::from(x[j]))
                    .collect();
                let n = group.len() as f64;
                let mean = group.iter().sum::<f64>() / n;
                let var = group.iter().map(|v| v * v).sum::<f64>() / n - mean * mean;
                let want = (f64::from(x[i]) - mean) / (var.sqrt() + 1e-9);
                assert!(
                    (f64::from(got) - want).abs() < 1e-5,
                    "mask {mask:b} at {i}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn empty_reductions_give_the_identity() {
        let mut y = [0.0f32; 3];
        let expect = [
            (ReduceOp::Sum, 0.0),
            (ReduceOp::Prod, 1.0),
            (ReduceOp::Max, f32::NEG_INFINITY),
            (ReduceOp::Min, f32::INFINITY),
            (ReduceOp::SumSquare, 0.0),
            (ReduceOp::L1, 0.0),
            (ReduceOp::L2, 0.0),
            (ReduceOp::LogSum, f32::NEG_INFINITY),
            (ReduceOp::LogSumExp, f32::NEG_INFINITY),
        ];
        for (op, identity) in expect {
            reduce_f32(op, &[], &[3, 0], 0b10, &mut y);
            assert_eq!(y, [identity; 3], "{op:?}");
        }
        reduce_f32(ReduceOp::Mean, &[], &[3, 0], 0b10, &mut y);
        assert!(y.iter().all(|v| v.is_nan()));
        let mut ints = [5i32; 2];
        reduce(ReduceOp::Max, &[], &[0, 2], 0b01, &mut ints);
        assert_eq!(ints, [i32::MIN; 2]);
    }

    #[test]
    fn integer_reductions_wrap_and_truncate() {
        let x = [100i8, 100, 100, -7, 2, -1];
        let mut y = [0i8; 2];
        reduce(ReduceOp::Sum, &x, &[2, 3], 0b10, &mut y);
        assert_eq!(y, [44, -6]);
        reduce(ReduceOp::Mean, &x, &[2, 3], 0b10, &mut y);
        assert_eq!(y, [14, -2]);
        reduce(ReduceOp::Max, &x, &[2, 3], 0b10, &mut y);
        assert_eq!(y, [100, 2]);
        reduce(ReduceOp::L1, &x, &[2, 3], 0b10, &mut y);
        assert_eq!(y, [44, 10]);
        let mut y = [0i32; 3];
        reduce(ReduceOp::Prod, &[2, 3, 4, 5, 6, 7], &[2, 3], 0b01, &mut y);
        assert_eq!(y, [10, 18, 28]);
        reduce(ReduceOp::L2, &[3, 0, 0, 4, 0, 0], &[2, 3], 0b01, &mut y);
        assert_eq!(y, [5, 0, 0]);
        // A mean over more values than an i8 can count goes through f64.
        let x = [1i8; 200];
        let mut y = [0i8; 1];
        reduce(ReduceOp::Mean, &x, &[200], 0b1, &mut y);
        assert_eq!(y, [(200u8 as i8) / 100]);
        let mut y = [0u8; 1];
        reduce(ReduceOp::Mean, &[7u8, 8], &[2], 0b1, &mut y);
        assert_eq!(y, [7]);
    }

    #[test]
    fn log_sum_exp_is_stable() {
        let mut y = [0.0f32; 1];
        reduce_f32(ReduceOp::LogSumExp, &[1000.0, 1000.0], &[2], 0b1, &mut y);
        assert!((y[0] - (1000.0 + core::f32::consts::LN_2)).abs() < 1e-3);
        reduce_f32(
            ReduceOp::LogSumExp,
            &[f32::NEG_INFINITY, f32::NEG_INFINITY],
            &[2],
            0b1,
            &mut y,
        );
        assert_eq!(y, [f32::NEG_INFINITY]);
    }

    #[test]
    fn arg_max_and_arg_min_along_any_axis() {
        // x [2, 3]: rows [1, 3, 3] and [5, 0, 5].
        let x = [1.0f32, 3.0, 3.0, 5.0, 0.0, 5.0];
        let mut y = [0i64; 2];
        arg_max(&x, 2, 3, 1, false, &mut y);
        assert_eq!(y, [1, 0]);
        arg_max(&x, 2, 3, 1, true, &mut y);
        assert_eq!(y, [2, 2]);
        arg_min(&x, 2, 3, 1, false, &mut y);
        assert_eq!(y, [0, 1]);
        // Along axis 0 (inner = 3).
        let mut y = [0i64; 3];
        arg_max(&x, 1, 2, 3, false, &mut y);
        assert_eq!(y, [1, 0, 1]);
        arg_min(&[2, 2, 1, 2, 2, 1], 1, 2, 3, true, &mut y);
        assert_eq!(y, [1, 1, 1]);
        arg_min(&[2, 2, 1, 2, 2, 1], 1, 2, 3, false, &mut y);
        assert_eq!(y, [0, 0, 0]);
        // Wide inner axis spans several column chunks.
        let wide: Vec<i32> = (0..3 * 150).map(|i| (i * 31) % 17).collect();
        let mut y = std::vec![0i64; 150];
        arg_max(&wide, 1, 3, 150, false, &mut y);
        for (column, &idx) in y.iter().enumerate() {
            let values: Vec<i32> = (0..3).map(|a| wide[a * 150 + column]).collect();
            let best = *values.iter().max().unwrap();
            assert_eq!(
                idx as usize,
                values.iter().position(|&v| v == best).unwrap()
            );
        }
    }
}
