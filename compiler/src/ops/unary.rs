//! Element-wise f32 activations and math (opset 6 on, or the op's first opset; later
//! opsets only add types): Relu, Sigmoid, Tanh, LeakyRelu, Elu, Selu, Celu (12),
//! ThresholdedRelu (10), HardSigmoid, HardSwish (14), Softplus, Softsign, Mish (18),
//! Gelu (20; `approximate` none or tanh), Swish (24), Shrink (9), Exp, Log, Sqrt,
//! Reciprocal, Abs, Neg, Sign (9), Floor, Ceil, Round (11), Erf (9), and the trigonometric
//! and hyperbolic functions (7 and 9); SwiGLU (28), Swish of one input times the other.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::elementwise::UnaryOp;

use zant_runtime::tokens::Param;

use super::{required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Unary {
    pub op: UnaryOp,
}

/// Gelu's `approximate` attribute picks the exact or the tanh form.
pub fn gelu(ctx: &ParseCtx<'_>) -> Result<UnaryOp, OpError> {
    match ctx.string("approximate", "none")?.as_str() {
        "none" => Ok(UnaryOp::Gelu),
        "tanh" => Ok(UnaryOp::GeluTanh),
        other => Err(OpError::attr(
            "approximate",
            format!("`{other}` is not none or tanh"),
        )),
    }
}

impl OpKind for Unary {
    fn attrs(&self, attrs: &mut Attrs) {
        // Gelu's tanh form is a runtime variant of its own but an attribute in ONNX.
        if self.op == UnaryOp::GeluTanh {
            attrs.string("approximate", "tanh");
        }
        attrs.fields(&self.op);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if !supports(self.op, x.dtype) {
            return Err(OpError::unsupported(format!(
                "{} is implemented for f32 and f64, not {}",
                self.op.name(),
                x.dtype
            )));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
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

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        emit_unary(self.op, ctx)
    }

    fn in_place_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

/// SwiGLU (opset 28): `Swish_alpha(A) · B`, `A` and `B` of one shape (no broadcast).
#[derive(Clone, Debug, PartialEq)]
pub struct SwiGlu {
    pub alpha: f32,
}

impl super::Parse for SwiGlu {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            alpha: ctx.float("alpha", 1.0)?,
        })
    }
}

impl OpKind for SwiGlu {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.float("alpha", self.alpha);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (a, b) = (required(inputs, 0)?, required(inputs, 1)?);
        if a.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "implemented for f32, not {}",
                a.dtype
            )));
        }
        if a != b {
            return Err(OpError::shape(format!(
                "A is {a} and B is {b}; SwiGLU takes two inputs of one type and shape"
            )));
        }
        Ok(vec![a.clone()])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (a, b, alpha) = (ctx.expr(0)?, ctx.expr(1)?, self.alpha);
        Ok(quote! { rt::elementwise::swiglu(#alpha, #a, #b, y); })
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
pub fn emit_unary(op: UnaryOp, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
    let dtype = ctx.out_ty().dtype;
    if dtype != DType::F32 {
        let t = super::elem_type(dtype);
        if ctx.in_place == Some(0) {
            return Ok(quote! { rt::elementwise::unary_scalar_in_place::<#t>(#op, y); });
        }
        let x = ctx.expr(0)?;
        return Ok(quote! { rt::elementwise::unary_scalar::<#t>(#op, #x, y); });
    }
    if ctx.in_place == Some(0) {
        return Ok(quote! { rt::elementwise::unary_in_place(#op, y); });
    }
    let x = ctx.expr(0)?;
    Ok(quote! { rt::elementwise::unary(#op, #x, y); })
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn swiglu_emits() {
        insta::assert_snapshot!(node("SwiGLU").opset(28).float("alpha", 1.5).input("f32[2,3]").input("f32[2,3]").emit(), @"
        SwiGLU(f32[2,3], f32[2,3]) alpha=1.5 -> f32[2,3]
        rt::elementwise::swiglu(1.5f32, x0, x1, y);
        ");
        insta::assert_snapshot!(node("SwiGLU").opset(28).input("f32[2,3]").input("f32[3]").emit(), @"infer: A is f32[2,3] and B is f32[3]; SwiGLU takes two inputs of one type and shape");
        insta::assert_snapshot!(node("SwiGLU").opset(28).input("i32[2]").input("i32[2]").emit(), @"infer: implemented for f32, not i32");
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("LeakyRelu").float("alpha", 0.1).input("f32[2,3]").emit(), @"
        LeakyRelu(f32[2,3]) alpha=0.1 -> f32[2,3]
        rt::elementwise::unary(
            rt::elementwise::UnaryOp::LeakyRelu {
                alpha: 0.1f32,
            },
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("Relu").input("f32[4]").in_place().emit(), @"
        Relu(f32[4]) -> f32[4]
        rt::elementwise::unary_in_place(rt::elementwise::UnaryOp::Relu, y);
        ");
        insta::assert_snapshot!(node("Abs").input("i32[4]").emit(), @"
        Abs(i32[4]) -> i32[4]
        rt::elementwise::unary_scalar::<i32>(rt::elementwise::UnaryOp::Abs, x0, y);
        ");
        insta::assert_snapshot!(node("Elu").float("alpha", 0.5).input("f64[4]").in_place().emit(), @"
        Elu(f64[4]) alpha=0.5 -> f64[4]
        rt::elementwise::unary_scalar_in_place::<
            f64,
        >(
            rt::elementwise::UnaryOp::Elu {
                alpha: 0.5f32,
            },
            y,
        );
        ");
        insta::assert_snapshot!(node("Gelu").string("approximate", "tanh").input("f32[4]").emit(), @r#"
        Gelu(f32[4]) approximate="tanh" -> f32[4]
        rt::elementwise::unary(rt::elementwise::UnaryOp::GeluTanh, x0, y);
        "#);
        insta::assert_snapshot!(node("Sigmoid").input("i32[4]").emit(), @"infer: Sigmoid is implemented for f32 and f64, not i32");
        insta::assert_snapshot!(node("Gelu").string("approximate", "fast").input("f32[4]").emit(), @"parse: attribute `approximate`: `fast` is not none or tanh");
    }

    /// ONNX Runtime's contrib QuickGelu, `x * sigmoid(alpha * x)`, is Swish with its own
    /// default `alpha`.
    #[test]
    fn quick_gelu() {
        let node = crate::ops::testing::NodeBuilder::in_domain("com.microsoft", "QuickGelu");
        insta::assert_snapshot!(node.input("f32[3]").emit(), @"
        QuickGelu(f32[3]) alpha=1.702 -> f32[3]
        rt::elementwise::unary(
            rt::elementwise::UnaryOp::Swish {
                alpha: 1.702f32,
            },
            x0,
            y,
        );
        ");
    }

    #[test]
    fn element_wise_ops_count_no_macs() {
        assert_eq!(node("Relu").input("f32[2,3]").macs(), 0);
        assert_eq!(node("Add").input("f32[2,3]").input("f32[3]").macs(), 0);
    }
}
