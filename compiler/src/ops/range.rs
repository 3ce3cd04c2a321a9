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
            return Err(OpError::shape(format!(
                "start {}, limit {} and delta {} differ in type",
                start.ty(),
                limit.ty(),
                delta.ty()
            )));
        }
        if dtype == DType::Bool {
            return Err(OpError::shape(
                "start, limit and delta must be numbers, not bool",
            ));
        }
        let scalar = |t: &Tensor, what: &str| -> Result<f64, OpError> {
            match t.data.to_f64_vec().as_slice() {
                [v] => Ok(*v),
                _ => Err(OpError::shape(format!("{what} {} is not a scalar", t.ty()))),
            }
        };
        let (s, l, d) = (
            scalar(start, "start")?,
            scalar(limit, "limit")?,
            scalar(delta, "delta")?,
        );
        if d == 0.0 {
            return Err(OpError::shape("delta is 0"));
        }
        let n = ((l - s) / d).ceil().max(0.0);
        if n > super::MAX_ELEMS as f64 {
            return Err(OpError::unsupported(format!(
                "{n} elements are above the limit of {}",
                super::MAX_ELEMS
            )));
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

// Range reads its inputs and Size has no attribute, so the default (empty)
// `OpKind::attrs` describes both; the output type shows Range's length.
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
                let x = required(&ctx.inputs, 0)?;
                Ok(Some(vec![Tensor::new(
                    vec![],
                    Data::I64(vec![x.n_elems() as i64]),
                )]))
            }
        }
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::unsupported(
            "Range and Size always fold to a constant and have no kernel",
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn folds() {
        let f32s = |v: f32| Tensor::new(vec![], Data::F32(vec![v]));
        let i64s = |v: i64| Tensor::new(vec![], Data::I64(vec![v]));
        insta::assert_snapshot!(node("Range").constant(f32s(1.0)).constant(f32s(2.0)).constant(f32s(0.25)).emit(), @"
        Range() -> f32[4]
        folds to f32[4] [1.0, 1.25, 1.5, 1.75]
        ");
        insta::assert_snapshot!(node("Range").constant(i64s(10)).constant(i64s(4)).constant(i64s(-3)).emit(), @"
        Range() -> i64[2]
        folds to i64[2] [10, 7]
        ");
        insta::assert_snapshot!(node("Range").constant(i64s(0)).constant(i64s(-4)).constant(i64s(1)).emit(), @"
        Range() -> i64[0]
        folds to i64[0] []
        ");
        insta::assert_snapshot!(node("Size").input("f32[2,3,4]").emit(), @"
        Size(f32[2,3,4]) -> i64[]
        folds to i64[] [24]
        ");
    }

    #[test]
    fn refuses() {
        let i64s = |v: i64| Tensor::new(vec![], Data::I64(vec![v]));
        insta::assert_snapshot!(node("Range").constant(i64s(0)).constant(i64s(4)).constant(i64s(0)).emit(), @"parse: delta is 0");
        insta::assert_snapshot!(node("Range").constant(i64s(0)).constant(Tensor::new(vec![], Data::I32(vec![4]))).constant(i64s(1)).emit(), @"parse: start i64[], limit i32[] and delta i64[] differ in type");
        insta::assert_snapshot!(node("Range").constant(i64s(0)).input("i64[]").constant(i64s(1)).emit(), @"parse: input 1 (limit) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("Range").constant(i64s(0)).constant(Tensor::from_i64s(vec![1, 2])).constant(i64s(1)).emit(), @"parse: limit i64[2] is not a scalar");
    }
}
