//! Slice (opset 1: `starts`/`ends`/`axes` attributes; opset 10 on: inputs, with `steps`;
//! negative axes since 11). Starts and ends are clamped as the spec says; the inputs must
//! be compile-time constants.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, existing_axis, normalize_axis, required, shape_tokens, Attrs, EmitCtx, FoldCtx,
    OpError, OpKind, Parse, ParseCtx,
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
            return Err(OpError::shape(format!(
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
            return Err(OpError::shape(
                "starts, ends, axes and steps differ in length",
            ));
        }
        // Without `axes`, more starts than dims; a scalar's axis 0.
        for &axis in &axes {
            existing_axis(axis, rank)?;
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
                return Err(OpError::shape(format!("step 0 on axis {axis}")));
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
            let len = if dim == 0 {
                // Nothing to read, whatever the direction: clamping a negative step's
                // start to `dim - 1` would otherwise make up one element.
                start = 0;
                0
            } else if step > 0 {
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
        super::transpose::supported_rank(x)?;
        if ctx.opset < 10 {
            let starts = ctx
                .ints("starts")?
                .ok_or_else(|| OpError::attr("starts", "is required"))?;
            let ends = ctx
                .ints("ends")?
                .ok_or_else(|| OpError::attr("ends", "is required"))?;
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
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    /// Every axis, as attributes of opset 1 would give them: a start, an end one step past
    /// the last index read, and the steps when one is not 1. An end before index 0 (a
    /// negative step reading down to the first element) is `i64::MIN`, since a negative end
    /// counts from the back.
    fn attrs(&self, attrs: &mut Attrs) {
        let ends: Vec<i64> = (0..self.starts.len())
            .map(|d| {
                let end = (self.out_shape[d] as i64)
                    .saturating_mul(self.steps[d])
                    .saturating_add(self.starts[d]);
                if end < 0 {
                    i64::MIN
                } else {
                    end
                }
            })
            .collect();
        attrs.ints("starts", &self.starts).ints("ends", &ends);
        if self.steps.iter().any(|&s| s != 1) {
            attrs.ints("steps", &self.steps);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.rank() != self.starts.len() {
            return Err(OpError::shape(format!(
                "{x} does not match the slice's rank"
            )));
        }
        Ok(vec![TensorType::new(x.dtype, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let out = &ctx.outputs[0];
        let data = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::shape::slice(v, &x.shape, &self.starts, &self.steps, &mut y, &self.out_shape);
            super::retag(y, x.dtype())
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

#[cfg(test)]
mod tests {
    use crate::ops::testing::{i64s, node};

    #[test]
    fn emits() {
        // Starts and ends from the back, axes and steps: the last axis read backwards.
        insta::assert_snapshot!(node("Slice").input("f32[3,8]")
            .constant(i64s(&[-1, 1])).constant(i64s(&[i64::MIN, 100])).constant(i64s(&[1, 0])).constant(i64s(&[-2, 1])).emit(), @"
        Slice(f32[3,8]) starts=[1,7] ends=[3,-9223372036854775808] steps=[1,-2] -> f32[2,4]
        rt::shape::slice::<f32>(x0, &[3, 8], &[1i64, 7i64], &[1i64, -2i64], y, &[2, 4]);
        ");
        insta::assert_snapshot!(node("Slice").opset(9).ints("starts", &[1]).ints("ends", &[-1]).ints("axes", &[1]).input("i64[2,5]").emit(), @"
        Slice(i64[2,5]) starts=[0,1] ends=[2,4] -> i64[2,3]
        rt::shape::slice::<i64>(x0, &[2, 5], &[0i64, 1i64], &[1i64, 1i64], y, &[2, 3]);
        ");
        // A backward slice of an empty axis reads nothing.
        insta::assert_snapshot!(node("Slice").input("f32[0,2]").constant(i64s(&[-1])).constant(i64s(&[i64::MIN])).constant(i64s(&[0])).constant(i64s(&[-1])).emit(), @"
        Slice(f32[0,2]) starts=[0,0] ends=[0,2] steps=[-1,1] -> f32[0,2]
        rt::shape::slice::<f32>(x0, &[0, 2], &[0i64, 0i64], &[-1i64, 1i64], y, &[0, 2]);
        ");
        insta::assert_snapshot!(node("Slice").constant(i64s(&[1, 2, 3, 4, 5])).constant(i64s(&[1])).constant(i64s(&[4])).emit(), @"
        Slice(i64[5]) starts=[1] ends=[4] -> i64[3]
        folds to i64[3] [2, 3, 4]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Slice").input("f32[4]").constant(i64s(&[0])).constant(i64s(&[4])).constant(i64s(&[0])).constant(i64s(&[0])).emit(), @"parse: step 0 on axis 0");
        insta::assert_snapshot!(node("Slice").input("f32[4]").input("i64[1]").constant(i64s(&[4])).emit(), @"parse: input 1 (starts) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("Slice").opset(9).ints("starts", &[0]).input("f32[4]").emit(), @"parse: attribute `ends`: is required");
        // Axes that are not there: a scalar's 0, and more starts than dims without `axes`
        // (both had indexed past the shape).
        insta::assert_snapshot!(node("Slice").input("f32[]").constant(i64s(&[0])).constant(i64s(&[1])).constant(i64s(&[0])).emit(), @"parse: axis 0 is out of range for rank 0");
        insta::assert_snapshot!(node("Slice").input("f32[4]").constant(i64s(&[0, 0])).constant(i64s(&[1, 1])).emit(), @"parse: axis 1 is out of range for rank 1");
    }
}
