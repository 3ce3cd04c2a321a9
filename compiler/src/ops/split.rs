//! Split (opset 2: `split` attribute; 13 on: `split` input; 18 adds `num_outputs`): cuts
//! the input along one axis into several outputs, equal parts when no sizes are given
//! (with `num_outputs`, the last part may be smaller). Sizes must be compile-time constants.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::{
    elem_type, normalize_axis, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub axis: usize,
    pub sizes: Vec<usize>,
}

impl Parse for Split {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let axis = normalize_axis(ctx.int("axis", 0)?, x.rank())?;
        let dim = x.shape[axis];
        let given = if ctx.opset < 13 {
            ctx.ints("split")?
        } else {
            ctx.absorb_optional(1, "split")?.map(|t| t.to_i64s())
        };
        let sizes: Vec<usize> = match given {
            Some(s) => s
                .iter()
                .map(|&v| usize::try_from(v).map_err(|_| format!("negative split {v}")))
                .collect::<Result<_, _>>()?,
            None => {
                let n = match ctx.attr("num_outputs") {
                    Some(a) => a.as_int("num_outputs")? as usize,
                    None => ctx.n_outputs,
                };
                if n == 0 {
                    return Err(OpError::Other("Split needs at least one output".into()));
                }
                let part = dim.div_ceil(n);
                if ctx.attr("num_outputs").is_none() && dim % n != 0 {
                    return Err(OpError::Other(format!(
                        "{dim} does not split into {n} equal parts"
                    )));
                }
                (0..n)
                    .map(|i| part.min(dim.saturating_sub(i * part)))
                    .collect()
            }
        };
        if sizes.iter().sum::<usize>() != dim {
            return Err(OpError::Other(format!(
                "sizes {sizes:?} do not add up to {dim}"
            )));
        }
        Ok(Self { axis, sizes })
    }
}

impl OpKind for Split {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        Ok(self
            .sizes
            .iter()
            .map(|&s| {
                let mut shape = x.shape.clone();
                shape[self.axis] = s;
                TensorType::new(x.dtype, shape)
            })
            .collect())
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let mut start = 0i64;
        let mut out = Vec::new();
        for (k, ty) in ctx.outputs.iter().enumerate() {
            let data = super::move_bytes(x, ty, |xb, yb, size| {
                let mut xs = x.shape.clone();
                xs.push(size);
                let mut ys = ty.shape.clone();
                ys.push(size);
                let mut starts = vec![0i64; xs.len()];
                starts[self.axis] = start;
                zant_runtime::shape::slice(xb, &xs, &starts, &vec![1; xs.len()], yb, &ys);
            });
            start += self.sizes[k] as i64;
            out.push(Tensor::new(ty.shape.clone(), data));
        }
        Ok(Some(out))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
        let t = elem_type(x.ty.dtype);
        let ones = vec![1i64; x.ty.rank()];
        let mut body = TokenStream::new();
        let mut start = 0i64;
        for (k, ty) in ctx.outputs.iter().enumerate() {
            let y = if k == 0 {
                Ident::new("y", Span::call_site())
            } else {
                Ident::new(&format!("y{k}"), Span::call_site())
            };
            let mut starts = vec![0i64; x.ty.rank()];
            starts[self.axis] = start;
            let y_shape = shape_tokens(&ty.shape);
            body.extend(quote! {
                rt::shape::slice::<#t>(#xe, #x_shape, &[#(#starts),*], &[#(#ones),*], #y, #y_shape);
            });
            start += self.sizes[k] as i64;
        }
        Ok(body)
    }
}
