//! NonZero (opset 9; 13 adds bfloat16): the indices of the non-zero elements, row-major,
//! as `int64[rank, count]`. `count` depends on the data, so the output is typed with a
//! capacity (every element, or less under `--max-len`) and the kernel returns `count`
//! ([`super::OpKind::bounded`]).

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, required, Attrs, Bounded, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct NonZero {
    /// The capacity `--max-len` set, below the element count.
    pub capacity: Option<usize>,
}

impl Parse for NonZero {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            capacity: capacity_attr(ctx)?,
        })
    }
}

/// The `capacity` the IR text prints for a pinned data-dependent length.
pub(super) fn capacity_attr(ctx: &ParseCtx<'_>) -> Result<Option<usize>, OpError> {
    match ctx.attr("capacity") {
        None => Ok(None),
        Some(_) => ctx.count("capacity", 0).map(Some),
    }
}

/// The optional `axis` attribute normalized against input 0's rank; `None` when absent
/// (Compress and Unique then take the flattened input).
pub(super) fn optional_axis(ctx: &ParseCtx<'_>) -> Result<Option<usize>, OpError> {
    match ctx.attr("axis") {
        None => Ok(None),
        Some(_) => Ok(Some(super::normalize_axis(
            ctx.int("axis", 0)?,
            ctx.input(0)?.rank(),
        )?)),
    }
}

/// The capacity of a data-dependent axis: what the shapes allow, or less when pinned.
pub(super) fn capped(most: usize, pinned: Option<usize>) -> usize {
    pinned.map_or(most, |p| p.min(most))
}

impl OpKind for NonZero {
    fn attrs(&self, attrs: &mut Attrs) {
        if let Some(c) = self.capacity {
            attrs.int("capacity", c as i64);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let cap = capped(x.n_elems(), self.capacity);
        Ok(vec![TensorType::new(DType::I64, vec![x.rank(), cap])])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let rank = x.shape.len();
        let mut y = vec![0i64; rank * x.n_elems()];
        let count =
            crate::with_data!(&x.data, v => zant_runtime::select::nonzero(v, &x.shape, &mut y))
                .map_err(|e| OpError::shape(e.to_string()))?;
        let mut packed = y;
        packed.truncate(rank * count);
        Ok(Some(vec![Tensor::new(
            vec![rank, count],
            Data::I64(packed),
        )]))
    }

    fn bounded(&self) -> Vec<Bounded> {
        vec![Bounded { slot: 0, axis: 1 }]
    }

    fn set_capacity(&mut self, n: usize) -> Result<(), OpError> {
        self.capacity = Some(n);
        Ok(())
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, t) = (&x.expr, elem_type(x.ty.dtype));
        let dims = &x.ty.shape;
        let try_ = ctx.try_suffix();
        Ok(quote! { let count = rt::select::nonzero::<#t>(#xe, &[#(#dims),*], y) #try_; })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("NonZero").input("bool[2,3]").emit(), @r#"
        NonZero(bool[2,3]) -> i64[2,6]
        let count = rt::select::nonzero::<u8>(x0, &[2, 3], y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("NonZero").int("capacity", 4).input("f32[8]").emit(), @r#"
        NonZero(f32[8]) capacity=4 -> i64[1,4]
        let count = rt::select::nonzero::<f32>(x0, &[8], y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("NonZero").constant(Tensor::new(vec![2, 2], Data::F32(vec![1.0, 0.0, 0.0, -2.0]))).emit(), @"
        NonZero(f32[2,2]) -> i64[2,4]
        folds to i64[2,2] [0, 1, 0, 1]
        ");
    }
}
