//! Reductions: every entry point the compiler emits a call to for a `Reduce*`, `ArgMax`
//! or `ArgMin` node (`compiler/src/ops/reduce.rs`, `compiler/src/ops/arg.rs`):
//! `reduce_f32` for `f32` and `reduce::<T>` for the other types (here `f64`, `i64`,
//! `i32`, `i8` and `u8`, which bool tensors reduce as), for each of the ten ops, over
//! any axes of a tensor of rank 0 to 8; `arg_max::<T>` and `arg_min::<T>` along each axis
//! of it, with `select_last_index` both ways. The kernels have no scratch and no
//! run-time switch; the layout picks their loops, and the draws reach each (reduced
//! axes trailing, one reduced block with kept axes after it, anything else), with
//! extents of 1 (which the kernel drops), around its 16 lanes, 8-column tiles and
//! 64-column blocks, and of 0 (an empty reduction gives the op's identity).
//!
//! The references are naive: each output folds its inputs in `f64` (floats) or in
//! wrapping `i128` arithmetic cast to the type (integers, as `reduce` documents its
//! integer ops), visiting the inputs with plain index arithmetic, without the kernel's
//! merging of axes. Floats are drawn so that most results are exact whatever the
//! order of the folds: Sum, L1, SumSquare, L2, LogSum, Max and Min must match
//! exactly; Mean and LogSumExp round once more (within an ulp); only Prod rounds at
//! each step. Integers match exactly.

use zant_runtime::reduce::{self, ReduceOp};
use zant_runtime::scalar::Scalar;
use zant_runtime::MAX_RANK;

use crate::exact::{compare_exact, compare_within, grid, k_max, Output};
use crate::{Buffers, Family, Mismatch, Rng, BUFFER_LEN};

/// The reduction family.
pub struct Reduce;

/// A tensor, the axes reduced, and the seed of its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    /// The extents, of which the first `rank` are the tensor's.
    pub shape: [usize; MAX_RANK],
    pub rank: usize,
    /// Bit `i` set: axis `i` is reduced (the compiler's `axes_mask`).
    pub axes: u32,
    /// Whether some float inputs are NaN or infinite.
    pub specials: bool,
    pub seed: u64,
}

/// The most elements a tensor has: an 8-byte type views a buffer of [`BUFFER_LEN`]
/// floats from its first 8-byte boundary, which leaves room for one less than half.
const MAX_ELEMS: usize = BUFFER_LEN / 2 - 1;

/// Extents worth drawing: 1 to 4, and around the kernels' 8-column tiles, 16 lanes and
/// 64-column blocks.
const EXTENTS: [usize; 19] = [
    1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129,
];

/// The ops, in the order of each type's path names.
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

impl Family for Reduce {
    type Case = Case;
    const NAME: &'static str = "reduce";
    const FIXTURES: &'static [Case] = &[
        // ArgMax and ArgMin along axis 0 of an empty `[1, 0]` tensor (outer 1, axis 1,
        // inner 0): `arg_best` walks `x.chunks_exact(axis_len · inner)`, chunks of 0,
        // and panics ("chunk size must be non-zero", runtime/src/reduce.rs) where it has
        // no output to write. The compiler emits (or folds) such a call for an input
        // whose arg axis is not empty but an axis after it is. Fixed: `arg_best` returns
        // when it has no output.
        Case {
            shape: [1, 0, 1, 1, 1, 1, 1, 1],
            rank: 2,
            axes: 0,
            specials: false,
            seed: 15048108239805803410,
        },
    ];

    fn draw(rng: &mut Rng) -> Case {
        loop {
            let rank = match rng.range(0, 29) {
                0 => 0,
                1..=4 => 1,
                5..=14 => 2,
                15..=22 => 3,
                23..=25 => 4,
                _ => rng.range(5, MAX_RANK),
            };
            let mut shape = [1; MAX_RANK];
            for extent in &mut shape[..rank] {
                *extent = if rank > 4 {
                    rng.range(1, 4)
                } else {
                    match rng.range(0, 3) {
                        0 => rng.range(1, 4),
                        1 | 2 => EXTENTS[rng.range(0, EXTENTS.len() - 1)],
                        _ => rng.range(1, 300),
                    }
                };
            }
            if rank > 0 && rng.one_in(40) {
                shape[rng.range(0, rank - 1)] = 0;
            }
            let all = (1u32 << rank) - 1;
            let axes = match rng.range(0, 5) {
                0 => 0,
                1 => all,
                _ => rng.next_u64() as u32 & all,
            };
            let case = Case {
                shape,
                rank,
                axes,
                specials: rng.one_in(6),
                seed: rng.next_u64(),
            };
            if fits(&case) {
                return case;
            }
        }
    }

    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let mut n = 0;
        let mut push = |c: Case| {
            if n < out.len() && c != *case && fits(&c) {
                out[n] = c;
                n += 1;
            }
        };
        push(Case {
            specials: false,
            ..*case
        });
        let rank = case.rank;
        for d in 0..rank {
            // Axis `d` dropped: the extents and the mask bits above it move down.
            let mut shape = [1; MAX_RANK];
            shape[..d].copy_from_slice(&case.shape[..d]);
            shape[d..rank - 1].copy_from_slice(&case.shape[d + 1..rank]);
            let low = case.axes & ((1 << d) - 1);
            let axes = low | ((case.axes >> (d + 1)) << d);
            push(Case {
                shape,
                rank: rank - 1,
                axes,
                ..*case
            });
        }
        let mut with_extent = |d: usize, extent: usize| {
            let mut shrunk = *case;
            shrunk.shape[d] = extent;
            push(shrunk);
        };
        for d in 0..rank {
            with_extent(d, (case.shape[d] / 2).max(1));
        }
        for d in 0..rank {
            with_extent(d, case.shape[d].saturating_sub(1).max(1));
        }
        for d in 0..rank {
            push(Case {
                axes: case.axes & !(1 << d),
                ..*case
            });
        }
        n
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        let mut rng = Rng::new(case.seed);
        check_type::<f32>(case, &mut rng, bufs)?;
        check_type::<f64>(case, &mut rng, bufs)?;
        check_type::<i64>(case, &mut rng, bufs)?;
        check_type::<i32>(case, &mut rng, bufs)?;
        check_type::<i8>(case, &mut rng, bufs)?;
        check_type::<u8>(case, &mut rng, bufs)
    }
}

/// The elements of `case`'s tensor.
fn elements(case: &Case) -> usize {
    case.shape[..case.rank].iter().product()
}

/// Whether `case`'s tensor fits, and so every part of it: an empty tensor's outputs
/// along one axis are as many as its extents other than 0 make.
fn fits(case: &Case) -> bool {
    let nonzero: usize = case.shape[..case.rank].iter().map(|&e| e.max(1)).product();
    nonzero <= MAX_ELEMS
}

/// An element type the compiler emits reductions of, with its entry point and the
/// names of its paths.
trait Elem: Scalar + Output {
    /// Whether the type is a float.
    const FLOAT: bool;
    /// The distance from 1 to the next value (0 for integers).
    const EPSILON: f64;
    /// The reductions' paths, in the order of [`OPS`], then `arg_max`, `arg_max` with
    /// `select_last_index`, `arg_min`, `arg_min` with `select_last_index`.
    const PATHS: [&'static str; 14];
    /// The entry point the compiler calls for this type.
    fn reduce(op: ReduceOp, x: &[Self], x_shape: &[usize], axes: u32, y: &mut [Self]);
}

/// Implements [`Elem`]: `type = reduction entry point's name, entry point, epsilon;`.
macro_rules! elem {
    ($($ty:ty = $reduce:literal, $entry:expr, $epsilon:expr;)*) => {$(
        impl Elem for $ty {
            const FLOAT: bool = $epsilon > 0.0;
            const EPSILON: f64 = $epsilon;
            const PATHS: [&'static str; 14] = [
                concat!($reduce, "(Sum)"),
                concat!($reduce, "(Mean)"),
                concat!($reduce, "(Max)"),
                concat!($reduce, "(Min)"),
                concat!($reduce, "(Prod)"),
                concat!($reduce, "(SumSquare)"),
                concat!($reduce, "(L1)"),
                concat!($reduce, "(L2)"),
                concat!($reduce, "(LogSum)"),
                concat!($reduce, "(LogSumExp)"),
                concat!("arg_max::<", stringify!($ty), ">"),
                concat!("arg_max::<", stringify!($ty), ">, select_last_index"),
                concat!("arg_min::<", stringify!($ty), ">"),
                concat!("arg_min::<", stringify!($ty), ">, select_last_index"),
            ];
            fn reduce(op: ReduceOp, x: &[Self], x_shape: &[usize], axes: u32, y: &mut [Self]) {
                $entry(op, x, x_shape, axes, y)
            }
        }
    )*};
}

elem! {
    f32 = "reduce_f32", reduce::reduce_f32, f32::EPSILON as f64;
    f64 = "reduce::<f64>", reduce::reduce::<f64>, f64::EPSILON;
    i64 = "reduce::<i64>", reduce::reduce::<i64>, 0.0;
    i32 = "reduce::<i32>", reduce::reduce::<i32>, 0.0;
    i8 = "reduce::<i8>", reduce::reduce::<i8>, 0.0;
    u8 = "reduce::<u8>", reduce::reduce::<u8>, 0.0;
}

/// The float data an op is checked on, each making its results exact in any order of
/// the folds where the op allows it (see [`k_max`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Data {
    /// `k / 4096` summing to less than 2^12: Sum, Mean, L1, Max, Min, LogSumExp.
    Signed,
    /// `k / 64`, whose squares (multiples of 2^-12) sum to less than 2^12: SumSquare,
    /// L2.
    Coarse,
    /// [`Data::Signed`] with `k ≥ 1`, whose sum is positive: LogSum.
    Positive,
    /// `±(1 + k / 4096)` with `|k| ≤ 256`, whose products neither overflow nor vanish
    /// over thousands of values: Prod.
    NearOne,
}

/// The data `op` is checked on.
fn data_for(op: ReduceOp) -> Data {
    match op {
        ReduceOp::SumSquare | ReduceOp::L2 => Data::Coarse,
        ReduceOp::LogSum => Data::Positive,
        ReduceOp::Prod => Data::NearOne,
        _ => Data::Signed,
    }
}

/// The tensor of a case as the references walk it.
struct Walk {
    shape: [usize; MAX_RANK],
    strides: [usize; MAX_RANK],
    rank: usize,
    axes: u32,
    /// The number of outputs, and of inputs folded into each.
    outputs: usize,
    count: usize,
}

impl Walk {
    fn new(case: &Case) -> Walk {
        let mut walk = Walk {
            shape: case.shape,
            strides: [0; MAX_RANK],
            rank: case.rank,
            axes: case.axes,
            outputs: 1,
            count: 1,
        };
        let mut stride = 1;
        for d in (0..case.rank).rev() {
            walk.strides[d] = stride;
            stride *= case.shape[d];
            if walk.reduced(d) {
                walk.count *= case.shape[d];
            } else {
                walk.outputs *= case.shape[d];
            }
        }
        walk
    }

    fn reduced(&self, d: usize) -> bool {
        self.axes & (1 << d) != 0
    }

    /// The offset of entry `flat` of the box of the axes where `reduced(d) == wanted`,
    /// counted in row-major order.
    fn offset(&self, mut flat: usize, wanted: bool) -> usize {
        let mut offset = 0;
        for d in (0..self.rank).rev().filter(|&d| self.reduced(d) == wanted) {
            offset += flat % self.shape[d] * self.strides[d];
            flat /= self.shape[d];
        }
        offset
    }

    /// Calls `visit(input)` for each input of output `o` (outputs in row-major order
    /// of the kept axes), in row-major order of the reduced axes.
    fn inputs(&self, o: usize, mut visit: impl FnMut(usize)) {
        let base = self.offset(o, false);
        for r in 0..self.count {
            visit(base + self.offset(r, true));
        }
    }
}

/// Views a buffer of floats as elements of `T`, from its first boundary of `T`.
fn view<T: bytemuck::Pod>(buffer: &mut [f32]) -> &mut [T] {
    bytemuck::pod_align_to_mut::<f32, T>(buffer).1
}

/// Checks every reduction of `case` and its arg-max and arg-min along each axis, for
/// elements of type `T`.
fn check_type<T: Elem>(case: &Case, rng: &mut Rng, bufs: &mut Buffers) -> Result<(), Mismatch> {
    let walk = Walk::new(case);
    let n = elements(case);
    let shape = &case.shape[..case.rank];
    let x = &mut view::<T>(&mut bufs.x)[..n];
    let want = &mut view::<T>(&mut bufs.want)[..walk.outputs];
    let got = &mut view::<T>(&mut bufs.got)[..walk.outputs];
    let classes: &[Option<Data>] = if T::FLOAT {
        &[
            Some(Data::Signed),
            Some(Data::Coarse),
            Some(Data::Positive),
            Some(Data::NearOne),
        ]
    } else {
        &[None]
    };
    for &class in classes {
        match class {
            Some(data) => fill_floats(rng, x, data, walk.count, case.specials),
            None => fill_integers(rng, x),
        }
        for (i, &op) in OPS.iter().enumerate() {
            if T::FLOAT && class != Some(data_for(op)) {
                continue;
            }
            if T::FLOAT {
                reference_float(&walk, op, x, want);
            } else {
                reference_integer(&walk, op, x, want);
            }
            let count = walk.count as f64;
            let bound = |w: T| {
                let w = w.to_f64().abs();
                match op {
                    // One rounding, of the quotient or of the f64 result (whose
                    // sum of exponentials the kernel adds in another order).
                    ReduceOp::Mean => T::EPSILON * w,
                    ReduceOp::LogSumExp => {
                        T::EPSILON * w + (count + 4.0) * f64::EPSILON * (11.0 + w)
                    }
                    // One rounding per factor.
                    ReduceOp::Prod => count * T::EPSILON * w,
                    // Exact: integers, and floats drawn so (`Data`).
                    _ => 0.0,
                }
            };
            compare_within(T::PATHS[i], got, want, &bound, &mut |y| {
                T::reduce(op, x, shape, case.axes, y)
            })?;
        }
    }
    check_args::<T>(case, rng, x, &mut bufs.scratch, &mut bufs.w)
}

/// Fills `x` with `data` for reductions of `count` values; with `specials`, a tenth of
/// them NaN, +∞ or −∞.
fn fill_floats<T: Elem>(rng: &mut Rng, x: &mut [T], data: Data, count: usize, specials: bool) {
    let signed = k_max(count);
    // `count · k² < 2^24`, so that the squares `k² / 4096` sum below 2^12.
    let squares_max = ((1 << 24) - 1) / count.max(1);
    let mut coarse = libm::sqrt(squares_max as f64) as usize;
    while coarse * coarse > squares_max {
        coarse -= 1;
    }
    let coarse = coarse.clamp(1, 63);
    for v in x {
        let value = if specials && rng.one_in(10) {
            [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][rng.range(0, 2)]
        } else {
            match data {
                Data::Signed => f64::from(grid(rng, signed)),
                Data::Coarse => (rng.range(0, 2 * coarse) as f64 - coarse as f64) / 64.0,
                Data::Positive => rng.range(1, signed) as f64 / 4096.0,
                Data::NearOne => {
                    let magnitude = (4096 + rng.range(0, 512) - 256) as f64 / 4096.0;
                    if rng.one_in(2) {
                        -magnitude
                    } else {
                        magnitude
                    }
                }
            }
        };
        *v = T::from_f64(value);
    }
}

/// The type's smallest and largest values (saturating casts of the infinities).
fn extremes<T: Elem>() -> (T, T) {
    (T::from_f64(f64::NEG_INFINITY), T::from_f64(f64::INFINITY))
}

/// Fills `x` with integers: of any value (sums and products wrap), small (ties, and
/// means that truncate), or the type's bounds, 0 and ±1.
fn fill_integers<T: Elem>(rng: &mut Rng, x: &mut [T]) {
    let (min, max) = extremes::<T>();
    let signed = min != T::ZERO;
    let mode = rng.range(0, 2);
    for v in x {
        *v = match mode {
            0 => T::from_i128(i128::from(rng.next_u64())),
            1 if signed => T::from_i128(rng.range(0, 6) as i128 - 3),
            1 => T::from_i128(rng.range(0, 6) as i128),
            _ => [min, max, T::ZERO, T::ONE, T::ONE.neg()][rng.range(0, 4)],
        };
    }
}

/// The naive float reduction, in `f64`: a NaN input never wins a Max or Min (as
/// `Scalar::max` documents); LogSumExp is `m + ln Σ e^(x − m)` with `m` the maximum,
/// or `m` itself where it is infinite (all inputs −∞, or one +∞).
fn reference_float<T: Elem>(walk: &Walk, op: ReduceOp, x: &[T], y: &mut [T]) {
    for (o, out) in y.iter_mut().enumerate() {
        let (mut sum, mut squares, mut magnitudes, mut product) = (0.0, 0.0, 0.0, 1.0);
        let (mut max, mut min) = (f64::NEG_INFINITY, f64::INFINITY);
        walk.inputs(o, |i| {
            let v = x[i].to_f64();
            sum += v;
            squares += v * v;
            magnitudes += v.abs();
            product *= v;
            max = max.max(v);
            min = min.min(v);
        });
        let value = match op {
            ReduceOp::Sum => sum,
            ReduceOp::Mean => sum / walk.count as f64,
            ReduceOp::Max => max,
            ReduceOp::Min => min,
            ReduceOp::Prod => product,
            ReduceOp::SumSquare => squares,
            ReduceOp::L1 => magnitudes,
            ReduceOp::L2 => libm::sqrt(squares),
            ReduceOp::LogSum => libm::log(sum),
            ReduceOp::LogSumExp if !max.is_finite() => max,
            ReduceOp::LogSumExp => {
                let mut exponentials = 0.0;
                walk.inputs(o, |i| exponentials += libm::exp(x[i].to_f64() - max));
                max + libm::log(exponentials)
            }
        };
        *out = T::from_f64(value);
    }
}

/// The naive integer reduction, as `reduce` documents it: Sum, Prod, SumSquare and L1
/// wrapping in the type (here wrapping `i128` arithmetic, cast to it), Mean the wrapped
/// sum over the count truncated, L2 and LogSum finished in `f64`, LogSumExp
/// accumulated in `f64` from the type's maximum; the results of `f64` cast to the type
/// saturating (NaN to 0).
fn reference_integer<T: Elem>(walk: &Walk, op: ReduceOp, x: &[T], y: &mut [T]) {
    let (min_value, max_value) = extremes::<T>();
    for (o, out) in y.iter_mut().enumerate() {
        let (mut sum, mut squares, mut magnitudes, mut product) = (0i128, 0i128, 0i128, 1i128);
        let (mut max, mut min) = (min_value.to_i128(), max_value.to_i128());
        walk.inputs(o, |i| {
            let v = x[i].to_i128();
            sum = sum.wrapping_add(v);
            squares = squares.wrapping_add(v.wrapping_mul(v));
            magnitudes = magnitudes.wrapping_add(v.abs());
            product = product.wrapping_mul(v);
            max = max.max(v);
            min = min.min(v);
        });
        let sum = T::from_i128(sum);
        *out = match op {
            ReduceOp::Sum => sum,
            ReduceOp::Mean if walk.count == 0 => T::from_f64(f64::NAN),
            ReduceOp::Mean => T::from_i128(sum.to_i128() / walk.count as i128),
            ReduceOp::Max => T::from_i128(max),
            ReduceOp::Min => T::from_i128(min),
            ReduceOp::Prod => T::from_i128(product),
            ReduceOp::SumSquare => T::from_i128(squares),
            ReduceOp::L1 => T::from_i128(magnitudes),
            ReduceOp::L2 => T::from_f64(libm::sqrt(T::from_i128(squares).to_f64())),
            ReduceOp::LogSum => T::from_f64(libm::log(sum.to_f64())),
            ReduceOp::LogSumExp if walk.count == 0 => T::from_i128(max),
            ReduceOp::LogSumExp => {
                let max = T::from_i128(max).to_f64();
                let mut exponentials = 0.0;
                walk.inputs(o, |i| exponentials += libm::exp(x[i].to_f64() - max));
                T::from_f64(max + libm::log(exponentials))
            }
        };
    }
}

/// Checks `arg_max::<T>` and `arg_min::<T>` along each axis of `case`'s tensor, both
/// ways of breaking ties, on data with ties (and infinities with `specials`, but no NaN,
/// whose rank the kernels do not document), into `want` and `got` viewed as `i64`.
fn check_args<T: Elem>(
    case: &Case,
    rng: &mut Rng,
    x: &mut [T],
    want: &mut [f32],
    got: &mut [f32],
) -> Result<(), Mismatch> {
    let ties = rng.one_in(2);
    for v in x.iter_mut() {
        *v = if T::FLOAT && case.specials && rng.one_in(10) {
            T::from_f64([f64::INFINITY, f64::NEG_INFINITY][rng.range(0, 1)])
        } else if ties {
            T::from_i128(rng.range(0, 3) as i128)
        } else if T::FLOAT {
            T::from_f64(f64::from(grid(rng, 4095)))
        } else {
            T::from_i128(i128::from(rng.next_u64()))
        };
    }
    let x = &*x;
    let (want, got) = (view::<i64>(want), view::<i64>(got));
    let shape = &case.shape[..case.rank];
    for axis in 0..case.rank {
        let outer: usize = shape[..axis].iter().product();
        let len = shape[axis];
        let inner: usize = shape[axis + 1..].iter().product();
        let (want, got) = (&mut want[..outer * inner], &mut got[..outer * inner]);
        for (path, largest, last) in [
            (T::PATHS[10], true, false),
            (T::PATHS[11], true, true),
            (T::PATHS[12], false, false),
            (T::PATHS[13], false, true),
        ] {
            reference_arg(x, (outer, len, inner), largest, last, want);
            compare_exact(path, got, want, &mut |y| {
                if largest {
                    reduce::arg_max(x, outer, len, inner, last, y)
                } else {
                    reduce::arg_min(x, outer, len, inner, last, y)
                }
            })?;
        }
    }
    Ok(())
}

/// The naive arg-max (`largest`) or arg-min along the middle axis of
/// `[outer, len, inner]`: the best value, then the first index that holds it (the last
/// with `last`); 0 for an empty axis.
fn reference_arg<T: Elem>(
    x: &[T],
    (outer, len, inner): (usize, usize, usize),
    largest: bool,
    last: bool,
    y: &mut [i64],
) {
    for o in 0..outer {
        for i in 0..inner {
            let at = |a: usize| x[(o * len + a) * inner + i];
            let better = |v: T, b: T| if largest { v > b } else { v < b };
            let best = (0..len)
                .map(at)
                .reduce(|b, v| if better(v, b) { v } else { b });
            let holds = |&a: &usize| Some(at(a)) == best;
            let index = if last {
                (0..len).rev().find(holds)
            } else {
                (0..len).find(holds)
            };
            y[o * inner + i] = index.unwrap_or(0) as i64;
        }
    }
}
