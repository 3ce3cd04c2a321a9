//! Element-wise f32 activations and math (opset 6 on, or the op's first opset; later
//! opsets only add types): Relu, Sigmoid, Tanh, LeakyRelu, Elu, Selu, Celu (12),
//! ThresholdedRelu (10), HardSigmoid, HardSwish (14), Softplus, Softsign, Mish (18),
//! Gelu (20; `approximate` none or tanh), Swish (24), Shrink (9), Exp, Log, Sqrt,
//! Reciprocal, Abs, Neg, Sign (9), Floor, Ceil, Round (11), Erf (9), and the trigonometric
//! and hyperbolic functions (7 and 9).

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
        UnaryOp::Reciprocal => quote!(Reciprocal),
        UnaryOp::Floor => quote!(Floor),
        UnaryOp::Ceil => quote!(Ceil),
        UnaryOp::Round => quote!(Round),
        UnaryOp::Sin => quote!(Sin),
        UnaryOp::Cos => quote!(Cos),
        UnaryOp::Tan => quote!(Tan),
        UnaryOp::Asin => quote!(Asin),
        UnaryOp::Acos => quote!(Acos),
        UnaryOp::Atan => quote!(Atan),
        UnaryOp::Sinh => quote!(Sinh),
        UnaryOp::Cosh => quote!(Cosh),
        UnaryOp::Asinh => quote!(Asinh),
        UnaryOp::Acosh => quote!(Acosh),
        UnaryOp::Atanh => quote!(Atanh),
        UnaryOp::Erf => quote!(Erf),
        UnaryOp::Softplus => quote!(Softplus),
        UnaryOp::Softsign => quote!(Softsign),
        UnaryOp::Sign => quote!(Sign),
        UnaryOp::Gelu => quote!(Gelu),
        UnaryOp::GeluTanh => quote!(GeluTanh),
        UnaryOp::Mish => quote!(Mish),
        UnaryOp::Identity => quote!(Identity),
        UnaryOp::Selu { alpha, gamma } => {
            let (alpha, gamma) = (f32_tokens(alpha), f32_tokens(gamma));
            quote!(Selu { alpha: #alpha, gamma: #gamma })
        }
        UnaryOp::Celu { alpha } => {
            let alpha = f32_tokens(alpha);
            quote!(Celu { alpha: #alpha })
        }
        UnaryOp::ThresholdedRelu { alpha } => {
            let alpha = f32_tokens(alpha);
            quote!(ThresholdedRelu { alpha: #alpha })
        }
        UnaryOp::Swish { alpha } => {
            let alpha = f32_tokens(alpha);
            quote!(Swish { alpha: #alpha })
        }
        UnaryOp::Shrink { bias, lambd } => {
            let (bias, lambd) = (f32_tokens(bias), f32_tokens(lambd));
            quote!(Shrink { bias: #bias, lambd: #lambd })
        }
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
            "Reciprocal" => UnaryOp::Reciprocal,
            "Floor" => UnaryOp::Floor,
            "Ceil" => UnaryOp::Ceil,
            "Round" => UnaryOp::Round,
            "Sin" => UnaryOp::Sin,
            "Cos" => UnaryOp::Cos,
            "Tan" => UnaryOp::Tan,
            "Asin" => UnaryOp::Asin,
            "Acos" => UnaryOp::Acos,
            "Atan" => UnaryOp::Atan,
            "Sinh" => UnaryOp::Sinh,
            "Cosh" => UnaryOp::Cosh,
            "Asinh" => UnaryOp::Asinh,
            "Acosh" => UnaryOp::Acosh,
            "Atanh" => UnaryOp::Atanh,
            "Erf" => UnaryOp::Erf,
            "Softplus" => UnaryOp::Softplus,
            "Softsign" => UnaryOp::Softsign,
            "Sign" => UnaryOp::Sign,
            "Mish" => UnaryOp::Mish,
            "Gelu" => match ctx.string("approximate", "none")?.as_str() {
                "none" => UnaryOp::Gelu,
                "tanh" => UnaryOp::GeluTanh,
                other => return Err(format!("approximate `{other}` is not none or tanh")),
            },
            "Selu" => UnaryOp::Selu {
                alpha: ctx.float("alpha", 1.673_263_2)?,
                gamma: ctx.float("gamma", 1.050_701)?,
            },
            "Celu" => UnaryOp::Celu {
                alpha: ctx.float("alpha", 1.0)?,
            },
            "ThresholdedRelu" => UnaryOp::ThresholdedRelu {
                alpha: ctx.float("alpha", 1.0)?,
            },
            "Swish" => UnaryOp::Swish {
                alpha: ctx.float("alpha", 1.0)?,
            },
            "Shrink" => UnaryOp::Shrink {
                bias: ctx.float("bias", 0.0)?,
                lambd: ctx.float("lambd", 0.5)?,
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
        if !supports(self.op, x.dtype) {
            return Err(format!(
                "{:?} is implemented for f32 and f64, not {}",
                self.op, x.dtype
            ));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, String> {
        let x = ctx.get(0)?;
        if let Some(xs) = x.as_f32() {
            let mut y = vec![0.0; xs.len()];
            zant_runtime::elementwise::unary(self.op, xs, &mut y);
            return Ok(Some(vec![Tensor::new(x.shape.clone(), Data::F32(y))]));
        }
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            zant_runtime::elementwise::unary_scalar(self.op, v, &mut y);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, String> {
        emit_unary(self.op, ctx)
    }

    fn in_place_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

/// Whether `op` is implemented for `dtype`: every op for f32 and f64 (f64 computes in
/// `f64`), and the exact integer ops (Abs, Neg, Sign, Relu, Clip) for integers.
pub fn supports(op: UnaryOp, dtype: DType) -> bool {
    match dtype {
        DType::F32 | DType::F64 => true,
        DType::Bool => false,
        _ => matches!(
            op,
            UnaryOp::Abs
                | UnaryOp::Neg
                | UnaryOp::Sign
                | UnaryOp::Relu
                | UnaryOp::Clip { .. }
                | UnaryOp::Identity
        ),
    }
}

/// Emits a unary kernel call, in place when the plan allows it.
pub fn emit_unary(op: UnaryOp, ctx: &EmitCtx<'_>) -> Result<TokenStream, String> {
    let dtype = ctx.out_ty().dtype;
    let op = op_tokens(op)?;
    if dtype != DType::F32 {
        let t = super::elem_type(dtype);
        if ctx.in_place == Some(0) {
            return Ok(
                quote! { rt::elementwise::unary_scalar_in_place::<#t>(rt::elementwise::UnaryOp::#op, y); },
            );
        }
        let x = ctx.expr(0)?;
        return Ok(
            quote! { rt::elementwise::unary_scalar::<#t>(rt::elementwise::UnaryOp::#op, #x, y); },
        );
    }
    if ctx.in_place == Some(0) {
        return Ok(quote! { rt::elementwise::unary_in_place(rt::elementwise::UnaryOp::#op, y); });
    }
    let x = ctx.expr(0)?;
    Ok(quote! { rt::elementwise::unary(rt::elementwise::UnaryOp::#op, #x, y); })
}
