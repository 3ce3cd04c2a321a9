//! What the families share: data whose sums are exact in `f32` (pooling, reductions),
//! and comparisons of outputs of any element type that may be infinite, exactly or within
//! a bound that depends on each output. ([`crate::compare`] takes `f32` outputs and one
//! tolerance for all, and an infinite output never lies within a tolerance of itself:
//! ∞ − ∞ is NaN.)

use crate::Mismatch;

/// The largest `k_max` for data `k / 4096` (`|k| ≤ k_max`) whose `count` values sum to
/// less than 2^12 in magnitude: then every partial sum, in any order, is a multiple of
/// 2^-12 below 2^12, which `f32`'s 24 bits hold exactly: the sums do not round.
pub(crate) fn k_max(count: usize) -> usize {
    (((1 << 24) - 1) / count.max(1)).min(4095)
}

/// A value `k / 4096` with `|k| ≤ k_max`.
pub(crate) fn grid(rng: &mut crate::Rng, k_max: usize) -> f32 {
    (rng.range(0, 2 * k_max) as f32 - k_max as f32) / 4096.0
}

/// An output element the comparisons read: an integer or a float.
pub(crate) trait Output: Copy {
    /// Whether `self` and `other` are the same output: equal, or both NaN.
    fn same(self, other: Self) -> bool;
    /// `|self − other|` (infinite for integers that differ).
    fn distance(self, other: Self) -> f64;
    /// A value that differs from `self`: what an output starts as, so that an element
    /// a path does not write is a mismatch whatever the reference gives.
    fn other(self) -> Self;
    /// The value, for the report (rounded to `f32`).
    fn report(self) -> f32;
}

macro_rules! integer_outputs {
    ($($ty:ty),*) => {$(
        impl Output for $ty {
            fn same(self, other: Self) -> bool {
                self == other
            }
            fn distance(self, other: Self) -> f64 {
                if self == other {
                    0.0
                } else {
                    f64::INFINITY
                }
            }
            fn other(self) -> Self {
                !self
            }
            fn report(self) -> f32 {
                self as f32
            }
        }
    )*};
}

integer_outputs!(u8, i8, i32, i64);

macro_rules! float_outputs {
    ($($ty:ty),*) => {$(
        impl Output for $ty {
            fn same(self, other: Self) -> bool {
                self == other || (self.is_nan() && other.is_nan())
            }
            fn distance(self, other: Self) -> f64 {
                (f64::from(self) - f64::from(other)).abs()
            }
            fn other(self) -> Self {
                if self.is_nan() {
                    0.0
                } else {
                    <$ty>::NAN
                }
            }
            fn report(self) -> f32 {
                self as f32
            }
        }
    )*};
}

float_outputs!(f32, f64);

/// Sets each of `got` to a value other than the reference's, runs a path into it, and
/// compares it with `want` exactly (NaN matches NaN, and an infinity itself).
pub(crate) fn compare_exact<T: Output>(
    path: &'static str,
    got: &mut [T],
    want: &[T],
    run: &mut dyn FnMut(&mut [T]),
) -> Result<(), Mismatch> {
    compare_within(path, got, want, &|_| 0.0, run)
}

/// [`compare_exact`], where an output may also lie within `bound(want)` of the
/// reference's `want`.
pub(crate) fn compare_within<T: Output>(
    path: &'static str,
    got: &mut [T],
    want: &[T],
    bound: &dyn Fn(T) -> f64,
    run: &mut dyn FnMut(&mut [T]),
) -> Result<(), Mismatch> {
    for (g, &w) in got.iter_mut().zip(want) {
        *g = w.other();
    }
    run(got);
    let matches = |(&g, &w): (&T, &T)| g.same(w) || g.distance(w) <= bound(w);
    match got.iter().zip(want).position(|pair| !matches(pair)) {
        Some(index) => Err(Mismatch {
            path,
            index,
            got: got[index].report(),
            want: want[index].report(),
        }),
        None => Ok(()),
    }
}
