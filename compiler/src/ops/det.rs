//! Det (opset 11 on; 22 adds bfloat16): the determinant of each square matrix in the last
//! two dims of `X` (`[*, M, M]` to `[*]`), in `f32` (float16 and bfloat16 compute as `f32`
//! between casts), by LU factorisation with partial pivoting (`rt::linalg::det`) in
//! scratch the planner reserves for one matrix.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::linalg::det_scratch_len;
use zant_runtime::target::KernelSet;

use super::{required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Det;

impl Parse for Det {
    fn parse(_ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self)
    }
}

impl Det {
    /// The matrices' order `M` and the output type, or why `x` is not `[*, M, M]` of `f32`.
    fn shape(x: &TensorType) -> Result<(usize, TensorType), OpError> {
        if x.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "implemented for f32 (and float16 and bfloat16 through f32), not {x}"
            )));
        }
        match x.shape.as_slice() {
            [batch @ .., rows, cols] if rows == cols => {
                Ok((*rows, TensorType::new(DType::F32, batch.to_vec())))
            }
            _ => Err(OpError::shape(format!(
                "{x} is not a stack of square matrices [*, M, M]"
            ))),
        }
    }
}

impl OpKind for Det {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![Self::shape(required(inputs, 0)?)?.1])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.f32(0)?;
        let (n, out) = Self::shape(required(&ctx.inputs, 0)?)?;
        let mut scratch = vec![0.0; det_scratch_len(n)];
        let mut y = vec![0.0; out.n_elems()];
        zant_runtime::linalg::det(n, x, &mut scratch, &mut y);
        Ok(Some(vec![Tensor::new(out.shape, Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (n, _) = Self::shape(x.ty)?;
        let xe = &x.expr;
        if det_scratch_len(n) == 0 {
            // Empty matrices need no scratch, and the planner reserved none: each
            // determinant is the empty product.
            return Ok(quote! { y.fill(1.0); });
        }
        Ok(quote! { rt::linalg::det(#n, #xe, scratch, y); })
    }

    fn scratch_bytes(&self, inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        required(inputs, 0)
            .and_then(Self::shape)
            .map_or(0, |(n, _)| det_scratch_len(n) * 4)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Det").input("f32[3,2,2]").emit(), @r"
        Det(f32[3,2,2]) -> f32[3]
        rt::linalg::det(2, x0, scratch, y);
        ");
        insta::assert_snapshot!(node("Det").input("f32[4,4]").emit(), @r"
        Det(f32[4,4]) -> f32[]
        rt::linalg::det(4, x0, scratch, y);
        ");
        insta::assert_snapshot!(node("Det").input("f32[2,0,0]").emit(), @r"
        Det(f32[2,0,0]) -> f32[2]
        y.fill(1.0);
        ");
        insta::assert_snapshot!(node("Det").constant(Tensor::new(vec![2, 2], Data::F32(vec![1.0, 2.0, 3.0, 4.0]))).emit(), @r"
        Det(f32[2,2]) -> f32[]
        folds to f32[] [-1.9999999]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Det").input("f32[2,3]").emit(), @"infer: f32[2,3] is not a stack of square matrices [*, M, M]");
        insta::assert_snapshot!(node("Det").input("f32[3]").emit(), @"infer: f32[3] is not a stack of square matrices [*, M, M]");
        insta::assert_snapshot!(node("Det").input("f64[2,2]").emit(), @"infer: implemented for f32 (and float16 and bfloat16 through f32), not f64[2,2]");
    }
}
