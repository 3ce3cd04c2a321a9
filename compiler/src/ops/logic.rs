//! Comparisons and boolean logic, with numpy broadcasting: Equal (opset 7 on; 11 adds
//! integers, 19 strings), Less and Greater (7 on), LessOrEqual and GreaterOrEqual (12 on),
//! And, Or, Xor (7 on), Not (1 on), BitShift (11 on; signed integers since 28), and
//! BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot (18 on) on integers.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::logic::{BitwiseOp, CompareOp, LogicOp};

use super::{
    broadcast_shapes, elem_type, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
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
            "BitShift" => match ctx.string("direction", "")?.as_str() {
                "LEFT" => LogicKind::BitShift(true),
                "RIGHT" => LogicKind::BitShift(false),
                other => {
                    return Err(OpError::Other(format!(
                        "direction `{other}` is not LEFT or RIGHT"
                    )))
                }
            },
            other => return Err(OpError::Other(format!("`{other}` is not a logic op"))),
        };
        Ok(Self { kind })
    }
}

impl OpKind for Logic {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let a = required(inputs, 0)?;
        if self.kind == LogicKind::Not {
            if a.dtype != DType::Bool {
                return Err(OpError::Other(format!("Not takes bool, not {a}")));
            }
            return Ok(vec![a.clone()]);
        }
        if self.kind == LogicKind::BitwiseNot {
            if !a.dtype.is_int() {
                return Err(OpError::Other(format!(
                    "BitwiseNot takes integers, not {a}"
                )));
            }
            return Ok(vec![a.clone()]);
        }
        let b = required(inputs, 1)?;
        if a.dtype != b.dtype {
            return Err(OpError::Other(format!("operand types differ: {a} and {b}")));
        }
        let shape = broadcast_shapes(&a.shape, &b.shape)?;
        let dtype = match self.kind {
            LogicKind::Compare(_) => DType::Bool,
            LogicKind::Logic(_) if a.dtype != DType::Bool => {
                return Err(OpError::Other(format!("logic ops take bool, not {a}")))
            }
            LogicKind::BitShift(_) | LogicKind::Bitwise(_) if !a.dtype.is_int() => {
                return Err(OpError::Other(format!(
                    "bit operations take integers, not {a}"
                )))
            }
            _ => a.dtype,
        };
        Ok(vec![TensorType::new(dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let out = &ctx.outputs[0];
        let n = out.n_elems();
        let a = ctx.get(0)?;
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
                run!(F32, F64, I8, U8, I16, U16, I32, U32, I64, U64, Bool);
                Data::Bool(y)
            }
            LogicKind::Logic(op) => {
                let (Data::Bool(x), Data::Bool(z)) = (&a.data, &ctx.get(1)?.data) else {
                    return Ok(None);
                };
                let mut y = vec![0; n];
                zant_runtime::logic::logic(
                    op,
                    x,
                    &a.shape,
                    z,
                    &ctx.get(1)?.shape,
                    &mut y,
                    &out.shape,
                );
                Data::Bool(y)
            }
            LogicKind::BitwiseNot => crate::with_data!(&a.data, x => {
                let mut y = x.clone();
                zant_runtime::logic::bitwise_not(x, &mut y);
                super::retag(y, a.dtype())
            }),
            LogicKind::BitShift(_) | LogicKind::Bitwise(_) => {
                let b = ctx.get(1)?;
                macro_rules! run {
                    ($($variant:ident),*) => {
                        match (&a.data, &b.data) {
                            $((Data::$variant(x), Data::$variant(z)) => {
                                let mut y = vec![0; n];
                                match self.kind {
                                    LogicKind::BitShift(left) => zant_runtime::logic::bit_shift(left, x, &a.shape, z, &b.shape, &mut y, &out.shape),
                                    LogicKind::Bitwise(op) => zant_runtime::logic::bitwise(op, x, &a.shape, z, &b.shape, &mut y, &out.shape),
                                    _ => unreachable!("matched above"),
                                }
                                Data::$variant(y)
                            })*
                            _ => return Ok(None),
                        }
                    };
                }
                run!(I8, U8, I16, U16, I32, U32, I64, U64)
            }
        };
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let a = ctx.input(0)?;
        let ae = &a.expr;
        if self.kind == LogicKind::Not {
            return Ok(quote! { rt::logic::not(#ae, y); });
        }
        if self.kind == LogicKind::BitwiseNot {
            let t = elem_type(a.ty.dtype);
            return Ok(quote! { rt::logic::bitwise_not::<#t>(#ae, y); });
        }
        let b = ctx.input(1)?;
        let be = &b.expr;
        let (a_shape, b_shape) = (shape_tokens(&a.ty.shape), shape_tokens(&b.ty.shape));
        let y_shape = shape_tokens(&ctx.out_ty().shape);
        let t = elem_type(a.ty.dtype);
        Ok(match self.kind {
            LogicKind::Compare(op) => {
                let op = match op {
                    CompareOp::Equal => quote!(Equal),
                    CompareOp::Less => quote!(Less),
                    CompareOp::LessOrEqual => quote!(LessOrEqual),
                    CompareOp::Greater => quote!(Greater),
                    CompareOp::GreaterOrEqual => quote!(GreaterOrEqual),
                };
                quote! { rt::logic::compare::<#t>(rt::logic::CompareOp::#op, #ae, #a_shape, #be, #b_shape, y, #y_shape); }
            }
            LogicKind::Logic(op) => {
                let op = match op {
                    LogicOp::And => quote!(And),
                    LogicOp::Or => quote!(Or),
                    LogicOp::Xor => quote!(Xor),
                };
                quote! { rt::logic::logic(rt::logic::LogicOp::#op, #ae, #a_shape, #be, #b_shape, y, #y_shape); }
            }
            LogicKind::BitShift(left) => {
                quote! { rt::logic::bit_shift::<#t>(#left, #ae, #a_shape, #be, #b_shape, y, #y_shape); }
            }
            LogicKind::Bitwise(op) => {
                let op = match op {
                    BitwiseOp::And => quote!(And),
                    BitwiseOp::Or => quote!(Or),
                    BitwiseOp::Xor => quote!(Xor),
                };
                quote! { rt::logic::bitwise::<#t>(rt::logic::BitwiseOp::#op, #ae, #a_shape, #be, #b_shape, y, #y_shape); }
            }
            LogicKind::Not | LogicKind::BitwiseNot => unreachable!("handled above"),
        })
    }
}
