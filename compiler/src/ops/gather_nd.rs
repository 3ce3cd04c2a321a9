//! GatherND (opset 11 on; `batch_dims` since 12): each index tuple (the last dim of
//! `indices`) picks a slice of `data`, within the batch its leading dims name.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct GatherNd {
    pub batch_dims: usize,
}

impl Parse for GatherNd {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            batch_dims: ctx.count("batch_dims", 0)?,
        })
    }
}

impl OpKind for GatherNd {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        if self.batch_dims != 0 {
            attrs.int("batch_dims", self.batch_dims as i64);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (data, indices) = (required(inputs, 0)?, required(inputs, 1)?);
        super::transpose::supported_rank(data)?;
        if !matches!(indices.dtype, DType::I32 | DType::I64) {
            return Err(OpError::shape(format!(
                "indices must be int32 or int64, not {}",
                indices.dtype
            )));
        }
        let b = self.batch_dims;
        let q = *indices
            .shape
            .last()
            .ok_or_else(|| OpError::shape("indices must have rank 1 or more"))?;
        if b + q > data.rank() || b >= indices.rank() || data.shape[..b] != indices.shape[..b] {
            return Err(OpError::shape(format!(
                "indices {indices} do not fit data {data}"
            )));
        }
        let mut shape = indices.shape[..indices.rank() - 1].to_vec();
        shape.extend(&data.shape[b + q..]);
        Ok(vec![TensorType::new(data.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (data, indices) = (ctx.get(0)?, ctx.get(1)?);
        let b = self.batch_dims;
        let batch: usize = data.shape[..b].iter().product();
        let q = *indices.shape.last().unwrap_or(&0);
        let idx = indices.to_i64s();
        let out = &ctx.outputs[0];
        let values = crate::with_data!(&data.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::index::gather_nd(v, batch, &data.shape[b..], &idx, q, &mut y)?;
            super::retag(y, data.dtype())
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), values)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (data, indices) = (ctx.input(0)?, ctx.input(1)?);
        let b = self.batch_dims;
        let batch: usize = data.ty.shape[..b].iter().product();
        let q = *indices.ty.shape.last().unwrap_or(&0);
        let (de, ds) = (&data.expr, shape_tokens(&data.ty.shape[b..]));
        let ie = &indices.expr;
        let t = elem_type(data.ty.dtype);
        let try_ = ctx.try_suffix();
        Ok(quote! { rt::index::gather_nd::<#t, _>(#de, #batch, #ds, #ie, #q, y) #try_; })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("GatherND").input("f32[2,3,4]").input("i64[5,2]").emit(), @r#"
        GatherND(f32[2,3,4], i64[5,2]) -> f32[5,4]
        rt::index::gather_nd::<f32, _>(x0, 1, &[2, 3, 4], x1, 2, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("GatherND").int("batch_dims", 1).input("f32[2,3,4]").input("i32[2,1]").emit(), @r#"
        GatherND(f32[2,3,4], i32[2,1]) batch_dims=1 -> f32[2,4]
        rt::index::gather_nd::<f32, _>(x0, 2, &[3, 4], x1, 1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("GatherND").int("batch_dims", -1).input("f32[2]").input("i64[1]").emit(), @"parse: attribute `batch_dims`: -1 is negative");
        insta::assert_snapshot!(node("GatherND").input("f32[2,3]").input("i64[1,3]").emit(), @"infer: indices i64[1,3] do not fit data f32[2,3]");
    }
}
