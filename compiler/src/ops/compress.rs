//! Compress (opset 9; 11 allows a negative axis): the slices along `axis` (or the
//! elements of the flattened input, without one) whose boolean condition is true. How
//! many depends on the condition, so the output is typed with a capacity (the axis, or
//! less under `--max-len`) and the kernel returns the count ([`super::OpKind::bounded`]).
//! A condition shorter than the axis drops the slices past it; a true entry past the
//! axis is an error at run time, as numpy's `compress` refuses it.

use proc_macro2::TokenStream;
use quote::quote;

use super::nonzero::{capacity_attr, capped, optional_axis};
use super::{
    around_axis, elem_type, required, Attrs, Bounded, EmitCtx, FoldCtx, NarrowSupport, OpError,
    OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Compress {
    /// The axis, normalized; `None` compresses the flattened input.
    pub axis: Option<usize>,
    pub capacity: Option<usize>,
}

impl Compress {
    /// `(outer, len, inner)` of the input around the compressed axis, and that axis.
    fn geometry(&self, x: &TensorType) -> Result<((usize, usize, usize), usize), OpError> {
        match self.axis {
            None => Ok(((1, x.n_elems(), 1), 0)),
            Some(axis) => {
                if axis >= x.rank() {
                    return Err(OpError::shape(format!(
                        "axis {axis} is out of range for {x}"
                    )));
                }
                Ok((around_axis(&x.shape, axis), axis))
            }
        }
    }
}

impl Parse for Compress {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            axis: optional_axis(ctx)?,
            capacity: capacity_attr(ctx)?,
        })
    }
}

impl OpKind for Compress {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> NarrowSupport {
        NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        if let Some(a) = self.axis {
            attrs.int("axis", a as i64);
        }
        if let Some(c) = self.capacity {
            attrs.int("capacity", c as i64);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, cond) = (required(inputs, 0)?, required(inputs, 1)?);
        if cond.dtype != DType::Bool || cond.rank() != 1 {
            return Err(OpError::shape(format!(
                "condition must be a 1-D bool tensor, not {cond}"
            )));
        }
        let ((_, len, _), axis) = self.geometry(x)?;
        let cap = capped(len.min(cond.shape[0]), self.capacity);
        let shape = match self.axis {
            None => vec![cap],
            Some(_) => {
                let mut s = x.shape.clone();
                s[axis] = cap;
                s
            }
        };
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (x, cond) = (ctx.get(0)?, ctx.get(1)?);
        let ((outer, len, inner), axis) = self.geometry(&x.ty())?;
        let cond: Vec<u8> = cond.to_i64s().iter().map(|&b| u8::from(b != 0)).collect();
        let mut shape = match self.axis {
            None => vec![len],
            Some(_) => x.shape.clone(),
        };
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            let count = zant_runtime::select::compress(v, outer, len, inner, &cond, &mut y)
                .map_err(|e| OpError::shape(e.to_string()))?;
            y.truncate(outer * count * inner);
            shape[axis] = count;
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(shape, data)]))
    }

    fn bounded(&self) -> Vec<Bounded> {
        vec![Bounded {
            slot: 0,
            axis: self.axis.unwrap_or(0),
        }]
    }

    fn set_capacity(&mut self, n: usize) -> Result<(), OpError> {
        self.capacity = Some(n);
        Ok(())
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, cond) = (ctx.input(0)?, ctx.expr(1)?);
        let ((outer, len, inner), _) = self.geometry(x.ty)?;
        let (xe, t) = (&x.expr, elem_type(x.ty.dtype));
        let try_ = ctx.try_suffix();
        Ok(quote! {
            let count = rt::select::compress::<#t>(#xe, #outer, #len, #inner, #cond, y) #try_;
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Compress").int("axis", -1).input("f32[3,2]").input("bool[2]").emit(), @r#"
        Compress(f32[3,2], bool[2]) axis=1 -> f32[3,2]
        let count = rt::select::compress::<f32>(x0, 3, 2, 1, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Compress").input("i64[3,2]").input("bool[6]").emit(), @r#"
        Compress(i64[3,2], bool[6]) -> i64[6]
        let count = rt::select::compress::<i64>(x0, 1, 6, 1, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Compress").int("axis", 0).constant(Tensor::new(vec![3, 2], Data::I64(vec![1, 2, 3, 4, 5, 6]))).constant(Tensor::new(vec![3], Data::Bool(vec![0, 1, 1]))).emit(), @"
        Compress(i64[3,2], bool[3]) axis=0 -> i64[3,2]
        folds to i64[2,2] [3, 4, 5, 6]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Compress").input("f32[3]").input("i64[3]").emit(), @"
        infer: condition must be a 1-D bool tensor, not i64[3]
        ");
    }
}
