//! Where (opset 9 on; 16 only adds types): `cond ? x : y` with numpy broadcasting of all three.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    broadcast_shapes, elem_type, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Where;

impl Parse for Where {
    fn parse(_ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self)
    }
}

impl OpKind for Where {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (c, a, b) = (
            required(inputs, 0)?,
            required(inputs, 1)?,
            required(inputs, 2)?,
        );
        if c.dtype != DType::Bool {
            return Err(OpError::Other(format!(
                "the condition must be bool, not {c}"
            )));
        }
        if a.dtype != b.dtype {
            return Err(OpError::Other(format!("operand types differ: {a} and {b}")));
        }
        let shape = broadcast_shapes(&broadcast_shapes(&c.shape, &a.shape)?, &b.shape)?;
        Ok(vec![TensorType::new(a.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (c, a, b) = (ctx.get(0)?, ctx.get(1)?, ctx.get(2)?);
        let out = &ctx.outputs[0];
        let Data::Bool(cond) = &c.data else {
            return Ok(None);
        };
        let mut data = Data::zeros(out.dtype, out.n_elems());
        macro_rules! run {
            ($($variant:ident),*) => {
                match (&a.data, &b.data, &mut data) {
                    $((Data::$variant(x), Data::$variant(z), Data::$variant(y)) => {
                        zant_runtime::shape::where_select(cond, &c.shape, x, &a.shape, z, &b.shape, y, &out.shape)
                    })*
                    _ => return Ok(None),
                }
            };
        }
        run!(F32, F64, I8, U8, I16, U16, I32, U32, I64, U64, Bool);
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (c, a, b) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
        let (ce, ae, be) = (&c.expr, &a.expr, &b.expr);
        let (cs, a_shape, b_shape) = (
            shape_tokens(&c.ty.shape),
            shape_tokens(&a.ty.shape),
            shape_tokens(&b.ty.shape),
        );
        let y_shape = shape_tokens(&ctx.out_ty().shape);
        let t = elem_type(a.ty.dtype);
        Ok(quote! {
            rt::shape::where_select::<#t>(#ce, #cs, #ae, #a_shape, #be, #b_shape, y, #y_shape);
        })
    }
}
