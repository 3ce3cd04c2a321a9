//! DeformConv (opset 19; 22 adds types): a 2-D convolution whose taps move by the
//! offsets of its third input, each tap a bilinear sample (zeros outside the input),
//! optionally scaled by a mask (`rt::conv::deform_conv2d`, scalar). Over 2 spatial dims,
//! f32.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::conv::DeformConv as Geometry;

use super::window::resolve;
use super::{checked_elems, required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct DeformConv {
    pub geometry: Geometry,
    /// The bottom and right padding (the geometry holds the top and left).
    pub pads_end: [usize; 2],
}

impl Parse for DeformConv {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (x, w) = (ctx.input(0)?, ctx.input(1)?);
        let (&[batch, in_channels, height, width], &[out_channels, per_group, kh, kw]) =
            (x.shape.as_slice(), w.shape.as_slice())
        else {
            return Err(OpError::unsupported(format!(
                "DeformConv is implemented over 2 spatial dims: X [N, C, H, W] and W \
                 [M, C/group, kH, kW]; got {x} and {w}"
            )));
        };
        let kernel = match ctx.ints("kernel_shape")? {
            None => vec![kh, kw],
            Some(k) if k == [kh as i64, kw as i64] => vec![kh, kw],
            Some(k) => {
                return Err(OpError::attr(
                    "kernel_shape",
                    format!("{k:?} does not match the weights {w}"),
                ))
            }
        };
        let win = resolve(ctx, &[height, width], kernel, false)?;
        let count = |name: &'static str| {
            let v = ctx.int(name, 1)?;
            usize::try_from(v)
                .ok()
                .filter(|&v| v >= 1)
                .ok_or_else(|| OpError::attr(name, format!("{v} is not positive")))
        };
        let (groups, offset_groups) = (count("group")?, count("offset_group")?);
        if in_channels != per_group * groups
            || !out_channels.is_multiple_of(groups)
            || !in_channels.is_multiple_of(offset_groups)
        {
            return Err(OpError::shape(format!(
                "{in_channels} input and {out_channels} output channels do not split into \
                 {groups} groups of {per_group} inputs (W {w}) and {offset_groups} offset \
                 groups"
            )));
        }
        Ok(Self {
            geometry: Geometry {
                batch,
                in_channels,
                height,
                width,
                out_channels,
                out_h: win.out[0],
                out_w: win.out[1],
                kernel: [kh, kw],
                strides: [win.strides[0], win.strides[1]],
                dilations: [win.dilations[0], win.dilations[1]],
                pads: [win.pads_begin[0], win.pads_begin[1]],
                groups,
                offset_groups,
            },
            pads_end: [win.pads_end[0], win.pads_end[1]],
        })
    }
}

impl OpKind for DeformConv {
    fn attrs(&self, attrs: &mut Attrs) {
        let g = &self.geometry;
        let pads = [g.pads[0], g.pads[1], self.pads_end[0], self.pads_end[1]];
        attrs
            .usizes("kernel_shape", &g.kernel)
            .usizes("strides", &g.strides)
            .usizes("dilations", &g.dilations)
            .usizes("pads", &pads)
            .int("group", g.groups as i64)
            .int("offset_group", g.offset_groups as i64);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let g = &self.geometry;
        let taps = g.kernel[0] * g.kernel[1];
        let spatial = [g.out_h, g.out_w];
        let expect = |i: usize, name: &str, shape: Vec<usize>| -> Result<(), OpError> {
            let Some(t) = inputs.get(i).copied().flatten() else {
                return Ok(());
            };
            let want = TensorType::new(DType::F32, shape);
            if *t != want {
                return Err(OpError::unsupported(format!(
                    "{name} is {t}; DeformConv takes it as {want}"
                )));
            }
            Ok(())
        };
        let x = required(inputs, 0)?;
        expect(0, "X", vec![g.batch, g.in_channels, g.height, g.width])?;
        expect(1, "W", required(inputs, 1)?.shape.clone())?;
        let per_offset = vec![g.batch, g.offset_groups * taps * 2, g.out_h, g.out_w];
        required(inputs, 2)?;
        expect(2, "offset", per_offset)?;
        expect(3, "B", vec![g.out_channels])?;
        expect(
            4,
            "mask",
            vec![g.batch, g.offset_groups * taps, spatial[0], spatial[1]],
        )?;
        let shape = vec![x.shape[0], g.out_channels, g.out_h, g.out_w];
        checked_elems(&shape)?;
        Ok(vec![TensorType::new(DType::F32, shape)])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let g = self.geometry;
        let (x, w, offset) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let (bias, mask) = (ctx.optional_expr(3), ctx.optional_expr(4));
        Ok(quote! { rt::conv::deform_conv2d(&#g, #x, #w, #offset, #bias, #mask, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("DeformConv").opset(19).ints("pads", &[1, 1, 1, 1])
            .input("f32[1,2,4,4]").input("f32[3,2,3,3]").input("f32[1,18,4,4]").input("f32[3]").emit(), @r#"
        DeformConv(f32[1,2,4,4], f32[3,2,3,3], f32[1,18,4,4], f32[3]) kernel_shape=[3,3] strides=[1,1] dilations=[1,1] pads=[1,1,1,1] group=1 offset_group=1 -> f32[1,3,4,4]
        rt::conv::deform_conv2d(
            &rt::conv::DeformConv {
                batch: 1,
                in_channels: 2,
                height: 4,
                width: 4,
                out_channels: 3,
                out_h: 4,
                out_w: 4,
                kernel: [3, 3],
                strides: [1, 1],
                dilations: [1, 1],
                pads: [1, 1],
                groups: 1,
                offset_groups: 1,
            },
            x0,
            x1,
            x2,
            Some(x3),
            None,
            y,
        );
        "#);
        insta::assert_snapshot!(node("DeformConv").opset(22).int("group", 2).int("offset_group", 2)
            .ints("strides", &[2, 2])
            .input("f32[1,4,5,5]").input("f32[2,2,2,2]").input("f32[1,16,2,2]").omitted().input("f32[1,8,2,2]").emit(), @r#"
        DeformConv(f32[1,4,5,5], f32[2,2,2,2], f32[1,16,2,2], _, f32[1,8,2,2]) kernel_shape=[2,2] strides=[2,2] dilations=[1,1] pads=[0,0,0,0] group=2 offset_group=2 -> f32[1,2,2,2]
        rt::conv::deform_conv2d(
            &rt::conv::DeformConv {
                batch: 1,
                in_channels: 4,
                height: 5,
                width: 5,
                out_channels: 2,
                out_h: 2,
                out_w: 2,
                kernel: [2, 2],
                strides: [2, 2],
                dilations: [1, 1],
                pads: [0, 0],
                groups: 2,
                offset_groups: 2,
            },
            x0,
            x1,
            x2,
            None,
            Some(x4),
            y,
        );
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("DeformConv").opset(19)
            .input("f32[1,2,4,4]").input("f32[3,2,3,3]").input("f32[1,9,2,2]").emit(), @"infer: offset is f32[1,9,2,2]; DeformConv takes it as f32[1,18,2,2]");
        insta::assert_snapshot!(node("DeformConv").opset(19).int("offset_group", 3)
            .input("f32[1,2,4,4]").input("f32[3,2,3,3]").input("f32[1,18,2,2]").emit(), @"parse: 2 input and 3 output channels do not split into 1 groups of 2 inputs (W f32[3,2,3,3]) and 3 offset groups");
        insta::assert_snapshot!(node("DeformConv").opset(19)
            .input("f32[1,2,4]").input("f32[3,2,3]").input("f32[1,6,2]").emit(), @"parse: DeformConv is implemented over 2 spatial dims: X [N, C, H, W] and W [M, C/group, kH, kW]; got f32[1,2,4] and f32[3,2,3]");
        insta::assert_snapshot!(node("DeformConv").opset(19).int("group", 0)
            .input("f32[1,2,4,4]").input("f32[3,2,3,3]").input("f32[1,18,2,2]").emit(), @"parse: attribute `group`: 0 is not positive");
    }
}
