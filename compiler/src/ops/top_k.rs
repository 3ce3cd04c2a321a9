//! TopK (opset 1: `k` attribute; 10 on: `k` input, which must be a compile-time constant;
//! 11 adds `largest` and `sorted`): the k largest (or smallest) values along an axis,
//! sorted, ties to the lower index, and their int64 indices.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    around_axis, elem_type, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct TopK {
    pub axis: i64,
    pub k: usize,
    pub largest: bool,
}

impl Parse for TopK {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if x.rank() == 0 {
            return Err(OpError::shape(format!(
                "cannot take the top k of the scalar {x}"
            )));
        }
        let k = if ctx.opset < 10 {
            // `K` is how the IR text prints it at any opset.
            ctx.int("k", ctx.int("K", 0)?)?
        } else {
            *ctx.absorb(1, "K")?
                .to_i64s()
                .first()
                .ok_or_else(|| OpError::shape("K is empty"))?
        };
        let axis = ctx.int("axis", -1)?;
        let dim = x.shape[normalize_axis(axis, x.rank())?];
        let k = usize::try_from(k)
            .ok()
            .filter(|&k| k <= dim)
            .ok_or_else(|| OpError::shape(format!("k {k} is not in 0..={dim}")))?;
        Ok(Self {
            axis,
            k,
            largest: ctx.int("largest", 1)? != 0,
        })
    }
}

impl OpKind for TopK {
    /// `K` under its input's name, which the IR text reads back as the absorbed input.
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("axis", self.axis)
            .int("K", self.k as i64)
            .int("largest", i64::from(self.largest));
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let axis = normalize_axis(self.axis, x.rank())?;
        let mut shape = x.shape.clone();
        match shape.get_mut(axis) {
            Some(dim) if *dim >= self.k => *dim = self.k,
            _ => {
                return Err(OpError::shape(format!(
                    "{x} has no {} elements on axis {axis}",
                    self.k
                )))
            }
        }
        Ok(vec![
            TensorType::new(x.dtype, shape.clone()),
            TensorType::new(DType::I64, shape),
        ])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, len, inner) = around_axis(&x.shape, normalize_axis(self.axis, x.shape.len())?);
        let shape = ctx.outputs[0].shape.clone();
        let mut indices = vec![0i64; outer * self.k * inner];
        let values = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); outer * self.k * inner];
            zant_runtime::index::top_k(v, outer, len, inner, self.k, self.largest, &mut y, &mut indices);
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![
            Tensor::new(shape.clone(), values),
            Tensor::new(shape, Data::I64(indices)),
        ]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, len, inner) = around_axis(&x.ty.shape, normalize_axis(self.axis, x.ty.rank())?);
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let (k, largest) = (self.k, self.largest);
        Ok(quote! { rt::index::top_k::<#t>(#xe, #outer, #len, #inner, #k, #largest, y, y1); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("TopK").int("axis", 0).int("largest", 0).input("f32[5,2]").constant(Tensor::from_i64s(vec![3])).outputs(2).emit(), @"
        TopK(f32[5,2]) axis=0 K=3 largest=0 -> f32[3,2], i64[3,2]
        rt::index::top_k::<f32>(x0, 1, 5, 2, 3, false, y, y1);
        ");
        insta::assert_snapshot!(node("TopK").opset(1).int("k", 2).input("f32[2,4]").outputs(2).emit(), @"
        TopK(f32[2,4]) axis=-1 K=2 largest=1 -> f32[2,2], i64[2,2]
        rt::index::top_k::<f32>(x0, 2, 4, 1, 2, true, y, y1);
        ");
        insta::assert_snapshot!(node("TopK").constant(Tensor::new(vec![3], Data::F32(vec![1.0, 3.0, 2.0]))).constant(Tensor::from_i64s(vec![2])).outputs(2).emit(), @"
        TopK(f32[3]) axis=-1 K=2 largest=1 -> f32[2], i64[2]
        folds to f32[2] [3.0, 2.0], i64[2] [1, 2]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("TopK").input("f32[2,4]").constant(Tensor::from_i64s(vec![5])).outputs(2).emit(), @"parse: k 5 is not in 0..=4");
        insta::assert_snapshot!(node("TopK").input("f32[2,4]").input("i64[1]").outputs(2).emit(), @"parse: input 1 (K) must be a compile-time constant; zant compiles static shapes only");
    }
}
