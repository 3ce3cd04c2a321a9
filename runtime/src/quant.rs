//! ONNX `QuantizeLinear` and `DequantizeLinear`: per-tensor, per-axis and blocked scales.
//!
//! `y = saturate(round_half_even(x / scale) + zero_point)` and
//! `y = (x - zero_point) · scale`, with the scale and zero point of each element picked by
//! a [`QuantLayout`].

use crate::scalar::Scalar;
use crate::tokens::tokens;
use crate::KernelError;

tokens! {
    rt::quant;
    /// Which scale (and zero point) each element uses. The input is seen as
    /// `[outer, axis_len, inner]` around the quantization axis.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum QuantLayout {
        /// One scale for the whole tensor.
        PerTensor,
        /// One scale per index of the axis.
        PerAxis { axis_len: usize, inner: usize },
        /// `[outer, axis_len / block, inner]` scales: one per block of the axis.
        Blocked {
            axis_len: usize,
            inner: usize,
            block: usize,
            scale_axis_len: usize,
        },
    }
}

impl QuantLayout {
    #[inline]
    fn scale_index(&self, i: usize) -> usize {
        match *self {
            Self::PerTensor => 0,
            Self::PerAxis { axis_len, inner } => (i / inner) % axis_len,
            Self::Blocked {
                axis_len,
                inner,
                block,
                scale_axis_len,
            } => {
                let outer = i / (axis_len * inner);
                let a = (i / inner) % axis_len;
                (outer * scale_axis_len + a / block) * inner + i % inner
            }
        }
    }
}

/// `y = (x - zero_point) · scale`, in `f64` and rounded once to `Y`.
pub fn dequantize<X: Scalar, Y: Scalar>(
    x: &[X],
    scale: &[Y],
    zero_point: Option<&[X]>,
    layout: QuantLayout,
    y: &mut [Y],
) {
    for (i, (out, &v)) in y.iter_mut().zip(x).enumerate() {
        let k = layout.scale_index(i);
        let zero = zero_point.map_or(0.0, |z| z[k].to_f64());
        *out = Y::from_f64((v.to_f64() - zero) * scale[k].to_f64());
    }
}

/// `y = saturate(round_half_even(x / scale) + zero_point)`; the division is done in `X`,
/// as the ONNX reference does.
pub fn quantize<X: Scalar, Y: Scalar>(
    x: &[X],
    scale: &[X],
    zero_point: Option<&[Y]>,
    layout: QuantLayout,
    y: &mut [Y],
) -> Result<(), KernelError> {
    for (i, (out, &v)) in y.iter_mut().zip(x).enumerate() {
        let k = layout.scale_index(i);
        let zero = zero_point.map_or(0.0, |z| z[k].to_f64());
        let q = libm::rint(v.div(scale[k])?.to_f64()) + zero;
        // `from_f64` saturates to the type's range, as ONNX requires.
        *out = Y::from_f64(q);
    }
    Ok(())
}

/// ONNX `DynamicQuantizeLinear`: uint8 quantization with a scale and zero point chosen
/// from the data's range (widened to include 0), in `f32` as the ONNX reference computes.
pub fn dynamic_quantize(x: &[f32], y: &mut [u8], scale: &mut [f32], zero_point: &mut [u8]) {
    let (mut min, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        min = min.min(v);
        max = max.max(v);
    }
    let range = if max == min { 1.0 } else { max - min };
    let s = range / 255.0;
    let zero = libm::rintf((0.0 - min / s).clamp(0.0, 255.0));
    for (out, &v) in y.iter_mut().zip(x) {
        *out = (libm::rintf(v / s) + zero).clamp(0.0, 255.0) as u8;
    }
    scale[0] = s;
    zero_point[0] = zero as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_per_axis() {
        let layout = QuantLayout::PerAxis {
            axis_len: 2,
            inner: 1,
        };
        let mut q = [0u8; 4];
        quantize(
            &[1.0f32, 2.5, 3.0, 1000.0],
            &[1.0, 0.5],
            Some(&[0u8, 10]),
            layout,
            &mut q,
        )
        .unwrap();
        assert_eq!(q, [1, 15, 3, 255]);
        let mut y = [0.0f32; 4];
        dequantize(&q, &[1.0f32, 0.5], Some(&[0u8, 10]), layout, &mut y);
        assert_eq!(y, [1.0, 2.5, 3.0, 122.5]);
    }
}
