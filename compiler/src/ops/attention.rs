//! Attention (opset 23; 24 adds the `nonpad_kv_seqlen` input of an external cache, 25
//! the `left_window_size`/`right_window_size` attributes): scaled dot-product attention
//! with grouped-query heads, a boolean or additive mask, causal masking, softcap, a
//! past key/value cache, and the optional present caches and `qk_matmul_output`.
//!
//! Q, K and V are `[batch, heads, seq, head_size]`, or `[batch, seq, heads · head_size]`
//! with `q_num_heads`/`kv_num_heads`. The kernel (`rt::attention`) streams one query row
//! at a time with an online softmax, so it needs no scratch memory. f32 only:
//! `softmax_precision` may ask for f32 or f64 (the f32 online softmax, which subtracts
//! the running maximum, stays well within the ONNX tolerances), not a narrower type.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::attention::{MaskLayout, QkOutput};

use super::{mac_count, required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Attention {
    /// The kernel's shapes and options, the mask's layout included.
    pub params: zant_runtime::attention::Attention,
    /// The mask's element type (bool or f32), when the node has a mask.
    pub mask: Option<DType>,
    pub nonpad: bool,
    /// What `qk_matmul_output` holds, when the node asks for it (a fourth output).
    pub qk: Option<QkOutput>,
    /// How many outputs the node produces: Y, present_key, present_value, qk.
    pub n_outputs: usize,
}

/// Input slots of the ONNX node.
const MASK: usize = 3;
const PAST_KEY: usize = 4;
const PAST_VALUE: usize = 5;
const NONPAD: usize = 6;

impl Attention {
    /// The shape of Q, K or V (`heads` heads of `seq` rows, `width` wide) in the node's
    /// layout.
    fn qkv_shape(&self, heads: usize, seq: usize, width: usize) -> Vec<usize> {
        let p = &self.params;
        if p.packed {
            vec![p.batch, seq, heads * width]
        } else {
            vec![p.batch, heads, seq, width]
        }
    }
}

/// Where the mask value of `(b, h, i, j)` lives, for a mask of shape `dims` (padded to
/// rank 4); a mask that broadcasts along an axis has stride 0 there.
fn mask_layout([mb, mh, ms, cols]: [usize; 4]) -> MaskLayout {
    let stride = |dim: usize, step: usize| if dim == 1 { 0 } else { step };
    MaskLayout {
        batch_stride: stride(mb, mh * ms * cols),
        head_stride: stride(mh, ms * cols),
        query_stride: stride(ms, cols),
        cols,
    }
}

/// The `qk_matmul_output_mode` value that reads back as `qk`.
fn qk_mode(qk: QkOutput) -> i64 {
    match qk {
        QkOutput::Scores => 0,
        QkOutput::Biased => 2,
        QkOutput::Probabilities => 3,
    }
}

impl Parse for Attention {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (q, k, v) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
        for (name, t) in [("Q", q), ("K", k), ("V", v)] {
            if t.dtype != DType::F32 {
                return Err(OpError::unsupported(format!(
                    "implemented for f32, not {name} {t}"
                )));
            }
        }
        if q.rank() != k.rank() || q.rank() != v.rank() || !matches!(q.rank(), 3 | 4) {
            return Err(OpError::shape(format!(
                "Q, K and V must all be 3-D or all 4-D, got {q}, {k} and {v}"
            )));
        }
        let attr_heads = |name: &str| -> Result<Option<usize>, OpError> {
            match ctx.int(name, 0)? {
                0 => Ok(None),
                n if n > 0 => Ok(Some(n as usize)),
                n => Err(OpError::attr(name, format!("must be positive, got {n}"))),
            }
        };
        let (q_num_heads, kv_num_heads) = (attr_heads("q_num_heads")?, attr_heads("kv_num_heads")?);
        let packed = q.rank() == 3;
        let batch = q.shape[0];
        let (q_heads, kv_heads, q_len, kv_len, head_size, k_head_size, v_head_size);
        if packed {
            let missing = |name: &str| OpError::attr(name, "is required with 3-D inputs");
            let hq = q_num_heads.ok_or_else(|| missing("q_num_heads"))?;
            let hkv = kv_num_heads.ok_or_else(|| missing("kv_num_heads"))?;
            let split = |t: &TensorType, heads: usize, what: &str| -> Result<usize, OpError> {
                if !t.shape[2].is_multiple_of(heads) {
                    return Err(OpError::shape(format!(
                        "{what} {t}: hidden size {} is not a multiple of {heads} heads",
                        t.shape[2]
                    )));
                }
                Ok(t.shape[2] / heads)
            };
            (q_heads, kv_heads) = (hq, hkv);
            (q_len, kv_len) = (q.shape[1], k.shape[1]);
            head_size = split(q, hq, "Q")?;
            k_head_size = split(k, hkv, "K")?;
            v_head_size = split(v, hkv, "V")?;
            if v.shape[1] != kv_len {
                return Err(OpError::shape(format!(
                    "K {k} and V {v} have different sequence lengths"
                )));
            }
        } else {
            (q_heads, kv_heads) = (q.shape[1], k.shape[1]);
            (q_len, kv_len) = (q.shape[2], k.shape[2]);
            (head_size, k_head_size, v_head_size) = (q.shape[3], k.shape[3], v.shape[3]);
            if v.shape[1] != kv_heads || v.shape[2] != kv_len {
                return Err(OpError::shape(format!(
                    "K {k} and V {v} disagree on heads or sequence length"
                )));
            }
            for (name, attr, shape_heads) in [
                ("q_num_heads", q_num_heads, q_heads),
                ("kv_num_heads", kv_num_heads, kv_heads),
            ] {
                if let Some(n) = attr.filter(|&n| n != shape_heads) {
                    return Err(OpError::attr(
                        name,
                        format!("{n} disagrees with the {shape_heads} heads of the 4-D inputs"),
                    ));
                }
            }
        }
        if k.shape[0] != batch || v.shape[0] != batch {
            return Err(OpError::shape(format!(
                "Q {q}, K {k} and V {v} have different batch sizes"
            )));
        }
        if k_head_size != head_size {
            return Err(OpError::shape(format!(
                "Q and K have different head sizes ({head_size} and {k_head_size})"
            )));
        }
        if q_heads == 0 || kv_heads == 0 || !q_heads.is_multiple_of(kv_heads) {
            return Err(OpError::shape(format!(
                "{q_heads} query heads cannot be grouped over {kv_heads} key/value heads"
            )));
        }

        let past_len = match (ctx.has_input(PAST_KEY), ctx.has_input(PAST_VALUE)) {
            (false, false) => 0,
            (true, true) => {
                let (pk, pv) = (ctx.input(PAST_KEY)?, ctx.input(PAST_VALUE)?);
                let want_k = [
                    batch,
                    kv_heads,
                    pk.shape.get(2).copied().unwrap_or(0),
                    head_size,
                ];
                let want_v = [batch, kv_heads, want_k[2], v_head_size];
                if pk.dtype != DType::F32 || pv.dtype != DType::F32 {
                    return Err(OpError::shape(format!(
                        "past_key {pk} and past_value {pv} must be f32 like Q, K and V"
                    )));
                }
                if pk.shape != want_k || pv.shape != want_v {
                    return Err(OpError::shape(format!(
                        "past_key {pk} and past_value {pv} do not match [batch, kv_heads, past, head_size]"
                    )));
                }
                want_k[2]
            }
            _ => return Err(OpError::shape("past_key and past_value come together")),
        };
        let total = past_len + kv_len;

        let nonpad = ctx.has_input(NONPAD);
        if nonpad && ctx.opset < 24 {
            return Err(OpError::shape("nonpad_kv_seqlen arrives with opset 24"));
        }
        if nonpad {
            let t = ctx.input(NONPAD)?;
            if t.dtype != DType::I64 || t.shape != [batch] {
                return Err(OpError::shape(format!(
                    "nonpad_kv_seqlen must be int64 [batch], not {t}"
                )));
            }
            if past_len > 0 {
                return Err(OpError::shape(
                    "nonpad_kv_seqlen cannot be combined with a past cache",
                ));
            }
        }

        let (mask, layout) = if ctx.has_input(MASK) {
            let m = ctx.input(MASK)?;
            if !matches!(m.dtype, DType::Bool | DType::F32) || m.rank() == 0 || m.rank() > 4 {
                return Err(OpError::unsupported(format!(
                    "attn_mask must be bool or f32 of rank 1 to 4, not {m}"
                )));
            }
            let mut dims = [1; 4];
            dims[4 - m.rank()..].copy_from_slice(&m.shape);
            let fits = |d: usize, full: usize| d == 1 || d == full;
            if !(fits(dims[0], batch) && fits(dims[1], q_heads) && fits(dims[2], q_len))
                || dims[3] > total
            {
                return Err(OpError::shape(format!(
                    "attn_mask {m} does not broadcast to [batch {batch}, heads {q_heads}, queries {q_len}, keys ≤ {total}]"
                )));
            }
            (Some(m.dtype), mask_layout(dims))
        } else {
            (None, MaskLayout::default())
        };

        let scale = match ctx.attr("scale") {
            Some(_) => ctx.float("scale", 0.0)?,
            None => (1.0 / (head_size as f64).sqrt()) as f32,
        };
        let softcap = ctx.float("softcap", 0.0)?;
        match ctx.int("softmax_precision", 1)? {
            1 | 11 => {}
            other => {
                return Err(OpError::unsupported(format!(
                    "softmax_precision {other}: f32 inputs use f32 (1) or f64 (11)"
                )))
            }
        }
        let n_outputs = ctx.n_outputs.clamp(1, 4);
        let qk = match ctx.int("qk_matmul_output_mode", 0)? {
            0 | 1 => QkOutput::Scores,
            2 => QkOutput::Biased,
            3 => QkOutput::Probabilities,
            other => {
                return Err(OpError::attr(
                    "qk_matmul_output_mode",
                    format!("{other} is not 0 to 3"),
                ))
            }
        };
        let window = |name: &str| -> Result<i64, OpError> {
            if ctx.opset < 25 && ctx.attr(name).is_some() {
                return Err(OpError::attr(name, "arrives with opset 25"));
            }
            match ctx.int(name, -1)? {
                w if w >= -1 => Ok(w),
                w => Err(OpError::attr(
                    name,
                    format!("must be -1 or non-negative, got {w}"),
                )),
            }
        };
        Ok(Self {
            params: zant_runtime::attention::Attention {
                batch,
                q_heads,
                kv_heads,
                q_len,
                kv_len,
                past_len,
                head_size,
                v_head_size,
                packed,
                scale,
                softcap,
                causal: ctx.int("is_causal", 0)? != 0,
                left_window: window("left_window_size")?,
                right_window: window("right_window_size")?,
                mask: layout,
            },
            mask,
            nonpad,
            qk: (n_outputs > 3).then_some(qk),
            n_outputs,
        })
    }
}

impl OpKind for Attention {
    fn attrs(&self, attrs: &mut Attrs) {
        let p = &self.params;
        // The head counts are attributes only for the 3-D layout; 4-D inputs carry them
        // in their shapes.
        if p.packed {
            attrs
                .int("q_num_heads", p.q_heads as i64)
                .int("kv_num_heads", p.kv_heads as i64);
        }
        attrs.float("scale", p.scale);
        if p.softcap != 0.0 {
            attrs.float("softcap", p.softcap);
        }
        if p.causal {
            attrs.int("is_causal", 1);
        }
        if p.left_window != -1 {
            attrs.int("left_window_size", p.left_window);
        }
        if p.right_window != -1 {
            attrs.int("right_window_size", p.right_window);
        }
        if let Some(qk) = self.qk {
            attrs.int("qk_matmul_output_mode", qk_mode(qk));
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let p = &self.params;
        let (q, k, v) = (
            required(inputs, 0)?,
            required(inputs, 1)?,
            required(inputs, 2)?,
        );
        if q.shape != self.qkv_shape(p.q_heads, p.q_len, p.head_size)
            || k.shape != self.qkv_shape(p.kv_heads, p.kv_len, p.head_size)
            || v.shape != self.qkv_shape(p.kv_heads, p.kv_len, p.v_head_size)
        {
            return Err(OpError::shape(format!(
                "Q {q}, K {k} or V {v} no longer has the shape the node was built for"
            )));
        }
        let (b, total) = (p.batch, p.past_len + p.kv_len);
        let f32_of = |shape: Vec<usize>| TensorType::new(DType::F32, shape);
        let outputs = [
            f32_of(self.qkv_shape(p.q_heads, p.q_len, p.v_head_size)),
            f32_of(vec![b, p.kv_heads, total, p.head_size]),
            f32_of(vec![b, p.kv_heads, total, p.v_head_size]),
            f32_of(vec![b, p.q_heads, p.q_len, total]),
        ];
        Ok(outputs[..self.n_outputs].to_vec())
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (q, k, v) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let mask = match self.mask {
            None => quote!(rt::attention::Mask::None),
            Some(DType::Bool) => {
                let m = ctx.expr(MASK)?;
                quote!(rt::attention::Mask::Bool(#m))
            }
            Some(_) => {
                let m = ctx.expr(MASK)?;
                quote!(rt::attention::Mask::Float(#m))
            }
        };
        let (past_key, past_value) = if self.params.past_len > 0 {
            (ctx.expr(PAST_KEY)?, ctx.expr(PAST_VALUE)?)
        } else {
            (quote!(&[]), quote!(&[]))
        };
        let nonpad = if self.nonpad {
            let n = ctx.expr(NONPAD)?;
            quote!(Some(#n))
        } else {
            quote!(None)
        };
        let present_key = if self.n_outputs > 1 {
            quote!(Some(y1))
        } else {
            quote!(None)
        };
        let present_value = if self.n_outputs > 2 {
            quote!(Some(y2))
        } else {
            quote!(None)
        };
        let qk = match self.qk {
            Some(mode) => quote!(Some((#mode, y3))),
            None => quote!(None),
        };
        let params = &self.params;
        Ok(quote! {
            rt::attention::attention(
                &#params,
                rt::attention::Inputs {
                    q: #q,
                    k: #k,
                    v: #v,
                    mask: #mask,
                    past_key: #past_key,
                    past_value: #past_value,
                    nonpad_kv_seqlen: #nonpad,
                },
                rt::attention::Outputs {
                    y,
                    present_key: #present_key,
                    present_value: #present_value,
                    qk: #qk,
                },
            );
        })
    }

    /// `Q·Kᵀ` and the weighted sum of `V` over every key, past ones included, for every
    /// query of every head: the dense count, before causal or window masking skips any.
    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        let p = &self.params;
        let keys = p.past_len + p.kv_len;
        mac_count([
            p.batch,
            p.q_heads,
            p.q_len,
            keys,
            p.head_size + p.v_head_size,
        ])
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Attention")
            .input("f32[1,2,3,4]")
            .input("f32[1,2,5,4]")
            .input("f32[1,2,5,4]")
            .emit(), @"
        Attention(f32[1,2,3,4], f32[1,2,5,4], f32[1,2,5,4]) scale=0.5 -> f32[1,2,3,4]
        rt::attention::attention(
            &rt::attention::Attention {
                batch: 1,
                q_heads: 2,
                kv_heads: 2,
                q_len: 3,
                kv_len: 5,
                past_len: 0,
                head_size: 4,
                v_head_size: 4,
                packed: false,
                scale: 0.5f32,
                softcap: 0f32,
                causal: false,
                left_window: -1i64,
                right_window: -1i64,
                mask: rt::attention::MaskLayout {
                    batch_stride: 0,
                    head_stride: 0,
                    query_stride: 0,
                    cols: 0,
                },
            },
            rt::attention::Inputs {
                q: x0,
                k: x1,
                v: x2,
                mask: rt::attention::Mask::None,
                past_key: &[],
                past_value: &[],
                nonpad_kv_seqlen: None,
            },
            rt::attention::Outputs {
                y,
                present_key: None,
                present_value: None,
                qk: None,
            },
        );
        ");
        // Packed 3-D inputs, four query heads over two key/value heads, a causal boolean
        // mask, and every output.
        insta::assert_snapshot!(node("Attention")
            .int("q_num_heads", 4)
            .int("kv_num_heads", 2)
            .int("is_causal", 1)
            .int("qk_matmul_output_mode", 3)
            .input("f32[1,3,8]")
            .input("f32[1,5,4]")
            .input("f32[1,5,4]")
            .input("bool[3,5]")
            .outputs(4)
            .emit(), @"
        Attention(f32[1,3,8], f32[1,5,4], f32[1,5,4], bool[3,5]) q_num_heads=4 kv_num_heads=2 scale=0.70710677 is_causal=1 qk_matmul_output_mode=3 -> f32[1,3,8], f32[1,2,5,2], f32[1,2,5,2], f32[1,4,3,5]
        rt::attention::attention(
            &rt::attention::Attention {
                batch: 1,
                q_heads: 4,
                kv_heads: 2,
                q_len: 3,
                kv_len: 5,
                past_len: 0,
                head_size: 2,
                v_head_size: 2,
                packed: true,
                scale: 0.70710677f32,
                softcap: 0f32,
                causal: true,
                left_window: -1i64,
                right_window: -1i64,
                mask: rt::attention::MaskLayout {
                    batch_stride: 0,
                    head_stride: 0,
                    query_stride: 5,
                    cols: 5,
                },
            },
            rt::attention::Inputs {
                q: x0,
                k: x1,
                v: x2,
                mask: rt::attention::Mask::Bool(x3),
                past_key: &[],
                past_value: &[],
                nonpad_kv_seqlen: None,
            },
            rt::attention::Outputs {
                y,
                present_key: Some(y1),
                present_value: Some(y2),
                qk: Some((rt::attention::QkOutput::Probabilities, y3)),
            },
        );
        ");
        // A past cache with an additive mask over all keys, and a softcap.
        insta::assert_snapshot!(node("Attention")
            .float("softcap", 30.0)
            .float("scale", 0.125)
            .input("f32[1,2,1,4]")
            .input("f32[1,2,1,4]")
            .input("f32[1,2,1,4]")
            .input("f32[1,1,1,4]")
            .input("f32[1,2,3,4]")
            .input("f32[1,2,3,4]")
            .outputs(3)
            .emit(), @"
        Attention(f32[1,2,1,4], f32[1,2,1,4], f32[1,2,1,4], f32[1,1,1,4], f32[1,2,3,4], f32[1,2,3,4]) scale=0.125 softcap=30.0 -> f32[1,2,1,4], f32[1,2,4,4], f32[1,2,4,4]
        rt::attention::attention(
            &rt::attention::Attention {
                batch: 1,
                q_heads: 2,
                kv_heads: 2,
                q_len: 1,
                kv_len: 1,
                past_len: 3,
                head_size: 4,
                v_head_size: 4,
                packed: false,
                scale: 0.125f32,
                softcap: 30f32,
                causal: false,
                left_window: -1i64,
                right_window: -1i64,
                mask: rt::attention::MaskLayout {
                    batch_stride: 0,
                    head_stride: 0,
                    query_stride: 0,
                    cols: 4,
                },
            },
            rt::attention::Inputs {
                q: x0,
                k: x1,
                v: x2,
                mask: rt::attention::Mask::Float(x3),
                past_key: x4,
                past_value: x5,
                nonpad_kv_seqlen: None,
            },
            rt::attention::Outputs {
                y,
                present_key: Some(y1),
                present_value: Some(y2),
                qk: None,
            },
        );
        ");
        // An external cache (opset 24) and a sliding window (opset 25).
        insta::assert_snapshot!(node("Attention")
            .int("is_causal", 1)
            .int("left_window_size", 2)
            .input("f32[2,1,1,4]")
            .input("f32[2,1,6,4]")
            .input("f32[2,1,6,4]")
            .omitted()
            .omitted()
            .omitted()
            .input("i64[2]")
            .emit(), @"
        Attention(f32[2,1,1,4], f32[2,1,6,4], f32[2,1,6,4], _, _, _, i64[2]) scale=0.5 is_causal=1 left_window_size=2 -> f32[2,1,1,4]
        rt::attention::attention(
            &rt::attention::Attention {
                batch: 2,
                q_heads: 1,
                kv_heads: 1,
                q_len: 1,
                kv_len: 6,
                past_len: 0,
                head_size: 4,
                v_head_size: 4,
                packed: false,
                scale: 0.5f32,
                softcap: 0f32,
                causal: true,
                left_window: 2i64,
                right_window: -1i64,
                mask: rt::attention::MaskLayout {
                    batch_stride: 0,
                    head_stride: 0,
                    query_stride: 0,
                    cols: 0,
                },
            },
            rt::attention::Inputs {
                q: x0,
                k: x1,
                v: x2,
                mask: rt::attention::Mask::None,
                past_key: &[],
                past_value: &[],
                nonpad_kv_seqlen: Some(x6),
            },
            rt::attention::Outputs {
                y,
                present_key: None,
                present_value: None,
                qk: None,
            },
        );
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Attention")
            .opset(24)
            .int("left_window_size", 2)
            .input("f32[1,1,1,4]")
            .input("f32[1,1,1,4]")
            .input("f32[1,1,1,4]")
            .emit(), @"parse: attribute `left_window_size`: arrives with opset 25");
        insta::assert_snapshot!(node("Attention")
            .input("f32[1,3,8]")
            .input("f32[1,5,8]")
            .input("f32[1,5,8]")
            .emit(), @"parse: attribute `q_num_heads`: is required with 3-D inputs");
        insta::assert_snapshot!(node("Attention")
            .input("f64[1,1,1,4]")
            .input("f64[1,1,1,4]")
            .input("f64[1,1,1,4]")
            .emit(), @"parse: implemented for f32, not Q f64[1,1,1,4]");
    }

    #[test]
    fn counts_both_products_over_every_key() {
        // Two heads of three queries over five keys: Q·Kᵀ (4 deep) and the sum over V (4 wide).
        let attention = node("Attention")
            .input("f32[1,2,3,4]")
            .input("f32[1,2,5,4]")
            .input("f32[1,2,5,4]");
        assert_eq!(attention.macs(), 2 * 3 * 5 * (4 + 4));
    }
}
