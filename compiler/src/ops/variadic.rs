//! Max and Min (opset 8 on, numpy broadcasting; 12/13 add integer types), Sum (8 on) and
//! Mean (8 on): one or more inputs, folded left to right into the output, so `Mean` is
//! `(((a + b) + c) / 3)` as numpy computes it.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::elementwise::BinaryOp;

use super::{
    broadcast_shapes, elem_type, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Variadic {
    pub op: BinaryOp,
    /// Mean: divide by the number of inputs at the end.
    pub mean: bool,
}

impl Parse for Variadic {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (op, mean) = match ctx.op_type {
            "Max" => (BinaryOp::Max, false),
            "Min" => (BinaryOp::Min, false),
            "Sum" => (BinaryOp::Add, false),
            "Mean" => (BinaryOp::Add, true),
            _ => return Err(OpError::unsupported("the op type is not a variadic op")),
        };
        Ok(Self { op, mean })
    }
}

// The op type names the operation and none of these ops has an attribute, so the
// default (empty) `OpKind::attrs` describes them.
impl OpKind for Variadic {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let first = required(inputs, 0)?;
        if first.dtype == DType::Bool {
            return Err(OpError::shape(format!(
                "bool inputs are not allowed: {first}"
            )));
        }
        let mut shape = first.shape.clone();
        for i in 1..inputs.len() {
            let x = required(inputs, i)?;
            if x.dtype != first.dtype {
                return Err(OpError::shape(format!(
                    "operand types differ: {first} and {x}"
                )));
            }
            shape = broadcast_shapes(&shape, &x.shape)?;
        }
        Ok(vec![TensorType::new(first.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let out = &ctx.outputs[0];
        let parts: Vec<&Tensor> = (0..ctx.consts.len())
            .map(|i| ctx.get(i))
            .collect::<Result<_, _>>()?;
        let n = parts.len();
        macro_rules! run {
            ($($variant:ident),*) => {
                match &parts[0].data {
                    $(Data::$variant(first) => {
                        let mut y = vec![Default::default(); out.n_elems()];
                        zant_runtime::shape::expand(first, &parts[0].shape, &mut y, &out.shape);
                        for p in &parts[1..] {
                            let Data::$variant(x) = &p.data else { return Ok(None) };
                            zant_runtime::elementwise::binary_in_place(self.op, true, &mut y, x, &p.shape, &out.shape)?;
                        }
                        if self.mean {
                            let count = [<_ as zant_runtime::scalar::Scalar>::from_f64(n as f64)];
                            zant_runtime::elementwise::binary_in_place(BinaryOp::Div, true, &mut y, &count, &[], &out.shape)?;
                        }
                        Data::$variant(y)
                    })*
                    _ => return Ok(None),
                }
            };
        }
        let data = run!(F32, F64, I8, U8, I16, U16, I32, U32, I64, U64);
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let out = ctx.out_ty();
        let t = elem_type(out.dtype);
        let y_shape = shape_tokens(&out.shape);
        let op = self.op;
        let try_ = ctx.try_suffix();
        let mut body = TokenStream::new();
        if ctx.in_place != Some(0) {
            let first = ctx.input(0)?;
            let (xe, x_shape) = (&first.expr, shape_tokens(&first.ty.shape));
            body.extend(quote! { rt::shape::expand::<#t>(#xe, #x_shape, y, #y_shape); });
        }
        for i in 1..ctx.inputs.len() {
            let x = ctx.input(i)?;
            let (xe, x_shape) = (&x.expr, shape_tokens(&x.ty.shape));
            body.extend(quote! {
                rt::elementwise::binary_in_place::<#t>(#op, true, y, #xe, #x_shape, #y_shape) #try_;
            });
        }
        if self.mean {
            let n = ctx.inputs.len() as f64;
            let div = BinaryOp::Div;
            body.extend(quote! {
                rt::elementwise::binary_in_place::<#t>(#div, true, y, &[<#t as rt::scalar::Scalar>::from_f64(#n)], &[], #y_shape) #try_;
            });
        }
        Ok(body)
    }

    fn in_place_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Max").input("f32[2,3]").input("f32[3]").input("f32[2,1]").emit(), @r#"
        Max(f32[2,3], f32[3], f32[2,1]) -> f32[2,3]
        rt::shape::expand::<f32>(x0, &[2, 3], y, &[2, 3]);
        rt::elementwise::binary_in_place::<
            f32,
        >(rt::elementwise::BinaryOp::Max, true, y, x1, &[3], &[2, 3])
            .map_err(|e| rt::Error::at("node", e))?;
        rt::elementwise::binary_in_place::<
            f32,
        >(rt::elementwise::BinaryOp::Max, true, y, x2, &[2, 1], &[2, 3])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Min").input("i32[4]").input("i32[4]").in_place().emit(), @r#"
        Min(i32[4], i32[4]) -> i32[4]
        rt::elementwise::binary_in_place::<
            i32,
        >(rt::elementwise::BinaryOp::Min, true, y, x1, &[4], &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Sum").input("f32[4]").emit(), @"
        Sum(f32[4]) -> f32[4]
        rt::shape::expand::<f32>(x0, &[4], y, &[4]);
        ");
        insta::assert_snapshot!(node("Mean").input("f64[4]").input("f64[4]").input("f64[]").emit(), @r#"
        Mean(f64[4], f64[4], f64[]) -> f64[4]
        rt::shape::expand::<f64>(x0, &[4], y, &[4]);
        rt::elementwise::binary_in_place::<
            f64,
        >(rt::elementwise::BinaryOp::Add, true, y, x1, &[4], &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        rt::elementwise::binary_in_place::<
            f64,
        >(rt::elementwise::BinaryOp::Add, true, y, x2, &[], &[4])
            .map_err(|e| rt::Error::at("node", e))?;
        rt::elementwise::binary_in_place::<
            f64,
        >(
                rt::elementwise::BinaryOp::Div,
                true,
                y,
                &[<f64 as rt::scalar::Scalar>::from_f64(3f64)],
                &[],
                &[4],
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        let i64s = |v: Vec<i64>| Tensor::new(vec![v.len()], Data::I64(v));
        insta::assert_snapshot!(node("Mean").constant(i64s(vec![1, 4])).constant(i64s(vec![2, 4])).emit(), @"
        Mean(i64[2], i64[2]) -> i64[2]
        folds to i64[2] [1, 4]
        ");
        insta::assert_snapshot!(node("Sum").input("bool[4]").input("bool[4]").emit(), @"infer: bool inputs are not allowed: bool[4]");
        insta::assert_snapshot!(node("Max").input("f32[4]").input("f64[4]").emit(), @"infer: operand types differ: f32[4] and f64[4]");
    }
}
