//! Comparisons and boolean logic, with numpy broadcasting: Equal (opset 7 on; 11 adds
//! integers, 19 strings), Less and Greater (7 on), LessOrEqual and GreaterOrEqual (12 on),
//! And, Or, Xor (7 on), Not (1 on), BitShift (11 on; signed integers since 28), and
//! BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot (18 on) on integers.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::logic::{BitwiseOp, CompareOp, LogicOp};

use super::{
    broadcast_shapes, elem_type, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogicKind {
    Compare(CompareOp),
    Logic(LogicOp),
    Not,
    /// `true` shifts left.
    BitShift(bool),
    Bitwise(BitwiseOp),
    BitwiseNot,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Logic {
    pub kind: LogicKind,
}

impl Parse for Logic {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let kind = match ctx.op_type {
            "Equal" => LogicKind::Compare(CompareOp::Equal),
            "Less" => LogicKind::Compare(CompareOp::Less),
            "LessOrEqual" => LogicKind::Compare(CompareOp::LessOrEqual),
            "Greater" => LogicKind::Compare(CompareOp::Greater),
            "GreaterOrEqual" => LogicKind::Compare(CompareOp::GreaterOrEqual),
            "And" => LogicKind::Logic(LogicOp::And),
            "Or" => LogicKind::Logic(LogicOp::Or),
            "Xor" => LogicKind::Logic(LogicOp::Xor),
            "Not" => LogicKind::Not,
            "BitwiseAnd" => LogicKind::Bitwise(BitwiseOp::And),
            "BitwiseOr" => LogicKind::Bitwise(BitwiseOp::Or),
            "BitwiseXor" => LogicKind::Bitwise(BitwiseOp::Xor),
            "BitwiseNot" => LogicKind::BitwiseNot,
            "BitShift" => match ctx.attr("direction") {
                None => return Err(OpError::attr("direction", "missing")),
                Some(a) => match a.as_string("direction")?.as_str() {
                    "LEFT" => LogicKind::BitShift(true),
                    "RIGHT" => LogicKind::BitShift(false),
                    other => {
                        return Err(OpError::attr(
                            "direction",
                            format!("`{other}` is not LEFT or RIGHT"),
                        ))
                    }
                },
            },
            _ => return Err(OpError::unsupported("the op type is not a logic op")),
        };
        Ok(Self { kind })
    }
}

impl OpKind for Logic {
    /// The op type names the operation; only BitShift has an attribute.
    fn attrs(&self, attrs: &mut Attrs) {
        if let LogicKind::BitShift(left) = self.kind {
            attrs.string("direction", if left { "LEFT" } else { "RIGHT" });
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let a = required(inputs, 0)?;
        match self.kind {
            LogicKind::Not if a.dtype != DType::Bool => {
                return Err(OpError::shape(format!("takes bool, not {a}")))
            }
            LogicKind::BitwiseNot if !a.dtype.is_int() => {
                return Err(OpError::shape(format!("takes integers, not {a}")))
            }
            LogicKind::Not | LogicKind::BitwiseNot => return Ok(vec![a.clone()]),
            _ => {}
        }
        let b = required(inputs, 1)?;
        if a.dtype != b.dtype {
            return Err(OpError::shape(format!("operand types differ: {a} and {b}")));
        }
        let shape = broadcast_shapes(&a.shape, &b.shape)?;
        let dtype = match self.kind {
            LogicKind::Compare(_) => DType::Bool,
            LogicKind::Logic(_) if a.dtype != DType::Bool => {
                return Err(OpError::shape(format!("takes bool, not {a}")))
            }
            LogicKind::BitShift(_) | LogicKind::Bitwise(_) if !a.dtype.is_int() => {
                return Err(OpError::shape(format!("takes integers, not {a}")))
            }
            _ => a.dtype,
        };
        Ok(vec![TensorType::new(dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let out = &ctx.outputs[0];
        let n = out.n_elems();
        let a = ctx.get(0)?;
        // A broadcasting integer kernel, `kernel(arg, x, x_shape, z, z_shape, y, y_shape)`,
        // on the integer types listed.
        macro_rules! on_ints {
            ($kernel:ident($arg:expr); $($variant:ident),*) => {{
                let b = ctx.get(1)?;
                match (&a.data, &b.data) {
                    $((Data::$variant(x), Data::$variant(z)) => {
                        let mut y = vec![0; n];
                        zant_runtime::logic::$kernel($arg, x, &a.shape, z, &b.shape, &mut y, &out.shape);
                        Data::$variant(y)
                    })*
                    _ => return Ok(None),
                }
            }};
        }
        let data = match self.kind {
            LogicKind::Not => {
                let Data::Bool(x) = &a.data else {
                    return Ok(None);
                };
                let mut y = vec![0; n];
                zant_runtime::logic::not(x, &mut y);
                Data::Bool(y)
            }
            LogicKind::Compare(op) => {
                let b = ctx.get(1)?;
                let mut y = vec![0; n];
                macro_rules! run {
                    ($($variant:ident),*) => {
                        match (&a.data, &b.data) {
                            $((Data::$variant(x), Data::$variant(z)) => {
                                zant_runtime::logic::compare(op, x, &a.shape, z, &b.shape, &mut y, &out.shape)
                            })*
                            _ => return Ok(None),
                        }
                    };
                }
                crate::all_dtypes!(run);
                Data::Bool(y)
            }
            LogicKind::Logic(op) => {
                let b = ctx.get(1)?;
                let (Data::Bool(x), Data::Bool(z)) = (&a.data, &b.data) else {
                    return Ok(None);
                };
                let mut y = vec![0; n];
                zant_runtime::logic::logic(op, x, &a.shape, z, &b.shape, &mut y, &out.shape);
                Data::Bool(y)
            }
            LogicKind::BitwiseNot => crate::with_data!(&a.data, x => {
                let mut y = x.clone();
                zant_runtime::logic::bitwise_not(x, &mut y);
                super::retag(y, a.dtype())
            }),
            LogicKind::BitShift(left) => {
                on_ints!(bit_shift(left); I8, U8, I16, U16, I32, U32, I64, U64)
            }
            LogicKind::Bitwise(op) => on_ints!(bitwise(op); I8, U8, I16, U16, I32, U32, I64, U64),
        };
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let a = ctx.input(0)?;
        let ae = &a.expr;
        let t = elem_type(a.ty.dtype);
        // The binary ops broadcast both operands to the output's shape.
        let operands = || -> Result<TokenStream, OpError> {
            let b = ctx.input(1)?;
            let be = &b.expr;
            let (a_shape, b_shape) = (shape_tokens(&a.ty.shape), shape_tokens(&b.ty.shape));
            let y_shape = shape_tokens(&ctx.out_ty().shape);
            Ok(quote! { #ae, #a_shape, #be, #b_shape, y, #y_shape })
        };
        Ok(match self.kind {
            LogicKind::Not => quote! { rt::logic::not(#ae, y); },
            LogicKind::BitwiseNot => quote! { rt::logic::bitwise_not::<#t>(#ae, y); },
            LogicKind::Compare(op) => {
                let args = operands()?;
                quote! { rt::logic::compare::<#t>(#op, #args); }
            }
            LogicKind::Logic(op) => {
                let args = operands()?;
                quote! { rt::logic::logic(#op, #args); }
            }
            LogicKind::BitShift(left) => {
                let args = operands()?;
                quote! { rt::logic::bit_shift::<#t>(#left, #args); }
            }
            LogicKind::Bitwise(op) => {
                let args = operands()?;
                quote! { rt::logic::bitwise::<#t>(#op, #args); }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Equal").input("i64[2,3]").input("i64[3]").emit(), @"
        Equal(i64[2,3], i64[3]) -> bool[2,3]
        rt::logic::compare::<
            i64,
        >(rt::logic::CompareOp::Equal, x0, &[2, 3], x1, &[3], y, &[2, 3]);
        ");
        insta::assert_snapshot!(node("Less").input("f32[4]").input("f32[]").emit(), @"
        Less(f32[4], f32[]) -> bool[4]
        rt::logic::compare::<f32>(rt::logic::CompareOp::Less, x0, &[4], x1, &[], y, &[4]);
        ");
        insta::assert_snapshot!(node("LessOrEqual").input("f32[4]").input("f32[4]").emit(), @"
        LessOrEqual(f32[4], f32[4]) -> bool[4]
        rt::logic::compare::<
            f32,
        >(rt::logic::CompareOp::LessOrEqual, x0, &[4], x1, &[4], y, &[4]);
        ");
        insta::assert_snapshot!(node("Greater").input("u8[4]").input("u8[4]").emit(), @"
        Greater(u8[4], u8[4]) -> bool[4]
        rt::logic::compare::<u8>(rt::logic::CompareOp::Greater, x0, &[4], x1, &[4], y, &[4]);
        ");
        insta::assert_snapshot!(node("GreaterOrEqual").input("f64[4]").input("f64[4]").emit(), @"
        GreaterOrEqual(f64[4], f64[4]) -> bool[4]
        rt::logic::compare::<
            f64,
        >(rt::logic::CompareOp::GreaterOrEqual, x0, &[4], x1, &[4], y, &[4]);
        ");
        insta::assert_snapshot!(node("And").input("bool[2,2]").input("bool[2]").emit(), @"
        And(bool[2,2], bool[2]) -> bool[2,2]
        rt::logic::logic(rt::logic::LogicOp::And, x0, &[2, 2], x1, &[2], y, &[2, 2]);
        ");
        insta::assert_snapshot!(node("Or").input("bool[4]").input("bool[4]").emit(), @"
        Or(bool[4], bool[4]) -> bool[4]
        rt::logic::logic(rt::logic::LogicOp::Or, x0, &[4], x1, &[4], y, &[4]);
        ");
        insta::assert_snapshot!(node("Xor").input("bool[4]").input("bool[4]").emit(), @"
        Xor(bool[4], bool[4]) -> bool[4]
        rt::logic::logic(rt::logic::LogicOp::Xor, x0, &[4], x1, &[4], y, &[4]);
        ");
        insta::assert_snapshot!(node("Not").input("bool[4]").emit(), @"
        Not(bool[4]) -> bool[4]
        rt::logic::not(x0, y);
        ");
        insta::assert_snapshot!(node("BitShift").string("direction", "LEFT").input("u32[4]").input("u32[4]").emit(), @r#"
        BitShift(u32[4], u32[4]) direction="LEFT" -> u32[4]
        rt::logic::bit_shift::<u32>(true, x0, &[4], x1, &[4], y, &[4]);
        "#);
        insta::assert_snapshot!(node("BitShift").string("direction", "RIGHT").input("u8[4]").input("u8[]").emit(), @r#"
        BitShift(u8[4], u8[]) direction="RIGHT" -> u8[4]
        rt::logic::bit_shift::<u8>(false, x0, &[4], x1, &[], y, &[4]);
        "#);
        insta::assert_snapshot!(node("BitwiseAnd").input("i32[4]").input("i32[4]").emit(), @"
        BitwiseAnd(i32[4], i32[4]) -> i32[4]
        rt::logic::bitwise::<i32>(rt::logic::BitwiseOp::And, x0, &[4], x1, &[4], y, &[4]);
        ");
        insta::assert_snapshot!(node("BitwiseOr").input("i8[4]").input("i8[4]").emit(), @"
        BitwiseOr(i8[4], i8[4]) -> i8[4]
        rt::logic::bitwise::<i8>(rt::logic::BitwiseOp::Or, x0, &[4], x1, &[4], y, &[4]);
        ");
        insta::assert_snapshot!(node("BitwiseXor").input("u16[4]").input("u16[4]").emit(), @"
        BitwiseXor(u16[4], u16[4]) -> u16[4]
        rt::logic::bitwise::<u16>(rt::logic::BitwiseOp::Xor, x0, &[4], x1, &[4], y, &[4]);
        ");
        insta::assert_snapshot!(node("BitwiseNot").input("i64[4]").emit(), @"
        BitwiseNot(i64[4]) -> i64[4]
        rt::logic::bitwise_not::<i64>(x0, y);
        ");
    }

    #[test]
    fn folds() {
        let u8s = |v: Vec<u8>| Tensor::new(vec![v.len()], Data::U8(v));
        insta::assert_snapshot!(node("BitShift").string("direction", "LEFT").constant(u8s(vec![1, 3])).constant(u8s(vec![2])).emit(), @r#"
        BitShift(u8[2], u8[1]) direction="LEFT" -> u8[2]
        folds to u8[2] [4, 12]
        "#);
        insta::assert_snapshot!(node("BitwiseXor").constant(u8s(vec![6, 5])).constant(u8s(vec![3, 3])).emit(), @"
        BitwiseXor(u8[2], u8[2]) -> u8[2]
        folds to u8[2] [5, 6]
        ");
        let f32s = |v: Vec<f32>| Tensor::new(vec![v.len()], Data::F32(v));
        insta::assert_snapshot!(node("Greater").constant(f32s(vec![1.0, 3.0])).constant(f32s(vec![2.0])).emit(), @"
        Greater(f32[2], f32[1]) -> bool[2]
        folds to bool[2] [0, 1]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("BitShift").string("direction", "UP").input("u8[4]").input("u8[4]").emit(), @"parse: attribute `direction`: `UP` is not LEFT or RIGHT");
        insta::assert_snapshot!(node("BitShift").input("u8[4]").input("u8[4]").emit(), @"parse: attribute `direction`: missing");
        insta::assert_snapshot!(node("And").input("i32[4]").input("i32[4]").emit(), @"infer: takes bool, not i32[4]");
        insta::assert_snapshot!(node("Not").input("f32[4]").emit(), @"infer: takes bool, not f32[4]");
        insta::assert_snapshot!(node("BitwiseAnd").input("f32[4]").input("f32[4]").emit(), @"infer: takes integers, not f32[4]");
        insta::assert_snapshot!(node("Equal").input("f32[4]").input("i32[4]").emit(), @"infer: operand types differ: f32[4] and i32[4]");
    }
}
