//! ArgMax and ArgMin (opset 1 on; negative axes since 11, `select_last_index` since 12):
//! int64 indices along one axis, the axis kept as 1 unless `keepdims = 0`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    around_checked_axis, elem_type, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError,
    OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub max: bool,
    /// The axis, normalised against the input's rank.
    pub axis: usize,
    pub keep_dims: bool,
    pub select_last_index: bool,
}

impl Parse for Arg {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        Ok(Self {
            max: ctx.op_type == "ArgMax",
            axis: normalize_axis(ctx.int("axis", 0)?, x.rank())?,
            keep_dims: ctx.int("keepdims", 1)? != 0,
            select_last_index: ctx.int("select_last_index", 0)? != 0,
        })
    }
}

impl OpKind for Arg {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("axis", self.axis as i64);
        if !self.keep_dims {
            attrs.int("keepdims", 0);
        }
        if self.select_last_index {
            attrs.int("select_last_index", 1);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        around_checked_axis(&x.shape, self.axis)?;
        let mut shape = x.shape.clone();
        if self.keep_dims {
            shape[self.axis] = 1;
        } else {
            shape.remove(self.axis);
        }
        Ok(vec![TensorType::new(DType::I64, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, axis_len, inner) = around_checked_axis(&x.shape, self.axis)?;
        let mut y = vec![0i64; outer * inner];
        crate::with_data!(&x.data, v => {
            if self.max {
                zant_runtime::reduce::arg_max(v, outer, axis_len, inner, self.select_last_index, &mut y)
            } else {
                zant_runtime::reduce::arg_min(v, outer, axis_len, inner, self.select_last_index, &mut y)
            }
        });
        Ok(Some(vec![Tensor::new(
            ctx.outputs[0].shape.clone(),
            Data::I64(y),
        )]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, axis_len, inner) = around_checked_axis(&x.ty.shape, self.axis)?;
        let xe = &x.expr;
        let t = elem_type(x.ty.dtype);
        let last = self.select_last_index;
        Ok(if self.max {
            quote! { rt::reduce::arg_max::<#t>(#xe, #outer, #axis_len, #inner, #last, y); }
        } else {
            quote! { rt::reduce::arg_min::<#t>(#xe, #outer, #axis_len, #inner, #last, y); }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("ArgMax").int("axis", -1).input("f32[2,3,4]").emit(), @"
        ArgMax(f32[2,3,4]) axis=2 -> i64[2,3,1]
        rt::reduce::arg_max::<f32>(x0, 6, 4, 1, false, y);
        ");
        insta::assert_snapshot!(node("ArgMin").int("keepdims", 0).int("select_last_index", 1).input("i32[5,2]").emit(), @"
        ArgMin(i32[5,2]) axis=0 keepdims=0 select_last_index=1 -> i64[2]
        rt::reduce::arg_min::<i32>(x0, 1, 5, 2, true, y);
        ");
        let values = Tensor::new(vec![2, 3], Data::F32(vec![1.0, 3.0, 3.0, -1.0, -2.0, -2.0]));
        insta::assert_snapshot!(node("ArgMax").int("axis", 1).int("select_last_index", 1).constant(values.clone()).emit(), @"
        ArgMax(f32[2,3]) axis=1 select_last_index=1 -> i64[2,1]
        folds to i64[2,1] [2, 0]
        ");
        insta::assert_snapshot!(node("ArgMin").int("axis", 1).constant(values).emit(), @"
        ArgMin(f32[2,3]) axis=1 -> i64[2,1]
        folds to i64[2,1] [0, 1]
        ");
        insta::assert_snapshot!(node("ArgMax").int("axis", 2).input("f32[2,3]").emit(), @"parse: axis 2 is out of range for rank 2");
    }
}
