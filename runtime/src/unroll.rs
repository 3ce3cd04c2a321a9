//! Loops over a tile's fixed-size arrays, unrolled in the source.
//!
//! A register tile (`[[f32; TW]; OC]` accumulators, an `[i32; 4]` of sums) lives in
//! registers only once every loop over it is fully unrolled, so that each access has a
//! constant index. At opt-level 3 LLVM unrolls such loops itself; at "z" (and "s") it
//! keeps them rolled, the tile goes to the stack, and every multiply-add becomes a load,
//! a multiply-add and a store plus loop control: about four times the instructions.
//! [`unroll!`] writes the copies out before LLVM sees them, so the hot loops of a
//! firmware built for size keep their tiles in registers (issue 11, "a fast path that
//! survives z").

/// The largest trip count [`unroll!`] expands.
pub(crate) const MAX_UNROLL: usize = 16;

/// `unroll!(N, |i| body)` runs `body` with `i` bound to `0, 1, …, N − 1`, written out
/// as `N` copies in the source. `N` is a constant (a const generic or a `const`) of at
/// most [`MAX_UNROLL`]; a larger one fails to compile. The copies past `N` sit behind
/// `if` conditions that are constant after monomorphisation, so they cost nothing.
macro_rules! unroll {
    ($n:expr, |$i:ident| $body:expr) => {{
        const { assert!($n <= $crate::unroll::MAX_UNROLL) };
        $crate::unroll::unroll!(@copies $n, $i, $body, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    }};
    (@copies $n:expr, $i:ident, $body:expr, $($k:literal)*) => {
        $(
            if $k < $n {
                let $i: usize = $k;
                $body;
            }
        )*
    };
}

pub(crate) use unroll;

/// The first `N` values of `values` as an array: one fixed-size copy (a slice's
/// `try_into` can stay an out-of-line call at "z"); zeros when `values` is shorter, which
/// every caller's slicing rules out (a fallback rather than a panic).
#[inline(always)]
pub(crate) fn array<T: Copy + Default, const N: usize>(values: &[T]) -> [T; N] {
    match values.first_chunk::<N>() {
        Some(chunk) => *chunk,
        None => [T::default(); N],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_index_runs_once_in_order() {
        fn visited<const N: usize>() -> ([usize; N], usize) {
            let mut order = [usize::MAX; N];
            let mut count = 0;
            unroll!(N, |i| {
                order[i] = count;
                count += 1;
            });
            (order, count)
        }
        assert_eq!(visited::<0>(), ([], 0));
        assert_eq!(visited::<1>(), ([0], 1));
        assert_eq!(visited::<4>(), ([0, 1, 2, 3], 4));
        assert_eq!(visited::<8>(), ([0, 1, 2, 3, 4, 5, 6, 7], 8));
        assert_eq!(visited::<16>().1, 16);
    }

    #[test]
    fn arrays_load_and_store() {
        let values = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(super::array::<f32, 3>(&values[1..]), [2.0, 3.0, 4.0]);
        assert_eq!(super::array::<f32, 3>(&values[..2]), [0.0; 3]);
    }

    #[test]
    fn nests() {
        let mut tile = [[0usize; 3]; 2];
        unroll!(2, |o| unroll!(3, |j| tile[o][j] = 10 * o + j));
        assert_eq!(tile, [[0, 1, 2], [10, 11, 12]]);
    }
}
