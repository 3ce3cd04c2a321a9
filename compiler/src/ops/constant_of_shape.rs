//! ConstantOfShape (opset 9; more value types in 20). Folds to a constant: its shape input
//! must be known at compile time.

use proc_macro2::TokenStream;

use super::{checked_elems, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct ConstantOfShape {
    /// The one-element fill value.
    pub value: Tensor,
    pub shape: Vec<usize>,
}

impl ConstantOfShape {
    /// ONNX's fill value when `value` is not set: a float 0.
    fn default_value() -> Tensor {
        Tensor::new(vec![1], Data::F32(vec![0.0]))
    }
}

impl Parse for ConstantOfShape {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let shape = ctx
            .absorb(0, "shape")?
            .to_i64s()
            .into_iter()
            .map(|d| {
                usize::try_from(d)
                    .map_err(|_| OpError::shape(format!("the shape has a negative dimension {d}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        checked_elems(&shape)?;
        let value = match ctx.attr("value") {
            Some(a) => a.as_tensor("value")?.clone(),
            None => Self::default_value(),
        };
        if value.n_elems() != 1 {
            return Err(OpError::attr(
                "value",
                format!("{} holds {} elements, not one", value.ty(), value.n_elems()),
            ));
        }
        Ok(Self { value, shape })
    }
}

impl OpKind for ConstantOfShape {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    /// The fill value unless it is the default; the shape is the output's.
    fn attrs(&self, attrs: &mut Attrs) {
        if self.value != Self::default_value() {
            attrs.tensor("value", &self.value);
        }
    }

    fn infer(&self, _inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![TensorType::new(
            self.value.dtype(),
            self.shape.clone(),
        )])
    }

    fn fold(&self, _ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let n = self.shape.iter().product::<usize>();
        let data = crate::with_data!(&self.value.data, v => super::retag(vec![v[0]; n], self.value.dtype()));
        Ok(Some(vec![Tensor::new(self.shape.clone(), data)]))
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::unsupported(
            "ConstantOfShape always folds to a constant and has no kernel",
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::ops::Attribute;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn folds() {
        let shape = |v: Vec<i64>| Tensor::from_i64s(v);
        insta::assert_snapshot!(node("ConstantOfShape").constant(shape(vec![2, 3])).emit(), @"
        ConstantOfShape() -> f32[2,3]
        folds to f32[2,3] [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        ");
        let seven = Tensor::new(vec![1], Data::I32(vec![7]));
        insta::assert_snapshot!(node("ConstantOfShape").attr("value", Attribute::Tensor(seven)).constant(shape(vec![3])).emit(), @"
        ConstantOfShape() value=i32[1][7] -> i32[3]
        folds to i32[3] [7, 7, 7]
        ");
        insta::assert_snapshot!(node("ConstantOfShape").constant(shape(vec![])).emit(), @"
        ConstantOfShape() -> f32[]
        folds to f32[] [0.0]
        ");
        insta::assert_snapshot!(node("ConstantOfShape").constant(shape(vec![2, -1])).emit(), @"parse: the shape has a negative dimension -1");
        let two = Tensor::new(vec![2], Data::F32(vec![1.0, 2.0]));
        insta::assert_snapshot!(node("ConstantOfShape").attr("value", Attribute::Tensor(two)).constant(shape(vec![3])).emit(), @"parse: attribute `value`: f32[2] holds 2 elements, not one");
        insta::assert_snapshot!(node("ConstantOfShape").input("i64[2]").emit(), @"parse: input 0 (shape) must be a compile-time constant; zant compiles static shapes only");
    }
}
