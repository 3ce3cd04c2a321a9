//! Small dense linear algebra on square matrices: ONNX `Det`.
//!
//! The determinant comes from an LU factorisation with partial pivoting, as LAPACK's
//! `getrf` (what `numpy.linalg.det`, the ONNX reference, calls) computes it: at each step
//! the row with the largest magnitude in the pivot column is swapped up, and the
//! determinant is the product of the pivots, negated once per swap. The factorisation
//! works on a copy of one matrix in the scratch the compiler reserves, so the input is
//! never written.

/// The floats of scratch [`det`] needs for `n × n` matrices.
pub const fn det_scratch_len(n: usize) -> usize {
    n * n
}

/// The determinant of each `n × n` matrix of `x` (`y.len()` of them, one after the other,
/// row-major) into `y`. `scratch` holds at least [`det_scratch_len`]`(n)` floats. A
/// singular matrix (a zero pivot column) gives 0, a NaN anywhere in a matrix gives NaN,
/// and a 0 × 0 matrix gives 1, the empty product.
pub fn det(n: usize, x: &[f32], scratch: &mut [f32], y: &mut [f32]) {
    let len = n * n;
    if scratch.len() < len {
        // The compiler sizes the scratch from `det_scratch_len`; a smaller one is a
        // caller's mistake, answered with NaN rather than a panic.
        y.fill(f32::NAN);
        return;
    }
    if len == 0 {
        y.fill(1.0);
        return;
    }
    let a = &mut scratch[..len];
    for (matrix, out) in x.chunks_exact(len).zip(y.iter_mut()) {
        a.copy_from_slice(matrix);
        *out = lu_det(n, a);
    }
}

/// The determinant of the `n × n` matrix `a` (row-major, `n ≥ 1`), which the
/// factorisation overwrites.
fn lu_det(n: usize, a: &mut [f32]) -> f32 {
    let mut det = 1.0f32;
    for k in 0..n {
        // The pivot: the largest magnitude at or below the diagonal of column `k`; the
        // first one on ties, as LAPACK's `isamax` picks it. A NaN propagates through
        // the elimination below whether or not it is picked.
        let mut pivot = k;
        let mut largest = a[k * n + k].abs();
        for r in k + 1..n {
            let v = a[r * n + k].abs();
            if v > largest {
                largest = v;
                pivot = r;
            }
        }
        if pivot != k {
            for c in 0..n {
                a.swap(k * n + c, pivot * n + c);
            }
            det = -det;
        }
        let p = a[k * n + k];
        det *= p;
        if p == 0.0 {
            // The column is zero from the diagonal down: the matrix is singular. LAPACK
            // skips the elimination, and the product of the pivots is 0 (or NaN, when
            // an earlier pivot was infinite), as here.
            continue;
        }
        let (done, rest) = a.split_at_mut((k + 1) * n);
        let pivot_row = &done[k * n..];
        for row in rest.chunks_exact_mut(n) {
            let factor = row[k] / p;
            if factor == 0.0 {
                continue;
            }
            for (v, &u) in row[k + 1..].iter_mut().zip(&pivot_row[k + 1..]) {
                *v -= factor * u;
            }
        }
    }
    det
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;

    /// The determinant by cofactor expansion along the first row, in `f64`: slow, but
    /// with no pivoting to get wrong.
    fn naive_det(n: usize, a: &[f64]) -> f64 {
        if n == 0 {
            return 1.0;
        }
        if n == 1 {
            return a[0];
        }
        let mut total = 0.0;
        for skip in 0..n {
            let minor: Vec<f64> = (1..n)
                .flat_map(|r| (0..n).filter(move |&c| c != skip).map(move |c| (r, c)))
                .map(|(r, c)| a[r * n + c])
                .collect();
            let sign = if skip % 2 == 0 { 1.0 } else { -1.0 };
            total += sign * a[skip] * naive_det(n - 1, &minor);
        }
        total
    }

    /// A deterministic generator of values in [-2, 2), so the tests need no crate.
    fn values(seed: u64, len: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn matches_cofactor_expansion_on_random_matrices() {
        for n in 1..=6 {
            for seed in 0..20u64 {
                let batch = 3;
                let x = values(seed * 7 + n as u64, batch * n * n);
                let mut scratch = vec![0.0; det_scratch_len(n)];
                let mut y = vec![0.0; batch];
                det(n, &x, &mut scratch, &mut y);
                for (b, &got) in y.iter().enumerate() {
                    let a: Vec<f64> = x[b * n * n..(b + 1) * n * n]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect();
                    let want = naive_det(n, &a);
                    // Each of the n! terms is at most 2^n in magnitude; LU's rounding error
                    // stays far below 1e-5 of that scale for n <= 6.
                    let scale = (1..=n).product::<usize>() as f64 * 2f64.powi(n as i32);
                    assert!(
                        (f64::from(got) - want).abs() <= 1e-5 * scale,
                        "n={n} seed={seed} batch {b}: {got} != {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn pivots_on_a_zero_diagonal_and_counts_swaps() {
        let mut scratch = [0.0; 9];
        let mut y = [0.0; 2];
        // A permutation matrix of one swap has determinant -1; its first pivot is 0.
        let x = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        det(3, &x, &mut scratch, &mut y[..1]);
        assert_eq!(y[0], -1.0);
        // Two equal rows: singular, exactly 0.
        let x = [1.0, 2.0, 1.0, 2.0];
        det(2, &x, &mut scratch, &mut y[..1]);
        assert_eq!(y[0], 0.0);
        // The input is read, never written.
        let x = [2.0, 0.0, 0.0, 3.0, 4.0, 1.0, 1.0, 1.0];
        let copy = x;
        det(2, &x, &mut scratch, &mut y);
        assert_eq!(y, [6.0, 3.0]);
        assert_eq!(x, copy);
    }

    #[test]
    fn nan_and_empty_matrices() {
        let mut scratch = [0.0; 4];
        let mut y = [0.0; 1];
        det(2, &[1.0, f32::NAN, 3.0, 4.0], &mut scratch, &mut y);
        assert!(y[0].is_nan());
        let mut y = [0.0; 3];
        det(0, &[], &mut scratch, &mut y);
        assert_eq!(y, [1.0; 3]);
        // Too little scratch is answered, not panicked on.
        det(3, &[1.0; 9], &mut scratch, &mut y[..1]);
        assert!(y[0].is_nan());
    }
}
