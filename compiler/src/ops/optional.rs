//! OptionalHasElement (opset 15; 18 takes a tensor as well as an optional): whether its
//! input holds a value. zant's values are all tensors, present by construction, so the
//! answer is known at compile time: true for an input, false when the input is omitted
//! (an empty optional written as no input). The op always folds.

use proc_macro2::TokenStream;

use super::{EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct HasElement {
    pub present: bool,
}

impl Parse for HasElement {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            present: ctx.has_input(0),
        })
    }
}

impl OpKind for HasElement {
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![TensorType::new(DType::Bool, vec![])])
    }

    fn folds_from_types(&self) -> bool {
        true
    }

    fn fold(&self, _ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        Ok(Some(vec![Tensor::new(
            vec![],
            Data::Bool(vec![u8::from(self.present)]),
        )]))
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::unsupported(
            "OptionalHasElement folds at compile time and has no kernel",
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn folds() {
        insta::assert_snapshot!(node("OptionalHasElement").input("f32[4]").emit(), @"
        OptionalHasElement(f32[4]) -> bool[]
        folds to bool[] [1]
        ");
        insta::assert_snapshot!(node("OptionalHasElement").emit(), @"
        OptionalHasElement() -> bool[]
        folds to bool[] [0]
        ");
    }
}
