//! Hardmax (opset 1; from 13 along one axis, default -1, before that on the input coerced
//! to 2-D at `axis`, default 1): 1 at the first largest value, 0 elsewhere.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, normalize_axis, required, EmitCtx, FoldCtx, OpKind, ParseCtx};
use crate::ir::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Hardmax {
    pub outer: usize,
    pub axis_len: usize,
    pub inner: usize,
}

impl OpKind for Hardmax {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, String> {
        let d = &ctx.input(0)?.shape;
        let (outer, axis_len, inner) = if ctx.opset < 13 {
            let axis = ctx.int("axis", 1)?;
            let axis = if axis == d.len() as i64 {
                d.len()
            } else {
                normalize_axis(axis, d.len())?
            };
            (d[..axis].iter().product(), d[axis..].iter().product(), 1)
        } else {
            let axis = normalize_axis(ctx.int("axis", -1)?, d.len())?;
            (
                d[..axis].iter().product(),
                d[axis],
                d[axis + 1..].iter().product(),
            )
        };
        Ok(Self {
            outer,
            axis_len,
            inner,
        })
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, String> {
        let x = required(inputs, 0)?;
        if !x.dtype.is_float() {
            return Err(format!("Hardmax takes floats, not {x}"));
        }
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, String> {
        let x = ctx.get(0)?;
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            zant_runtime::index::hardmax(v, self.outer, self.axis_len, self.inner, &mut y);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, String> {
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
