//! CausalConvWithState (opset 27): a causal depthwise 1-D convolution of `f32[batch,
//! channels, len]` whose first `k − 1` inputs come from a carried state, with an optional
//! bias and a fused SiLU, and the new state as a second output
//! (`rt::conv::causal_conv_with_state`).

use proc_macro2::TokenStream;
use quote::quote;

use super::{required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct CausalConv {
    /// `activation` is `silu` or `swish` (the same function), not `none`.
    pub swish: bool,
}

impl Parse for CausalConv {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let swish = match ctx.string("activation", "none")?.as_str() {
            "none" => false,
            "silu" | "swish" => true,
            other => {
                return Err(OpError::attr(
                    "activation",
                    format!("`{other}` is not none, silu or swish"),
                ))
            }
        };
        Ok(Self { swish })
    }
}

/// `(batch, channels, len, k)` of the node, after checking every operand's type.
fn geometry(inputs: &[Option<&TensorType>]) -> Result<(usize, usize, usize, usize), OpError> {
    let (x, w) = (required(inputs, 0)?, required(inputs, 1)?);
    if x.dtype != DType::F32 {
        return Err(OpError::unsupported(format!(
            "implemented for f32, not {}",
            x.dtype
        )));
    }
    let &[batch, channels, len] = x.shape.as_slice() else {
        return Err(OpError::shape(format!(
            "the input is {x}; it must be [batch, channels, length]"
        )));
    };
    let k = match w.shape.as_slice() {
        &[c, 1, k] if c == channels && k > 0 && w.dtype == DType::F32 => k,
        _ => {
            return Err(OpError::shape(format!(
                "the weight is {w}; it must be f32[{channels},1,k] with k ≥ 1"
            )))
        }
    };
    let optional = |i: usize| inputs.get(i).copied().flatten();
    if let Some(b) = optional(2) {
        if b.dtype != DType::F32 || b.shape != [channels] {
            return Err(OpError::shape(format!(
                "the bias is {b}; it must be f32[{channels}]"
            )));
        }
    }
    if let Some(p) = optional(3) {
        if p.dtype != DType::F32 || p.shape != [batch, channels, k - 1] {
            return Err(OpError::shape(format!(
                "past_state is {p}; it must be f32[{batch},{channels},{}]",
                k - 1
            )));
        }
    }
    Ok((batch, channels, len, k))
}

impl OpKind for CausalConv {
    fn attrs(&self, attrs: &mut Attrs) {
        if self.swish {
            attrs.string("activation", "silu");
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (batch, channels, len, k) = geometry(inputs)?;
        Ok(vec![
            TensorType::new(DType::F32, vec![batch, channels, len]),
            TensorType::new(DType::F32, vec![batch, channels, k - 1]),
        ])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (batch, channels, len, k) = geometry(&ctx.input_types())?;
        let (x, w) = (ctx.expr(0)?, ctx.expr(1)?);
        let (bias, past, swish) = (ctx.optional_expr(2), ctx.optional_expr(3), self.swish);
        Ok(quote! {
            rt::conv::causal_conv_with_state(
                (#batch, #channels, #len, #k), #x, #w, #bias, #past, #swish, y, y1,
            );
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("CausalConvWithState").opset(27).outputs(2).string("activation", "silu")
            .input("f32[1,4,8]").input("f32[4,1,3]").input("f32[4]").input("f32[1,4,2]").emit(), @r#"
        CausalConvWithState(f32[1,4,8], f32[4,1,3], f32[4], f32[1,4,2]) activation="silu" -> f32[1,4,8], f32[1,4,2]
        rt::conv::causal_conv_with_state(
            (1, 4, 8, 3),
            x0,
            x1,
            Some(x2),
            Some(x3),
            true,
            y,
            y1,
        );
        "#);
        insta::assert_snapshot!(node("CausalConvWithState").opset(27).outputs(2)
            .input("f32[1,4,8]").input("f32[4,1,3]").emit(), @"
        CausalConvWithState(f32[1,4,8], f32[4,1,3]) -> f32[1,4,8], f32[1,4,2]
        rt::conv::causal_conv_with_state((1, 4, 8, 3), x0, x1, None, None, false, y, y1);
        ");
        insta::assert_snapshot!(node("CausalConvWithState").opset(27).outputs(2)
            .input("f32[1,4,8]").input("f32[4,1,3]").input("f32[4]").input("f32[1,4,3]").emit(), @"infer: past_state is f32[1,4,3]; it must be f32[1,4,2]");
        insta::assert_snapshot!(node("CausalConvWithState").opset(27).outputs(2).string("activation", "gelu")
            .input("f32[1,4,8]").input("f32[4,1,3]").emit(), @"parse: attribute `activation`: `gelu` is not none, silu or swish");
        insta::assert_snapshot!(node("CausalConvWithState").opset(27).outputs(2)
            .input("f32[1,4,8]").input("f32[3,1,3]").emit(), @"infer: the weight is f32[3,1,3]; it must be f32[4,1,k] with k ≥ 1");
    }
}
