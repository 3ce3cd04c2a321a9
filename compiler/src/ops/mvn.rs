//! MeanVarianceNormalization (opset 9 on; 13 adds bfloat16): each group of values that
//! differ only along `axes` (default `[0, 2, 3]`) normalised as the op's definition
//! computes it, `(x − E[x]) / (√(E[x²] − E[x]²) + 1e-9)`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    normalize_axis, required, shape_tokens, Attrs, EmitCtx, FoldCtx, NarrowSupport, OpError,
    OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct MeanVarianceNorm {
    /// Bit `i` set: axis `i` is one the statistics run over.
    pub axes_mask: u32,
}

impl Parse for MeanVarianceNorm {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if x.rank() > zant_runtime::MAX_RANK {
            return Err(OpError::unsupported(format!(
                "rank {} is above the supported {}",
                x.rank(),
                zant_runtime::MAX_RANK
            )));
        }
        let axes = ctx.ints("axes")?.unwrap_or_else(|| vec![0, 2, 3]);
        let mut axes_mask = 0u32;
        for a in axes {
            axes_mask |= 1 << normalize_axis(a, x.rank())?;
        }
        Ok(Self { axes_mask })
    }
}

impl OpKind for MeanVarianceNorm {
    fn attrs(&self, attrs: &mut Attrs) {
        let axes: Vec<usize> = (0..u32::BITS as usize)
            .filter(|i| self.axes_mask & (1 << i) != 0)
            .collect();
        attrs.usizes("axes", &axes);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "MeanVarianceNormalization is implemented for f32 (and the narrow floats \
                 through it), not {}",
                x.dtype
            )));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let v = x
            .as_f32()
            .ok_or_else(|| OpError::shape(format!("input 0 is {}, not f32", x.dtype())))?;
        let mut y = vec![0.0; v.len()];
        zant_runtime::reduce::mean_variance_normalize(v, &x.shape, self.axes_mask, &mut y);
        Ok(Some(vec![Tensor::new(x.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape, mask) = (&x.expr, shape_tokens(&x.ty.shape), self.axes_mask);
        Ok(quote! { rt::reduce::mean_variance_normalize(#xe, #x_shape, #mask, y); })
    }

    fn narrow(&self) -> NarrowSupport {
        NarrowSupport::Compute
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("MeanVarianceNormalization").input("f32[2,3,4,5]").emit(), @r#"
        MeanVarianceNormalization(f32[2,3,4,5]) axes=[0,2,3] -> f32[2,3,4,5]
        rt::reduce::mean_variance_normalize(x0, &[2, 3, 4, 5], 13u32, y);
        "#);
        insta::assert_snapshot!(node("MeanVarianceNormalization").ints("axes", &[-1])
            .input("f32[2,3]").emit(), @r#"
        MeanVarianceNormalization(f32[2,3]) axes=[1] -> f32[2,3]
        rt::reduce::mean_variance_normalize(x0, &[2, 3], 2u32, y);
        "#);
        insta::assert_snapshot!(node("MeanVarianceNormalization").ints("axes", &[1])
            .constant(Tensor::new(vec![1, 2], Data::F32(vec![1.0, 3.0]))).emit(), @r#"
        MeanVarianceNormalization(f32[1,2]) axes=[1] -> f32[1,2]
        folds to f32[1,2] [-1.0, 1.0]
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("MeanVarianceNormalization").input("f32[2,3]").emit(), @"parse: axis 2 is out of range for rank 2");
        insta::assert_snapshot!(node("MeanVarianceNormalization").input("i32[1,2,3,4]").emit(), @"infer: MeanVarianceNormalization is implemented for f32 (and the narrow floats through it), not i32");
    }
}
