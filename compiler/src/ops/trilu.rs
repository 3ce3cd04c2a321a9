//! Trilu (opset 14 on): keeps the upper (`upper = 1`, default) or lower triangle of the
//! last two dims from diagonal `k` (an optional input, a compile-time constant).

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Trilu {
    pub upper: bool,
    pub k: i64,
}

impl Trilu {
    fn matrix(shape: &[usize]) -> Result<(usize, usize), OpError> {
        match shape {
            [.., r, c] => Ok((*r, *c)),
            _ => Err(OpError::Other(
                "Trilu takes a tensor of rank 2 or more".into(),
            )),
        }
    }
}

impl Parse for Trilu {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let k = match ctx.absorb_optional(1, "k")? {
            Some(t) => *t.to_i64s().first().ok_or("k is empty")?,
            None => 0,
        };
        Ok(Self {
            upper: ctx.int("upper", 1)? != 0,
            k,
        })
    }
}

impl OpKind for Trilu {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        Self::matrix(&x.shape)?;
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (rows, cols) = Self::matrix(&x.shape)?;
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            zant_runtime::index::trilu(v, rows, cols, self.k, self.upper, &mut y);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (rows, cols) = Self::matrix(&x.ty.shape)?;
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let (k, upper) = (self.k, self.upper);
        Ok(quote! { rt::index::trilu::<#t>(#xe, #rows, #cols, #k, #upper, y); })
    }
}
