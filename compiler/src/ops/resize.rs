//! Resize (opset 11 on; 13 adds types, 18 `antialias`, `axes` and
//! `keep_aspect_ratio_policy`, 19 the `half_pixel_symmetric` mode): nearest, linear and
//! cubic interpolation with every coordinate transformation mode, as the ONNX reference
//! implementation computes it. `roi`, `scales` and `sizes` must be compile-time constants;
//! the compiler turns them into per-axis interpolation taps (`rt::resize`).

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, normalize_axis, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    pub out_shape: Vec<usize>,
    /// Per axis: `taps_per_out[d]` `(input index, weight)` pairs per output coordinate.
    pub taps: Vec<Vec<(usize, f64)>>,
    pub taps_per_out: Vec<usize>,
    pub extrapolation: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

/// The attributes that shape the taps of one axis.
struct AxisSpec<'a> {
    mode: Mode,
    transform: &'a str,
    nearest_mode: &'a str,
    cubic_a: f64,
    exclude_outside: bool,
    antialias: bool,
}

impl Parse for Resize {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let rank = x.rank();
        let mode = match ctx.string("mode", "nearest")?.as_str() {
            "nearest" => Mode::Nearest,
            "linear" => Mode::Linear,
            "cubic" => Mode::Cubic,
            other => return Err(OpError::Other(format!("mode `{other}` is not supported"))),
        };
        let transform = ctx.string("coordinate_transformation_mode", "half_pixel")?;
        let nearest_mode = ctx.string("nearest_mode", "round_prefer_floor")?;
        let spec = AxisSpec {
            mode,
            transform: &transform,
            nearest_mode: &nearest_mode,
            cubic_a: f64::from(ctx.float("cubic_coeff_a", -0.75)?),
            exclude_outside: ctx.int("exclude_outside", 0)? != 0,
            antialias: ctx.int("antialias", 0)? != 0,
        };
        let axes: Vec<usize> = match ctx.ints("axes")? {
            Some(a) => a
                .iter()
                .map(|&a| normalize_axis(a, rank))
                .collect::<Result<_, _>>()?,
            None => (0..rank).collect(),
        };
        let roi = ctx.absorb_optional(1, "roi")?.map(|t| t.data.to_f64_vec());
        let scales = ctx
            .absorb_optional(2, "scales")?
            .map(|t| t.data.to_f64_vec())
            .filter(|s| !s.is_empty());
        let sizes = ctx
            .absorb_optional(3, "sizes")?
            .map(|t| t.to_i64s())
            .filter(|s| !s.is_empty());
        // Scales and output size for every axis; unlisted axes keep their size.
        let mut scale = vec![1.0f64; rank];
        let mut out_shape = x.shape.clone();
        match (scales, sizes) {
            (Some(s), None) => {
                if s.len() != axes.len() {
                    return Err(OpError::Other(format!(
                        "{} scales for {} axes",
                        s.len(),
                        axes.len()
                    )));
                }
                for (&a, &v) in axes.iter().zip(&s) {
                    if v <= 0.0 {
                        return Err(OpError::Other(format!("scale {v} is not positive")));
                    }
                    scale[a] = v;
                    out_shape[a] = (v * x.shape[a] as f64) as usize;
                }
            }
            (None, Some(s)) => {
                if s.len() != axes.len() {
                    return Err(OpError::Other(format!(
                        "{} sizes for {} axes",
                        s.len(),
                        axes.len()
                    )));
                }
                for (&a, &v) in axes.iter().zip(&s) {
                    scale[a] = v as f64 / x.shape[a] as f64;
                    out_shape[a] = usize::try_from(v).map_err(|_| format!("size {v}"))?;
                }
                let policy = ctx.string("keep_aspect_ratio_policy", "stretch")?;
                if policy != "stretch" {
                    let picked = axes.iter().map(|&a| scale[a]);
                    let common = if policy == "not_larger" {
                        picked.fold(f64::INFINITY, f64::min)
                    } else if policy == "not_smaller" {
                        picked.fold(f64::NEG_INFINITY, f64::max)
                    } else {
                        return Err(OpError::Other(format!(
                            "keep_aspect_ratio_policy `{policy}`"
                        )));
                    };
                    for &a in &axes {
                        scale[a] = common;
                        out_shape[a] = (common * x.shape[a] as f64 + 0.5) as usize;
                    }
                }
            }
            _ => {
                return Err(OpError::Other(
                    "exactly one of scales and sizes must be given".into(),
                ))
            }
        }
        super::checked_elems(&out_shape)?;
        let mut taps = Vec::with_capacity(rank);
        let mut taps_per_out = Vec::with_capacity(rank);
        for d in 0..rank {
            let roi_d = roi.as_ref().and_then(|r| {
                let k = axes.iter().position(|&a| a == d)?;
                Some((*r.get(k)?, *r.get(k + axes.len())?))
            });
            let (per_out, axis_taps) = axis_taps(
                &spec,
                x.shape[d],
                out_shape[d],
                scale[d],
                roi_d.unwrap_or((0.0, 1.0)),
            )?;
            taps_per_out.push(per_out);
            taps.push(axis_taps);
        }
        Ok(Self {
            out_shape,
            taps,
            taps_per_out,
            extrapolation: f64::from(ctx.float("extrapolation_value", 0.0)?),
        })
    }
}

impl OpKind for Resize {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype == crate::tensor::DType::Bool {
            return Err(OpError::Other("Resize does not take bool".into()));
        }
        Ok(vec![TensorType::new(x.dtype, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let taps: Vec<&[(usize, f64)]> = self.taps.iter().map(|t| t.as_slice()).collect();
        let data = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); ctx.outputs[0].n_elems()];
            zant_runtime::resize::resize(v, &x.shape, &taps, &self.taps_per_out, self.extrapolation, &mut y, &self.out_shape);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(self.out_shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
        let y_shape = shape_tokens(&self.out_shape);
        let t = elem_type(x.ty.dtype);
        let axes = self.taps.iter().map(|axis| {
            let pairs = axis.iter().map(|&(i, w)| {
                let i = if i == usize::MAX {
                    quote!(rt::resize::OUTSIDE)
                } else {
                    quote!(#i)
                };
                quote!((#i, #w))
            });
            quote!(&[#(#pairs),*])
        });
        let per_out = &self.taps_per_out;
        let extrapolation = self.extrapolation;
        Ok(quote! {
            rt::resize::resize::<#t>(#xe, #x_shape, &[#(#axes),*], &[#(#per_out),*], #extrapolation, y, #y_shape);
        })
    }
}

/// The taps of one axis: `(taps per output coordinate, the taps in output order)`.
fn axis_taps(
    spec: &AxisSpec<'_>,
    in_len: usize,
    out_len: usize,
    scale: f64,
    roi: (f64, f64),
) -> Result<(usize, Vec<(usize, f64)>), OpError> {
    if in_len == out_len && scale == 1.0 && spec.transform != "tf_crop_and_resize" {
        return Ok((1, (0..out_len).map(|i| (i, 1.0)).collect()));
    }
    let mut rows: Vec<Vec<(usize, f64)>> = Vec::with_capacity(out_len);
    for x in 0..out_len {
        rows.push(output_taps(spec, in_len, out_len, scale, roi, x as f64)?);
    }
    let per_out = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut taps = Vec::with_capacity(out_len * per_out);
    for mut row in rows {
        // Pad with zero-weight taps so every coordinate has the same count.
        let filler = row.first().map_or((0, 0.0), |&(i, _)| (i, 0.0));
        row.resize(per_out, filler);
        taps.extend(row);
    }
    Ok((per_out, taps))
}

/// The taps of output coordinate `x`, following `_interpolate_1d_with_x` of the ONNX
/// reference implementation.
fn output_taps(
    spec: &AxisSpec<'_>,
    in_len: usize,
    out_len: usize,
    scale: f64,
    roi: (f64, f64),
    x: f64,
) -> Result<Vec<(usize, f64)>, OpError> {
    let input_width = in_len as f64;
    let output_width = scale * input_width;
    let x_ori = match spec.transform {
        "align_corners" => {
            if output_width == 1.0 {
                0.0
            } else {
                x * (input_width - 1.0) / (output_width - 1.0)
            }
        }
        "asymmetric" => x / scale,
        "tf_crop_and_resize" => {
            let v = if output_width == 1.0 {
                (roi.1 - roi.0) * (input_width - 1.0) / 2.0
            } else {
                x * (roi.1 - roi.0) * (input_width - 1.0) / (output_width - 1.0)
            } + roi.0 * (input_width - 1.0);
            if v < 0.0 || v > input_width - 1.0 {
                return Ok(vec![(usize::MAX, 0.0)]);
            }
            v
        }
        "pytorch_half_pixel" => {
            if output_width == 1.0 {
                -0.5
            } else {
                (x + 0.5) / scale - 0.5
            }
        }
        "half_pixel" => (x + 0.5) / scale - 0.5,
        "half_pixel_symmetric" => {
            let adjustment = out_len as f64 / output_width;
            let offset = input_width / 2.0 * (1.0 - adjustment);
            offset + (x + 0.5) / scale - 0.5
        }
        other => {
            return Err(OpError::Other(format!(
                "coordinate_transformation_mode `{other}` is not supported"
            )))
        }
    };
    let x_ori_int = x_ori.floor();
    let ratio = if x_ori == x_ori_int {
        1.0
    } else {
        x_ori - x_ori_int
    };
    let mut coeffs: Vec<f64> = match spec.mode {
        Mode::Nearest => {
            if ratio == 1.0 {
                vec![0.0, 1.0]
            } else {
                let (a, b) = match spec.nearest_mode {
                    "round_prefer_floor" => (ratio <= 0.5, ratio > 0.5),
                    "round_prefer_ceil" => (ratio < 0.5, ratio >= 0.5),
                    "floor" => (true, false),
                    "ceil" => (false, true),
                    other => {
                        return Err(OpError::Other(format!(
                            "nearest_mode `{other}` is not supported"
                        )))
                    }
                };
                vec![f64::from(u8::from(a)), f64::from(u8::from(b))]
            }
        }
        Mode::Linear if spec.antialias => {
            let s = scale.min(1.0);
            let start = (-1.0 / s).floor() as i64 + 1;
            let footprint = 2 - 2 * start;
            let c: Vec<f64> = (start..start + footprint)
                .map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0))
                .collect();
            let sum: f64 = c.iter().sum();
            c.iter().map(|v| v / sum).collect()
        }
        Mode::Linear => vec![1.0 - ratio, ratio],
        Mode::Cubic if spec.antialias => {
            let s = scale.min(1.0);
            let a = spec.cubic_a;
            let coeff = |x: f64| {
                let x = x.abs();
                let (x2, x3) = (x * x, x * x * x);
                if x <= 1.0 {
                    (a + 2.0) * x3 - (a + 3.0) * x2 + 1.0
                } else if x < 2.0 {
                    a * x3 - 5.0 * a * x2 + 8.0 * a * x - 4.0 * a
                } else {
                    0.0
                }
            };
            let i_start = (-2.0 / s).floor() as i64 + 1;
            let i_end = 2 - i_start;
            let c: Vec<f64> = (i_start..i_end)
                .map(|i| coeff(s * (i as f64 - ratio)))
                .collect();
            let sum: f64 = c.iter().sum();
            c.iter().map(|v| v / sum).collect()
        }
        Mode::Cubic => {
            let a = spec.cubic_a;
            let r = ratio;
            vec![
                ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
                ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
                ((a + 2.0) * (1.0 - r) - (a + 3.0)) * (1.0 - r) * (1.0 - r) + 1.0,
                ((a * ((1.0 - r) + 1.0) - 5.0 * a) * ((1.0 - r) + 1.0) + 8.0 * a)
                    * ((1.0 - r) + 1.0)
                    - 4.0 * a,
            ]
        }
    };
    // The n nearest indices to x_ori in the edge-padded axis, ties to the smaller.
    let n = coeffs.len() as i64;
    let pad = (n + 1) / 2;
    let limit = in_len as i64 + 2 * pad;
    let xp = x_ori + pad as f64;
    let center = xp.floor() as i64;
    let mut candidates: Vec<i64> = (center - n - 1..=center + n + 1)
        .filter(|&i| (0..limit).contains(&i))
        .collect();
    candidates.sort_by(|&a, &b| {
        ((xp - a as f64).abs(), a)
            .partial_cmp(&((xp - b as f64).abs(), b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    candidates.truncate(n as usize);
    candidates.sort_unstable();
    let indices: Vec<i64> = candidates.iter().map(|&i| i - pad).collect();
    if spec.exclude_outside {
        for (c, &i) in coeffs.iter_mut().zip(&indices) {
            if i < 0 || i >= in_len as i64 {
                *c = 0.0;
            }
        }
        let sum: f64 = coeffs.iter().sum();
        coeffs.iter_mut().for_each(|c| *c /= sum);
    }
    let last = in_len as i64 - 1;
    let mut taps: Vec<(usize, f64)> = indices
        .iter()
        .zip(&coeffs)
        .filter(|(_, &w)| w != 0.0)
        .map(|(&i, &w)| (i.clamp(0, last.max(0)) as usize, w))
        .collect();
    if taps.is_empty() {
        taps.push((x_ori.round().clamp(0.0, last.max(0) as f64) as usize, 0.0));
    }
    Ok(taps)
}
