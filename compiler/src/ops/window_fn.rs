//! HannWindow, HammingWindow and BlackmanWindow (opset 17 on): a window of `size` points
//! (periodic by default), computed in `f64` and cast to `output_datatype`. `size` must be
//! a compile-time constant, so the op always folds.

use proc_macro2::TokenStream;

use super::{EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct WindowFn {
    pub window: Tensor,
}

impl Parse for WindowFn {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let size = *ctx
            .absorb(0, "size")?
            .to_i64s()
            .first()
            .ok_or("size is empty")?;
        let size = usize::try_from(size).map_err(|_| format!("size {size}"))?;
        super::checked_elems(&[size])?;
        let code = ctx.int("output_datatype", 1)? as i32;
        let dtype = DType::from_onnx(code).ok_or_else(|| {
            format!(
                "output_datatype {} is not supported",
                DType::onnx_name(code)
            )
        })?;
        let periodic = ctx.int("periodic", 1)? != 0;
        let n = if periodic {
            size as f64
        } else {
            size as f64 - 1.0
        };
        let tau = 2.0 * std::f64::consts::PI;
        let values: Vec<f64> = (0..size)
            .map(|i| {
                let x = i as f64 / n;
                match ctx.op_type {
                    "HannWindow" => 0.5 - 0.5 * (tau * x).cos(),
                    "HammingWindow" => {
                        let alpha = 25.0 / 46.0;
                        alpha - (1.0 - alpha) * (tau * x).cos()
                    }
                    _ => 0.42 - 0.5 * (tau * x).cos() + 0.08 * (2.0 * tau * x).cos(),
                }
            })
            .collect();
        Ok(Self {
            window: Tensor::new(vec![size], Data::from_f64(dtype, &values)),
        })
    }
}

impl OpKind for WindowFn {
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![self.window.ty()])
    }

    fn folds_from_types(&self) -> bool {
        true
    }

    fn fold(&self, _ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        Ok(Some(vec![self.window.clone()]))
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::Other(
            "window functions always fold before emission".into(),
        ))
    }
}
