//! Cast (opset 6 on) and CastLike (opset 15 on), which casts input 0 to the element type
//! of input 1. Floats to integers truncate toward zero and saturate, integers wrap,
//! anything to bool is `!= 0`. The narrow types (float16, bfloat16, float8, float4, int4,
//! int2; `zant_runtime::narrow`) convert through their exact values, rounding to nearest
//! even; `saturate` (19) decides what float8 makes of out-of-range values and
//! `round_mode` (25) how FLOAT8E8M0 rounds. Strings are not supported.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::narrow::{E8M0Round, Encoding, Format};

use super::{elem_type, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    /// The target type; `None` for CastLike, which takes it from input 1.
    pub to: Option<DType>,
    /// Out-of-range values saturate when casting to float8 (`saturate`, default 1).
    pub saturate: bool,
    /// How a cast to FLOAT8E8M0 rounds (`round_mode`, default `up`).
    pub round: E8M0Round,
    /// Set on the casts import puts in front of an op that computes a narrow float in
    /// `f32` (`onnx::narrow`) when they widen a constant: folding leaves them, so the
    /// weight keeps its narrow bytes in the blob and is widened when the node runs. The
    /// IR text spells it `widens_weight=1`.
    pub widens_weight: bool,
}

impl Cast {
    /// A plain cast to `to`, with ONNX's defaults.
    pub fn to(to: DType) -> Self {
        Self {
            to: Some(to),
            saturate: true,
            round: E8M0Round::Up,
            widens_weight: false,
        }
    }

    fn target(&self, inputs: &[Option<&TensorType>]) -> Result<DType, OpError> {
        match self.to {
            Some(to) => Ok(to),
            None => Ok(required(inputs, 1)?.dtype),
        }
    }

    /// The conversion into narrow type `format`, with this node's attributes.
    fn encoding(&self, format: Format) -> Encoding {
        Encoding {
            format,
            saturate: self.saturate,
            round: self.round,
        }
    }
}

/// The element type an attribute names by its ONNX `TensorProto.DataType` code (Cast's
/// `to`, QuantizeLinear's `output_dtype`, EyeLike's `dtype`, …): a code ONNX does not
/// define is a bad attribute, a type zant does not implement (string, complex, …) is
/// unsupported.
pub fn dtype_attr(name: &str, code: i64) -> Result<DType, OpError> {
    let bad = || OpError::attr(name, format!("{code} is not an ONNX data type"));
    let code = i32::try_from(code).map_err(|_| bad())?;
    DType::from_onnx(code).ok_or_else(|| match DType::onnx_name(code) {
        "undefined" | "unknown" => bad(),
        other => OpError::unsupported(format!("element type {other} is not supported")),
    })
}

/// Casts constant data with ONNX's defaults (saturating float8, E8M0 rounding up).
pub fn cast_data(data: &Data, to: DType) -> Data {
    cast_data_with(data, to, &Cast::to(to))
}

/// Casts constant data (the same kernels as generated code), with `cast`'s attributes.
pub fn cast_data_with(data: &Data, to: DType, cast: &Cast) -> Data {
    let from = data.dtype();
    if from.narrow().is_none() && to.narrow().is_none() {
        return cast_wide(data, to);
    }
    let n = data.len();
    // Narrow data goes through its storage, as the generated code holds it.
    let bytes = data.to_le_bytes();
    let y_len = to.storage_len(n);
    let out = |y: Vec<u8>| Data::from_storage(to, &y, n).expect("whole storage");
    macro_rules! wide_slice {
        ($data:expr, |$x:ident| $body:expr) => {
            match $data {
                Data::F32($x) => $body,
                Data::F64($x) => $body,
                Data::I8($x) => $body,
                Data::U8($x) | Data::Bool($x) => $body,
                Data::I16($x) => $body,
                Data::U16($x) => $body,
                Data::I32($x) => $body,
                Data::U32($x) => $body,
                Data::I64($x) => $body,
                Data::U64($x) => $body,
                _ => unreachable!("a wide type"),
            }
        };
    }
    use zant_runtime::narrow as rt;
    match (from.narrow(), to.narrow()) {
        (Some(f), Some(t)) => {
            let enc = cast.encoding(t);
            match (f.bits(), t.bits()) {
                (16, 16) => {
                    let x = u16s(&bytes);
                    let mut y = vec![0u16; y_len];
                    rt::cast_between(f, enc, &x, &mut y, n);
                    out(y.iter().flat_map(|v| v.to_le_bytes()).collect())
                }
                (16, _) => {
                    let x = u16s(&bytes);
                    let mut y = vec![0u8; y_len];
                    rt::cast_between(f, enc, &x, &mut y, n);
                    out(y)
                }
                (_, 16) => {
                    let mut y = vec![0u16; y_len];
                    rt::cast_between(f, enc, &bytes, &mut y, n);
                    out(y.iter().flat_map(|v| v.to_le_bytes()).collect())
                }
                _ => {
                    let mut y = vec![0u8; y_len];
                    rt::cast_between(f, enc, &bytes, &mut y, n);
                    out(y)
                }
            }
        }
        (Some(f), None) => {
            if to == DType::Bool {
                let mut y = vec![0u8; n];
                if f.bits() == 16 {
                    rt::cast_to_bool(f, &u16s(&bytes), &mut y);
                } else {
                    rt::cast_to_bool(f, &bytes, &mut y);
                }
                return Data::Bool(y);
            }
            macro_rules! run {
                ($($variant:ident($ty:ty)),*) => {
                    match to {
                        $(DType::$variant => {
                            let mut y = vec![<$ty>::default(); n];
                            if f.bits() == 16 {
                                rt::cast_from(f, &u16s(&bytes), &mut y);
                            } else {
                                rt::cast_from(f, &bytes, &mut y);
                            }
                            Data::$variant(y)
                        })*
                        _ => unreachable!("a wide type"),
                    }
                };
            }
            run!(
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
        (None, Some(t)) => {
            let enc = cast.encoding(t);
            if t.bits() == 16 {
                let mut y = vec![0u16; y_len];
                wide_slice!(data, |x| rt::cast_to(enc, x, &mut y));
                out(y.iter().flat_map(|v| v.to_le_bytes()).collect())
            } else {
                let mut y = vec![0u8; y_len];
                wide_slice!(data, |x| rt::cast_to(enc, x, &mut y));
                out(y)
            }
        }
        (None, None) => unreachable!("handled above"),
    }
}

/// Little-endian bytes as `u16`s.
fn u16s(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Casts between the types Rust has.
fn cast_wide(data: &Data, to: DType) -> Data {
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
                    _ => unreachable!("a wide type"),
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
    match data {
        Data::F32(x) => from(x, to),
        Data::F64(x) => from(x, to),
        Data::I8(x) => from(x, to),
        Data::U8(x) | Data::Bool(x) => from(x, to),
        Data::I16(x) => from(x, to),
        Data::U16(x) => from(x, to),
        Data::I32(x) => from(x, to),
        Data::U32(x) => from(x, to),
        Data::I64(x) => from(x, to),
        Data::U64(x) => from(x, to),
        _ => unreachable!("a wide type"),
    }
}

impl Parse for Cast {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let saturate = ctx.int("saturate", 1)? != 0;
        let round = match ctx.string("round_mode", "up")?.as_str() {
            "up" => E8M0Round::Up,
            "down" => E8M0Round::Down,
            "nearest" => E8M0Round::Nearest,
            other => {
                return Err(OpError::attr(
                    "round_mode",
                    format!("`{other}` is not up, down or nearest"),
                ))
            }
        };
        let to = if ctx.op_type == "CastLike" {
            None
        } else {
            let code = ctx
                .attr("to")
                .ok_or_else(|| OpError::attr("to", "missing"))?
                .as_int("to")?;
            Some(dtype_attr("to", code)?)
        };
        Ok(Self {
            to,
            saturate,
            round,
            widens_weight: ctx.int("widens_weight", 0)? != 0,
        })
    }
}

impl OpKind for Cast {
    /// Converting between element types is what it is for.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Native
    }

    /// Cast's `to` as its ONNX type code (CastLike has none), and the rounding attributes
    /// where they differ from ONNX's defaults.
    fn attrs(&self, attrs: &mut Attrs) {
        if let Some(to) = self.to {
            attrs.int("to", i64::from(to.onnx_code()));
        }
        if !self.saturate {
            attrs.int("saturate", 0);
        }
        match self.round {
            E8M0Round::Up => {}
            E8M0Round::Down => {
                attrs.string("round_mode", "down");
            }
            E8M0Round::Nearest => {
                attrs.string("round_mode", "nearest");
            }
        }
        if self.widens_weight {
            attrs.int("widens_weight", 1);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        Ok(vec![TensorType::new(self.target(inputs)?, x.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        if self.widens_weight {
            return Ok(None);
        }
        let x = ctx.get(0)?;
        let to = ctx.outputs[0].dtype;
        Ok(Some(vec![Tensor::new(
            x.shape.clone(),
            cast_data_with(&x.data, to, self),
        )]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let (from, to) = (x.ty.dtype, ctx.out_ty().dtype);
        let a = elem_type(from);
        let b = elem_type(to);
        if from == to || (from == DType::Bool && to == DType::U8) {
            return Ok(quote! { rt::shape::copy(#xe, y); });
        }
        let n = x.ty.n_elems();
        match (from.narrow(), to.narrow()) {
            (Some(Format::F16), None) if to == DType::F32 => {
                Ok(quote! { rt::narrow::f16_to_f32_slice(#xe, y); })
            }
            (Some(Format::BF16), None) if to == DType::F32 => {
                Ok(quote! { rt::narrow::bf16_to_f32_slice(#xe, y); })
            }
            (None, Some(Format::F16)) if from == DType::F32 => {
                Ok(quote! { rt::narrow::f32_to_f16_slice(#xe, y); })
            }
            (None, Some(Format::BF16)) if from == DType::F32 => {
                Ok(quote! { rt::narrow::f32_to_bf16_slice(#xe, y); })
            }
            (Some(f), None) if to == DType::Bool => {
                Ok(quote! { rt::narrow::cast_to_bool::<#a>(#f, #xe, y); })
            }
            (Some(f), None) => Ok(quote! { rt::narrow::cast_from::<#a, #b>(#f, #xe, y); }),
            (None, Some(t)) => {
                let enc = self.encoding(t);
                Ok(quote! { rt::narrow::cast_to::<#a, #b>(#enc, #xe, y); })
            }
            (Some(f), Some(t)) => {
                let enc = self.encoding(t);
                Ok(quote! { rt::narrow::cast_between::<#a, #b>(#f, #enc, #xe, y, #n); })
            }
            (None, None) if to == DType::Bool => {
                Ok(quote! { rt::logic::cast_to_bool::<#a>(#xe, y); })
            }
            (None, None) => Ok(quote! { rt::logic::cast::<#a, #b>(#xe, y); }),
        }
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
    fn emits_narrow_types() {
        // ONNX type codes: 10 float16, 16 bfloat16, 17 float8e4m3fn, 19 float8e5m2,
        // 22 int4, 24 float8e8m0.
        insta::assert_snapshot!(node("Cast").int("to", 10).input("f32[4]").emit(), @"
        Cast(f32[4]) to=10 -> f16[4]
        rt::narrow::f32_to_f16_slice(x0, y);
        ");
        insta::assert_snapshot!(node("Cast").int("to", 1).input("bf16[4]").emit(), @"
        Cast(bf16[4]) to=1 -> f32[4]
        rt::narrow::bf16_to_f32_slice(x0, y);
        ");
        insta::assert_snapshot!(node("Cast").int("to", 19).int("saturate", 0).input("f16[3]").emit(), @"
        Cast(f16[3]) to=19 saturate=0 -> f8e5m2[3]
        rt::narrow::cast_between::<
            u16,
            u8,
        >(
            rt::narrow::Format::F16,
            rt::narrow::Encoding {
                format: rt::narrow::Format::F8E5M2,
                saturate: false,
                round: rt::narrow::E8M0Round::Up,
            },
            x0,
            y,
            3,
        );
        ");
        insta::assert_snapshot!(node("Cast").int("to", 22).input("f32[5]").emit(), @"
        Cast(f32[5]) to=22 -> i4[5]
        rt::narrow::cast_to::<
            f32,
            u8,
        >(
            rt::narrow::Encoding {
                format: rt::narrow::Format::I4,
                saturate: true,
                round: rt::narrow::E8M0Round::Up,
            },
            x0,
            y,
        );
        ");
        insta::assert_snapshot!(node("Cast").int("to", 9).input("i4[5]").emit(), @"
        Cast(i4[5]) to=9 -> bool[5]
        rt::narrow::cast_to_bool::<u8>(rt::narrow::Format::I4, x0, y);
        ");
        insta::assert_snapshot!(node("Cast").int("to", 24).string("round_mode", "nearest").input("f64[2]").emit(), @r#"
        Cast(f64[2]) to=24 round_mode="nearest" -> f8e8m0[2]
        rt::narrow::cast_to::<
            f64,
            u8,
        >(
            rt::narrow::Encoding {
                format: rt::narrow::Format::F8E8M0,
                saturate: true,
                round: rt::narrow::E8M0Round::Nearest,
            },
            x0,
            y,
        );
        "#);
        insta::assert_snapshot!(node("CastLike").input("f8e4m3fn[2]").input("i64[]").emit(), @"
        CastLike(f8e4m3fn[2], i64[]) -> i64[2]
        rt::narrow::cast_from::<u8, i64>(rt::narrow::Format::F8E4M3FN, x0, y);
        ");
        let values = Tensor::new(vec![4], Data::F32(vec![0.1, 65520.0, -1e-8, f32::NAN]));
        insta::assert_snapshot!(node("Cast").int("to", 10).constant(values.clone()).emit(), @"
        Cast(f32[4]) to=10 -> f16[4]
        folds to f16[4] [0.0999755859375, inf, -0.0, NaN]
        ");
        insta::assert_snapshot!(node("Cast").int("to", 17).constant(values.clone()).emit(), @"
        Cast(f32[4]) to=17 -> f8e4m3fn[4]
        folds to f8e4m3fn[4] [0.1015625, 448.0, -0.0, NaN]
        ");
        insta::assert_snapshot!(node("Cast").int("to", 17).int("saturate", 0).constant(values).emit(), @"
        Cast(f32[4]) to=17 saturate=0 -> f8e4m3fn[4]
        folds to f8e4m3fn[4] [0.1015625, NaN, -0.0, NaN]
        ");
        let ints = Tensor::new(vec![3], Data::I32(vec![-9, 7, 16]));
        insta::assert_snapshot!(node("Cast").int("to", 22).constant(ints).emit(), @"
        Cast(i32[3]) to=22 -> i4[3]
        folds to i4[3] [7, 7, 0]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Cast").int("to", 8).input("f32[4]").emit(), @"parse: element type string is not supported");
        insta::assert_snapshot!(node("Cast").int("to", 99).input("f32[4]").emit(), @"parse: attribute `to`: 99 is not an ONNX data type");
        insta::assert_snapshot!(node("Cast").input("f32[4]").emit(), @"parse: attribute `to`: missing");
        insta::assert_snapshot!(node("Cast").int("to", 24).string("round_mode", "sideways").input("f32[4]").emit(), @"parse: attribute `round_mode`: `sideways` is not up, down or nearest");
    }
}
