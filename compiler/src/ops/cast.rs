//! Cast (opset 6 on; `saturate` (19) and `round_mode` (25) only concern float8/float4,
//! which zant does not support) and CastLike (opset 15 on), which casts input 0 to the
//! element type of input 1. Floats to integers truncate toward zero and saturate, integers
//! wrap, anything to bool is `!= 0`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    /// The target type; `None` for CastLike, which takes it from input 1.
    pub to: Option<DType>,
}

impl Cast {
    fn target(&self, inputs: &[Option<&TensorType>]) -> Result<DType, OpError> {
        match self.to {
            Some(to) => Ok(to),
            None => Ok(required(inputs, 1)?.dtype),
        }
    }
}

/// Casts constant data (the same kernels as generated code).
pub fn cast_data(data: &Data, to: DType) -> Data {
    fn from<A: zant_runtime::scalar::Scalar>(x: &[A], to: DType) -> Data {
        use zant_runtime::logic::{cast, cast_to_bool};
        let n = x.len();
        macro_rules! to {
            ($($variant:ident($ty:ty)),*) => {
                match to {
                    DType::Bool => {
                        let mut y = vec![0u8; n];
                        cast_to_bool(x, &mut y);
                        Data::Bool(y)
                    }
                    $(DType::$variant => {
                        let mut y = vec![<$ty>::default(); n];
                        cast(x, &mut y);
                        Data::$variant(y)
                    })*
                }
            };
        }
        to!(
            F32(f32),
            F64(f64),
            I8(i8),
            U8(u8),
            I16(i16),
            U16(u16),
            I32(i32),
            U32(u32),
            I64(i64),
            U64(u64)
        )
    }
    crate::with_data!(data, x => from(x, to))
}

impl Parse for Cast {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        if ctx.op_type == "CastLike" {
            return Ok(Self { to: None });
        }
        let code = ctx
            .attr("to")
            .ok_or("attribute `to` is required")?
            .as_int("to")?;
        let to = DType::from_onnx(code as i32).ok_or_else(|| {
            format!(
                "casting to {} is not supported",
                DType::onnx_name(code as i32)
            )
        })?;
        Ok(Self { to: Some(to) })
    }
}

impl OpKind for Cast {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![TensorType::new(self.target(inputs)?, x.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let to = ctx.outputs[0].dtype;
        Ok(Some(vec![Tensor::new(
            x.shape.clone(),
            cast_data(&x.data, to),
        )]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let (from, to) = (x.ty.dtype, ctx.out_ty().dtype);
        let a = elem_type(from);
        if from == to || (from == DType::Bool && to == DType::U8) {
            return Ok(quote! { rt::shape::copy(#xe, y); });
        }
        if to == DType::Bool {
            return Ok(quote! { rt::logic::cast_to_bool::<#a>(#xe, y); });
        }
        let b = elem_type(to);
        Ok(quote! { rt::logic::cast::<#a, #b>(#xe, y); })
    }
}
