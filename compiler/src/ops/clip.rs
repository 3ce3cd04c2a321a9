//! Clip (opset 6: `min`/`max` attributes; opset 11 on: optional inputs). The bounds must
//! be compile-time constants; a Clip after Conv/Gemm/MatMul is fused into it.

use proc_macro2::TokenStream;
use zant_runtime::elementwise::UnaryOp;

use super::{unary::emit_unary, EmitCtx, FoldCtx, OpKind, ParseCtx};
use crate::ir::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub min: f32,
    pub max: f32,
}

impl OpKind for Clip {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, String> {
        if ctx.input(0)?.dtype != DType::F32 {
            return Err(format!(
                "Clip is implemented for f32, not {}",
                ctx.input(0)?.dtype
            ));
        }
        if ctx.opset < 11 {
            return Ok(Self {
                min: ctx.float("min", f32::MIN)?,
                max: ctx.float("max", f32::MAX)?,
            });
        }
        let bound = |i: usize, what: &str, default: f32| -> Result<f32, String> {
            match ctx.absorb_optional(i, what)? {
                None => Ok(default),
                Some(t) => t
                    .as_f32()
                    .and_then(|v| (v.len() == 1).then(|| v[0]))
                    .ok_or_else(|| format!("{what} must be one f32")),
            }
        };
        Ok(Self {
            min: bound(1, "min", f32::MIN)?,
            max: bound(2, "max", f32::MAX)?,
        })
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, String> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        Ok(vec![x.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, String> {
        let x = ctx.get(0)?;
        let xs = x.as_f32().ok_or("expected f32")?;
        let y = xs.iter().map(|v| v.max(self.min).min(self.max)).collect();
        Ok(Some(vec![Tensor::new(x.shape.clone(), Data::F32(y))]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, String> {
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
