//! EyeLike (opset 9 on; 22 adds types): ones on diagonal `k` of a 2-D tensor shaped like the
//! input, zeros elsewhere, of type `dtype` (default: the input's). Depends only on the
//! input's static shape, so it always folds.

use proc_macro2::TokenStream;

use super::cast::dtype_attr;
use super::{required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct EyeLike {
    pub dtype: Option<DType>,
    pub k: i64,
}

impl Parse for EyeLike {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let dtype = match ctx.attr("dtype") {
            Some(a) => Some(dtype_attr("dtype", a.as_int("dtype")?)?),
            None => None,
        };
        Ok(Self {
            dtype,
            k: ctx.int("k", 0)?,
        })
    }
}

impl OpKind for EyeLike {
    fn attrs(&self, attrs: &mut Attrs) {
        if let Some(dtype) = self.dtype {
            attrs.int("dtype", i64::from(dtype.onnx_code()));
        }
        if self.k != 0 {
            attrs.int("k", self.k);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.rank() != 2 {
            return Err(OpError::shape(format!("takes a matrix, not {x}")));
        }
        Ok(vec![TensorType::new(
            self.dtype.unwrap_or(x.dtype),
            x.shape.clone(),
        )])
    }

    fn folds_from_types(&self) -> bool {
        true
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let out = &ctx.outputs[0];
        let (rows, cols) = (out.shape[0], out.shape[1]);
        let values: Vec<f64> = (0..rows * cols)
            .map(|i| f64::from(u8::from((i % cols) as i64 - (i / cols) as i64 == self.k)))
            .collect();
        Ok(Some(vec![Tensor::new(
            out.shape.clone(),
            Data::from_f64(out.dtype, &values),
        )]))
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::unsupported(
            "EyeLike always folds to a constant and has no kernel",
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn folds() {
        insta::assert_snapshot!(node("EyeLike").input("f32[2,3]").emit(), @"
        EyeLike(f32[2,3]) -> f32[2,3]
        folds to f32[2,3] [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ");
        // ONNX type code 7 is int64.
        insta::assert_snapshot!(node("EyeLike").int("dtype", 7).int("k", -1).input("f32[3,2]").emit(), @"
        EyeLike(f32[3,2]) dtype=7 k=-1 -> i64[3,2]
        folds to i64[3,2] [0, 0, 1, 0, 0, 1]
        ");
        insta::assert_snapshot!(node("EyeLike").input("f32[2,3,4]").emit(), @"infer: takes a matrix, not f32[2,3,4]");
    }
}
