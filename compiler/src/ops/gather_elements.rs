//! GatherElements (opset 11 on; 13 adds types): `y[i][j] = data[indices[i][j]][j]` along
//! one axis; `y` has the shape of `indices`. Indices are checked at run time.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, normalize_axis, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct GatherElements {
    pub axis: i64,
}

impl Parse for GatherElements {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            axis: ctx.int("axis", 0)?,
        })
    }
}

impl OpKind for GatherElements {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (data, indices) = (required(inputs, 0)?, required(inputs, 1)?);
        if !matches!(indices.dtype, DType::I32 | DType::I64) || indices.rank() != data.rank() {
            return Err(OpError::Other(format!(
                "indices {indices} do not fit data {data}"
            )));
        }
        normalize_axis(self.axis, data.rank())?;
        Ok(vec![TensorType::new(data.dtype, indices.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (data, indices) = (ctx.get(0)?, ctx.get(1)?);
        let axis = normalize_axis(self.axis, data.shape.len())?;
        let idx = indices.to_i64s();
        let out = &ctx.outputs[0];
        let values = crate::with_data!(&data.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::index::gather_elements(v, &data.shape, &idx, &indices.shape, axis, &mut y)
                .map_err(|e| e.to_string())?;
            super::retag(y, data.dtype())
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), values)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (data, indices) = (ctx.input(0)?, ctx.input(1)?);
        let axis = normalize_axis(self.axis, data.ty.rank())?;
        let (de, ds) = (&data.expr, shape_tokens(&data.ty.shape));
        let (ie, is) = (&indices.expr, shape_tokens(&indices.ty.shape));
        let t = elem_type(data.ty.dtype);
        let try_ = ctx.try_suffix();
        Ok(quote! { rt::index::gather_elements::<#t, _>(#de, #ds, #ie, #is, #axis, y) #try_; })
    }
}
