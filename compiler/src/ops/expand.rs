//! Expand (opset 8 on; 13 only adds types): broadcasts the input against a shape, both ways
//! (a dim of 1 in the shape keeps the input's dim). The shape must be a compile-time constant.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    broadcast_shapes, elem_type, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Expand {
    pub shape: Vec<usize>,
}

impl Parse for Expand {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let target = ctx
            .absorb(1, "shape")?
            .to_i64s()
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            shape: broadcast_shapes(&x.shape, &target)?,
        })
    }
}

impl OpKind for Expand {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if broadcast_shapes(&x.shape, &self.shape)? != self.shape {
            return Err(OpError::Other(format!(
                "{x} does not expand to {:?}",
                self.shape
            )));
        }
        Ok(vec![TensorType::new(x.dtype, self.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let out = &ctx.outputs[0];
        let data = super::move_bytes(x, out, |x, y, size| {
            expand_bytes(
                x,
                &ctx.get(0).map(|t| t.shape.clone()).unwrap_or_default(),
                y,
                &self.shape,
                size,
            )
        });
        Ok(Some(vec![Tensor::new(self.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
        let y_shape = shape_tokens(&self.shape);
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::shape::expand::<#t>(#xe, #x_shape, y, #y_shape); })
    }
}

/// Expands elements of `size` bytes, seen as byte arrays (constant folding of any dtype).
fn expand_bytes(x: &[u8], x_shape: &[usize], y: &mut [u8], y_shape: &[usize], size: usize) {
    let mut xs = x_shape.to_vec();
    xs.push(size);
    let mut ys = y_shape.to_vec();
    ys.push(size);
    zant_runtime::shape::expand(x, &xs, y, &ys);
}
