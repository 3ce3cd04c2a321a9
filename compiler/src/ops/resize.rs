//! Resize (opset 11 on; 13 adds types and drops the `tf_half_pixel_for_nn` mode, 18
//! `antialias`, `axes` and
//! `keep_aspect_ratio_policy`, 19 the `half_pixel_symmetric` mode): nearest, linear and
//! cubic interpolation with every coordinate transformation mode, as the ONNX reference
//! implementation computes it. `roi`, `scales` and `sizes` must be compile-time constants;
//! the compiler turns them into per-axis interpolation taps (`rt::resize`).
//!
//! The deprecated Upsample (opsets 7 and 8: `scales` attribute; 9: `scales` input, a
//! compile-time constant) is Resize with the `asymmetric` transformation, `nearest`
//! rounding down, as ONNX Runtime runs it ([`parse_upsample`]).

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, normalize_axis, required, shape_tokens, Attribute, Attrs, EmitCtx, FoldCtx, Op,
    OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    /// The attributes that shape the taps, each kept only where the mode reads it (the
    /// default otherwise), so the IR text shows what matters.
    pub spec: AxisSpec,
    /// The `axes` attribute, made non-negative, when the node lists axes.
    pub axes: Option<Vec<usize>>,
    /// The absorbed input that sets the output size, as the node gave it.
    pub target: Target,
    /// The absorbed `roi`, which only `tf_crop_and_resize` reads.
    pub roi: Option<Vec<f64>>,
    pub out_shape: Vec<usize>,
    /// Per axis: `taps_per_out[d]` `(input index, weight)` pairs per output coordinate.
    pub taps: Vec<Vec<(usize, f64)>>,
    pub taps_per_out: Vec<usize>,
    /// The value of taps outside the input (`tf_crop_and_resize`); 0 otherwise.
    pub extrapolation: f64,
}

/// Declares an enum of the values of a string attribute, each variant with its ONNX
/// spelling, and reads it from a node.
macro_rules! string_attr {
    ($(#[$doc:meta])* $name:ident($attr:literal) {
        $($(#[$variant_doc:meta])* $variant:ident = $text:literal),* $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$variant_doc])* $variant),*
        }

        impl $name {
            /// The ONNX spelling.
            pub fn onnx_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),*
                }
            }

            /// The attribute's value, or `default` when the node does not set it.
            fn read(ctx: &ParseCtx<'_>, default: Self) -> Result<Self, OpError> {
                match ctx.string($attr, default.onnx_name())?.as_str() {
                    $($text => Ok(Self::$variant),)*
                    other => Err(OpError::attr(
                        $attr,
                        format!("`{other}` is not one of {}", [$($text),*].join(", ")),
                    )),
                }
            }
        }
    };
}

string_attr! {
    /// How output values are interpolated (`mode`).
    Mode("mode") {
        Nearest = "nearest",
        Linear = "linear",
        Cubic = "cubic",
    }
}

string_attr! {
    /// How an output coordinate maps back to the input (`coordinate_transformation_mode`).
    Transform("coordinate_transformation_mode") {
        HalfPixel = "half_pixel",
        HalfPixelSymmetric = "half_pixel_symmetric",
        PytorchHalfPixel = "pytorch_half_pixel",
        AlignCorners = "align_corners",
        Asymmetric = "asymmetric",
        TfCropAndResize = "tf_crop_and_resize",
        /// Opset 11 only.
        TfHalfPixelForNn = "tf_half_pixel_for_nn",
    }
}

string_attr! {
    /// How `nearest` rounds a coordinate between two input elements (`nearest_mode`).
    NearestMode("nearest_mode") {
        RoundPreferFloor = "round_prefer_floor",
        RoundPreferCeil = "round_prefer_ceil",
        Floor = "floor",
        Ceil = "ceil",
    }
}

string_attr! {
    /// How `sizes` keeps the aspect ratio (`keep_aspect_ratio_policy`, opset 18).
    AspectPolicy("keep_aspect_ratio_policy") {
        Stretch = "stretch",
        NotLarger = "not_larger",
        NotSmaller = "not_smaller",
    }
}

/// The attributes that shape the taps of one axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AxisSpec {
    pub mode: Mode,
    pub transform: Transform,
    pub nearest_mode: NearestMode,
    pub cubic_a: f64,
    pub exclude_outside: bool,
    pub antialias: bool,
}

/// How the node gives the output size: the `scales` or the `sizes` input.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// One scale per listed axis.
    Scales(Vec<f64>),
    /// One size per listed axis, and how it keeps the aspect ratio.
    Sizes(Vec<i64>, AspectPolicy),
}

/// The input slots of the ONNX node.
const ROI: usize = 1;
const SCALES: usize = 2;
const SIZES: usize = 3;

impl Parse for Resize {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let rank = x.rank();
        let mode = Mode::read(ctx, Mode::Nearest)?;
        let transform = Transform::read(ctx, Transform::HalfPixel)?;
        if transform == Transform::TfHalfPixelForNn && ctx.opset >= 13 {
            return Err(OpError::attr(
                "coordinate_transformation_mode",
                "tf_half_pixel_for_nn was removed in opset 13",
            ));
        }
        // Each attribute is kept where the mode reads it, the default elsewhere, so
        // that two nodes computing the same taps are the same op.
        let spec = AxisSpec {
            mode,
            transform,
            nearest_mode: match mode {
                Mode::Nearest => NearestMode::read(ctx, NearestMode::RoundPreferFloor)?,
                _ => NearestMode::RoundPreferFloor,
            },
            cubic_a: match mode {
                Mode::Cubic => f64::from(ctx.float("cubic_coeff_a", -0.75)?),
                _ => -0.75,
            },
            exclude_outside: ctx.int("exclude_outside", 0)? != 0,
            antialias: mode != Mode::Nearest && ctx.int("antialias", 0)? != 0,
        };
        let axes = match ctx.ints("axes")? {
            Some(a) => {
                let axes: Vec<usize> = a
                    .iter()
                    .map(|&a| normalize_axis(a, rank))
                    .collect::<Result<_, _>>()?;
                if (1..axes.len()).any(|i| axes[..i].contains(&axes[i])) {
                    return Err(OpError::attr("axes", format!("{a:?} repeats an axis")));
                }
                Some(axes)
            }
            None => None,
        };
        let listed: Vec<usize> = axes.clone().unwrap_or_else(|| (0..rank).collect());
        let roi = ctx
            .absorb_optional(ROI, "roi")?
            .map(|t| t.data.to_f64_vec());
        let scales = ctx
            .absorb_optional(SCALES, "scales")?
            .map(|t| t.data.to_f64_vec())
            .filter(|s| !s.is_empty());
        let sizes = ctx
            .absorb_optional(SIZES, "sizes")?
            .map(|t| t.to_i64s())
            .filter(|s| !s.is_empty());
        // Scales and output size for every axis; unlisted axes keep their size.
        let mut scale = vec![1.0f64; rank];
        let mut out_shape = x.shape.clone();
        let target = match (scales, sizes) {
            (Some(s), None) => {
                if s.len() != listed.len() {
                    return Err(OpError::shape(format!(
                        "{} scales for {} axes",
                        s.len(),
                        listed.len()
                    )));
                }
                for (&a, &v) in listed.iter().zip(&s) {
                    if v <= 0.0 {
                        return Err(OpError::shape(format!("scale {v} is not positive")));
                    }
                    scale[a] = v;
                    out_shape[a] = (v * x.shape[a] as f64) as usize;
                }
                Target::Scales(s)
            }
            (None, Some(s)) => {
                if s.len() != listed.len() {
                    return Err(OpError::shape(format!(
                        "{} sizes for {} axes",
                        s.len(),
                        listed.len()
                    )));
                }
                for (&a, &v) in listed.iter().zip(&s) {
                    out_shape[a] = usize::try_from(v)
                        .map_err(|_| OpError::shape(format!("size {v} is negative")))?;
                    scale[a] = v as f64 / x.shape[a] as f64;
                }
                let policy = AspectPolicy::read(ctx, AspectPolicy::Stretch)?;
                if policy != AspectPolicy::Stretch {
                    let picked = listed.iter().map(|&a| scale[a]);
                    let common = if policy == AspectPolicy::NotLarger {
                        picked.fold(f64::INFINITY, f64::min)
                    } else {
                        picked.fold(f64::NEG_INFINITY, f64::max)
                    };
                    for &a in &listed {
                        scale[a] = common;
                        out_shape[a] = (common * x.shape[a] as f64 + 0.5) as usize;
                    }
                }
                Target::Sizes(s, policy)
            }
            _ => {
                return Err(OpError::shape(
                    "exactly one of scales and sizes must be given",
                ))
            }
        };
        super::checked_elems(&out_shape)?;
        let roi = roi.filter(|_| transform == Transform::TfCropAndResize);
        let mut taps = Vec::with_capacity(rank);
        let mut taps_per_out = Vec::with_capacity(rank);
        for d in 0..rank {
            let roi_d = roi.as_ref().and_then(|r| {
                let k = listed.iter().position(|&a| a == d)?;
                Some((*r.get(k)?, *r.get(k + listed.len())?))
            });
            let (per_out, axis_taps) = axis_taps(
                &spec,
                x.shape[d],
                out_shape[d],
                scale[d],
                roi_d.unwrap_or((0.0, 1.0)),
            );
            taps_per_out.push(per_out);
            taps.push(axis_taps);
        }
        let extrapolation = match transform {
            Transform::TfCropAndResize => f64::from(ctx.float("extrapolation_value", 0.0)?),
            _ => 0.0,
        };
        Ok(Self {
            spec,
            axes,
            target,
            roi,
            out_shape,
            taps,
            taps_per_out,
            extrapolation,
        })
    }
}

/// The table's parser for the deprecated Upsample (opsets 7 to 9): a [`Resize`] by the
/// node's scales, with `mode` nearest (the default) or linear, the `asymmetric`
/// transformation and nearest rounding down. Each output dim is `floor(dim · scale)`, and
/// ONNX allows no scale below 1, so no axis shrinks.
pub fn parse_upsample(ctx: &ParseCtx<'_>) -> Result<Op, OpError> {
    let x = ctx.input(0)?;
    let mode = match ctx.string("mode", "nearest")?.as_str() {
        "nearest" => Mode::Nearest,
        "linear" => Mode::Linear,
        other => {
            return Err(OpError::attr(
                "mode",
                format!("`{other}` is not nearest or linear"),
            ))
        }
    };
    let scales = if ctx.opset >= 9 {
        ctx.absorb(1, "scales")?.data.to_f64_vec()
    } else {
        let scales = ctx
            .attr("scales")
            .ok_or_else(|| OpError::attr("scales", "is required"))?
            .as_floats("scales")?;
        scales.into_iter().map(f64::from).collect()
    };
    if scales.len() != x.rank() {
        return Err(OpError::shape(format!("{} scales for {x}", scales.len())));
    }
    if let Some(&s) = scales.iter().find(|&&s| !(s >= 1.0 && s.is_finite())) {
        return Err(OpError::shape(format!(
            "scale {s} is not at least 1, as Upsample requires"
        )));
    }
    let text = |s: &str| Attribute::String(s.to_string());
    let attrs = BTreeMap::from([
        ("mode".to_string(), text(mode.onnx_name())),
        (
            "coordinate_transformation_mode".to_string(),
            text(Transform::Asymmetric.onnx_name()),
        ),
        (
            "nearest_mode".to_string(),
            text(NearestMode::Floor.onnx_name()),
        ),
    ]);
    let scales = Tensor::new(vec![scales.len()], Data::from_f64(DType::F32, &scales));
    let scales_ty = scales.ty();
    // Resize at the first opset whose attributes these are, with `scales` in its slot.
    let resize = ParseCtx::new(
        "Resize",
        13,
        &attrs,
        vec![Some(x), None, Some(&scales_ty)],
        vec![None, None, Some(&scales)],
    );
    Resize::parse(&resize).map(Op::from)
}

impl OpKind for Resize {
    fn attrs(&self, attrs: &mut Attrs) {
        let spec = &self.spec;
        attrs
            .string("mode", spec.mode.onnx_name())
            .string("coordinate_transformation_mode", spec.transform.onnx_name());
        if spec.mode == Mode::Nearest {
            attrs.string("nearest_mode", spec.nearest_mode.onnx_name());
        }
        if spec.mode == Mode::Cubic {
            // The attribute is an f32; the taps compute with its f64 widening.
            attrs.float("cubic_coeff_a", spec.cubic_a as f32);
        }
        if spec.exclude_outside {
            attrs.int("exclude_outside", 1);
        }
        if spec.antialias {
            attrs.int("antialias", 1);
        }
        if let Some(axes) = &self.axes {
            attrs.usizes("axes", axes);
        }
        if self.extrapolation != 0.0 {
            attrs.float("extrapolation_value", self.extrapolation as f32);
        }
        // The absorbed inputs show under their ONNX names; the parser reads them from
        // the inputs.
        let floats = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        if let Some(roi) = &self.roi {
            attrs.floats("roi", &floats(roi));
        }
        match &self.target {
            Target::Scales(scales) => {
                attrs.floats("scales", &floats(scales));
            }
            Target::Sizes(sizes, policy) => {
                attrs.ints("sizes", sizes);
                if *policy != AspectPolicy::Stretch {
                    attrs.string("keep_aspect_ratio_policy", policy.onnx_name());
                }
            }
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype == DType::Bool {
            return Err(OpError::unsupported(format!(
                "implemented for numbers, not {x}"
            )));
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
        // Nearest neighbours (one whole tap per coordinate, none outside): rows copied.
        let nearest = per_out.iter().all(|&n| n == 1)
            && self
                .taps
                .iter()
                .flatten()
                .all(|&(i, w)| w == 1.0 && i != usize::MAX);
        if nearest {
            let axes = self.taps.iter().map(|axis| {
                let index = axis.iter().map(|&(i, _)| i);
                quote!(&[#(#index),*])
            });
            return Ok(quote! {
                rt::resize::resize_nearest::<#t>(#xe, #x_shape, &[#(#axes),*], y, #y_shape);
            });
        }
        // The runtime's float tokens spell a NaN or infinite extrapolation value, which
        // no literal can.
        let extrapolation = zant_runtime::tokens::Field::tokens(&self.extrapolation);
        Ok(quote! {
            rt::resize::resize::<#t>(#xe, #x_shape, &[#(#axes),*], &[#(#per_out),*], #extrapolation, y, #y_shape);
        })
    }
}

/// The taps of one axis: `(taps per output coordinate, the taps in output order)`.
fn axis_taps(
    spec: &AxisSpec,
    in_len: usize,
    out_len: usize,
    scale: f64,
    roi: (f64, f64),
) -> (usize, Vec<(usize, f64)>) {
    if in_len == out_len && scale == 1.0 && spec.transform != Transform::TfCropAndResize {
        return (1, (0..out_len).map(|i| (i, 1.0)).collect());
    }
    let mut rows: Vec<Vec<(usize, f64)>> = Vec::with_capacity(out_len);
    for x in 0..out_len {
        rows.push(output_taps(spec, in_len, out_len, scale, roi, x as f64));
    }
    let per_out = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut taps = Vec::with_capacity(out_len * per_out);
    for mut row in rows {
        // Pad with zero-weight taps so every coordinate has the same count.
        let filler = row.first().map_or((0, 0.0), |&(i, _)| (i, 0.0));
        row.resize(per_out, filler);
        taps.extend(row);
    }
    (per_out, taps)
}

/// The taps of output coordinate `x`, following `_interpolate_1d_with_x` of the ONNX
/// reference implementation.
fn output_taps(
    spec: &AxisSpec,
    in_len: usize,
    out_len: usize,
    scale: f64,
    roi: (f64, f64),
    x: f64,
) -> Vec<(usize, f64)> {
    let input_width = in_len as f64;
    let output_width = scale * input_width;
    let x_ori = match spec.transform {
        Transform::AlignCorners => {
            if output_width == 1.0 {
                0.0
            } else {
                x * (input_width - 1.0) / (output_width - 1.0)
            }
        }
        Transform::Asymmetric => x / scale,
        Transform::TfCropAndResize => {
            let v = if output_width == 1.0 {
                (roi.1 - roi.0) * (input_width - 1.0) / 2.0
            } else {
                x * (roi.1 - roi.0) * (input_width - 1.0) / (output_width - 1.0)
            } + roi.0 * (input_width - 1.0);
            if v < 0.0 || v > input_width - 1.0 {
                return vec![(usize::MAX, 0.0)];
            }
            v
        }
        Transform::PytorchHalfPixel => {
            if output_width == 1.0 {
                -0.5
            } else {
                (x + 0.5) / scale - 0.5
            }
        }
        Transform::HalfPixel => (x + 0.5) / scale - 0.5,
        Transform::TfHalfPixelForNn => (x + 0.5) / scale,
        Transform::HalfPixelSymmetric => {
            let adjustment = out_len as f64 / output_width;
            let offset = input_width / 2.0 * (1.0 - adjustment);
            offset + (x + 0.5) / scale - 0.5
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
                    NearestMode::RoundPreferFloor => (ratio <= 0.5, ratio > 0.5),
                    NearestMode::RoundPreferCeil => (ratio < 0.5, ratio >= 0.5),
                    NearestMode::Floor => (true, false),
                    NearestMode::Ceil => (false, true),
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
    taps
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    fn scales(values: &[f32]) -> Tensor {
        Tensor::new(vec![values.len()], Data::F32(values.to_vec()))
    }

    fn sizes(values: &[i64]) -> Tensor {
        Tensor::new(vec![values.len()], Data::I64(values.to_vec()))
    }

    #[test]
    fn emits() {
        // Nearest upsampling by 2, as exported detectors do it.
        insta::assert_snapshot!(node("Resize")
            .string("coordinate_transformation_mode", "asymmetric")
            .string("nearest_mode", "floor")
            .input("f32[1,1,2,2]")
            .omitted()
            .constant(scales(&[1.0, 1.0, 2.0, 2.0]))
            .emit(), @r#"
        Resize(f32[1,1,2,2]) mode="nearest" coordinate_transformation_mode="asymmetric" nearest_mode="floor" scales=[1.0,1.0,2.0,2.0] -> f32[1,1,4,4]
        rt::resize::resize_nearest::<
            f32,
        >(x0, &[1, 1, 2, 2], &[&[0], &[0], &[0, 0, 1, 1], &[0, 0, 1, 1]], y, &[1, 1, 4, 4]);
        "#);
        // Linear downsampling of the last axis to a size, listed by `axes`.
        insta::assert_snapshot!(node("Resize")
            .string("mode", "linear")
            .ints("axes", &[-1])
            .input("u8[1,5]")
            .omitted()
            .omitted()
            .constant(sizes(&[2]))
            .emit(), @r#"
        Resize(u8[1,5]) mode="linear" coordinate_transformation_mode="half_pixel" axes=[1] sizes=[2] -> u8[1,2]
        rt::resize::resize::<
            u8,
        >(
            x0,
            &[1, 5],
            &[&[(0, 1f64)], &[(0, 0.25f64), (1, 0.75f64), (3, 0.75f64), (4, 0.25f64)]],
            &[1, 2],
            0f64,
            y,
            &[1, 2],
        );
        "#);
        // Cubic, keeping the aspect ratio of sizes that ask for more.
        insta::assert_snapshot!(node("Resize")
            .string("mode", "cubic")
            .float("cubic_coeff_a", -0.5)
            .int("exclude_outside", 1)
            .string("keep_aspect_ratio_policy", "not_larger")
            .ints("axes", &[1, 2])
            .input("f32[1,2,2]")
            .omitted()
            .omitted()
            .constant(sizes(&[3, 4]))
            .emit(), @r#"
        Resize(f32[1,2,2]) mode="cubic" coordinate_transformation_mode="half_pixel" cubic_coeff_a=-0.5 exclude_outside=1 axes=[1,2] sizes=[3,4] keep_aspect_ratio_policy="not_larger" -> f32[1,3,3]
        rt::resize::resize::<
            f32,
        >(
            x0,
            &[1, 2, 2],
            &[
                &[(0, 1f64)],
                &[
                    (0, 1.0657894736842104f64),
                    (1, -0.06578947368421037f64),
                    (0, 0.5f64),
                    (1, 0.5f64),
                    (0, -0.06578947368421037f64),
                    (1, 1.0657894736842104f64),
                ],
                &[
                    (0, 1.0657894736842104f64),
                    (1, -0.06578947368421037f64),
                    (0, 0.5f64),
                    (1, 0.5f64),
                    (0, -0.06578947368421037f64),
                    (1, 1.0657894736842104f64),
                ],
            ],
            &[1, 2, 2],
            0f64,
            y,
            &[1, 3, 3],
        );
        "#);
        // A crop outside the input reads the extrapolation value.
        insta::assert_snapshot!(node("Resize")
            .string("mode", "linear")
            .string("coordinate_transformation_mode", "tf_crop_and_resize")
            .float("extrapolation_value", -1.0)
            .input("f32[1,3]")
            .constant(scales(&[0.0, 0.5, 1.0, 1.5]))
            .constant(scales(&[1.0, 1.0]))
            .emit(), @r#"
        Resize(f32[1,3]) mode="linear" coordinate_transformation_mode="tf_crop_and_resize" extrapolation_value=-1.0 roi=[0.0,0.5,1.0,1.5] scales=[1.0,1.0] -> f32[1,3]
        rt::resize::resize::<
            f32,
        >(
            x0,
            &[1, 3],
            &[&[(0, 1f64)], &[(1, 1f64), (2, 1f64), (rt::resize::OUTSIDE, 0f64)]],
            &[1, 1],
            -1f64,
            y,
            &[1, 3],
        );
        "#);
        // Opset 11's mode for nearest resizing of TensorFlow models.
        insta::assert_snapshot!(node("Resize")
            .opset(11)
            .string("coordinate_transformation_mode", "tf_half_pixel_for_nn")
            .input("f32[3]")
            .constant(scales(&[]))
            .constant(scales(&[2.0]))
            .emit(), @r#"
        Resize(f32[3]) mode="nearest" coordinate_transformation_mode="tf_half_pixel_for_nn" nearest_mode="round_prefer_floor" scales=[2.0] -> f32[6]
        rt::resize::resize_nearest::<f32>(x0, &[3], &[&[0, 1, 1, 2, 2, 2]], y, &[6]);
        "#);
        // A constant input folds.
        insta::assert_snapshot!(node("Resize")
            .string("mode", "linear")
            .string("coordinate_transformation_mode", "align_corners")
            .constant(Tensor::new(vec![2], Data::F32(vec![0.0, 3.0])))
            .omitted()
            .omitted()
            .constant(sizes(&[4]))
            .emit(), @r#"
        Resize(f32[2]) mode="linear" coordinate_transformation_mode="align_corners" sizes=[4] -> f32[4]
        folds to f32[4] [0.0, 1.0, 2.0, 3.0]
        "#);
    }

    #[test]
    fn upsamples() {
        insta::assert_snapshot!(node("Upsample").input("f32[1,1,2,2]").constant(scales(&[1.0, 1.0, 2.0, 1.5])).emit(), @r#"
        Upsample(f32[1,1,2,2]) mode="nearest" coordinate_transformation_mode="asymmetric" nearest_mode="floor" scales=[1.0,1.0,2.0,1.5] -> f32[1,1,4,3]
        rt::resize::resize_nearest::<
            f32,
        >(x0, &[1, 1, 2, 2], &[&[0], &[0], &[0, 0, 1, 1], &[0, 0, 1]], y, &[1, 1, 4, 3]);
        "#);
        insta::assert_snapshot!(node("Upsample").opset(7).string("mode", "linear").floats("scales", &[1.0, 2.0]).input("f32[2,2]").emit(), @r#"
        Upsample(f32[2,2]) mode="linear" coordinate_transformation_mode="asymmetric" scales=[1.0,2.0] -> f32[2,4]
        rt::resize::resize::<
            f32,
        >(
            x0,
            &[2, 2],
            &[
                &[(0, 1f64), (1, 1f64)],
                &[
                    (0, 1f64),
                    (0, 0f64),
                    (0, 0.5f64),
                    (1, 0.5f64),
                    (1, 1f64),
                    (1, 0f64),
                    (1, 0.5f64),
                    (1, 0.5f64),
                ],
            ],
            &[1, 2],
            0f64,
            y,
            &[2, 4],
        );
        "#);
        insta::assert_snapshot!(node("Upsample").input("f32[2]").input("f32[1]").emit(), @"parse: input 1 (scales) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("Upsample").input("f32[4]").constant(scales(&[0.5])).emit(), @"parse: scale 0.5 is not at least 1, as Upsample requires");
        insta::assert_snapshot!(node("Upsample").opset(8).string("mode", "cubic").floats("scales", &[2.0]).input("f32[4]").emit(), @"parse: attribute `mode`: `cubic` is not nearest or linear");
        insta::assert_snapshot!(node("Upsample").opset(8).input("f32[4]").emit(), @"parse: attribute `scales`: is required");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Resize")
            .string("mode", "area")
            .input("f32[1,1,2,2]")
            .omitted()
            .constant(scales(&[1.0, 1.0, 2.0, 2.0]))
            .emit(), @"parse: attribute `mode`: `area` is not one of nearest, linear, cubic");
        insta::assert_snapshot!(node("Resize")
            .string("coordinate_transformation_mode", "tf_half_pixel_for_nn")
            .input("f32[3]")
            .omitted()
            .constant(scales(&[2.0]))
            .emit(), @"parse: attribute `coordinate_transformation_mode`: tf_half_pixel_for_nn was removed in opset 13");
        insta::assert_snapshot!(node("Resize")
            .input("f32[1,1,2,2]")
            .omitted()
            .input("f32[4]")
            .emit(), @"parse: input 2 (scales) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("Resize")
            .input("f32[1,1,2,2]")
            .omitted()
            .constant(scales(&[2.0, 2.0]))
            .emit(), @"parse: 2 scales for 4 axes");
    }
}
