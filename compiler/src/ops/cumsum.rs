//! CumSum (opset 11 on; 14 adds types) and CumProd (opset 26): running sums or products
//! along one axis (an input, a compile-time constant), optionally `exclusive` and/or
//! `reverse`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    around_checked_axis, elem_type, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError,
    OpKind, Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct CumSum {
    pub product: bool,
    /// The axis (input 1), normalised against the input's rank.
    pub axis: usize,
    pub exclusive: bool,
    pub reverse: bool,
}

impl Parse for CumSum {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let axis = match ctx.absorb(1, "axis")?.to_i64s().as_slice() {
            [axis] => normalize_axis(*axis, x.rank())?,
            other => {
                return Err(OpError::shape(format!(
                    "the axis input holds {} values, not one",
                    other.len()
                )))
            }
        };
        Ok(Self {
            product: ctx.op_type == "CumProd",
            axis,
            exclusive: ctx.int("exclusive", 0)? != 0,
            reverse: ctx.int("reverse", 0)? != 0,
        })
    }
}

impl OpKind for CumSum {
    /// The axis under its input's name, and the switches that are on.
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("axis", self.axis as i64);
        if self.exclusive {
            attrs.int("exclusive", 1);
        }
        if self.reverse {
            attrs.int("reverse", 1);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        around_checked_axis(&x.shape, self.axis)?;
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, len, inner) = around_checked_axis(&x.shape, self.axis)?;
        let data = crate::with_data!(&x.data, v => {
            let mut y = v.clone();
            if self.product {
                zant_runtime::index::cumprod(v, outer, len, inner, self.exclusive, self.reverse, &mut y);
            } else {
                zant_runtime::index::cumsum(v, outer, len, inner, self.exclusive, self.reverse, &mut y);
            }
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, len, inner) = around_checked_axis(&x.ty.shape, self.axis)?;
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let (exclusive, reverse) = (self.exclusive, self.reverse);
        let kernel = if self.product {
            quote!(cumprod)
        } else {
            quote!(cumsum)
        };
        Ok(quote! { rt::index::#kernel::<#t>(#xe, #outer, #len, #inner, #exclusive, #reverse, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        let axis = |a: i64| Tensor::new(vec![], Data::I64(vec![a]));
        insta::assert_snapshot!(node("CumSum").input("f32[2,3]").constant(axis(-1)).emit(), @"
        CumSum(f32[2,3]) axis=1 -> f32[2,3]
        rt::index::cumsum::<f32>(x0, 2, 3, 1, false, false, y);
        ");
        insta::assert_snapshot!(node("CumSum").int("exclusive", 1).int("reverse", 1).input("i32[4,2]").constant(axis(0)).emit(), @"
        CumSum(i32[4,2]) axis=0 exclusive=1 reverse=1 -> i32[4,2]
        rt::index::cumsum::<i32>(x0, 1, 4, 2, true, true, y);
        ");
        insta::assert_snapshot!(node("CumProd").input("f64[5]").constant(axis(0)).emit(), @"
        CumProd(f64[5]) axis=0 -> f64[5]
        rt::index::cumprod::<f64>(x0, 1, 5, 1, false, false, y);
        ");
        let values = Tensor::new(vec![4], Data::I64(vec![1, 2, 3, 4]));
        insta::assert_snapshot!(node("CumSum").int("exclusive", 1).constant(values.clone()).constant(axis(0)).emit(), @"
        CumSum(i64[4]) axis=0 exclusive=1 -> i64[4]
        folds to i64[4] [0, 1, 3, 6]
        ");
        insta::assert_snapshot!(node("CumProd").int("reverse", 1).constant(values).constant(axis(0)).emit(), @"
        CumProd(i64[4]) axis=0 reverse=1 -> i64[4]
        folds to i64[4] [24, 24, 12, 4]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("CumSum").input("f32[2,3]").input("i64[]").emit(), @"parse: input 1 (axis) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("CumSum").input("f32[2,3]").constant(Tensor::from_i64s(vec![0, 1])).emit(), @"parse: the axis input holds 2 values, not one");
        insta::assert_snapshot!(node("CumSum").input("f32[2,3]").constant(Tensor::from_i64s(vec![2])).emit(), @"parse: axis 2 is out of range for rank 2");
    }
}
