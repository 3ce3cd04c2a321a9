//! Hardmax (opset 1; from 13 along one axis, default -1, before that on the input coerced
//! to 2-D at `axis`, default 1): 1 at the first largest value, 0 elsewhere.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Hardmax {
    pub outer: usize,
    pub axis_len: usize,
    pub inner: usize,
}

impl Parse for Hardmax {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (outer, axis_len, inner) = super::softmax::axis_layout(ctx, &ctx.input(0)?.shape)?;
        Ok(Self {
            outer,
            axis_len,
            inner,
        })
    }
}

impl OpKind for Hardmax {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if !x.dtype.is_float() {
            return Err(OpError::Other(format!("Hardmax takes floats, not {x}")));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            zant_runtime::index::hardmax(v, self.outer, self.axis_len, self.inner, &mut y);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let Self {
            outer,
            axis_len,
            inner,
        } = *self;
        Ok(quote! { rt::index::hardmax::<#t>(#xe, #outer, #axis_len, #inner, y); })
    }
}
