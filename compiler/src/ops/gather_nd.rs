//! GatherND (opset 11 on; `batch_dims` since 12): each index tuple (the last dim of
//! `indices`) picks a slice of `data`, within the batch its leading dims name.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct GatherNd {
    pub batch_dims: usize,
}

impl Parse for GatherNd {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let b = ctx.int("batch_dims", 0)?;
        Ok(Self {
            batch_dims: usize::try_from(b).map_err(|_| format!("batch_dims {b}"))?,
        })
    }
}

impl OpKind for GatherNd {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (data, indices) = (required(inputs, 0)?, required(inputs, 1)?);
        if !matches!(indices.dtype, DType::I32 | DType::I64) {
            return Err(OpError::Other(format!(
                "indices must be integers, not {indices}"
            )));
        }
        let b = self.batch_dims;
        let q = *indices.shape.last().ok_or("indices need a rank")?;
        if b + q > data.rank() || b >= indices.rank() || data.shape[..b] != indices.shape[..b] {
            return Err(OpError::Other(format!(
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
            zant_runtime::index::gather_nd(v, batch, &data.shape[b..], &idx, q, &mut y)
                .map_err(|e| e.to_string())?;
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
