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

// Where has no attribute, so the default (empty) `OpKind::attrs` describes it.
impl OpKind for Where {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (c, a, b) = (
            required(inputs, 0)?,
            required(inputs, 1)?,
            required(inputs, 2)?,
        );
        if c.dtype != DType::Bool {
            return Err(OpError::shape(format!(
                "the condition must be bool, not {c}"
            )));
        }
        if a.dtype != b.dtype {
            return Err(OpError::shape(format!("operand types differ: {a} and {b}")));
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
        crate::all_dtypes!(run);
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

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Where").input("bool[2,1]").input("f32[2,3]").input("f32[]").emit(), @"
        Where(bool[2,1], f32[2,3], f32[]) -> f32[2,3]
        rt::shape::where_select::<f32>(x0, &[2, 1], x1, &[2, 3], x2, &[], y, &[2, 3]);
        ");
        let cond = Tensor::new(vec![3], Data::Bool(vec![1, 0, 1]));
        let a = Tensor::new(vec![3], Data::I64(vec![1, 2, 3]));
        let b = Tensor::new(vec![1], Data::I64(vec![-1]));
        insta::assert_snapshot!(node("Where").constant(cond).constant(a).constant(b).emit(), @"
        Where(bool[3], i64[3], i64[1]) -> i64[3]
        folds to i64[3] [1, -1, 3]
        ");
        insta::assert_snapshot!(node("Where").input("u8[3]").input("f32[3]").input("f32[3]").emit(), @"infer: the condition must be bool, not u8[3]");
        insta::assert_snapshot!(node("Where").input("bool[3]").input("f32[3]").input("f64[3]").emit(), @"infer: operand types differ: f32[3] and f64[3]");
    }
}
