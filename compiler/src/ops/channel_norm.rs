//! InstanceNormalization (opset 6 on) and LRN (opset 1 on): normalisations across the
//! spatial positions of one channel, or across neighbouring channels of one position, of
//! an `f32` NCHW tensor (any number of spatial dims).

use proc_macro2::TokenStream;
use quote::quote;

use super::{required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

/// `[batch, channels, spatial]` of an NCHW `f32` input, or why it is not one.
fn channels_and_spatial(x: &TensorType) -> Result<(usize, usize), OpError> {
    if x.dtype != DType::F32 {
        return Err(OpError::unsupported(format!(
            "implemented for f32, not {}",
            x.dtype.name()
        )));
    }
    match x.shape.as_slice() {
        [_, c, rest @ ..] => Ok((*c, rest.iter().product())),
        _ => Err(OpError::shape(format!(
            "the input is {x}; it needs a batch and a channel axis"
        ))),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct InstanceNorm {
    pub epsilon: f32,
}

impl Parse for InstanceNorm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            epsilon: ctx.float("epsilon", 1e-5)?,
        })
    }
}

impl OpKind for InstanceNorm {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.float("epsilon", self.epsilon);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let (c, _) = channels_and_spatial(x)?;
        for (i, what) in [(1, "scale"), (2, "B")] {
            let t = required(inputs, i)?;
            if t.dtype != DType::F32 || t.shape != [c] {
                return Err(OpError::shape(format!(
                    "{what} is {t}; it must be f32[{c}]"
                )));
            }
        }
        Ok(vec![x.clone()])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (c, spatial) = channels_and_spatial(x.ty)?;
        let (xe, scale, bias, eps) = (&x.expr, ctx.expr(1)?, ctx.expr(2)?, self.epsilon);
        Ok(quote! { rt::norm::instance_norm(#c, #spatial, #eps, #xe, #scale, #bias, y); })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lrn {
    pub size: usize,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

impl Parse for Lrn {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let size = ctx
            .attr("size")
            .map(|_| ctx.int("size", 0))
            .transpose()?
            .ok_or_else(|| OpError::attr("size", "is required"))?;
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| OpError::attr("size", format!("{size} is not a positive count")))?;
        Ok(Self {
            size,
            alpha: ctx.float("alpha", 1e-4)?,
            beta: ctx.float("beta", 0.75)?,
            bias: ctx.float("bias", 1.0)?,
        })
    }
}

impl OpKind for Lrn {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("size", self.size as i64)
            .float("alpha", self.alpha)
            .float("beta", self.beta)
            .float("bias", self.bias);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        channels_and_spatial(x)?;
        Ok(vec![x.clone()])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (c, spatial) = channels_and_spatial(x.ty)?;
        let (xe, size, alpha, beta, bias) = (&x.expr, self.size, self.alpha, self.beta, self.bias);
        Ok(quote! { rt::norm::lrn(#c, #spatial, #size, #alpha, #beta, #bias, #xe, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("InstanceNormalization").input("f32[1,3,4,5]").input("f32[3]").input("f32[3]").emit(), @"
        InstanceNormalization(f32[1,3,4,5], f32[3], f32[3]) epsilon=1e-5 -> f32[1,3,4,5]
        rt::norm::instance_norm(3, 20, 0.00001f32, x0, x1, x2, y);
        ");
        insta::assert_snapshot!(node("LRN").int("size", 3).input("f32[2,4,5]").emit(), @"
        LRN(f32[2,4,5]) size=3 alpha=0.0001 beta=0.75 bias=1.0 -> f32[2,4,5]
        rt::norm::lrn(4, 5, 3, 0.0001f32, 0.75f32, 1f32, x0, y);
        ");
        insta::assert_snapshot!(node("LRN").input("f32[2,4,5]").emit(), @"parse: attribute `size`: is required");
        insta::assert_snapshot!(node("InstanceNormalization").input("f32[1,3,4]").input("f32[2]").input("f32[3]").emit(), @"infer: scale is f32[2]; it must be f32[3]");
        insta::assert_snapshot!(node("LRN").int("size", 3).input("i32[2,4]").emit(), @"infer: implemented for f32, not i32");
    }
}
