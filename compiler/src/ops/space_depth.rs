//! DepthToSpace (opset 1; `mode` DCR or CRD since 11) and SpaceToDepth (opset 1; `mode`
//! since 28): moves `blocksize × blocksize` blocks between the channel and spatial dims of
//! an NCHW tensor, as a 6-D transpose.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct SpaceDepth {
    pub blocksize: usize,
    /// `mode` CRD (channel, then block offset) rather than the default DCR.
    pub crd: bool,
    /// The input viewed as 6-D, and the permutation that produces the output.
    pub view: Vec<usize>,
    pub perm: Vec<usize>,
    pub out_shape: Vec<usize>,
}

impl Parse for SpaceDepth {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let b = ctx.int("blocksize", 0)?;
        let b = usize::try_from(b)
            .ok()
            .filter(|&b| b > 0)
            .ok_or_else(|| OpError::attr("blocksize", format!("{b} is not positive")))?;
        let crd = match ctx.string("mode", "DCR")?.as_str() {
            "DCR" => false,
            "CRD" => true,
            other => {
                return Err(OpError::attr(
                    "mode",
                    format!("`{other}` is not DCR or CRD"),
                ))
            }
        };
        let [n, c, h, w] = x.shape[..] else {
            return Err(OpError::shape(format!("the input should be NCHW, not {x}")));
        };
        // A huge block over an empty tensor divides evenly, but its products overflow.
        let times = |a: usize, b: usize| {
            a.checked_mul(b)
                .ok_or_else(|| OpError::unsupported(format!("blocksize {b} is too large for {x}")))
        };
        let (view, perm, out_shape) = if ctx.op_type == "DepthToSpace" {
            let block = b
                .checked_mul(b)
                .filter(|&block| c % block == 0)
                .ok_or_else(|| OpError::shape(format!("{c} channels do not divide by {b}²")))?;
            let c2 = c / block;
            let (view, perm) = if crd {
                (vec![n, c2, b, b, h, w], vec![0, 1, 4, 2, 5, 3])
            } else {
                (vec![n, b, b, c2, h, w], vec![0, 3, 4, 1, 5, 2])
            };
            (view, perm, vec![n, c2, times(h, b)?, times(w, b)?])
        } else {
            if h % b != 0 || w % b != 0 {
                return Err(OpError::shape(format!("{h}×{w} does not divide by {b}")));
            }
            // DCR puts the block offset before the channel, CRD (opset 28) after it.
            let perm = if crd {
                vec![0, 1, 3, 5, 2, 4]
            } else {
                vec![0, 3, 5, 1, 2, 4]
            };
            (
                vec![n, c, h / b, b, w / b, b],
                perm,
                vec![n, times(times(c, b)?, b)?, h / b, w / b],
            )
        };
        Ok(Self {
            blocksize: b,
            crd,
            view,
            perm,
            out_shape,
        })
    }
}

impl OpKind for SpaceDepth {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("blocksize", self.blocksize as i64);
        if self.crd {
            attrs.string("mode", "CRD");
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.n_elems() != self.view.iter().product::<usize>() {
            return Err(OpError::shape(format!(
                "{x} does not match the parsed geometry"
            )));
        }
        Ok(vec![TensorType::new(x.dtype, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let out = &ctx.outputs[0];
        let data = super::move_bytes(x, out, |xb, yb, size| {
            let mut view = self.view.clone();
            view.push(size);
            let mut perm = self.perm.clone();
            perm.push(6);
            zant_runtime::shape::transpose(xb, &view, &perm, yb);
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let (view, perm) = (shape_tokens(&self.view), shape_tokens(&self.perm));
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::shape::transpose::<#t>(#xe, #view, #perm, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("DepthToSpace").int("blocksize", 2).input("f32[1,8,2,3]").emit(), @"
        DepthToSpace(f32[1,8,2,3]) blocksize=2 -> f32[1,2,4,6]
        rt::shape::transpose::<f32>(x0, &[1, 2, 2, 2, 2, 3], &[0, 3, 4, 1, 5, 2], y);
        ");
        insta::assert_snapshot!(node("DepthToSpace").int("blocksize", 2).string("mode", "CRD").input("f32[1,8,2,3]").emit(), @r#"
        DepthToSpace(f32[1,8,2,3]) blocksize=2 mode="CRD" -> f32[1,2,4,6]
        rt::shape::transpose::<f32>(x0, &[1, 2, 2, 2, 2, 3], &[0, 1, 4, 2, 5, 3], y);
        "#);
        insta::assert_snapshot!(node("SpaceToDepth").int("blocksize", 2).input("u8[1,1,4,6]").emit(), @"
        SpaceToDepth(u8[1,1,4,6]) blocksize=2 -> u8[1,4,2,3]
        rt::shape::transpose::<u8>(x0, &[1, 1, 2, 2, 3, 2], &[0, 3, 5, 1, 2, 4], y);
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("DepthToSpace").int("blocksize", 2).string("mode", "DRC").input("f32[1,8,2,3]").emit(), @"parse: attribute `mode`: `DRC` is not DCR or CRD");
        insta::assert_snapshot!(node("SpaceToDepth").int("blocksize", 2).input("f32[1,1,3,4]").emit(), @"parse: 3×4 does not divide by 2");
        insta::assert_snapshot!(node("SpaceToDepth").input("f32[1,1,4,4]").emit(), @"parse: attribute `blocksize`: 0 is not positive");
    }
}
