//! HannWindow, HammingWindow and BlackmanWindow (opset 17 on): a window of `size` points
//! (periodic by default), computed in `f64` and cast to `output_datatype`. `size` must be
//! a compile-time constant, so the op always folds. MelWeightMatrix (opset 17 on) the
//! same way: the triangular mel filter bank of an audio front end, a constant.

use std::f64::consts::TAU;

use proc_macro2::TokenStream;

use super::cast::dtype_attr;
use super::{Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct WindowFn {
    /// Whether the window is one period of a periodic function (`periodic = 1`) rather
    /// than symmetric.
    pub periodic: bool,
    pub window: Tensor,
}

impl Parse for WindowFn {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        // Each window as a function of `x = i / n`, from the ONNX definitions.
        let formula: fn(f64) -> f64 = match ctx.op_type {
            "HannWindow" => |x| 0.5 - 0.5 * (TAU * x).cos(),
            "HammingWindow" => |x| {
                let alpha = 25.0 / 46.0;
                alpha - (1.0 - alpha) * (TAU * x).cos()
            },
            "BlackmanWindow" => |x| 0.42 - 0.5 * (TAU * x).cos() + 0.08 * (2.0 * TAU * x).cos(),
            _ => return Err(OpError::unsupported("the op type is not a window function")),
        };
        let size = match ctx.absorb(0, "size")?.to_i64s().as_slice() {
            [size] => *size,
            other => {
                return Err(OpError::shape(format!(
                    "size holds {} values, not one",
                    other.len()
                )))
            }
        };
        let size = usize::try_from(size)
            .map_err(|_| OpError::shape(format!("size {size} is negative")))?;
        super::checked_elems(&[size])?;
        let dtype = dtype_attr("output_datatype", ctx.int("output_datatype", 1)?)?;
        let periodic = ctx.int("periodic", 1)? != 0;
        let n = if periodic {
            size as f64
        } else {
            size as f64 - 1.0
        };
        let values: Vec<f64> = (0..size).map(|i| formula(i as f64 / n)).collect();
        Ok(Self {
            periodic,
            window: Tensor::new(vec![size], Data::from_f64(dtype, &values)),
        })
    }
}

impl OpKind for WindowFn {
    /// The switches that differ from the defaults; the size is the output's length.
    fn attrs(&self, attrs: &mut Attrs) {
        if self.window.dtype() != DType::F32 {
            attrs.int(
                "output_datatype",
                i64::from(self.window.dtype().onnx_code()),
            );
        }
        if !self.periodic {
            attrs.int("periodic", 0);
        }
    }

    fn infer(&self, _inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![self.window.ty()])
    }

    fn folds_from_types(&self) -> bool {
        true
    }

    fn fold(&self, _ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        Ok(Some(vec![self.window.clone()]))
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::unsupported(
            "window functions always fold to a constant and have no kernel",
        ))
    }
}

/// MelWeightMatrix: `[dft_length / 2 + 1, num_mel_bins]` triangular filters whose
/// edges are `num_mel_bins + 2` points evenly spaced in mel (`2595 · log10(1 + f /
/// 700)`) from `lower_edge_hertz` to `upper_edge_hertz`, each turned back into hertz
/// and into a spectrogram bin as `⌊(dft_length + 1) · f / sample_rate⌋`; filter `i`
/// rises from bin `i` to 1 at bin `i + 1` and falls to bin `i + 2`, as the ONNX
/// reference computes it (the mel edges in `f32`, the bins in `f64`). Every input must
/// be a compile-time constant; a bin outside the spectrogram is an error.
#[derive(Clone, Debug, PartialEq)]
pub struct MelWeightMatrix {
    pub matrix: Tensor,
}

impl Parse for MelWeightMatrix {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let scalar = |i: usize, what: &'static str| -> Result<f64, OpError> {
            match ctx.absorb(i, what)?.data.to_f64_vec().as_slice() {
                [v] => Ok(*v),
                other => Err(OpError::shape(format!(
                    "{what} holds {} values, not one",
                    other.len()
                ))),
            }
        };
        let count = |i: usize, what: &'static str| -> Result<usize, OpError> {
            let v = scalar(i, what)?;
            if v.fract() != 0.0 || !(1.0..=1e9).contains(&v) {
                return Err(OpError::shape(format!(
                    "{what} is {v}, not a positive count"
                )));
            }
            Ok(v as usize)
        };
        let mel_bins = count(0, "num_mel_bins")?;
        let dft_length = count(1, "dft_length")?;
        let sample_rate = count(2, "sample_rate")? as f64;
        let (lower, upper) = (
            scalar(3, "lower_edge_hertz")?,
            scalar(4, "upper_edge_hertz")?,
        );
        let dtype = dtype_attr("output_datatype", ctx.int("output_datatype", 1)?)?;
        let spectrogram_bins = dft_length / 2 + 1;
        super::checked_elems(&[spectrogram_bins, mel_bins])?;
        let mel = |hz: f64| 2595.0 * (1.0 + hz as f32 / 700.0).log10();
        let (low, high) = (mel(lower), mel(upper));
        let step = f64::from((high - low) / (mel_bins + 2) as f32);
        let edges: Vec<i64> = (0..mel_bins + 2)
            .map(|i| {
                let m = i as f64 * step + f64::from(low);
                let hz = 700.0 * (10f64.powf(m / 2595.0) - 1.0);
                ((dft_length as f64 + 1.0) * hz / sample_rate).floor() as i64
            })
            .collect();
        let bin = |b: i64| {
            usize::try_from(b)
                .ok()
                .filter(|&b| b < spectrogram_bins)
                .ok_or_else(|| {
                    OpError::shape(format!(
                        "a filter edge falls at bin {b}, outside the {spectrogram_bins} bins of \
                     a {dft_length}-point DFT (check the edge frequencies against the \
                     sample rate)"
                    ))
                })
        };
        let mut m = vec![0.0f64; spectrogram_bins * mel_bins];
        for i in 0..mel_bins {
            let (left, centre, right) = (edges[i], edges[i + 1], edges[i + 2]);
            if centre == left {
                m[bin(centre)? * mel_bins + i] = 1.0;
            } else {
                for j in left..=centre {
                    m[bin(j)? * mel_bins + i] = (j - left) as f64 / (centre - left) as f64;
                }
            }
            if right > centre {
                for j in centre..right {
                    m[bin(j)? * mel_bins + i] = (right - j) as f64 / (right - centre) as f64;
                }
            }
        }
        Ok(Self {
            matrix: Tensor::new(vec![spectrogram_bins, mel_bins], Data::from_f64(dtype, &m)),
        })
    }
}

impl OpKind for MelWeightMatrix {
    fn attrs(&self, attrs: &mut Attrs) {
        if self.matrix.dtype() != DType::F32 {
            attrs.int(
                "output_datatype",
                i64::from(self.matrix.dtype().onnx_code()),
            );
        }
    }

    fn infer(&self, _inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![self.matrix.ty()])
    }

    fn folds_from_types(&self) -> bool {
        true
    }

    fn fold(&self, _ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        Ok(Some(vec![self.matrix.clone()]))
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::unsupported(
            "MelWeightMatrix always folds to a constant and has no kernel",
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn mel_weight_matrix_folds() {
        let int = |n: i64| Tensor::new(vec![], Data::I64(vec![n]));
        let hz = |f: f32| Tensor::new(vec![], Data::F32(vec![f]));
        // Two filters over a 16-point DFT's 9 bins at 8 kHz, 0 to 4 kHz.
        insta::assert_snapshot!(node("MelWeightMatrix").opset(17).constant(int(2)).constant(int(16))
            .constant(int(8000)).constant(hz(0.0)).constant(hz(4000.0)).emit(), @r#"
        MelWeightMatrix() -> f32[9,2]
        folds to f32[9,2]
        "#);
        insta::assert_snapshot!(node("MelWeightMatrix").opset(17).constant(int(2)).constant(int(16))
            .constant(int(8000)).constant(hz(0.0)).constant(hz(40000.0)).emit(), @"parse: a filter edge falls at bin 9, outside the 9 bins of a 16-point DFT (check the edge frequencies against the sample rate)");
        insta::assert_snapshot!(node("MelWeightMatrix").opset(17).constant(int(0)).constant(int(16))
            .constant(int(8000)).constant(hz(0.0)).constant(hz(4000.0)).emit(), @"parse: num_mel_bins is 0, not a positive count");
        insta::assert_snapshot!(node("MelWeightMatrix").opset(17).input("i64[]").constant(int(16))
            .constant(int(8000)).constant(hz(0.0)).constant(hz(4000.0)).emit(), @"parse: input 0 (num_mel_bins) must be a compile-time constant; zant compiles static shapes only");
    }

    #[test]
    fn folds() {
        let size = |n: i64| Tensor::new(vec![], Data::I64(vec![n]));
        insta::assert_snapshot!(node("HannWindow").constant(size(4)).emit(), @"
        HannWindow() -> f32[4]
        folds to f32[4] [0.0, 0.5, 1.0, 0.5]
        ");
        insta::assert_snapshot!(node("HammingWindow").int("periodic", 0).constant(size(5)).emit(), @"
        HammingWindow() periodic=0 -> f32[5]
        folds to f32[5] [0.08695652, 0.54347825, 1.0, 0.54347825, 0.08695652]
        ");
        // ONNX type code 11 is double.
        insta::assert_snapshot!(node("BlackmanWindow").int("output_datatype", 11).constant(size(3)).emit(), @"
        BlackmanWindow() output_datatype=11 -> f64[3]
        folds to f64[3] [-1.3877787807814457e-17, 0.6299999999999999, 0.6300000000000002]
        ");
        insta::assert_snapshot!(node("HannWindow").input("i64[]").emit(), @"parse: input 0 (size) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("HannWindow").constant(size(-1)).emit(), @"parse: size -1 is negative");
    }
}
