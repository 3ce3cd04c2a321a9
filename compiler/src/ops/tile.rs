//! Tile (opset 6 on; 13 adds types): repeats the input along each dim; `repeats` must be a
//! compile-time constant.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    pub out_shape: Vec<usize>,
}

impl Parse for Tile {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let repeats = ctx.absorb(1, "repeats")?.to_i64s();
        if repeats.len() != x.rank() {
            return Err(OpError::Other(format!("{} repeats for {x}", repeats.len())));
        }
        let out_shape = x
            .shape
            .iter()
            .zip(&repeats)
            .map(|(&d, &r)| {
                usize::try_from(r)
                    .map(|r| d * r)
                    .map_err(|_| format!("negative repeat {r}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        super::checked_elems(&out_shape)?;
        Ok(Self { out_shape })
    }
}

impl OpKind for Tile {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![TensorType::new(x.dtype, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let out = &ctx.outputs[0];
        let data = super::move_bytes(x, out, |xb, yb, size| {
            let mut xs = x.shape.clone();
            xs.push(size);
            let mut ys = self.out_shape.clone();
            ys.push(size);
            zant_runtime::index::tile(xb, &xs, yb, &ys);
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
        let y_shape = shape_tokens(&self.out_shape);
        let t = elem_type(x.ty.dtype);
        Ok(quote! { rt::index::tile::<#t>(#xe, #x_shape, y, #y_shape); })
    }
}
