//! ArrayFeatureExtractor (ai.onnx.ml opset 1): the elements of X at the int64 indices Y
//! along the last axis, for every row; a 1-D X gives one row, `[1, len(Y)]`. The indices
//! may be a runtime input; one outside the axis fails at run time.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct ArrayFeatureExtractor;

impl Parse for ArrayFeatureExtractor {
    fn parse(_ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self)
    }
}

/// `(rows, row length)` of X.
fn rows(x: &TensorType) -> (usize, usize) {
    let len = x.shape.last().copied().unwrap_or(1);
    (x.n_elems().checked_div(len).unwrap_or(0), len)
}

impl OpKind for ArrayFeatureExtractor {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, y) = (required(inputs, 0)?, required(inputs, 1)?);
        if y.dtype != DType::I64 {
            return Err(OpError::shape(format!("indices Y are {y}, not int64")));
        }
        if x.rank() == 0 {
            return Err(OpError::shape(format!("input X is the scalar {x}")));
        }
        let mut shape = if x.rank() == 1 {
            vec![1, 0]
        } else {
            x.shape.clone()
        };
        *shape.last_mut().expect("rank >= 2") = y.n_elems();
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (x, indices) = (ctx.get(0)?, ctx.get(1)?.to_i64s());
        let (outer, len) = rows(&x.ty());
        let out = &ctx.outputs[0];
        let data = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::ml::array_feature_extractor(v, outer, len, &indices, &mut y)?;
            super::retag(y, x.dtype())
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, len) = rows(x.ty);
        let (xe, ye) = (&x.expr, ctx.expr(1)?);
        let t = elem_type(x.ty.dtype);
        let suffix = ctx.try_suffix();
        Ok(quote! { rt::ml::array_feature_extractor::<#t>(#xe, #outer, #len, #ye, y)#suffix; })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::NodeBuilder;
    use crate::tensor::{Data, Tensor};

    fn node() -> NodeBuilder {
        NodeBuilder::in_domain("ai.onnx.ml", "ArrayFeatureExtractor")
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(node().input("f32[3,4]").input("i64[2]").emit(), @r#"
        ArrayFeatureExtractor(f32[3,4], i64[2]) -> f32[3,2]
        rt::ml::array_feature_extractor::<f32>(x0, 3, 4, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node().input("i64[5]").constant(Tensor::from_i64s(vec![4])).emit(), @r#"
        ArrayFeatureExtractor(i64[5], i64[1]) -> i64[1,1]
        rt::ml::array_feature_extractor::<i64>(x0, 1, 5, x1, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
    }

    #[test]
    fn folds_and_refuses() {
        let x = || Tensor::new(vec![2, 3], Data::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        insta::assert_snapshot!(node().constant(x()).constant(Tensor::from_i64s(vec![2, 0])).emit(), @"
        ArrayFeatureExtractor(f32[2,3], i64[2]) -> f32[2,2]
        folds to f32[2,2] [3.0, 1.0, 6.0, 4.0]
        ");
        insta::assert_snapshot!(node().constant(x()).constant(Tensor::from_i64s(vec![3])).emit(), @"fold: while folding constants: index 3 is out of range for an axis of length 3");
        insta::assert_snapshot!(node().input("f32[3]").input("i32[1]").emit(), @"infer: indices Y are i32[1], not int64");
    }
}
