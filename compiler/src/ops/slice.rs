//! Slice (opset 1: `starts`/`ends`/`axes` attributes; opset 10 on: inputs, with `steps`;
//! negative axes since 11). Starts and ends are clamped as the spec says; the inputs must
//! be compile-time constants.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, normalize_axis, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    /// Per input dim: the first index read.
    pub starts: Vec<i64>,
    /// Per input dim: the step between indices read.
    pub steps: Vec<i64>,
    pub out_shape: Vec<usize>,
}

impl Slice {
    /// Resolves per-axis starts, ends and steps against `shape`.
    pub fn new(
        shape: &[usize],
        starts: &[i64],
        ends: &[i64],
        axes: Option<&[i64]>,
        steps: Option<&[i64]>,
    ) -> Result<Self, OpError> {
        let rank = shape.len();
        let n = starts.len();
        if ends.len() != n {
            return Err(OpError::Other(format!(
                "{n} starts but {} ends",
                ends.len()
            )));
        }
        let axes: Vec<usize> = match axes {
            Some(a) => a
                .iter()
                .map(|&a| normalize_axis(a, rank))
                .collect::<Result<_, _>>()?,
            None => (0..n).collect(),
        };
        let steps: Vec<i64> = steps.map_or_else(|| vec![1; n], <[i64]>::to_vec);
        if axes.len() != n || steps.len() != n {
            return Err(OpError::Other(
                "starts, ends, axes and steps differ in length".into(),
            ));
        }
        let mut out = Self {
            starts: vec![0; rank],
            steps: vec![1; rank],
            out_shape: shape.to_vec(),
        };
        for (i, &axis) in axes.iter().enumerate() {
            let dim = shape[axis] as i128;
            let step = steps[i] as i128;
            if step == 0 {
                return Err(OpError::Other("a step is 0".into()));
            }
            let resolve = |v: i64| {
                let v = v as i128;
                if v < 0 {
                    v + dim
                } else {
                    v
                }
            };
            let (mut start, mut end) = (resolve(starts[i]), resolve(ends[i]));
            let len = if step > 0 {
                start = start.clamp(0, dim);
                end = end.clamp(0, dim);
                ((end - start).max(0) + step - 1) / step
            } else {
                start = start.clamp(0, (dim - 1).max(0));
                end = end.clamp(-1, dim - 1);
                ((start - end).max(0) + (-step) - 1) / (-step)
            };
            out.starts[axis] = start as i64;
            out.steps[axis] = step as i64;
            out.out_shape[axis] = len as usize;
        }
        Ok(out)
    }
}

impl Parse for Slice {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if ctx.opset < 10 {
            let starts = ctx
                .ints("starts")?
                .ok_or("attribute `starts` is required")?;
            let ends = ctx.ints("ends")?.ok_or("attribute `ends` is required")?;
            let axes = ctx.ints("axes")?;
            return Self::new(&x.shape, &starts, &ends, axes.as_deref(), None);
        }
        let starts = ctx.absorb(1, "starts")?.to_i64s();
        let ends = ctx.absorb(2, "ends")?.to_i64s();
        let axes = ctx.absorb_optional(3, "axes")?.map(|t| t.to_i64s());
        let steps = ctx.absorb_optional(4, "steps")?.map(|t| t.to_i64s());
        Self::new(&x.shape, &starts, &ends, axes.as_deref(), steps.as_deref())
    }
}

impl OpKind for Slice {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.rank() != self.starts.len() {
            return Err(OpError::Other(format!(
                "{x} does not match the slice's rank"
            )));
        }
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
            let mut starts = self.starts.clone();
            starts.push(0);
            let mut steps = self.steps.clone();
            steps.push(1);
            zant_runtime::shape::slice(xb, &xs, &starts, &steps, yb, &ys);
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
        let (starts, steps) = (&self.starts, &self.steps);
        let y_shape = shape_tokens(&self.out_shape);
        let t = elem_type(x.ty.dtype);
        Ok(quote! {
            rt::shape::slice::<#t>(#xe, #x_shape, &[#(#starts),*], &[#(#steps),*], y, #y_shape);
        })
    }
}
