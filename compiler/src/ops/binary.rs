//! Element-wise binary ops with numpy broadcasting: Add, Sub, Mul, Div, Pow (opset 7 on;
//! 13/14 only add types; Pow with an exponent of another type is [`PowMixed`]) and Mod
//! (opset 10 on; `fmod = 1` takes the dividend's sign, `fmod = 0` the divisor's).
//! Max, Min, Sum and Mean with any number of inputs are in `variadic.rs`.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::elementwise::BinaryOp;

use super::{
    broadcast_shapes, elem_type, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    pub op: BinaryOp,
}

fn op_tokens(op: BinaryOp) -> TokenStream {
    match op {
        BinaryOp::Add => quote!(Add),
        BinaryOp::Sub => quote!(Sub),
        BinaryOp::Mul => quote!(Mul),
        BinaryOp::Div => quote!(Div),
        BinaryOp::Max => quote!(Max),
        BinaryOp::Min => quote!(Min),
        BinaryOp::Mod => quote!(Mod),
        BinaryOp::Fmod => quote!(Fmod),
        BinaryOp::FloorMod => quote!(FloorMod),
        BinaryOp::Pow => quote!(Pow),
    }
}

impl Parse for Binary {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let op = match ctx.op_type {
            "Add" => BinaryOp::Add,
            "Sub" => BinaryOp::Sub,
            "Mul" => BinaryOp::Mul,
            "Div" => BinaryOp::Div,
            "Pow" => BinaryOp::Pow,
            "Max" => BinaryOp::Max,
            "Min" => BinaryOp::Min,
            "Mod" if ctx.int("fmod", 0)? != 0 => BinaryOp::Fmod,
            "Mod" if ctx.input(0)?.dtype.is_float() => BinaryOp::FloorMod,
            "Mod" => BinaryOp::Mod,
            other => return Err(OpError::Other(format!("`{other}` is not a binary op"))),
        };
        if ctx.opset < 7 && ctx.attr("broadcast").is_some() {
            return Err(OpError::Other(
                "legacy `broadcast` attribute (opset < 7) is not supported".into(),
            ));
        }
        if ctx.n_inputs() > 2 {
            return Err(OpError::Other(format!(
                "{} with more than two inputs is not supported",
                ctx.op_type
            )));
        }
        Ok(Self { op })
    }
}

impl OpKind for Binary {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let a = inputs
            .first()
            .copied()
            .flatten()
            .ok_or("input 0 is required")?;
        let Some(b) = inputs.get(1).copied().flatten() else {
            return Ok(vec![a.clone()]);
        };
        if a.dtype != b.dtype {
            return Err(OpError::Other(format!("operand types differ: {a} and {b}")));
        }
        Ok(vec![TensorType::new(
            a.dtype,
            broadcast_shapes(&a.shape, &b.shape)?,
        )])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let a = ctx.get(0)?;
        let out_ty = &ctx.outputs[0];
        let Ok(b) = ctx.get(1) else {
            return Ok(Some(vec![a.clone()]));
        };
        let mut out = Data::zeros(out_ty.dtype, out_ty.n_elems());
        macro_rules! run {
            ($($variant:ident),*) => {
                match (&a.data, &b.data, &mut out) {
                    $((Data::$variant(x), Data::$variant(z), Data::$variant(y)) => {
                        zant_runtime::elementwise::binary(self.op, x, &a.shape, z, &b.shape, y, &out_ty.shape)
                    })*
                    _ => return Ok(None),
                }
            };
        }
        run!(F32, F64, I8, U8, I16, U16, I32, U32, I64, U64).map_err(|e| e.to_string())?;
        Ok(Some(vec![Tensor::new(out_ty.shape.clone(), out)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let out = ctx.out_ty();
        let t = elem_type(out.dtype);
        let op = op_tokens(self.op);
        let y_shape = shape_tokens(&out.shape);
        let try_ = ctx.try_suffix();
        if ctx.inputs.len() == 1 {
            let x = ctx.expr(0)?;
            return Ok(quote! { rt::shape::copy::<#t>(#x, y); });
        }
        if let Some(i) = ctx.in_place {
            let other = ctx.input(1 - i)?;
            let (x, x_shape) = (&other.expr, shape_tokens(&other.ty.shape));
            let is_lhs = i == 0;
            return Ok(quote! {
                rt::elementwise::binary_in_place::<#t>(rt::elementwise::BinaryOp::#op, #is_lhs, y, #x, #x_shape, #y_shape) #try_;
            });
        }
        let (a, b) = (ctx.input(0)?, ctx.input(1)?);
        let (ae, be) = (&a.expr, &b.expr);
        let (a_shape, b_shape) = (shape_tokens(&a.ty.shape), shape_tokens(&b.ty.shape));
        Ok(quote! {
            rt::elementwise::binary::<#t>(rt::elementwise::BinaryOp::#op, #ae, #a_shape, #be, #b_shape, y, #y_shape) #try_;
        })
    }

    fn in_place_inputs(&self) -> &'static [usize] {
        &[0, 1]
    }
}

/// Parses `Pow`: a [`Binary`] when base and exponent have one type, else [`PowMixed`].
pub fn parse_pow(ctx: &ParseCtx<'_>) -> Result<super::Op, OpError> {
    if ctx.input(0)?.dtype == ctx.input(1)?.dtype {
        Binary::parse(ctx).map(super::Op::Binary)
    } else {
        PowMixed::parse(ctx).map(super::Op::PowMixed)
    }
}

/// `Pow` whose exponent has another type than its base (opset 12 on): computed in `f64`,
/// the result in the base's type.
#[derive(Clone, Debug, PartialEq)]
pub struct PowMixed;

impl Parse for PowMixed {
    fn parse(_ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self)
    }
}

impl OpKind for PowMixed {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (a, b) = (super::required(inputs, 0)?, super::required(inputs, 1)?);
        if a.dtype == crate::tensor::DType::Bool || b.dtype == crate::tensor::DType::Bool {
            return Err(OpError::Other("Pow does not take bool".into()));
        }
        Ok(vec![TensorType::new(
            a.dtype,
            broadcast_shapes(&a.shape, &b.shape)?,
        )])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (a, b) = (ctx.get(0)?, ctx.get(1)?);
        let out = &ctx.outputs[0];
        // Exact for every exponent the integer types hold below 2^53.
        let exponent = super::cast::cast_data(&b.data, crate::tensor::DType::F64);
        let Data::F64(e) = exponent else {
            return Ok(None);
        };
        let data = crate::with_data!(&a.data, x => {
            let mut y = x.clone();
            y.truncate(0);
            y.resize(out.n_elems(), Default::default());
            zant_runtime::logic::pow_mixed(x, &a.shape, &e, &b.shape, &mut y, &out.shape)
                .map_err(|e| e.to_string())?;
            super::retag(y, out.dtype)
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (a, b) = (ctx.input(0)?, ctx.input(1)?);
        let (ae, be) = (&a.expr, &b.expr);
        let (a_shape, b_shape) = (shape_tokens(&a.ty.shape), shape_tokens(&b.ty.shape));
        let y_shape = shape_tokens(&ctx.out_ty().shape);
        let (t, e) = (elem_type(a.ty.dtype), elem_type(b.ty.dtype));
        let try_ = ctx.try_suffix();
        Ok(quote! {
            rt::logic::pow_mixed::<#t, #e>(#ae, #a_shape, #be, #b_shape, y, #y_shape) #try_;
        })
    }
}
