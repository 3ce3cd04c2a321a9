//! RotaryEmbedding (opset 23): rotates the leading `rotary_embedding_dim` elements of
//! every head by per-token angles given as cosine and sine tables.
//!
//! The input is `[batch, heads, seq, head_size]`, or `[batch, seq, hidden]` with the
//! `num_heads` attribute. With `position_ids` (`[batch, seq]`, int64, read at run time and
//! checked) the tables are `[max_position + 1, rotary_dim / 2]` and each token picks its
//! row; without, they are `[batch, seq, rotary_dim / 2]`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct RotaryEmbedding {
    pub x_shape: Vec<usize>,
    pub heads: usize,
    pub head_size: usize,
    pub rotary_dim: usize,
    pub interleaved: bool,
    /// The shape of the cos and sin tables.
    pub table_shape: Vec<usize>,
    pub position_ids: bool,
}

impl Parse for RotaryEmbedding {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let (cos, sin) = (ctx.input(1)?, ctx.input(2)?);
        if x.dtype != DType::F32 || cos.dtype != DType::F32 || sin.dtype != DType::F32 {
            return Err(OpError::Other(format!(
                "RotaryEmbedding is implemented for f32, not {x} with tables {cos}"
            )));
        }
        let (batch, seq, heads, head_size) = match x.rank() {
            4 => (x.shape[0], x.shape[2], x.shape[1], x.shape[3]),
            3 => {
                let heads = ctx.int("num_heads", 0)?;
                if heads <= 0 || !x.shape[2].is_multiple_of(heads as usize) {
                    return Err(OpError::Other(format!(
                        "a 3-D input {x} needs num_heads dividing its hidden size, got {heads}"
                    )));
                }
                let heads = heads as usize;
                (x.shape[0], x.shape[1], heads, x.shape[2] / heads)
            }
            _ => {
                return Err(OpError::Other(format!(
                    "the input must be 3-D or 4-D, not {x}"
                )))
            }
        };
        let rotary_dim = match ctx.int("rotary_embedding_dim", 0)? {
            0 => head_size,
            d if d > 0 && d as usize <= head_size && (d as usize).is_multiple_of(2) => d as usize,
            d => {
                return Err(OpError::Other(format!(
                    "rotary_embedding_dim {d} must be even and at most the head size {head_size}"
                )))
            }
        };
        if !rotary_dim.is_multiple_of(2) {
            return Err(OpError::Other(format!("head size {head_size} is odd")));
        }
        let half = rotary_dim / 2;
        let position_ids = ctx.has_input(3);
        if position_ids {
            let ids = ctx.input(3)?;
            if ids.dtype != DType::I64 || ids.shape != [batch, seq] {
                return Err(OpError::Other(format!(
                    "position_ids must be int64 [{batch}, {seq}], not {ids}"
                )));
            }
        }
        let table_ok = |t: &TensorType| {
            if position_ids {
                t.rank() == 2 && t.shape[1] == half
            } else {
                t.shape == [batch, seq, half]
            }
        };
        if !table_ok(cos) || sin.shape != cos.shape {
            let want = if position_ids {
                format!("[positions, {half}]")
            } else {
                format!("[{batch}, {seq}, {half}]")
            };
            return Err(OpError::Other(format!(
                "the cos/sin tables must be {want}, not {cos} and {sin}"
            )));
        }
        Ok(Self {
            x_shape: x.shape.clone(),
            heads,
            head_size,
            rotary_dim,
            interleaved: ctx.int("interleaved", 0)? != 0,
            table_shape: cos.shape.clone(),
            position_ids,
        })
    }
}

impl OpKind for RotaryEmbedding {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let shape_of = |i: usize| inputs.get(i).copied().flatten().map(|t| &t.shape[..]);
        if shape_of(0) != Some(&self.x_shape[..])
            || shape_of(1) != Some(&self.table_shape[..])
            || shape_of(2) != Some(&self.table_shape[..])
            || shape_of(3).is_some() != self.position_ids
        {
            return Err(OpError::Other(
                "the inputs no longer have the shapes the node was built for".into(),
            ));
        }
        Ok(vec![TensorType::new(DType::F32, self.x_shape.clone())])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, cos, sin) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let packed = self.x_shape.len() == 3;
        let (batch, seq) = if packed {
            (self.x_shape[0], self.x_shape[1])
        } else {
            (self.x_shape[0], self.x_shape[2])
        };
        let ids = if self.position_ids {
            let ids = ctx.expr(3)?;
            quote!(Some(#ids))
        } else {
            quote!(None)
        };
        let Self {
            heads,
            head_size,
            rotary_dim,
            interleaved,
            ..
        } = *self;
        let table_rows = self.table_shape[..self.table_shape.len() - 1]
            .iter()
            .product::<usize>();
        let try_ = ctx.try_suffix();
        Ok(quote! {
            rt::attention::rotary_embedding(
                &rt::attention::Rotary {
                    batch: #batch,
                    heads: #heads,
                    seq: #seq,
                    head_size: #head_size,
                    rotary_dim: #rotary_dim,
                    packed: #packed,
                    interleaved: #interleaved,
                    table_rows: #table_rows,
                },
                #x, #cos, #sin, #ids, y,
            ) #try_;
        })
    }
}
