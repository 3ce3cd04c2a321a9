//! ai.zant.QLookup: an 8-bit tensor mapped element by element through a 256-entry table
//! of 8-bit values. The QDQ pass writes it for a float island of element-wise ops
//! between a DequantizeLinear and a QuantizeLinear (`DQ → Sigmoid → Q`, `DQ → Clip →
//! Q` with new scales, …): the compiler evaluates the island on all 256 inputs, so the
//! table holds exactly what the float ops would give.

use proc_macro2::TokenStream;
use quote::quote;

use super::{elem_type, required, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

/// The table's length: one entry per 8-bit input, from the type's minimum up.
pub const TABLE_LEN: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub struct QLookup;

fn is_eight_bit(dtype: DType) -> bool {
    matches!(dtype, DType::U8 | DType::I8)
}

impl Parse for QLookup {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (x, table) = (ctx.input(0)?, ctx.input(1)?);
        if !is_eight_bit(x.dtype) || !is_eight_bit(table.dtype) {
            return Err(OpError::unsupported(format!(
                "QLookup maps u8 or i8 through a u8 or i8 table, not {x} through {table}"
            )));
        }
        if table.shape != [TABLE_LEN] {
            return Err(OpError::shape(format!(
                "the table {table} should hold {TABLE_LEN} entries"
            )));
        }
        Ok(Self)
    }
}

impl OpKind for QLookup {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, table) = (required(inputs, 0)?, required(inputs, 1)?);
        Ok(vec![TensorType::new(table.dtype, x.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (x, table) = (ctx.get(0)?, ctx.get(1)?);
        let offset = if x.dtype() == DType::I8 { 128 } else { 0 };
        let entries = table.data.to_i64_vec();
        let values: Vec<i64> = x
            .data
            .to_i64_vec()
            .into_iter()
            .map(|v| entries[(v + offset) as usize])
            .collect();
        let data = match table.dtype() {
            DType::I8 => Data::I8(values.into_iter().map(|v| v as i8).collect()),
            _ => Data::U8(values.into_iter().map(|v| v as u8).collect()),
        };
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, table) = (ctx.input(0)?, ctx.input(1)?);
        let (xe, te) = (&x.expr, &table.expr);
        let (xt, yt) = (elem_type(x.ty.dtype), elem_type(table.ty.dtype));
        Ok(quote! { rt::qlinear::lookup::<#xt, #yt>(#xe, #te, y); })
    }
}
