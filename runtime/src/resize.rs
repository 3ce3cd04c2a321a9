//! ONNX `Resize`, from interpolation taps the compiler computes.
//!
//! Every resize mode (nearest, linear, cubic, with or without antialiasing, any coordinate
//! transformation) is separable: each output coordinate along an axis reads a few input
//! coordinates along that axis with fixed weights. The compiler works those taps out from
//! the static shapes and attributes, so this kernel only sums, in `f64`, the products of
//! one tap per axis.

use crate::scalar::Scalar;
use crate::MAX_RANK;

/// A tap index that marks an output coordinate outside the input (`tf_crop_and_resize`):
/// the whole output element takes the extrapolation value.
pub const OUTSIDE: usize = usize::MAX;

/// Nearest-neighbour resizing, the [`resize`] whose every axis has one tap of weight 1
/// and none outside the input: `y[o_0, …] = x[index[0][o_0], …]`. Output rows that read
/// the same input row as the row before them (every row of an upsampling but the first
/// of each run) are copies of that row; the others gather along the last axis. As fast
/// as a copy for the 2× upsampling of detectors' necks, where [`resize`] summed one tap
/// per element in `f64` through the general loop (353 µs for a 96 × 32 × 32 output).
/// Indices past the input leave their output as it is (the compiler emits none).
pub fn resize_nearest<T: Copy>(
    x: &[T],
    x_shape: &[usize],
    index: &[&[usize]],
    y: &mut [T],
    y_shape: &[usize],
) {
    let rank = y_shape.len();
    let (Some(&width), Some(&in_width), Some((last, outer))) =
        (y_shape.last(), x_shape.last(), index.split_last())
    else {
        return;
    };
    if rank > MAX_RANK || x_shape.len() != rank || outer.len() + 1 != rank || width == 0 {
        return;
    }
    if let Some(planes) = doubled_plane_count(x_shape, index, y_shape) {
        let (h, w) = (x_shape[rank - 2], in_width);
        doubled_planes(x, planes, (h, w), y);
        return;
    }
    let mut strides = [0usize; MAX_RANK];
    let mut stride = in_width;
    for d in (0..rank - 1).rev() {
        strides[d] = stride;
        stride *= x_shape[d];
    }
    // A 2× upsampling of the last axis (`last[j] = j / 2`) writes each input twice, in
    // pairs, which vectorises; the gather read one index and checked it per output (a
    // YOLO neck's 96 × 16 × 16 → 32 × 32, `examples/pool_resize`: 0.21 → 0.16 ns an output).
    let doubled = width == 2 * in_width && last.iter().enumerate().all(|(j, &i)| i == j / 2);
    let mut out_index = [0usize; MAX_RANK];
    let mut previous: Option<usize> = None;
    for row in 0..y.len() / width {
        let mut start = Some(0usize);
        for d in 0..rank - 1 {
            let offset = outer[d]
                .get(out_index[d])
                .and_then(|&i| i.checked_mul(strides[d]));
            start = start.zip(offset).and_then(|(s, o)| s.checked_add(o));
        }
        let at = row * width;
        match (previous, start) {
            (Some(source), Some(start)) if source == start => {
                y.copy_within(at - width..at, at);
            }
            _ => {
                let input = start.and_then(|s| x.get(s..s.checked_add(in_width)?));
                if let Some(input) = input {
                    let out = &mut y[at..at + width];
                    if doubled {
                        double_row(input, out);
                    } else {
                        for (out, &i) in out.iter_mut().zip(*last) {
                            if let Some(&v) = input.get(i) {
                                *out = v;
                            }
                        }
                    }
                }
            }
        }
        previous = start;
        for d in (0..rank - 1).rev() {
            out_index[d] += 1;
            if out_index[d] < y_shape[d] {
                break;
            }
            out_index[d] = 0;
        }
    }
}

/// The planes of a 2× upsampling of the last two axes that leaves the others alone
/// (`index[d][i] == i` before them, `i / 2` on them: a U-Net's, a YOLO neck's or a
/// DBNet's nearest `Resize`), or `None` for any other.
fn doubled_plane_count(x_shape: &[usize], index: &[&[usize]], y_shape: &[usize]) -> Option<usize> {
    let rank = y_shape.len();
    if rank < 2 || x_shape.len() != rank || index.len() != rank {
        return None;
    }
    let (outer, last_two) = index.split_at(rank - 2);
    let identity = outer.iter().enumerate().all(|(d, axis)| {
        x_shape[d] == y_shape[d]
            && axis.len() == y_shape[d]
            && axis.iter().enumerate().all(|(i, &j)| i == j)
    });
    let doubled = last_two.iter().enumerate().all(|(a, axis)| {
        let d = rank - 2 + a;
        y_shape[d] == 2 * x_shape[d]
            && axis.len() == y_shape[d]
            && axis.iter().enumerate().all(|(i, &j)| j == i / 2)
    });
    (identity && doubled).then(|| outer.iter().map(|axis| axis.len()).product())
}

/// [`resize_nearest`] for [`doubled_plane_count`]'s case: each input row written out
/// doubled into the first output row it makes, which is then copied into the second,
/// with no index per row or per value. `examples/pool_resize` (Zen 4), ns an output
/// against the general loop's per-row offsets: a YOLO neck's 128 × 8² 0.58 → 0.14,
/// 96 × 16² 0.28 → 0.16, a DBNet's 96 × 40² 0.19 → 0.13.
fn doubled_planes<T: Copy>(x: &[T], planes: usize, (h, w): (usize, usize), y: &mut [T]) {
    if h == 0 || w == 0 {
        return;
    }
    let inputs = x.chunks_exact(h * w).take(planes);
    for (input, out) in inputs.zip(y.chunks_exact_mut(4 * h * w)) {
        for (row, rows) in input.chunks_exact(w).zip(out.chunks_exact_mut(4 * w)) {
            let (upper, lower) = rows.split_at_mut(2 * w);
            double_row(row, upper);
            lower.copy_from_slice(upper);
        }
    }
}

/// Each value of `input` twice in a row into `out` (`2 · input.len()` values), which
/// vectorises.
#[inline(always)]
fn double_row<T: Copy>(input: &[T], out: &mut [T]) {
    for (pair, &v) in out.chunks_exact_mut(2).zip(input) {
        pair.fill(v);
    }
}

/// `y[o] = Σ Π_d w_d · x[i_0, …, i_{r-1}]` over one tap `(i_d, w_d)` per axis. Axis `d`
/// has `taps_per_out[d]` taps for each of its `y_shape[d]` output coordinates, stored in
/// `taps[d]` in output order.
pub fn resize<T: Scalar>(
    x: &[T],
    x_shape: &[usize],
    taps: &[&[(usize, f64)]],
    taps_per_out: &[usize],
    extrapolation: f64,
    y: &mut [T],
    y_shape: &[usize],
) {
    let rank = y_shape.len();
    assert!(rank <= MAX_RANK && taps.len() == rank && taps_per_out.len() == rank);
    let mut strides = [0usize; MAX_RANK];
    let mut stride = 1;
    for d in (0..rank).rev() {
        strides[d] = stride;
        stride *= x_shape[d];
    }
    let mut out_index = [0usize; MAX_RANK];
    for out in y.iter_mut() {
        // The taps of this output element, one slice per axis.
        let mut chosen = [0usize; MAX_RANK];
        let mut sum = 0.0f64;
        let mut outside = false;
        'combos: loop {
            let mut weight = 1.0f64;
            let mut offset = 0;
            for d in 0..rank {
                let (index, w) = taps[d][out_index[d] * taps_per_out[d] + chosen[d]];
                if index == OUTSIDE {
                    outside = true;
                    break 'combos;
                }
                weight *= w;
                offset += index * strides[d];
            }
            sum += weight * x[offset].to_f64();
            // Next combination of taps.
            let mut d = rank;
            loop {
                if d == 0 {
                    break 'combos;
                }
                d -= 1;
                chosen[d] += 1;
                if chosen[d] < taps_per_out[d] {
                    break;
                }
                chosen[d] = 0;
            }
        }
        *out = T::from_f64(if outside { extrapolation } else { sum });
        for d in (0..rank).rev() {
            out_index[d] += 1;
            if out_index[d] < y_shape[d] {
                break;
            }
            out_index[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn linear_upsample_of_a_row() {
        // [1, 3] → 3 outputs: 1, 2, 3 (align-corners taps).
        let taps: &[(usize, f64)] = &[(0, 1.0), (1, 0.0), (0, 0.5), (1, 0.5), (0, 0.0), (1, 1.0)];
        let mut y = [0.0f32; 3];
        resize(&[1.0f32, 3.0], &[2], &[taps], &[2], 0.0, &mut y, &[3]);
        assert_eq!(y, [1.0, 2.0, 3.0]);
        let outside: &[(usize, f64)] = &[(0, 1.0), (OUTSIDE, 0.0)];
        let mut y = [0.0f32; 2];
        resize(&[5.0f32], &[1], &[outside], &[1], -1.0, &mut y, &[2]);
        assert_eq!(y, [5.0, -1.0]);
    }

    #[test]
    fn nearest_is_the_one_tap_resize() {
        // Upsampling by 2 and by 3, a downsampling, a non-integer factor, and rank 1 to 4;
        // 2× on the last two axes alone (the doubled planes' path: one plane, several,
        // 1 × 1 planes) and 2× on every axis (the general loop).
        let cases: &[(&[usize], &[usize])] = &[
            (&[1, 3, 4, 5], &[1, 3, 8, 10]),
            (&[4, 7], &[8, 14]),
            (&[2, 3, 1, 1], &[2, 3, 2, 2]),
            (&[2, 3, 4], &[4, 6, 8]),
            (&[2, 2, 3], &[2, 6, 9]),
            (&[1, 2, 7, 6], &[1, 2, 3, 4]),
            (&[5, 4], &[8, 7]),
            (&[6], &[13]),
        ];
        for &(x_shape, y_shape) in cases {
            let x: std::vec::Vec<f32> = (0..x_shape.iter().product::<usize>())
                .map(|i| i as f32 * 0.5 - 3.0)
                .collect();
            // Floor of the asymmetric source coordinate, as ONNX's default nearest rounds.
            let index: std::vec::Vec<std::vec::Vec<usize>> = x_shape
                .iter()
                .zip(y_shape)
                .map(|(&n_in, &n_out)| (0..n_out).map(|o| o * n_in / n_out).collect())
                .collect();
            let taps: std::vec::Vec<std::vec::Vec<(usize, f64)>> = index
                .iter()
                .map(|axis| axis.iter().map(|&i| (i, 1.0)).collect())
                .collect();
            let taps: std::vec::Vec<&[(usize, f64)]> = taps.iter().map(|t| &t[..]).collect();
            let n = y_shape.iter().product::<usize>();
            let mut want = std::vec![f32::NAN; n];
            let per_out = std::vec![1; x_shape.len()];
            resize(&x, x_shape, &taps, &per_out, 0.0, &mut want, y_shape);
            let index: std::vec::Vec<&[usize]> = index.iter().map(|i| &i[..]).collect();
            let mut got = std::vec![f32::NAN; n];
            resize_nearest(&x, x_shape, &index, &mut got, y_shape);
            assert_eq!(got, want, "{x_shape:?} -> {y_shape:?}");
        }
        // Twice as wide but not each input twice in order (a rounding up): the gather.
        let mut got = [0.0f32; 6];
        resize_nearest(
            &[1.0f32, 2.0, 3.0],
            &[3],
            &[&[0, 1, 1, 2, 2, 2]],
            &mut got,
            &[6],
        );
        assert_eq!(got, [1.0, 2.0, 2.0, 3.0, 3.0, 3.0]);
    }
}
