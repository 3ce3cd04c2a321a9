//! Expand (opset 8 on; 13 only adds types): broadcasts the input against a shape, both ways
//! (a dim of 1 in the shape keeps the input's dim). The shape must be a compile-time constant.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    broadcast_shapes, checked_elems, elem_type, required, shape_tokens, Attrs, EmitCtx, FoldCtx,
    OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Expand {
    pub shape: Vec<usize>,
}

impl Parse for Expand {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let target = ctx
            .absorb(1, "shape")?
            .to_i64s()
            .into_iter()
            .map(|d| {
                usize::try_from(d).map_err(|_| OpError::shape(format!("negative dimension {d}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let shape = broadcast_shapes(&x.shape, &target)?;
        checked_elems(&shape)?;
        super::transpose::supported_rank(&TensorType::new(x.dtype, shape.clone()))?;
        Ok(Self { shape })
    }
}

impl OpKind for Expand {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        // The absorbed target, broadcast with the input: the shape the op produces.
        attrs.usizes("shape", &self.shape);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if broadcast_shapes(&x.shape, &self.shape)? != self.shape {
            return Err(OpError::shape(format!(
                "{x} does not expand to {:?}",
                self.shape
            )));
        }
        Ok(vec![TensorType::new(x.dtype, self.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let out = &ctx.outputs[0];
        let data = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::shape::expand(v, &x.shape, &mut y, &self.shape);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(self.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
        let y_shape = shape_tokens(&self.shape);
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::shape::expand::<#t>(#xe, #x_shape, y, #y_shape); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::Tensor;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Expand").input("f32[3,1]").constant(Tensor::from_i64s(vec![2, 1, 4])).emit(), @"
        Expand(f32[3,1]) shape=[2,3,4] -> f32[2,3,4]
        rt::shape::expand::<f32>(x0, &[3, 1], y, &[2, 3, 4]);
        ");
        insta::assert_snapshot!(node("Expand").constant(Tensor::from_i64s(vec![7])).constant(Tensor::from_i64s(vec![3])).emit(), @"
        Expand(i64[1]) shape=[3] -> i64[3]
        folds to i64[3] [7, 7, 7]
        ");
        insta::assert_snapshot!(node("Expand").input("f32[3]").constant(Tensor::from_i64s(vec![2])).emit(), @"parse: shapes [3] and [2] do not broadcast");
        insta::assert_snapshot!(node("Expand").input("f32[3]").input("i64[1]").emit(), @"parse: input 1 (shape) must be a compile-time constant; zant compiles static shapes only");
    }
}
