//! ReverseSequence (opset 10 on): reverses the first `sequence_lens[b]` steps of every
//! batch entry along the time axis; the lengths are an input read at run time.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct ReverseSequence {
    pub time_axis: usize,
}

impl Parse for ReverseSequence {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let time_axis = ctx.int("time_axis", 0)?;
        let batch_axis = ctx.int("batch_axis", 1)?;
        match (time_axis, batch_axis) {
            (0, 1) => Ok(Self { time_axis: 0 }),
            (1, 0) => Ok(Self { time_axis: 1 }),
            _ => Err(OpError::attr(
                "time_axis",
                format!("time_axis {time_axis} and batch_axis {batch_axis} must be 0 and 1, in either order"),
            )),
        }
    }
}

impl OpKind for ReverseSequence {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("time_axis", self.time_axis as i64);
        attrs.int("batch_axis", 1 - self.time_axis as i64);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let lens = required(inputs, 1)?;
        if x.shape.len() < 2 {
            return Err(OpError::shape(format!(
                "the input is of rank {}; ReverseSequence takes rank 2 or more",
                x.shape.len()
            )));
        }
        let batch = x.shape[1 - self.time_axis];
        if lens.dtype != DType::I64 || lens.shape != [batch] {
            return Err(OpError::shape(format!(
                "sequence_lens is {lens}; it must be i64[{batch}]"
            )));
        }
        Ok(vec![x.clone()])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let lens = ctx.expr(1)?;
        let shape = &x.ty.shape;
        let (time, batch) = (shape[self.time_axis], shape[1 - self.time_axis]);
        let inner: usize = shape[2..].iter().product();
        let time_first = self.time_axis == 0;
        let (xe, t) = (&x.expr, elem_type(x.ty.dtype));
        let err = ctx.try_suffix();
        Ok(quote! {
            rt::index::reverse_sequence::<#t>(#xe, #time, #batch, #inner, #time_first, #lens, y)#err;
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("ReverseSequence").input("f32[4,2,3]").input("i64[2]").emit(), @r#"
        ReverseSequence(f32[4,2,3], i64[2]) time_axis=0 batch_axis=1 -> f32[4,2,3]
        rt::index::reverse_sequence::<f32>(x0, 4, 2, 3, true, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("ReverseSequence").int("time_axis", 1).int("batch_axis", 0).input("f32[2,4]").input("i64[2]").emit(), @r#"
        ReverseSequence(f32[2,4], i64[2]) time_axis=1 batch_axis=0 -> f32[2,4]
        rt::index::reverse_sequence::<f32>(x0, 4, 2, 1, false, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("ReverseSequence").int("time_axis", 1).input("f32[2,4]").input("i64[2]").emit(), @"parse: attribute `time_axis`: time_axis 1 and batch_axis 1 must be 0 and 1, in either order");
        insta::assert_snapshot!(node("ReverseSequence").input("f32[4,2]").input("i32[2]").emit(), @"infer: sequence_lens is i32[2]; it must be i64[2]");
    }
}
