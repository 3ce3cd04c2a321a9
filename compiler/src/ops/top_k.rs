//! TopK (opset 1: `k` attribute; 10 on: `k` input, which must be a compile-time constant;
//! 11 adds `largest` and `sorted`): the k largest (or smallest) values along an axis,
//! sorted, ties to the lower index, and their int64 indices.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    around_axis, elem_type, normalize_axis, required, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct TopK {
    pub axis: i64,
    pub k: usize,
    pub largest: bool,
}

impl Parse for TopK {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let k = if ctx.opset < 10 {
            ctx.int("k", 0)?
        } else {
            *ctx.absorb(1, "K")?.to_i64s().first().ok_or("K is empty")?
        };
        let axis = ctx.int("axis", -1)?;
        let dim = x.shape[normalize_axis(axis, x.rank())?];
        let k = usize::try_from(k)
            .ok()
            .filter(|&k| k <= dim)
            .ok_or_else(|| format!("k {k} is not in 0..={dim}"))?;
        Ok(Self {
            axis,
            k,
            largest: ctx.int("largest", 1)? != 0,
        })
    }
}

impl OpKind for TopK {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let axis = normalize_axis(self.axis, x.rank())?;
        let mut shape = x.shape.clone();
        shape[axis] = self.k;
        Ok(vec![
            TensorType::new(x.dtype, shape.clone()),
            TensorType::new(DType::I64, shape),
        ])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, len, inner) = around_axis(&x.shape, normalize_axis(self.axis, x.shape.len())?);
        let shape = ctx.outputs[0].shape.clone();
        let mut indices = vec![0i64; outer * self.k * inner];
        let values = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); outer * self.k * inner];
            zant_runtime::index::top_k(v, outer, len, inner, self.k, self.largest, &mut y, &mut indices);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![
            Tensor::new(shape.clone(), values),
            Tensor::new(shape, Data::I64(indices)),
        ]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, len, inner) = around_axis(&x.ty.shape, normalize_axis(self.axis, x.ty.rank())?);
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let (k, largest) = (self.k, self.largest);
        Ok(quote! { rt::index::top_k::<#t>(#xe, #outer, #len, #inner, #k, #largest, y, y1); })
    }
}
