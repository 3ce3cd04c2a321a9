//! Element-wise f32 activations and math: Relu, Sigmoid, Tanh, LeakyRelu, Elu, HardSigmoid,
//! HardSwish, Exp, Log, Sqrt, Abs, Neg (opset 6 on; later opsets only add types).

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::elementwise::UnaryOp;

use super::{f32_tokens, EmitCtx, FoldCtx, OpKind, ParseCtx};
use crate::ir::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Unary {
    pub op: UnaryOp,
}

/// The runtime expression for a unary op.
pub fn op_tokens(op: UnaryOp) -> Result<TokenStream, String> {
    Ok(match op {
        UnaryOp::Relu => quote!(Relu),
        UnaryOp::Sigmoid => quote!(Sigmoid),
        UnaryOp::Tanh => quote!(Tanh),
        UnaryOp::Exp => quote!(Exp),
        UnaryOp::Log => quote!(Log),
        UnaryOp::Sqrt => quote!(Sqrt),
        UnaryOp::Abs => quote!(Abs),
        UnaryOp::Neg => quote!(Neg),
        UnaryOp::HardSwish => quote!(HardSwish),
        UnaryOp::LeakyRelu { alpha } => {
            let alpha = f32_tokens(alpha);
            quote!(LeakyRelu { alpha: #alpha })
        }
        UnaryOp::Elu { alpha } => {
            let alpha = f32_tokens(alpha);
            quote!(Elu { alpha: #alpha })
        }
        UnaryOp::HardSigmoid { alpha, beta } => {
            let (alpha, beta) = (f32_tokens(alpha), f32_tokens(beta));
            quote!(HardSigmoid { alpha: #alpha, beta: #beta })
        }
        UnaryOp::Clip { min, max } => {
            let (min, max) = (f32_tokens(min), f32_tokens(max));
            quote!(Clip { min: #min, max: #max })
        }
        other => return Err(format!("no emitter for {other:?}")),
    })
}

impl OpKind for Unary {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, String> {
        let op = match ctx.op_type {
            "Relu" => UnaryOp::Relu,
            "Sigmoid" => UnaryOp::Sigmoid,
            "Tanh" => UnaryOp::Tanh,
            "Exp" => UnaryOp::Exp,
            "Log" => UnaryOp::Log,
            "Sqrt" => UnaryOp::Sqrt,
            "Abs" => UnaryOp::Abs,
            "Neg" => UnaryOp::Neg,
            "HardSwish" => UnaryOp::HardSwish,
            "LeakyRelu" => UnaryOp::LeakyRelu {
                alpha: ctx.float("alpha", 0.01)?,
            },
            "Elu" => UnaryOp::Elu {
                alpha: ctx.float("alpha", 1.0)?,
            },
            "HardSigmoid" => UnaryOp::HardSigmoid {
                alpha: ctx.float("alpha", 0.2)?,
                beta: ctx.float("beta", 0.5)?,
            },
            other => return Err(format!("`{other}` is not a unary op")),
        };
        Ok(Self { op })
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, String> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        if x.dtype != DType::F32 {
            return Err(format!(
                "{:?} is implemented for f32, not {}",
                self.op, x.dtype
            ));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, String> {
        let x = ctx.get(0)?;
        let xs = x.as_f32().ok_or("expected f32")?;
        let mut y = vec![0.0; xs.len()];
        zant_runtime::elementwise::unary(self.op, xs, &mut y);
        Ok(Some(vec![Tensor::new(x.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, String> {
        emit_unary(self.op, ctx)
    }

    fn in_place_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

/// Emits a unary kernel call, in place when the plan allows it.
pub fn emit_unary(op: UnaryOp, ctx: &EmitCtx<'_>) -> Result<TokenStream, String> {
    let op = op_tokens(op)?;
    if ctx.in_place == Some(0) {
        return Ok(quote! { rt::elementwise::unary_in_place(rt::elementwise::UnaryOp::#op, y); });
    }
    let x = ctx.expr(0)?;
    Ok(quote! { rt::elementwise::unary(rt::elementwise::UnaryOp::#op, #x, y); })
}
