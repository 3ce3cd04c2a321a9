//! EyeLike (opset 9 on; 22 adds types): ones on diagonal `k` of a 2-D tensor shaped like the
//! input, zeros elsewhere, of type `dtype` (default: the input's). Depends only on the
//! input's static shape, so it always folds.

use proc_macro2::TokenStream;

use super::{required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct EyeLike {
    pub dtype: Option<DType>,
    pub k: i64,
}

impl Parse for EyeLike {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let dtype =
            match ctx.attr("dtype") {
                Some(a) => {
                    let code = a.as_int("dtype")? as i32;
                    Some(DType::from_onnx(code).ok_or_else(|| {
                        format!("dtype {} is not supported", DType::onnx_name(code))
                    })?)
                }
                None => None,
            };
        Ok(Self {
            dtype,
            k: ctx.int("k", 0)?,
        })
    }
}

impl OpKind for EyeLike {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.rank() != 2 {
            return Err(OpError::Other(format!("EyeLike takes a matrix, not {x}")));
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
        Err(OpError::Other(
            "EyeLike always folds before emission".into(),
        ))
    }
}
