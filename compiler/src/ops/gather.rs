//! Gather (opset 1; negative indices since 11, 13 adds nothing for us). Indices read at run
//! time are checked: an index out of range is returned as an error, never a panic.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    pub axis: i64,
}

impl Gather {
    /// `(outer, axis_len, inner)` of the data viewed around the gather axis.
    fn split(&self, data: &[usize]) -> Result<(usize, usize, usize), OpError> {
        let axis = normalize_axis(self.axis, data.len())?;
        Ok((
            data[..axis].iter().product(),
            data[axis],
            data[axis + 1..].iter().product(),
        ))
    }
}

impl Parse for Gather {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            axis: ctx.int("axis", 0)?,
        })
    }
}

impl OpKind for Gather {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("axis", self.axis);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (data, indices) = (required(inputs, 0)?, required(inputs, 1)?);
        if !matches!(indices.dtype, DType::I32 | DType::I64) {
            return Err(OpError::shape(format!(
                "indices must be int32 or int64, not {}",
                indices.dtype
            )));
        }
        if data.rank() == 0 {
            return Err(OpError::shape(format!(
                "cannot gather from the scalar {data}"
            )));
        }
        let axis = normalize_axis(self.axis, data.rank())?;
        let mut shape = data.shape[..axis].to_vec();
        shape.extend(&indices.shape);
        shape.extend(&data.shape[axis + 1..]);
        Ok(vec![TensorType::new(data.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (data, indices) = (ctx.get(0)?, ctx.get(1)?);
        let (outer, axis_len, inner) = self.split(&data.shape)?;
        let idx = indices.to_i64s();
        let out_ty = &ctx.outputs[0];
        let mut out = Data::zeros(data.dtype(), out_ty.n_elems());
        macro_rules! run {
            ($($variant:ident),*) => {
                match (&data.data, &mut out) {
                    $((Data::$variant(x), Data::$variant(y)) => {
                        zant_runtime::shape::gather(x, outer, axis_len, inner, &idx, y)
                    })*
                    _ => unreachable!("same dtype"),
                }
            };
        }
        crate::all_dtypes!(run)?;
        Ok(Some(vec![Tensor::new(out_ty.shape.clone(), out)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let data = ctx.input(0)?;
        let (outer, axis_len, inner) = self.split(&data.ty.shape)?;
        let x = &data.expr;
        let indices = ctx.expr(1)?;
        let t = elem_type(data.ty.dtype);
        let try_ = ctx.try_suffix();
        Ok(quote! {
            rt::shape::gather::<#t, _>(#x, #outer, #axis_len, #inner, #indices, y) #try_;
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Gather").int("axis", 1).input("f32[2,5,3]").input("i64[4]").emit(), @r#"
        Gather(f32[2,5,3], i64[4]) axis=1 -> f32[2,4,3]
        rt::shape::gather::<f32, _>(x0, 2, 5, 3, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Gather").input("f32[5]").input("i32[]").emit(), @r#"
        Gather(f32[5], i32[]) axis=0 -> f32[]
        rt::shape::gather::<f32, _>(x0, 1, 5, 1, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Gather").constant(Tensor::from_i64s(vec![1, 2, 3])).constant(Tensor::from_i64s(vec![-1, 0])).emit(), @"
        Gather(i64[3], i64[2]) axis=0 -> i64[2]
        folds to i64[2] [3, 1]
        ");
        insta::assert_snapshot!(node("Gather").constant(Tensor::from_i64s(vec![1, 2, 3])).constant(Tensor::from_i64s(vec![3])).emit(), @"fold: while folding constants: index 3 is out of range for an axis of length 3");
        insta::assert_snapshot!(node("Gather").input("f32[5]").constant(Tensor::new(vec![1], Data::F32(vec![0.0]))).emit(), @"infer: indices must be int32 or int64, not f32");
    }
}
