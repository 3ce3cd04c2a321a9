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

fn op_tokens(op: BinaryOp) -> TokenStream {
    match op {
        BinaryOp::Max => quote!(Max),
        BinaryOp::Min => quote!(Min),
        _ => quote!(Add),
    }
}

impl Parse for Variadic {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (op, mean) = match ctx.op_type {
            "Max" => (BinaryOp::Max, false),
            "Min" => (BinaryOp::Min, false),
            "Sum" => (BinaryOp::Add, false),
            "Mean" => (BinaryOp::Add, true),
            other => return Err(OpError::Other(format!("`{other}` is not a variadic op"))),
        };
        Ok(Self { op, mean })
    }
}

impl OpKind for Variadic {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let first = required(inputs, 0)?;
        if first.dtype == DType::Bool {
            return Err(OpError::Other("bool inputs are not supported".into()));
        }
        let mut shape = first.shape.clone();
        for i in 1..inputs.len() {
            let x = required(inputs, i)?;
            if x.dtype != first.dtype {
                return Err(OpError::Other(format!(
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
                            zant_runtime::elementwise::binary_in_place(self.op, true, &mut y, x, &p.shape, &out.shape)
                                .map_err(|e| e.to_string())?;
                        }
                        if self.mean {
                            let count = [<_ as zant_runtime::scalar::Scalar>::from_f64(n as f64)];
                            zant_runtime::elementwise::binary_in_place(BinaryOp::Div, true, &mut y, &count, &[], &out.shape)
                                .map_err(|e| e.to_string())?;
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
        let op = op_tokens(self.op);
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
                rt::elementwise::binary_in_place::<#t>(rt::elementwise::BinaryOp::#op, true, y, #xe, #x_shape, #y_shape) #try_;
            });
        }
        if self.mean {
            let n = ctx.inputs.len() as f64;
            body.extend(quote! {
                rt::elementwise::binary_in_place::<#t>(rt::elementwise::BinaryOp::Div, true, y, &[<#t as rt::scalar::Scalar>::from_f64(#n)], &[], #y_shape) #try_;
            });
        }
        Ok(body)
    }

    fn in_place_inputs(&self) -> &'static [usize] {
        &[0]
    }
}
