//! IsNaN (opset 9 on) and IsInf (opset 10 on; `detect_positive`/`detect_negative`): bool
//! masks of a float tensor.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub enum IsNan {
    Nan,
    Inf { positive: bool, negative: bool },
}

impl Parse for IsNan {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(if ctx.op_type == "IsNaN" {
            Self::Nan
        } else {
            Self::Inf {
                positive: ctx.int("detect_positive", 1)? != 0,
                negative: ctx.int("detect_negative", 1)? != 0,
            }
        })
    }
}

impl OpKind for IsNan {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if !x.dtype.is_float() {
            return Err(OpError::Other(format!("takes floats, not {x}")));
        }
        Ok(vec![TensorType::new(DType::Bool, x.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let mut y = vec![0u8; x.n_elems()];
        crate::with_data!(&x.data, v => match *self {
            Self::Nan => zant_runtime::index::is_nan(v, &mut y),
            Self::Inf { positive, negative } => zant_runtime::index::is_inf(v, positive, negative, &mut y),
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), Data::Bool(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        Ok(match *self {
            Self::Nan => quote! { rt::index::is_nan::<#t>(#xe, y); },
            Self::Inf { positive, negative } => {
                quote! { rt::index::is_inf::<#t>(#xe, #positive, #negative, y); }
            }
        })
    }
}
