//! Split (opset 2: `split` attribute; 13 on: `split` input; 18 adds `num_outputs`): cuts
//! the input along one axis into several outputs, equal parts when no sizes are given
//! (with `num_outputs`, the last part may be smaller). Sizes must be compile-time constants.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::{
    elem_type, normalize_axis, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub axis: usize,
    pub sizes: Vec<usize>,
}

/// `dim` cut into `n` parts of `dim / n` rounded up, the last ones smaller (or empty).
fn parts(dim: usize, n: usize) -> Vec<usize> {
    let part = dim.div_ceil(n);
    (0..n)
        .map(|i| part.min(dim.saturating_sub(i * part)))
        .collect()
}

impl Parse for Split {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if x.rank() == 0 {
            return Err(OpError::shape(format!("cannot split the scalar {x}")));
        }
        super::transpose::supported_rank(x)?;
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
                .map(|&v| {
                    usize::try_from(v)
                        .map_err(|_| OpError::shape(format!("split {s:?} has a negative size")))
                })
                .collect::<Result<_, _>>()?,
            None => {
                let num_outputs = ctx.attr("num_outputs");
                let n = match num_outputs {
                    // More parts than elements (or named outputs) is no split at all, and
                    // would only allocate a list of empty parts.
                    Some(a) => usize::try_from(a.as_int("num_outputs")?)
                        .ok()
                        .filter(|&n| n >= 1 && n <= dim.max(ctx.n_outputs))
                        .ok_or_else(|| {
                            OpError::attr(
                                "num_outputs",
                                format!("is not between 1 and {}", dim.max(ctx.n_outputs)),
                            )
                        })?,
                    None => ctx.n_outputs,
                };
                if n == 0 {
                    return Err(OpError::shape("the node names no output"));
                }
                if num_outputs.is_none() && dim % n != 0 {
                    return Err(OpError::shape(format!(
                        "{dim} does not split into {n} equal parts"
                    )));
                }
                parts(dim, n)
            }
        };
        if sizes.iter().try_fold(0usize, |sum, &s| sum.checked_add(s)) != Some(dim) {
            return Err(OpError::shape(format!(
                "sizes {sizes:?} do not add up to {dim}"
            )));
        }
        Ok(Self { axis, sizes })
    }
}

impl OpKind for Split {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("axis", self.axis as i64)
            .usizes("split", &self.sizes);
        // Unequal parts without a `split` input come from `num_outputs` (the last part
        // smaller), which the node's output count alone would refuse.
        let (dim, n) = (self.sizes.iter().sum(), self.sizes.len());
        if n > 0 && dim % n != 0 && self.sizes == parts(dim, n) {
            attrs.int("num_outputs", n as i64);
        }
    }

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
            let mut starts = vec![0i64; x.shape.len()];
            starts[self.axis] = start;
            let steps = vec![1; x.shape.len()];
            let data = crate::with_data!(&x.data, v => {
                let mut y = vec![Default::default(); ty.n_elems()];
                zant_runtime::shape::slice(v, &x.shape, &starts, &steps, &mut y, &ty.shape);
                super::retag(y, x.dtype())
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

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::Tensor;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Split").int("axis", 1).int("num_outputs", 3).input("f32[2,7]").outputs(3).emit(), @"
        Split(f32[2,7]) axis=1 split=[3,3,1] num_outputs=3 -> f32[2,3], f32[2,3], f32[2,1]
        rt::shape::slice::<f32>(x0, &[2, 7], &[0i64, 0i64], &[1i64, 1i64], y, &[2, 3]);
        rt::shape::slice::<f32>(x0, &[2, 7], &[0i64, 3i64], &[1i64, 1i64], y1, &[2, 3]);
        rt::shape::slice::<f32>(x0, &[2, 7], &[0i64, 6i64], &[1i64, 1i64], y2, &[2, 1]);
        ");
        insta::assert_snapshot!(node("Split").input("f32[4,2]").constant(Tensor::from_i64s(vec![1, 3])).outputs(2).emit(), @"
        Split(f32[4,2]) axis=0 split=[1,3] -> f32[1,2], f32[3,2]
        rt::shape::slice::<f32>(x0, &[4, 2], &[0i64, 0i64], &[1i64, 1i64], y, &[1, 2]);
        rt::shape::slice::<f32>(x0, &[4, 2], &[1i64, 0i64], &[1i64, 1i64], y1, &[3, 2]);
        ");
        insta::assert_snapshot!(node("Split").opset(11).ints("split", &[2, 2]).input("i32[4]").outputs(2).emit(), @"
        Split(i32[4]) axis=0 split=[2,2] -> i32[2], i32[2]
        rt::shape::slice::<i32>(x0, &[4], &[0i64], &[1i64], y, &[2]);
        rt::shape::slice::<i32>(x0, &[4], &[2i64], &[1i64], y1, &[2]);
        ");
        insta::assert_snapshot!(node("Split").input("f32[6]").outputs(3).emit(), @"
        Split(f32[6]) axis=0 split=[2,2,2] -> f32[2], f32[2], f32[2]
        rt::shape::slice::<f32>(x0, &[6], &[0i64], &[1i64], y, &[2]);
        rt::shape::slice::<f32>(x0, &[6], &[2i64], &[1i64], y1, &[2]);
        rt::shape::slice::<f32>(x0, &[6], &[4i64], &[1i64], y2, &[2]);
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Split").input("f32[7]").outputs(2).emit(), @"parse: 7 does not split into 2 equal parts");
        insta::assert_snapshot!(node("Split").int("num_outputs", -1).input("f32[7]").emit(), @"parse: attribute `num_outputs`: is not between 1 and 7");
        insta::assert_snapshot!(node("Split").input("f32[4]").constant(Tensor::from_i64s(vec![1, 2])).outputs(2).emit(), @"parse: sizes [1, 2] do not add up to 4");
    }
}
