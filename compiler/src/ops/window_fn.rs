//! HannWindow, HammingWindow and BlackmanWindow (opset 17 on): a window of `size` points
//! (periodic by default), computed in `f64` and cast to `output_datatype`. `size` must be
//! a compile-time constant, so the op always folds.

use std::f64::consts::TAU;

use proc_macro2::TokenStream;

use super::cast::dtype_attr;
use super::{Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct WindowFn {
    /// Whether the window is one period of a periodic function (`periodic = 1`) rather
    /// than symmetric.
    pub periodic: bool,
    pub window: Tensor,
}

impl Parse for WindowFn {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        // Each window as a function of `x = i / n`, from the ONNX definitions.
        let formula: fn(f64) -> f64 = match ctx.op_type {
            "HannWindow" => |x| 0.5 - 0.5 * (TAU * x).cos(),
            "HammingWindow" => |x| {
                let alpha = 25.0 / 46.0;
                alpha - (1.0 - alpha) * (TAU * x).cos()
            },
            "BlackmanWindow" => |x| 0.42 - 0.5 * (TAU * x).cos() + 0.08 * (2.0 * TAU * x).cos(),
            _ => return Err(OpError::unsupported("the op type is not a window function")),
        };
        let size = match ctx.absorb(0, "size")?.to_i64s().as_slice() {
            [size] => *size,
            other => {
                return Err(OpError::shape(format!(
                    "size holds {} values, not one",
                    other.len()
                )))
            }
        };
        let size = usize::try_from(size)
            .map_err(|_| OpError::shape(format!("size {size} is negative")))?;
        super::checked_elems(&[size])?;
        let dtype = dtype_attr("output_datatype", ctx.int("output_datatype", 1)?)?;
        let periodic = ctx.int("periodic", 1)? != 0;
        let n = if periodic {
            size as f64
        } else {
            size as f64 - 1.0
        };
        let values: Vec<f64> = (0..size).map(|i| formula(i as f64 / n)).collect();
        Ok(Self {
            periodic,
            window: Tensor::new(vec![size], Data::from_f64(dtype, &values)),
        })
    }
}

impl OpKind for WindowFn {
    /// The switches that differ from the defaults; the size is the output's length.
    fn attrs(&self, attrs: &mut Attrs) {
        if self.window.dtype() != DType::F32 {
            attrs.int(
                "output_datatype",
                i64::from(self.window.dtype().onnx_code()),
            );
        }
        if !self.periodic {
            attrs.int("periodic", 0);
        }
    }

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
        Err(OpError::unsupported(
            "window functions always fold to a constant and have no kernel",
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn folds() {
        let size = |n: i64| Tensor::new(vec![], Data::I64(vec![n]));
        insta::assert_snapshot!(node("HannWindow").constant(size(4)).emit(), @"
        HannWindow() -> f32[4]
        folds to f32[4] [0.0, 0.5, 1.0, 0.5]
        ");
        insta::assert_snapshot!(node("HammingWindow").int("periodic", 0).constant(size(5)).emit(), @"
        HammingWindow() periodic=0 -> f32[5]
        folds to f32[5] [0.08695652, 0.54347825, 1.0, 0.54347825, 0.08695652]
        ");
        // ONNX type code 11 is double.
        insta::assert_snapshot!(node("BlackmanWindow").int("output_datatype", 11).constant(size(3)).emit(), @"
        BlackmanWindow() output_datatype=11 -> f64[3]
        folds to f64[3] [-1.3877787807814457e-17, 0.6299999999999999, 0.6300000000000002]
        ");
        insta::assert_snapshot!(node("HannWindow").input("i64[]").emit(), @"parse: input 0 (size) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("HannWindow").constant(size(-1)).emit(), @"parse: size -1 is negative");
    }
}
