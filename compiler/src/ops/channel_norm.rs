//! InstanceNormalization (opset 6 on), GroupNormalization (opset 18 on) and LRN (opset 1
//! on): normalisations across the spatial positions of one channel or of a group of
//! channels, or across neighbouring channels of one position, of an `f32` NCHW tensor
//! (any number of spatial dims).

use proc_macro2::TokenStream;
use quote::quote;

use super::f32_tokens;
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
        let (xe, scale, bias, eps) = (
            &x.expr,
            ctx.expr(1)?,
            ctx.expr(2)?,
            f32_tokens(self.epsilon),
        );
        Ok(quote! { rt::norm::group_norm(#c, #c, #spatial, #eps, #xe, #scale, #bias, y); })
    }
}

/// GroupNormalization: `scale` and `bias` hold one value per channel from opset 21 on,
/// one per group in opset 18 (which opset 21 deprecated).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupNorm {
    pub epsilon: f32,
    pub groups: usize,
    pub per_channel: bool,
}

impl Parse for GroupNorm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let groups = ctx
            .attr("num_groups")
            .map(|_| ctx.int("num_groups", 0))
            .transpose()?
            .ok_or_else(|| OpError::attr("num_groups", "is required"))?;
        let groups = usize::try_from(groups)
            .ok()
            .filter(|&g| g > 0)
            .ok_or_else(|| {
                OpError::attr("num_groups", format!("{groups} is not a positive count"))
            })?;
        // The precision of the statistics for inputs narrower than f32; the input here
        // is f32, whose statistics are f32 sums.
        let stash = ctx.int("stash_type", 1)?;
        if stash != 1 {
            return Err(OpError::unsupported(format!(
                "stash_type {stash}: only 1 (statistics in float32) is implemented"
            )));
        }
        Ok(Self {
            epsilon: ctx.float("epsilon", 1e-5)?,
            groups,
            per_channel: ctx.opset >= 21,
        })
    }
}

impl OpKind for GroupNorm {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("num_groups", self.groups as i64)
            .float("epsilon", self.epsilon);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let (c, _) = channels_and_spatial(x)?;
        if !c.is_multiple_of(self.groups) {
            return Err(OpError::shape(format!(
                "{c} channels do not split into {} groups of equal size",
                self.groups
            )));
        }
        let count = if self.per_channel { c } else { self.groups };
        for (i, what) in [(1, "scale"), (2, "bias")] {
            let t = required(inputs, i)?;
            if t.dtype != DType::F32 || t.shape != [count] {
                return Err(OpError::shape(format!(
                    "{what} is {t}; it must be f32[{count}] (one value per {})",
                    if self.per_channel {
                        "channel"
                    } else {
                        "group, before opset 21"
                    }
                )));
            }
        }
        Ok(vec![x.clone()])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (c, spatial) = channels_and_spatial(x.ty)?;
        let (xe, scale, bias, eps, groups) = (
            &x.expr,
            ctx.expr(1)?,
            ctx.expr(2)?,
            f32_tokens(self.epsilon),
            self.groups,
        );
        Ok(quote! { rt::norm::group_norm(#groups, #c, #spatial, #eps, #xe, #scale, #bias, y); })
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
        let (alpha, beta, bias) = (
            f32_tokens(self.alpha),
            f32_tokens(self.beta),
            f32_tokens(self.bias),
        );
        let (xe, size) = (&x.expr, self.size);
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
        rt::norm::group_norm(3, 3, 20, 0.00001f32, x0, x1, x2, y);
        ");
        insta::assert_snapshot!(node("LRN").int("size", 3).input("f32[2,4,5]").emit(), @"
        LRN(f32[2,4,5]) size=3 alpha=0.0001 beta=0.75 bias=1.0 -> f32[2,4,5]
        rt::norm::lrn(4, 5, 3, 0.0001f32, 0.75f32, 1f32, x0, y);
        ");
        insta::assert_snapshot!(node("LRN").input("f32[2,4,5]").emit(), @"parse: attribute `size`: is required");
        // Non-finite attributes are the type's constants: a literal cannot be one, and
        // `proc_macro2` panicked on it (found by the fuzzer, on Adam's `beta`).
        insta::assert_snapshot!(node("InstanceNormalization").float("epsilon", f32::NAN).input("f32[1,3,4,5]").input("f32[3]").input("f32[3]").emit(), @"
        InstanceNormalization(f32[1,3,4,5], f32[3], f32[3]) epsilon=NaN -> f32[1,3,4,5]
        rt::norm::group_norm(3, 3, 20, f32::NAN, x0, x1, x2, y);
        ");
        insta::assert_snapshot!(node("LRN").int("size", 3).float("beta", f32::INFINITY).input("f32[2,4,5]").emit(), @"
        LRN(f32[2,4,5]) size=3 alpha=0.0001 beta=inf bias=1.0 -> f32[2,4,5]
        rt::norm::lrn(4, 5, 3, 0.0001f32, f32::INFINITY, 1f32, x0, y);
        ");
        insta::assert_snapshot!(node("GroupNormalization").opset(21).int("num_groups", 2).input("f32[1,4,3,3]").input("f32[4]").input("f32[4]").emit(), @"
        GroupNormalization(f32[1,4,3,3], f32[4], f32[4]) num_groups=2 epsilon=1e-5 -> f32[1,4,3,3]
        rt::norm::group_norm(2, 4, 9, 0.00001f32, x0, x1, x2, y);
        ");
        insta::assert_snapshot!(node("GroupNormalization").opset(18).int("num_groups", 2).input("f32[1,4,3,3]").input("f32[2]").input("f32[2]").emit(), @"
        GroupNormalization(f32[1,4,3,3], f32[2], f32[2]) num_groups=2 epsilon=1e-5 -> f32[1,4,3,3]
        rt::norm::group_norm(2, 4, 9, 0.00001f32, x0, x1, x2, y);
        ");
        insta::assert_snapshot!(node("GroupNormalization").opset(21).int("num_groups", 3).input("f32[1,4,3,3]").input("f32[4]").input("f32[4]").emit(), @"infer: 4 channels do not split into 3 groups of equal size");
        insta::assert_snapshot!(node("GroupNormalization").opset(21).int("num_groups", 2).input("f32[1,4,3,3]").input("f32[2]").input("f32[2]").emit(), @"infer: scale is f32[2]; it must be f32[4] (one value per channel)");
        insta::assert_snapshot!(node("GroupNormalization").opset(21).input("f32[1,4,3,3]").input("f32[4]").input("f32[4]").emit(), @"parse: attribute `num_groups`: is required");
        insta::assert_snapshot!(node("GroupNormalization").opset(21).int("num_groups", 2).int("stash_type", 11).input("f32[1,4,3,3]").input("f32[4]").input("f32[4]").emit(), @"parse: stash_type 11: only 1 (statistics in float32) is implemented");
        insta::assert_snapshot!(node("InstanceNormalization").input("f32[1,3,4]").input("f32[2]").input("f32[3]").emit(), @"infer: scale is f32[2]; it must be f32[3]");
        insta::assert_snapshot!(node("LRN").int("size", 3).input("i32[2,4]").emit(), @"infer: implemented for f32, not i32");
    }
}
