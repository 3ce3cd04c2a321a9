//! ONNX `GridSample`: samples `X` (`[N, C, D1, …, Dr]`) at the normalised coordinates of
//! `grid` (`[N, O1, …, Or, r]`, last component first: `(x, y[, z])`), with nearest, linear
//! or cubic interpolation and zeros, border or reflection padding, in `f64`, as the ONNX
//! reference implementation does; and ONNX `AffineGrid`, which makes such a grid from
//! affine matrices.

use crate::scalar::Scalar;
use crate::tokens::tokens;
use crate::MAX_RANK;

tokens! {
    rt::grid_sample;
    /// The interpolation of [`grid_sample`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum GridMode {
        Nearest,
        Linear,
        Cubic,
    }
}

tokens! {
    rt::grid_sample;
    /// How [`grid_sample`] reads outside the input.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum GridPadding {
        Zeros,
        Border,
        Reflection,
    }
}

tokens! {
    rt::grid_sample;
    /// The geometry of a [`grid_sample`] call.
    #[derive(Clone, Copy, Debug)]
    pub struct GridSample<'a> {
        pub batch: usize,
        pub channels: usize,
        /// The spatial dims of `X`.
        pub dims: &'a [usize],
        /// The number of sampled points per (batch, channel).
        pub points: usize,
        pub mode: GridMode,
        pub padding: GridPadding,
        pub align_corners: bool,
    }
}

/// Reflects `x` into `[lo, hi]`.
fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let range = hi - lo;
    if x < lo {
        let dx = lo - x;
        let n = (dx / range) as i64;
        let r = dx - n as f64 * range;
        if n % 2 == 0 {
            lo + r
        } else {
            hi - r
        }
    } else if x > hi {
        let dx = x - hi;
        let n = (dx / range) as i64;
        let r = dx - n as f64 * range;
        if n % 2 == 0 {
            hi - r
        } else {
            lo + r
        }
    } else {
        x
    }
}

fn cubic_coeffs(t: f64) -> [f64; 4] {
    let a = -0.75;
    let x = t.abs();
    [
        ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a,
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0,
        ((a * (2.0 - x) - 5.0 * a) * (2.0 - x) + 8.0 * a) * (2.0 - x) - 4.0 * a,
    ]
}

/// `y[n, c, p] = X[n, c] sampled at grid[n, p]`.
pub fn grid_sample<T: Scalar>(g: &GridSample<'_>, x: &[T], grid: &[T], y: &mut [T]) {
    let r = g.dims.len();
    assert!(r <= MAX_RANK);
    let plane: usize = g.dims.iter().product();
    let mut strides = [0usize; MAX_RANK];
    let mut stride = 1;
    for d in (0..r).rev() {
        strides[d] = stride;
        stride *= g.dims[d];
    }
    let (mut lo, mut hi) = ([0.0f64; MAX_RANK], [0.0f64; MAX_RANK]);
    for d in 0..r {
        let len = g.dims[d] as f64;
        (lo[d], hi[d]) = if g.align_corners {
            (0.0, len - 1.0)
        } else {
            (-0.5, len - 0.5)
        };
    }
    // The padded read of one index along dim `d`; `None` reads zero.
    let index = |d: usize, i: i64| -> Option<usize> {
        let len = g.dims[d] as i64;
        match g.padding {
            GridPadding::Zeros => (0..len).contains(&i).then_some(i as usize),
            GridPadding::Border => Some(i.clamp(0, len - 1) as usize),
            GridPadding::Reflection => {
                Some((reflect(i as f64, lo[d], hi[d]) as i64).clamp(0, len - 1) as usize)
            }
        }
    };
    let n_taps = match g.mode {
        GridMode::Nearest => 1,
        GridMode::Linear => 2,
        GridMode::Cubic => 4,
    };
    for n in 0..g.batch {
        for p in 0..g.points {
            let coords = &grid[(n * g.points + p) * r..][..r];
            // Per dim: the taps (index, weight).
            let mut taps = [[(0i64, 0.0f64); 4]; MAX_RANK];
            for d in 0..r {
                let len = g.dims[d] as f64;
                let v = coords[r - 1 - d].to_f64();
                let mut xd = if g.align_corners {
                    (v + 1.0) / 2.0 * (len - 1.0)
                } else {
                    ((v + 1.0) * len - 1.0) / 2.0
                };
                if g.mode == GridMode::Nearest {
                    xd = libm::rint(xd);
                }
                if xd < lo[d] || xd > hi[d] {
                    match g.padding {
                        GridPadding::Border => xd = xd.clamp(0.0, len - 1.0),
                        GridPadding::Reflection => xd = reflect(xd, lo[d], hi[d]),
                        GridPadding::Zeros => {}
                    }
                }
                let x0 = libm::floor(xd);
                let t = xd - x0;
                let x0 = x0 as i64;
                taps[d] = match g.mode {
                    GridMode::Nearest => [(xd as i64, 1.0), (0, 0.0), (0, 0.0), (0, 0.0)],
                    GridMode::Linear => [(x0, 1.0 - t), (x0 + 1, t), (0, 0.0), (0, 0.0)],
                    GridMode::Cubic => {
                        let c = cubic_coeffs(t);
                        [(x0 - 1, c[0]), (x0, c[1]), (x0 + 1, c[2]), (x0 + 2, c[3])]
                    }
                };
            }
            for c in 0..g.channels {
                let data = &x[(n * g.channels + c) * plane..][..plane];
                let mut sum = 0.0;
                let mut chosen = [0usize; MAX_RANK];
                'combos: loop {
                    let mut weight = 1.0;
                    let mut offset = Some(0usize);
                    for d in 0..r {
                        let (i, w) = taps[d][chosen[d]];
                        weight *= w;
                        offset = match (offset, index(d, i)) {
                            (Some(o), Some(i)) => Some(o + i * strides[d]),
                            _ => None,
                        };
                    }
                    if let Some(o) = offset {
                        sum += weight * data[o].to_f64();
                    }
                    let mut d = r;
                    loop {
                        if d == 0 {
                            break 'combos;
                        }
                        d -= 1;
                        chosen[d] += 1;
                        if chosen[d] < n_taps {
                            break;
                        }
                        chosen[d] = 0;
                    }
                }
                y[(n * g.channels + c) * g.points + p] = T::from_f64(sum);
            }
        }
    }
}

/// ONNX `AffineGrid` (opset 20): for each of the `theta.len() / (r · (r + 1))` matrices
/// `θ` (`r × (r + 1)`, `r` = `dims.len()`, 2 or 3), the grid `[D,] H, W, r` of
/// `θ · (x, y[, z], 1)` over the normalised coordinates of an output of `dims` (`[D,] H,
/// W`): `−1 + (2i + 1)/n` along an axis of `n`, or with `align_corners`
/// `−1 + 2i/(n − 1)` (−1 for `n` = 1).
pub fn affine_grid(dims: &[usize], align_corners: bool, theta: &[f32], y: &mut [f32]) {
    let r = dims.len();
    if !(r == 2 || r == 3) {
        return;
    }
    let coordinate = |i: usize, n: usize| -> f32 {
        if align_corners {
            if n > 1 {
                -1.0 + 2.0 * i as f32 / (n - 1) as f32
            } else {
                -1.0
            }
        } else {
            -1.0 + (2 * i + 1) as f32 / n as f32
        }
    };
    let points: usize = dims.iter().product();
    let (depth, height, width) = if r == 3 {
        (dims[0], dims[1], dims[2])
    } else {
        (1, dims[0], dims[1])
    };
    let matrices = theta.chunks_exact(r * (r + 1));
    for (theta, y) in matrices.zip(y.chunks_exact_mut(points * r)) {
        let mut out = y.chunks_exact_mut(r);
        for d in 0..depth {
            for h in 0..height {
                for w in 0..width {
                    // (x, y[, z], 1): the innermost axis first.
                    let mut p = [coordinate(w, width), coordinate(h, height), 1.0, 1.0];
                    if r == 3 {
                        p[2] = coordinate(d, depth);
                    }
                    let Some(out) = out.next() else {
                        return;
                    };
                    for (o, row) in out.iter_mut().zip(theta.chunks_exact(r + 1)) {
                        *o = row.iter().zip(&p).map(|(&t, &v)| t * v).sum();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod affine_tests {
    use super::affine_grid;

    /// The identity and a shift on a 2 × 3 output, with and without aligned corners; a
    /// 3-D scale.
    #[test]
    fn affine_grid_maps_the_normalised_coordinates() {
        let mut y = [0.0; 12];
        affine_grid(&[2, 3], false, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0], &mut y);
        let (a, b) = (2.0 / 3.0, 0.5);
        let want = [-a, -b, 0.0, -b, a, -b, -a, b, 0.0, b, a, b];
        assert!(
            y.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6),
            "{y:?}"
        );
        affine_grid(&[2, 3], true, &[1.0, 0.0, 0.5, 0.0, 1.0, 0.0], &mut y);
        assert_eq!(
            y,
            [-0.5, -1.0, 0.5, -1.0, 1.5, -1.0, -0.5, 1.0, 0.5, 1.0, 1.5, 1.0]
        );
        let mut y3 = [0.0; 6];
        let theta = [2.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 4.0, 1.0];
        affine_grid(&[2, 1, 1], true, &theta, &mut y3);
        assert_eq!(y3, [-2.0, -3.0, -4.0 + 1.0, -2.0, -3.0, 4.0 + 1.0]);
    }
}
