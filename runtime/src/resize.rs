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
}
