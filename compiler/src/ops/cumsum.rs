//! CumSum (opset 11 on; 14 adds types) and CumProd (opset 26): running sums or products
//! along one axis (an input, a compile-time constant), optionally `exclusive` and/or
//! `reverse`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    around_axis, elem_type, normalize_axis, required, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct CumSum {
    pub product: bool,
    pub axis: i64,
    pub exclusive: bool,
    pub reverse: bool,
}

impl Parse for CumSum {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let axis = *ctx
            .absorb(1, "axis")?
            .to_i64s()
            .first()
            .ok_or("axis is empty")?;
        Ok(Self {
            product: ctx.op_type == "CumProd",
            axis,
            exclusive: ctx.int("exclusive", 0)? != 0,
            reverse: ctx.int("reverse", 0)? != 0,
        })
    }
}

impl OpKind for CumSum {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        normalize_axis(self.axis, x.rank())?;
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, len, inner) = around_axis(&x.shape, normalize_axis(self.axis, x.shape.len())?);
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            if self.product {
                zant_runtime::index::cumprod(v, outer, len, inner, self.exclusive, self.reverse, &mut y);
            } else {
                zant_runtime::index::cumsum(v, outer, len, inner, self.exclusive, self.reverse, &mut y);
            }
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, len, inner) = around_axis(&x.ty.shape, normalize_axis(self.axis, x.ty.rank())?);
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let (exclusive, reverse) = (self.exclusive, self.reverse);
        let kernel = if self.product {
            quote!(cumprod)
        } else {
            quote!(cumsum)
        };
        Ok(quote! { rt::index::#kernel::<#t>(#xe, #outer, #len, #inner, #exclusive, #reverse, y); })
    }
}
