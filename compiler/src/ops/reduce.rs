//! ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1,
//! ReduceL2, ReduceLogSum, ReduceLogSumExp. `axes` is an attribute until opset 17 (ReduceSum:
//! until 12) and an optional input after; `noop_with_empty_axes` arrives with it. ReduceMax
//! and ReduceMin take bool from opset 20. Reducing an empty set gives the op's identity.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::reduce::ReduceOp;

use super::{
    elem_type, normalize_axis, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    pub op: ReduceOp,
    /// Bit `i` set: axis `i` is reduced.
    pub axes_mask: u32,
    pub keep_dims: bool,
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
            _ => return Err(OpError::unsupported("the op type is not a reduction")),
        };
        // The axes travel as a bit mask, and the kernel indexes fixed arrays of
        // `MAX_RANK` axes.
        if x.rank() > zant_runtime::MAX_RANK {
            return Err(OpError::unsupported(format!(
                "rank {} is above the supported {}",
                x.rank(),
                zant_runtime::MAX_RANK
            )));
        }
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
    /// The reduced axes as `axes` (an attribute before opset 18, ReduceSum 13, and an input
    /// after, which the parser reads again), or `noop_with_empty_axes=1` when none is.
    fn attrs(&self, attrs: &mut Attrs) {
        if self.axes_mask == 0 {
            attrs.int("noop_with_empty_axes", 1);
        } else {
            let axes: Vec<usize> = (0..u32::BITS as usize)
                .filter(|i| self.axes_mask & (1 << i) != 0)
                .collect();
            attrs.usizes("axes", &axes);
        }
        if !self.keep_dims {
            attrs.int("keepdims", 0);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype == DType::Bool && !matches!(self.op, ReduceOp::Max | ReduceOp::Min) {
            return Err(OpError::shape("only ReduceMax and ReduceMin take bool"));
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
        let (op, mask) = (self.op, self.axes_mask);
        if x.ty.dtype == DType::F32 {
            Ok(quote! { rt::reduce::reduce_f32(#op, #xe, #x_shape, #mask, y); })
        } else {
            let t = elem_type(x.ty.dtype);
            Ok(quote! { rt::reduce::reduce::<#t>(#op, #xe, #x_shape, #mask, y); })
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        let axes = |v: Vec<i64>| Tensor::from_i64s(v);
        insta::assert_snapshot!(node("ReduceMean").constant(Tensor::new(vec![2, 2], Data::F32(vec![1.0, 2.0, 3.0, 5.0]))).constant(axes(vec![-1])).emit(), @"
        ReduceMean(f32[2,2]) axes=[1] -> f32[2,1]
        folds to f32[2,1] [1.5, 4.0]
        ");
        insta::assert_snapshot!(node("ReduceMean").input("f32[1,8,4,4]").constant(axes(vec![2, 3])).emit(), @"
        ReduceMean(f32[1,8,4,4]) axes=[2,3] -> f32[1,8,1,1]
        rt::reduce::reduce_f32(rt::reduce::ReduceOp::Mean, x0, &[1, 8, 4, 4], 12u32, y);
        ");
        // Before opset 13 ReduceSum takes `axes` as an attribute.
        insta::assert_snapshot!(node("ReduceSum").opset(11).ints("axes", &[1]).int("keepdims", 0).input("i64[2,3]").emit(), @"
        ReduceSum(i64[2,3]) axes=[1] keepdims=0 -> i64[2]
        rt::reduce::reduce::<i64>(rt::reduce::ReduceOp::Sum, x0, &[2, 3], 2u32, y);
        ");
        insta::assert_snapshot!(node("ReduceMax").input("bool[2,3]").emit(), @"
        ReduceMax(bool[2,3]) axes=[0,1] -> bool[1,1]
        rt::reduce::reduce::<u8>(rt::reduce::ReduceOp::Max, x0, &[2, 3], 3u32, y);
        ");
        insta::assert_snapshot!(node("ReduceMin").input("f64[2,3]").constant(axes(vec![])).int("noop_with_empty_axes", 1).emit(), @"
        ReduceMin(f64[2,3]) noop_with_empty_axes=1 -> f64[2,3]
        rt::reduce::reduce::<f64>(rt::reduce::ReduceOp::Min, x0, &[2, 3], 0u32, y);
        ");
        insta::assert_snapshot!(node("ReduceProd").opset(17).ints("axes", &[0]).input("i32[3,2]").emit(), @"
        ReduceProd(i32[3,2]) axes=[0] -> i32[1,2]
        rt::reduce::reduce::<i32>(rt::reduce::ReduceOp::Prod, x0, &[3, 2], 1u32, y);
        ");
        insta::assert_snapshot!(node("ReduceSumSquare").input("f32[3,2]").constant(axes(vec![0])).emit(), @"
        ReduceSumSquare(f32[3,2]) axes=[0] -> f32[1,2]
        rt::reduce::reduce_f32(rt::reduce::ReduceOp::SumSquare, x0, &[3, 2], 1u32, y);
        ");
        insta::assert_snapshot!(node("ReduceL1").input("f32[3,2]").constant(axes(vec![1])).emit(), @"
        ReduceL1(f32[3,2]) axes=[1] -> f32[3,1]
        rt::reduce::reduce_f32(rt::reduce::ReduceOp::L1, x0, &[3, 2], 2u32, y);
        ");
        insta::assert_snapshot!(node("ReduceL2").input("f32[3,2]").int("keepdims", 0).emit(), @"
        ReduceL2(f32[3,2]) axes=[0,1] keepdims=0 -> f32[]
        rt::reduce::reduce_f32(rt::reduce::ReduceOp::L2, x0, &[3, 2], 3u32, y);
        ");
        insta::assert_snapshot!(node("ReduceLogSum").input("f32[3,2]").constant(axes(vec![1])).emit(), @"
        ReduceLogSum(f32[3,2]) axes=[1] -> f32[3,1]
        rt::reduce::reduce_f32(rt::reduce::ReduceOp::LogSum, x0, &[3, 2], 2u32, y);
        ");
        insta::assert_snapshot!(node("ReduceLogSumExp").input("f32[3,2]").constant(axes(vec![1])).emit(), @"
        ReduceLogSumExp(f32[3,2]) axes=[1] -> f32[3,1]
        rt::reduce::reduce_f32(rt::reduce::ReduceOp::LogSumExp, x0, &[3, 2], 2u32, y);
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("ReduceSum").input("bool[2,3]").emit(), @"infer: only ReduceMax and ReduceMin take bool");
        insta::assert_snapshot!(node("ReduceMean").input("f32[2,3]").constant(Tensor::from_i64s(vec![2])).emit(), @"parse: axis 2 is out of range for rank 2");
        insta::assert_snapshot!(node("ReduceMean").input("f32[2,3]").input("i64[1]").emit(), @"parse: input 1 (axes) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("ReduceMax").input("f32[1,1,1,1,1,1,1,1,2]").emit(), @"parse: rank 9 is above the supported 8");
    }
}
