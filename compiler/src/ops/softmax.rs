//! Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis` (default
//! 1); from 13 on the op runs along one axis (default -1).

use proc_macro2::TokenStream;
use quote::quote;

use super::{normalize_axis, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    pub log: bool,
    pub outer: usize,
    pub axis_len: usize,
    pub inner: usize,
}

impl Parse for Softmax {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if x.dtype != DType::F32 {
            return Err(OpError::Other(format!(
                "{} is implemented for f32, not {}",
                ctx.op_type, x.dtype
            )));
        }
        let (outer, axis_len, inner) = axis_layout(ctx, &x.shape)?;
        Ok(Self {
            log: ctx.op_type == "LogSoftmax",
            outer,
            axis_len,
            inner,
        })
    }
}

impl OpKind for Softmax {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let xs = x.as_f32().ok_or("f32")?;
        let mut y = vec![0.0; xs.len()];
        let Self {
            outer,
            axis_len,
            inner,
            ..
        } = *self;
        if self.log {
            zant_runtime::elementwise::log_softmax(outer, axis_len, inner, xs, &mut y);
        } else {
            zant_runtime::elementwise::softmax(outer, axis_len, inner, xs, &mut y);
        }
        Ok(Some(vec![Tensor::new(x.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.expr(0)?;
        let Self {
            outer,
            axis_len,
            inner,
            ..
        } = *self;
        Ok(if self.log {
            quote! { rt::elementwise::log_softmax(#outer, #axis_len, #inner, #x, y); }
        } else {
            quote! { rt::elementwise::softmax(#outer, #axis_len, #inner, #x, y); }
        })
    }
}

/// The `[outer, axis_len, inner]` view that Softmax, LogSoftmax and Hardmax work along:
/// before opset 13 the input is coerced to 2-D at `axis` (default 1); from 13 on the op
/// runs along the one axis (default -1).
pub fn axis_layout(ctx: &ParseCtx<'_>, d: &[usize]) -> Result<(usize, usize, usize), OpError> {
    if ctx.opset < 13 {
        let axis = ctx.int("axis", 1)?;
        let axis = if axis == d.len() as i64 {
            d.len()
        } else {
            normalize_axis(axis, d.len())?
        };
        Ok((d[..axis].iter().product(), d[axis..].iter().product(), 1))
    } else {
        let axis = normalize_axis(ctx.int("axis", -1)?, d.len())?;
        Ok((
            d[..axis].iter().product(),
            d.get(axis).copied().unwrap_or(1),
            d.get(axis + 1..).map_or(1, |rest| rest.iter().product()),
        ))
    }
}
