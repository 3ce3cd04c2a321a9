//! ONNX `QuantizeLinear` and `DequantizeLinear`: per-tensor, per-axis and blocked scales.
//!
//! `y = saturate(round_half_even(x / scale) + zero_point)` and
//! `y = (x - zero_point) · scale`, with the scale and zero point of each element picked by
//! a [`QuantLayout`].

use crate::narrow::{self, Encoding, Format, Storage};
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

/// [`quantize`] from `f32` to an 8-bit type with one scale and zero point for the whole
/// tensor, the step between a float island and integer kernels: the same quotient in
/// `f32`, rounded half to even and saturated, as [`quantize`] computes through `f64`
/// (a NaN quotient gives 0 there, and here), without its per-element `f64` rounding and
/// scale lookup.
pub fn quantize_8bit<Y: crate::qlinear::QInt>(
    x: &[f32],
    scale: f32,
    zero: Option<&[Y]>,
    y: &mut [Y],
) {
    let zero = zero.and_then(|z| z.first()).map_or(0, |&z| z.to_i32());
    // Bounds one past the type's range around the zero point keep the rounding exact
    // (|q| < 2^22) and still saturate after it.
    let lo = (Y::MIN - zero - 1) as f32;
    let hi = (Y::MAX - zero + 1) as f32;
    for (out, &v) in y.iter_mut().zip(x) {
        let q = v / scale;
        *out = if q.is_nan() {
            Y::saturate(0)
        } else {
            let q = if q >= lo { q } else { lo };
            let q = if q <= hi { q } else { hi };
            Y::saturate(crate::qlinear::round_even(q) + zero)
        };
    }
}

/// `DequantizeLinear` of a narrow type (int4, int2, float8, float4; `x` as stored):
/// `y = (x - zero_point) · scale` in `f64`, rounded once to `Y`. The zero point only counts
/// for the integer formats: ONNX requires it to be zero for float8 and ignores it for
/// float4, as its reference does.
pub fn dequantize_narrow<S: Storage, Y: Scalar>(
    format: Format,
    x: &[S],
    scale: &[Y],
    zero_point: Option<&[S]>,
    layout: QuantLayout,
    y: &mut [Y],
) {
    for (i, out) in y.iter_mut().enumerate() {
        let k = layout.scale_index(i);
        let zero = match zero_point {
            Some(z) if format.is_int() => narrow::decode(format, narrow::code_at(format, z, k)),
            _ => 0.0,
        };
        let v = narrow::decode(format, narrow::code_at(format, x, i));
        *out = Y::from_f64((v - zero) * scale[k].to_f64());
    }
}

/// `QuantizeLinear` into a narrow type (`y` as stored), `x.len()` elements, with the
/// ONNX reference's rules: the 4- and 2-bit integers take
/// `saturate(round_half_even(x / scale) + zero_point)`; float8 converts `x / scale`
/// (its zero point must be zero), saturating as `to.saturate` says; float4 converts
/// `x / scale + zero_point`. The division is done in `X`.
pub fn quantize_narrow<X: Scalar, S: Storage>(
    x: &[X],
    scale: &[X],
    zero_point: Option<&[S]>,
    layout: QuantLayout,
    to: Encoding,
    y: &mut [S],
) -> Result<(), KernelError> {
    let format = to.format;
    // Every quotient first, so a division error surfaces before anything is written.
    for (i, &v) in x.iter().enumerate() {
        v.div(scale[layout.scale_index(i)])?;
    }
    let bits = format.bits() as u32;
    let (lo, hi) = match format {
        Format::I4 | Format::I2 => (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1),
        _ => (0, (1i64 << bits) - 1),
    };
    narrow::store(format, y, x.len(), |i| {
        let k = layout.scale_index(i);
        let q = x[i].div(scale[k]).map_or(0.0, Scalar::to_f64);
        let zero = || {
            zero_point.map_or(0.0, |z| {
                narrow::decode(format, narrow::code_at(format, z, k))
            })
        };
        if format.is_int() {
            let v = (libm::rint(q) + zero()).clamp(lo as f64, hi as f64);
            narrow::encode(to, v)
        } else if format == Format::F4E2M1 {
            narrow::encode(to, q + zero())
        } else {
            narrow::encode(to, q)
        }
    });
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

    /// `quantize_8bit` against the general per-tensor path for each scale and zero point.
    fn check_8_bit<Y: crate::qlinear::QInt + Scalar + core::fmt::Debug + Default>(
        x: &[f32; 12],
        cases: &[(f32, Y)],
    ) {
        for &(scale, zero) in cases {
            let mut want = [Y::default(); 12];
            quantize::<f32, Y>(
                x,
                &[scale],
                Some(&[zero]),
                QuantLayout::PerTensor,
                &mut want,
            )
            .unwrap();
            let mut got = [Y::default(); 12];
            quantize_8bit(x, scale, Some(&[zero]), &mut got);
            assert_eq!(got, want, "scale {scale}, zero {zero:?}");
        }
    }

    #[test]
    fn the_8_bit_path_equals_the_general_one() {
        let x: [f32; 12] = [
            0.0,
            1.25,
            -1.25,
            2.5,
            -2.5,
            3.75,
            1e9,
            -1e9,
            f32::NAN,
            f32::INFINITY,
            0.37,
            -99.9,
        ];
        check_8_bit(&x, &[(0.5f32, 3u8), (0.1, 128), (2.0, 0), (0.0, 7)]);
        check_8_bit(&x, &[(0.5f32, -3i8), (0.05, 127), (1.0, -128)]);
    }

    #[test]
    fn narrow_types_follow_the_onnx_reference() {
        // int4 per axis with zero points 1 and 1 (packed): saturated to -8..=7.
        let layout = QuantLayout::PerAxis {
            axis_len: 2,
            inner: 2,
        };
        let mut q = [0u8; 2];
        quantize_narrow(
            &[0.0f32, 2.5, 100.0, -100.0],
            &[2.0, 1.0],
            Some(&[0x11u8]),
            layout,
            Encoding::new(Format::I4),
            &mut q,
        )
        .unwrap();
        assert_eq!(q, [0x21, 0x87]);
        let mut y = [0.0f32; 4];
        dequantize_narrow(
            Format::I4,
            &q,
            &[2.0f32, 1.0],
            Some(&[0x11u8]),
            layout,
            &mut y,
        );
        assert_eq!(y, [0.0, 2.0, 6.0, -9.0]);
        // float8 ignores its (zero) zero point and saturates 1000 to 448.
        let mut f8 = [0u8; 2];
        let to = Encoding::new(Format::F8E4M3FN);
        quantize_narrow(
            &[1.0f32, 2000.0],
            &[2.0],
            None::<&[u8]>,
            QuantLayout::PerTensor,
            to,
            &mut f8,
        )
        .unwrap();
        assert_eq!(f8, [0x30, 0x7e]);
        let mut back = [0.0f32; 2];
        dequantize_narrow(
            Format::F8E4M3FN,
            &f8,
            &[2.0f32],
            None,
            QuantLayout::PerTensor,
            &mut back,
        );
        assert_eq!(back, [1.0, 896.0]);
    }

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
