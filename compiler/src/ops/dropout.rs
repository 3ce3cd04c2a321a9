//! Dropout in inference mode (opset 7 on; `ratio` and `training_mode` become inputs in
//! 12): the output is the input, and the optional `mask` output is all ones, the type of
//! the input before opset 10 and `bool` from 10 on. Training mode (a `training_mode` of
//! true) draws random numbers and is refused.
//!
//! A node without the mask is a view ([`Reshape`]), which costs nothing; with
//! the mask it is a [`Dropout`], which copies the input and fills the mask.

use proc_macro2::TokenStream;
use quote::quote;

use super::reshape::Reshape;
use super::{
    elem_type, required, EmitCtx, FoldCtx, NarrowSupport, Op, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

/// Dropout with its `mask` output.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    /// The mask is `bool` (opset 10 on) rather than the input's type.
    pub bool_mask: bool,
}

/// The table's parser for Dropout: a view when the node names only the output, a
/// [`Dropout`] when it names the mask too. Both refuse training mode but with a ratio
/// of 0.
pub fn parse(ctx: &ParseCtx<'_>) -> Result<Op, OpError> {
    // Reshape's parser checks `training_mode` and absorbs `ratio`, with or without a mask.
    let view = Reshape::parse(ctx)?;
    if ctx.n_outputs < 2 {
        return Ok(Op::from(view));
    }
    Ok(Op::from(Dropout {
        bool_mask: ctx.opset >= 10,
    }))
}

impl Dropout {
    fn mask_type(&self, x: &TensorType) -> TensorType {
        let dtype = if self.bool_mask { DType::Bool } else { x.dtype };
        TensorType::new(dtype, x.shape.clone())
    }
}

impl OpKind for Dropout {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![x.clone(), self.mask_type(x)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let mask = self.mask_type(&x.ty());
        let ones = Data::from_f64(mask.dtype, &vec![1.0; mask.n_elems()]);
        Ok(Some(vec![x.clone(), Tensor::new(mask.shape, ones)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let t = elem_type(self.mask_type(x.ty).dtype);
        Ok(quote! {
            rt::shape::copy(#xe, y);
            y1.fill(<#t as rt::scalar::Scalar>::ONE);
        })
    }

    fn narrow(&self) -> NarrowSupport {
        // The output is the input's bytes and the mask is ones, in any type but the
        // packed ones, like the views (whose narrow support `reshape` declares).
        NarrowSupport::Moves
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Dropout").outputs(2).input("f32[2,3]").emit(), @r"
        Dropout(f32[2,3]) -> f32[2,3], bool[2,3]
        rt::shape::copy(x0, y);
        y1.fill(<u8 as rt::scalar::Scalar>::ONE);
        ");
        insta::assert_snapshot!(node("Dropout").outputs(2).input("f32[2,3]").constant(Tensor::scalar_f32(0.25))
            .constant(Tensor::new(vec![], Data::Bool(vec![0]))).emit(), @r"
        Dropout(f32[2,3]) -> f32[2,3], bool[2,3]
        rt::shape::copy(x0, y);
        y1.fill(<u8 as rt::scalar::Scalar>::ONE);
        ");
        // Training mode with a ratio of 0 keeps every value: the inference copy.
        insta::assert_snapshot!(node("Dropout").outputs(2).input("f32[2,3]").constant(Tensor::scalar_f32(0.0))
            .constant(Tensor::new(vec![], Data::Bool(vec![1]))).emit(), @r#"
        Dropout(f32[2,3]) -> f32[2,3], bool[2,3]
        rt::shape::copy(x0, y);
        y1.fill(<u8 as rt::scalar::Scalar>::ONE);
        "#);
        insta::assert_snapshot!(node("Dropout").opset(7).outputs(2).float("ratio", 0.5).input("f32[2]").emit(), @r"
        Dropout(f32[2]) -> f32[2], f32[2]
        rt::shape::copy(x0, y);
        y1.fill(<f32 as rt::scalar::Scalar>::ONE);
        ");
        insta::assert_snapshot!(node("Dropout").outputs(2).constant(Tensor::new(vec![2], Data::F32(vec![1.0, 2.0]))).emit(), @r"
        Dropout(f32[2]) -> f32[2], bool[2]
        folds to f32[2] [1.0, 2.0], bool[2] [1, 1]
        ");
        // Without the mask, the node stays a view.
        insta::assert_snapshot!(node("Dropout").input("f32[2,3]").emit(), @r"
        Dropout(f32[2,3]) -> f32[2,3]
        rt::shape::copy(x0, y);
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Dropout").outputs(2).input("f32[2]").omitted()
            .constant(Tensor::new(vec![], Data::Bool(vec![1]))).emit(), @"parse: training_mode is true with a ratio of 0.5: zant compiles inference only (a training-mode Dropout compiles only with a ratio of 0)");
        insta::assert_snapshot!(node("Dropout").outputs(2).input("f32[2]").constant(Tensor::scalar_f32(0.25))
            .constant(Tensor::new(vec![], Data::Bool(vec![1]))).emit(), @"parse: training_mode is true with a ratio of 0.25: zant compiles inference only (a training-mode Dropout compiles only with a ratio of 0)");
        insta::assert_snapshot!(node("Dropout").outputs(2).input("f32[2]").omitted().input("bool[]").emit(), @"parse: input 2 (training_mode) must be a compile-time constant; zant compiles static shapes only");
    }
}
