//! ArgMax and ArgMin (opset 1 on; negative axes since 11, `select_last_index` since 12):
//! int64 indices along one axis, the axis kept as 1 unless `keepdims = 0`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    around_axis, elem_type, normalize_axis, required, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub max: bool,
    pub axis: i64,
    pub keep_dims: bool,
    pub select_last_index: bool,
}

impl Parse for Arg {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            max: ctx.op_type == "ArgMax",
            axis: ctx.int("axis", 0)?,
            keep_dims: ctx.int("keepdims", 1)? != 0,
            select_last_index: ctx.int("select_last_index", 0)? != 0,
        })
    }
}

impl OpKind for Arg {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let axis = normalize_axis(self.axis, x.rank())?;
        let mut shape = x.shape.clone();
        if self.keep_dims {
            shape[axis] = 1;
        } else {
            shape.remove(axis);
        }
        Ok(vec![TensorType::new(DType::I64, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, axis_len, inner) =
            around_axis(&x.shape, normalize_axis(self.axis, x.shape.len())?);
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
        let (outer, axis_len, inner) =
            around_axis(&x.ty.shape, normalize_axis(self.axis, x.ty.rank())?);
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
