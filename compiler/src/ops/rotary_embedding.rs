//! RotaryEmbedding (opset 23): rotates the leading `rotary_embedding_dim` elements of
//! every head by per-token angles given as cosine and sine tables.
//!
//! The input is `[batch, heads, seq, head_size]`, or `[batch, seq, hidden]` with the
//! `num_heads` attribute. With `position_ids` (`[batch, seq]`, int64, read at run time and
//! checked) the tables are `[max_position + 1, rotary_dim / 2]` and each token picks its
//! row; without, they are `[batch, seq, rotary_dim / 2]`.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::attention::Rotary;

use super::{required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct RotaryEmbedding {
    /// The kernel's shapes and options.
    pub params: Rotary,
    pub position_ids: bool,
}

/// The input slot of `position_ids`.
const POSITION_IDS: usize = 3;

impl RotaryEmbedding {
    fn x_shape(&self) -> Vec<usize> {
        let p = &self.params;
        if p.packed {
            vec![p.batch, p.seq, p.heads * p.head_size]
        } else {
            vec![p.batch, p.heads, p.seq, p.head_size]
        }
    }

    /// The shape of the cos and sin tables.
    fn table_shape(&self) -> Vec<usize> {
        let p = &self.params;
        let half = p.rotary_dim / 2;
        if self.position_ids {
            vec![p.table_rows, half]
        } else {
            vec![p.batch, p.seq, half]
        }
    }
}

impl Parse for RotaryEmbedding {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        let (cos, sin) = (ctx.input(1)?, ctx.input(2)?);
        if x.dtype != DType::F32 || cos.dtype != DType::F32 || sin.dtype != DType::F32 {
            return Err(OpError::unsupported(format!(
                "implemented for f32, not {x} with tables {cos} and {sin}"
            )));
        }
        let (batch, seq, heads, head_size) = match x.rank() {
            4 => (x.shape[0], x.shape[2], x.shape[1], x.shape[3]),
            3 => {
                let heads = ctx.int("num_heads", 0)?;
                if heads <= 0 || !x.shape[2].is_multiple_of(heads as usize) {
                    return Err(OpError::attr(
                        "num_heads",
                        format!("a 3-D input {x} needs a head count dividing its hidden size, got {heads}"),
                    ));
                }
                let heads = heads as usize;
                (x.shape[0], x.shape[1], heads, x.shape[2] / heads)
            }
            _ => {
                return Err(OpError::shape(format!(
                    "the input must be 3-D or 4-D, not {x}"
                )))
            }
        };
        let rotary_dim = match ctx.int("rotary_embedding_dim", 0)? {
            0 => head_size,
            d if d > 0 && d as usize <= head_size && (d as usize).is_multiple_of(2) => d as usize,
            d => {
                return Err(OpError::attr(
                    "rotary_embedding_dim",
                    format!("{d} must be even and at most the head size {head_size}"),
                ))
            }
        };
        if !rotary_dim.is_multiple_of(2) {
            return Err(OpError::shape(format!(
                "head size {head_size} is odd, so its elements do not pair up"
            )));
        }
        let half = rotary_dim / 2;
        let position_ids = ctx.has_input(POSITION_IDS);
        if position_ids {
            let ids = ctx.input(POSITION_IDS)?;
            if ids.dtype != DType::I64 || ids.shape != [batch, seq] {
                return Err(OpError::shape(format!(
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
            return Err(OpError::shape(format!(
                "the cos/sin tables must be {want}, not {cos} and {sin}"
            )));
        }
        Ok(Self {
            params: Rotary {
                batch,
                heads,
                seq,
                head_size,
                rotary_dim,
                packed: x.rank() == 3,
                interleaved: ctx.int("interleaved", 0)? != 0,
                // Without position ids, row `(b, s)` of the `[batch, seq, half]` tables.
                table_rows: cos.shape[..cos.rank() - 1].iter().product(),
            },
            position_ids,
        })
    }
}

impl OpKind for RotaryEmbedding {
    fn attrs(&self, attrs: &mut Attrs) {
        let p = &self.params;
        // The head count is an attribute only for the 3-D layout; a 4-D input carries it
        // in its shape.
        if p.packed {
            attrs.int("num_heads", p.heads as i64);
        }
        attrs.int("rotary_embedding_dim", p.rotary_dim as i64);
        if p.interleaved {
            attrs.int("interleaved", 1);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, cos, sin) = (
            required(inputs, 0)?,
            required(inputs, 1)?,
            required(inputs, 2)?,
        );
        let has_ids = inputs.get(POSITION_IDS).copied().flatten().is_some();
        let table = self.table_shape();
        if x.shape != self.x_shape()
            || cos.shape != table
            || sin.shape != table
            || has_ids != self.position_ids
        {
            return Err(OpError::shape(format!(
                "the input {x} and tables {cos} no longer have the shapes the node was built for"
            )));
        }
        Ok(vec![TensorType::new(DType::F32, self.x_shape())])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, cos, sin) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let ids = if self.position_ids {
            let ids = ctx.expr(POSITION_IDS)?;
            quote!(Some(#ids))
        } else {
            quote!(None)
        };
        let params = &self.params;
        let try_ = ctx.try_suffix();
        Ok(quote! {
            rt::attention::rotary_embedding(&#params, #x, #cos, #sin, #ids, y) #try_;
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("RotaryEmbedding")
            .input("f32[1,2,3,4]")
            .input("f32[1,3,2]")
            .input("f32[1,3,2]")
            .emit(), @r#"
        RotaryEmbedding(f32[1,2,3,4], f32[1,3,2], f32[1,3,2]) rotary_embedding_dim=4 -> f32[1,2,3,4]
        rt::attention::rotary_embedding(
                &rt::attention::Rotary {
                    batch: 1,
                    heads: 2,
                    seq: 3,
                    head_size: 4,
                    rotary_dim: 4,
                    packed: false,
                    interleaved: false,
                    table_rows: 3,
                },
                x0,
                x1,
                x2,
                None,
                y,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // Packed heads, half of each head rotating in interleaved pairs, positions
        // indexing a table of 16 rows.
        insta::assert_snapshot!(node("RotaryEmbedding")
            .int("num_heads", 2)
            .int("rotary_embedding_dim", 4)
            .int("interleaved", 1)
            .input("f32[1,3,16]")
            .input("f32[16,2]")
            .input("f32[16,2]")
            .input("i64[1,3]")
            .emit(), @r#"
        RotaryEmbedding(f32[1,3,16], f32[16,2], f32[16,2], i64[1,3]) num_heads=2 rotary_embedding_dim=4 interleaved=1 -> f32[1,3,16]
        rt::attention::rotary_embedding(
                &rt::attention::Rotary {
                    batch: 1,
                    heads: 2,
                    seq: 3,
                    head_size: 8,
                    rotary_dim: 4,
                    packed: true,
                    interleaved: true,
                    table_rows: 16,
                },
                x0,
                x1,
                x2,
                Some(x3),
                y,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("RotaryEmbedding")
            .int("rotary_embedding_dim", 3)
            .input("f32[1,2,3,4]")
            .input("f32[1,3,2]")
            .input("f32[1,3,2]")
            .emit(), @"parse: attribute `rotary_embedding_dim`: 3 must be even and at most the head size 4");
        insta::assert_snapshot!(node("RotaryEmbedding")
            .input("f32[1,3,16]")
            .input("f32[1,3,8]")
            .input("f32[1,3,8]")
            .emit(), @"parse: attribute `num_heads`: a 3-D input f32[1,3,16] needs a head count dividing its hidden size, got 0");
    }
}
