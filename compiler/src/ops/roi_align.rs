//! RoiAlign (opset 10; 16 adds `coordinate_transformation_mode`, whose default becomes
//! `half_pixel`): a fixed grid of bins over each region of interest of one image's
//! feature map, each bin the average or the maximum of bilinear samples
//! (`rt::roi::roi_align`, ONNX Runtime's arithmetic). The regions and their images are
//! data; an image index outside the batch is a run-time error.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::roi::RoiAlign as Geometry;

use super::{checked_elems, required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct RoiAlign {
    pub out_h: usize,
    pub out_w: usize,
    pub sampling_ratio: usize,
    pub spatial_scale: f32,
    pub half_pixel: bool,
    pub max: bool,
}

impl Parse for RoiAlign {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let default_mode = if ctx.opset >= 16 {
            "half_pixel"
        } else {
            "output_half_pixel"
        };
        let half_pixel = match ctx.string("coordinate_transformation_mode", default_mode)? {
            m if m == "half_pixel" => true,
            m if m == "output_half_pixel" => false,
            m => {
                return Err(OpError::attr(
                    "coordinate_transformation_mode",
                    format!("`{m}` is not half_pixel or output_half_pixel"),
                ))
            }
        };
        let max = match ctx.string("mode", "avg")?.as_str() {
            "avg" => false,
            "max" => true,
            m => return Err(OpError::attr("mode", format!("`{m}` is not avg or max"))),
        };
        let positive = |name: &'static str, default: i64, least: i64| {
            let v = ctx.int(name, default)?;
            usize::try_from(v)
                .ok()
                .filter(|&v| v as i64 >= least)
                .ok_or_else(|| OpError::attr(name, format!("{v} is below {least}")))
        };
        let spatial_scale = ctx.float("spatial_scale", 1.0)?;
        if !spatial_scale.is_finite() {
            return Err(OpError::attr(
                "spatial_scale",
                format!("{spatial_scale} is not finite"),
            ));
        }
        Ok(Self {
            out_h: positive("output_height", 1, 1)?,
            out_w: positive("output_width", 1, 1)?,
            sampling_ratio: positive("sampling_ratio", 0, 0)?,
            spatial_scale,
            half_pixel,
            max,
        })
    }
}

impl RoiAlign {
    fn geometry(&self, inputs: &[Option<&TensorType>]) -> Result<Geometry, OpError> {
        let (x, rois, batch_indices) = (
            required(inputs, 0)?,
            required(inputs, 1)?,
            required(inputs, 2)?,
        );
        let (&[batch, channels, height, width], &[regions, 4]) =
            (x.shape.as_slice(), rois.shape.as_slice())
        else {
            return Err(OpError::shape(format!(
                "X must be [N, C, H, W] and rois [regions, 4]; got {x} and {rois}"
            )));
        };
        if x.dtype != DType::F32 || rois.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "RoiAlign is implemented for f32, not {x} and {rois}"
            )));
        }
        if !matches!(batch_indices.dtype, DType::I64) || batch_indices.shape != [regions] {
            return Err(OpError::shape(format!(
                "batch_indices must be i64[{regions}]; got {batch_indices}"
            )));
        }
        Ok(Geometry {
            batch,
            channels,
            height,
            width,
            regions,
            out_h: self.out_h,
            out_w: self.out_w,
            sampling_ratio: self.sampling_ratio,
            spatial_scale: self.spatial_scale,
            half_pixel: self.half_pixel,
            max: self.max,
        })
    }
}

impl OpKind for RoiAlign {
    fn attrs(&self, attrs: &mut Attrs) {
        let mode = if self.half_pixel {
            "half_pixel"
        } else {
            "output_half_pixel"
        };
        attrs
            .string("coordinate_transformation_mode", mode)
            .string("mode", if self.max { "max" } else { "avg" })
            .int("output_height", self.out_h as i64)
            .int("output_width", self.out_w as i64)
            .int("sampling_ratio", self.sampling_ratio as i64)
            .float("spatial_scale", self.spatial_scale);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let g = self.geometry(inputs)?;
        let shape = vec![g.regions, g.channels, g.out_h, g.out_w];
        checked_elems(&shape)?;
        Ok(vec![TensorType::new(DType::F32, shape)])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let g = self.geometry(&ctx.input_types())?;
        let (x, rois, indices) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let try_ = ctx.try_suffix();
        Ok(quote! { rt::roi::roi_align(&#g, #x, #rois, #indices, y) #try_; })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("RoiAlign").opset(16).int("output_height", 2).int("output_width", 3)
            .string("mode", "max").float("spatial_scale", 0.25)
            .input("f32[1,4,8,8]").input("f32[3,4]").input("i64[3]").emit(), @r#"
        RoiAlign(f32[1,4,8,8], f32[3,4], i64[3]) coordinate_transformation_mode="half_pixel" mode="max" output_height=2 output_width=3 sampling_ratio=0 spatial_scale=0.25 -> f32[3,4,2,3]
        rt::roi::roi_align(
                &rt::roi::RoiAlign {
                    batch: 1,
                    channels: 4,
                    height: 8,
                    width: 8,
                    regions: 3,
                    out_h: 2,
                    out_w: 3,
                    sampling_ratio: 0,
                    spatial_scale: 0.25f32,
                    half_pixel: true,
                    max: true,
                },
                x0,
                x1,
                x2,
                y,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("RoiAlign").opset(10).int("sampling_ratio", 2)
            .input("f32[2,1,5,5]").input("f32[1,4]").input("i64[1]").emit(), @r#"
        RoiAlign(f32[2,1,5,5], f32[1,4], i64[1]) coordinate_transformation_mode="output_half_pixel" mode="avg" output_height=1 output_width=1 sampling_ratio=2 spatial_scale=1.0 -> f32[1,1,1,1]
        rt::roi::roi_align(
                &rt::roi::RoiAlign {
                    batch: 2,
                    channels: 1,
                    height: 5,
                    width: 5,
                    regions: 1,
                    out_h: 1,
                    out_w: 1,
                    sampling_ratio: 2,
                    spatial_scale: 1f32,
                    half_pixel: false,
                    max: false,
                },
                x0,
                x1,
                x2,
                y,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("RoiAlign").opset(16).string("mode", "sum")
            .input("f32[1,4,8,8]").input("f32[3,4]").input("i64[3]").emit(), @"parse: attribute `mode`: `sum` is not avg or max");
        insta::assert_snapshot!(node("RoiAlign").opset(16).string("coordinate_transformation_mode", "align_corners")
            .input("f32[1,4,8,8]").input("f32[3,4]").input("i64[3]").emit(), @"parse: attribute `coordinate_transformation_mode`: `align_corners` is not half_pixel or output_half_pixel");
        insta::assert_snapshot!(node("RoiAlign").opset(16).int("output_height", 0)
            .input("f32[1,4,8,8]").input("f32[3,4]").input("i64[3]").emit(), @"parse: attribute `output_height`: 0 is below 1");
        insta::assert_snapshot!(node("RoiAlign").opset(16)
            .input("f32[1,4,8,8]").input("f32[3,5]").input("i64[3]").emit(), @"infer: X must be [N, C, H, W] and rois [regions, 4]; got f32[1,4,8,8] and f32[3,5]");
        insta::assert_snapshot!(node("RoiAlign").opset(16)
            .input("f32[1,4,8,8]").input("f32[3,4]").input("i32[3]").emit(), @"infer: batch_indices must be i64[3]; got i32[3]");
        insta::assert_snapshot!(node("RoiAlign").opset(16)
            .input("i8[1,4,8,8]").input("f32[3,4]").input("i64[3]").emit(), @"infer: RoiAlign is implemented for f32, not i8[1,4,8,8] and f32[3,4]");
    }
}
