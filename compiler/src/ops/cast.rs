//! Cast (opset 6 on; `saturate` (19) and `round_mode` (25) only concern float8/float4,
//! which zant does not support) and CastLike (opset 15 on), which casts input 0 to the
//! element type of input 1. Floats to integers truncate toward zero and saturate, integers
//! wrap, anything to bool is `!= 0`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
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

/// The element type an attribute names by its ONNX `TensorProto.DataType` code (Cast's
/// `to`, QuantizeLinear's `output_dtype`, EyeLike's `dtype`, …): a code ONNX does not
/// define is a bad attribute, a type zant does not implement (float16, string, …) is
/// unsupported.
pub fn dtype_attr(name: &str, code: i64) -> Result<DType, OpError> {
    let bad = || OpError::attr(name, format!("{code} is not an ONNX data type"));
    let code = i32::try_from(code).map_err(|_| bad())?;
    DType::from_onnx(code).ok_or_else(|| match DType::onnx_name(code) {
        "undefined" | "unknown" => bad(),
        other => OpError::unsupported(format!("element type {other} is not supported")),
    })
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
            .ok_or_else(|| OpError::attr("to", "missing"))?
            .as_int("to")?;
        Ok(Self {
            to: Some(dtype_attr("to", code)?),
        })
    }
}

impl OpKind for Cast {
    /// Cast's `to` as its ONNX type code; CastLike has no attribute.
    fn attrs(&self, attrs: &mut Attrs) {
        if let Some(to) = self.to {
            attrs.int("to", i64::from(to.onnx_code()));
        }
    }

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

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        // ONNX type codes: 1 float, 6 int32, 7 int64, 9 bool, 10 float16.
        insta::assert_snapshot!(node("Cast").int("to", 7).input("f32[2,3]").emit(), @"
        Cast(f32[2,3]) to=7 -> i64[2,3]
        rt::logic::cast::<f32, i64>(x0, y);
        ");
        insta::assert_snapshot!(node("Cast").int("to", 9).input("i32[4]").emit(), @"
        Cast(i32[4]) to=9 -> bool[4]
        rt::logic::cast_to_bool::<i32>(x0, y);
        ");
        insta::assert_snapshot!(node("Cast").int("to", 1).input("f32[4]").emit(), @"
        Cast(f32[4]) to=1 -> f32[4]
        rt::shape::copy(x0, y);
        ");
        insta::assert_snapshot!(node("CastLike").input("u8[4]").input("f64[]").emit(), @"
        CastLike(u8[4], f64[]) -> f64[4]
        rt::logic::cast::<u8, f64>(x0, y);
        ");
        let values = Tensor::new(vec![3], Data::F32(vec![-1.5, 2.7, 300.0]));
        insta::assert_snapshot!(node("Cast").int("to", 3).constant(values).emit(), @"
        Cast(f32[3]) to=3 -> i8[3]
        folds to i8[3] [-1, 2, 127]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Cast").int("to", 10).input("f32[4]").emit(), @"parse: element type float16 is not supported");
        insta::assert_snapshot!(node("Cast").int("to", 99).input("f32[4]").emit(), @"parse: attribute `to`: 99 is not an ONNX data type");
        insta::assert_snapshot!(node("Cast").input("f32[4]").emit(), @"parse: attribute `to`: missing");
    }
}
