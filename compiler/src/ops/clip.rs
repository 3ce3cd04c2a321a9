//! Clip (opset 6: `min`/`max` attributes; opset 11 on: optional inputs). The bounds must
//! be compile-time constants; a Clip after Conv/Gemm/MatMul is fused into it.

use proc_macro2::TokenStream;
use zant_runtime::elementwise::UnaryOp;

use super::{unary::emit_unary, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub min: f32,
    pub max: f32,
}

impl Parse for Clip {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        if ctx.input(0)?.dtype == DType::Bool {
            return Err(OpError::Other("Clip does not take bool".into()));
        }
        if ctx.opset < 11 {
            return Ok(Self {
                min: ctx.float("min", f32::MIN)?,
                max: ctx.float("max", f32::MAX)?,
            });
        }
        let bound = |i: usize, what: &'static str, default: f32| -> Result<f32, OpError> {
            match ctx.absorb_optional(i, what)? {
                None => Ok(default),
                Some(t) => match t.data.to_f64_vec().as_slice() {
                    [v] => Ok(*v as f32),
                    _ => Err(OpError::Other(format!("{what} must be one value"))),
                },
            }
        };
        Ok(Self {
            min: bound(1, "min", f32::MIN)?,
            max: bound(2, "max", f32::MAX)?,
        })
    }
}

impl OpKind for Clip {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let op = UnaryOp::Clip {
            min: self.min,
            max: self.max,
        };
        let data = match &x.data {
            Data::F32(xs) => Data::F32(xs.iter().map(|v| v.max(self.min).min(self.max)).collect()),
            other => crate::with_data!(other, v => {
                let mut y = v.clone();
                zant_runtime::elementwise::unary_scalar(op, v, &mut y);
                super::retag(y, x.dtype())
            }),
        };
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        emit_unary(
            UnaryOp::Clip {
                min: self.min,
                max: self.max,
            },
            ctx,
        )
    }

    fn in_place_inputs(&self) -> &'static [usize] {
        &[0]
    }
}
