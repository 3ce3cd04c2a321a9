//! ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1,
//! ReduceL2, ReduceLogSum, ReduceLogSumExp. `axes` is an attribute until opset 17 (ReduceSum:
//! until 12) and an optional input after; `noop_with_empty_axes` arrives with it. ReduceMax
//! and ReduceMin take bool from opset 20. Reducing an empty set gives the op's identity.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::reduce::ReduceOp;

use super::{
    elem_type, normalize_axis, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    pub op: ReduceOp,
    /// Bit `i` set: axis `i` is reduced.
    pub axes_mask: u32,
    pub keep_dims: bool,
}

fn op_tokens(op: ReduceOp) -> TokenStream {
    match op {
        ReduceOp::Sum => quote!(Sum),
        ReduceOp::Mean => quote!(Mean),
        ReduceOp::Max => quote!(Max),
        ReduceOp::Min => quote!(Min),
        ReduceOp::Prod => quote!(Prod),
        ReduceOp::SumSquare => quote!(SumSquare),
        ReduceOp::L1 => quote!(L1),
        ReduceOp::L2 => quote!(L2),
        ReduceOp::LogSum => quote!(LogSum),
        ReduceOp::LogSumExp => quote!(LogSumExp),
    }
}

impl Parse for Reduce {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let op = match ctx.op_type {
            "ReduceMean" => ReduceOp::Mean,
            "ReduceSum" => ReduceOp::Sum,
            "ReduceMax" => ReduceOp::Max,
            "ReduceMin" => ReduceOp::Min,
            "ReduceProd" => ReduceOp::Prod,
            "ReduceSumSquare" => ReduceOp::SumSquare,
            "ReduceL1" => ReduceOp::L1,
            "ReduceL2" => ReduceOp::L2,
            "ReduceLogSum" => ReduceOp::LogSum,
            "ReduceLogSumExp" => ReduceOp::LogSumExp,
            other => return Err(OpError::Other(format!("`{other}` is not a reduction"))),
        };
        let axes_as_input = if op == ReduceOp::Sum {
            ctx.opset >= 13
        } else {
            ctx.opset >= 18
        };
        let axes = if axes_as_input {
            ctx.absorb_optional(1, "axes")?.map(|t| t.to_i64s())
        } else {
            ctx.ints("axes")?
        };
        let noop_empty = ctx.int("noop_with_empty_axes", 0)? != 0;
        let axes = match axes {
            Some(a) if !a.is_empty() => a,
            _ if noop_empty => vec![],
            _ => (0..x.rank() as i64).collect(),
        };
        let mut mask = 0u32;
        for a in axes {
            mask |= 1 << normalize_axis(a, x.rank())?;
        }
        Ok(Self {
            op,
            axes_mask: mask,
            keep_dims: ctx.int("keepdims", 1)? != 0,
        })
    }
}

impl OpKind for Reduce {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        if x.dtype == DType::Bool && !matches!(self.op, ReduceOp::Max | ReduceOp::Min) {
            return Err(OpError::Other(
                "only ReduceMax and ReduceMin take bool".into(),
            ));
        }
        let mut shape = Vec::new();
        for (i, &d) in x.shape.iter().enumerate() {
            if self.axes_mask & (1 << i) == 0 {
                shape.push(d);
            } else if self.keep_dims {
                shape.push(1);
            }
        }
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let out = &ctx.outputs[0];
        let data = crate::with_data!(&x.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::reduce::reduce(self.op, v, &x.shape, self.axes_mask, &mut y);
            super::retag(y, out.dtype)
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
        let op = op_tokens(self.op);
        let mask = self.axes_mask;
        if x.ty.dtype == DType::F32 {
            Ok(
                quote! { rt::reduce::reduce_f32(rt::reduce::ReduceOp::#op, #xe, #x_shape, #mask, y); },
            )
        } else {
            let t = elem_type(x.ty.dtype);
            Ok(
                quote! { rt::reduce::reduce::<#t>(rt::reduce::ReduceOp::#op, #xe, #x_shape, #mask, y); },
            )
        }
    }
}
