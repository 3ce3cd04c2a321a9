//! Shape (opset 1; `start`/`end` since 15). Always folds: every shape is static.

use proc_macro2::TokenStream;

use super::{EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    pub start: i64,
    pub end: Option<i64>,
}

impl Shape {
    fn range(&self, rank: usize) -> (usize, usize) {
        let clamp = |v: i64| {
            let v = if v < 0 { v + rank as i64 } else { v };
            v.clamp(0, rank as i64) as usize
        };
        let start = clamp(self.start);
        let end = self.end.map_or(rank, clamp);
        (start, end.max(start))
    }
}

impl Parse for Shape {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            start: ctx.int("start", 0)?,
            end: ctx.attr("end").map(|a| a.as_int("end")).transpose()?,
        })
    }
}

impl OpKind for Shape {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        let (start, end) = self.range(x.rank());
        Ok(vec![TensorType::new(DType::I64, vec![end - start])])
    }

    fn folds_from_types(&self) -> bool {
        true
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.inputs[0].ok_or("input 0 is required")?;
        let (start, end) = self.range(x.rank());
        let dims = x.shape[start..end].iter().map(|&d| d as i64).collect();
        Ok(Some(vec![Tensor::from_i64s(dims)]))
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::Other(
            "Shape is always folded before emission".into(),
        ))
    }
}
