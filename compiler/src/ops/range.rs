//! Range (opset 11 on) and Size (opset 1 on; 13 and later only add types). Both always
//! fold: Range's output length depends on its inputs, which must therefore be compile-time
//! constants, and Size depends only on the input's static shape.

use proc_macro2::TokenStream;

use super::{required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub enum Range {
    /// Range: the computed values.
    Values(Tensor),
    /// Size: the element count of input 0.
    Size,
}

impl Parse for Range {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        if ctx.op_type == "Size" {
            return Ok(Self::Size);
        }
        let (start, limit, delta) = (
            ctx.absorb(0, "start")?,
            ctx.absorb(1, "limit")?,
            ctx.absorb(2, "delta")?,
        );
        let dtype = start.dtype();
        if limit.dtype() != dtype || delta.dtype() != dtype {
            return Err(OpError::Other(
                "start, limit and delta differ in type".into(),
            ));
        }
        let scalar = |t: &Tensor| -> Result<f64, OpError> {
            match t.data.to_f64_vec().as_slice() {
                [v] => Ok(*v),
                _ => Err(OpError::Other(format!("{} is not a scalar", t.ty()))),
            }
        };
        let (s, l, d) = (scalar(start)?, scalar(limit)?, scalar(delta)?);
        if d == 0.0 {
            return Err(OpError::Other("delta is 0".into()));
        }
        let n = ((l - s) / d).ceil().max(0.0);
        if n > super::MAX_ELEMS as f64 {
            return Err(OpError::Other(format!("{n} elements are too many")));
        }
        let n = n as usize;
        let data = if dtype.is_float() {
            // numpy's arange: start + i·delta, in the inputs' type.
            match dtype {
                DType::F32 => {
                    let (s, d) = (s as f32, d as f32);
                    Data::F32((0..n).map(|i| s + i as f32 * d).collect())
                }
                _ => Data::F64((0..n).map(|i| s + i as f64 * d).collect()),
            }
        } else {
            let (s, d) = (start.to_i64s()[0], delta.to_i64s()[0]);
            let values: Vec<i64> = (0..n as i64)
                .map(|i| s.wrapping_add(i.wrapping_mul(d)))
                .collect();
            Data::from_i64(dtype, &values)
        };
        Ok(Self::Values(Tensor::new(vec![n], data)))
    }
}

impl OpKind for Range {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        match self {
            Self::Values(t) => Ok(vec![t.ty()]),
            Self::Size => {
                required(inputs, 0)?;
                Ok(vec![TensorType::new(DType::I64, vec![])])
            }
        }
    }

    fn folds_from_types(&self) -> bool {
        true
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        match self {
            Self::Values(t) => Ok(Some(vec![t.clone()])),
            Self::Size => {
                let x = ctx.inputs[0].ok_or("input 0 is required")?;
                Ok(Some(vec![Tensor::new(
                    vec![],
                    Data::I64(vec![x.n_elems() as i64]),
                )]))
            }
        }
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::Other(
            "Range and Size always fold before emission".into(),
        ))
    }
}
