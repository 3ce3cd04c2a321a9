//! OneHot (opset 9 on; negative axis and indices since 11): `depth` must be a compile-time
//! constant; `values` (`[off, on]`) is read at run time. Out-of-range indices give a row of
//! `off`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, normalize_axis, required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct OneHot {
    pub axis: i64,
    pub depth: usize,
}

impl OneHot {
    /// `(outer, inner)` of the indices around the new axis.
    fn split(&self, indices: &[usize]) -> Result<(usize, usize), OpError> {
        let axis = normalize_axis(self.axis, indices.len() + 1)?;
        Ok((
            indices[..axis].iter().product(),
            indices[axis..].iter().product(),
        ))
    }
}

impl Parse for OneHot {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let depth = *ctx
            .absorb(1, "depth")?
            .data
            .to_f64_vec()
            .first()
            .ok_or("depth is empty")?;
        if !(depth >= 1.0 && depth <= super::MAX_ELEMS as f64) {
            return Err(OpError::Other(format!(
                "depth {depth} is not a positive count"
            )));
        }
        Ok(Self {
            axis: ctx.int("axis", -1)?,
            depth: depth as usize,
        })
    }
}

impl OpKind for OneHot {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (indices, values) = (required(inputs, 0)?, required(inputs, 2)?);
        if values.n_elems() != 2 {
            return Err(OpError::Other(format!(
                "values {values} should hold two elements"
            )));
        }
        let axis = normalize_axis(self.axis, indices.rank() + 1)?;
        let mut shape = indices.shape.clone();
        shape.insert(axis, self.depth);
        Ok(vec![TensorType::new(values.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (indices, values) = (ctx.get(0)?, ctx.get(2)?);
        let (outer, inner) = self.split(&indices.shape)?;
        let idx = indices.data.to_f64_vec();
        let out = &ctx.outputs[0];
        let data = crate::with_data!(&values.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::index::one_hot(&idx, outer, inner, self.depth, v[0], v[1], &mut y);
            super::retag(y, values.dtype())
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (indices, values) = (ctx.input(0)?, ctx.input(2)?);
        let (outer, inner) = self.split(&indices.ty.shape)?;
        let (ie, ve) = (&indices.expr, &values.expr);
        let (t, i) = (elem_type(values.ty.dtype), elem_type(indices.ty.dtype));
        let depth = self.depth;
        Ok(quote! {
            let values = #ve;
            rt::index::one_hot::<#t, #i>(#ie, #outer, #inner, #depth, values[0], values[1], y);
        })
    }
}
