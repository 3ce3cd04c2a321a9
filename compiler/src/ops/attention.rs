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

use super::{f32_tokens, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Attention {
    pub batch: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub q_len: usize,
    pub kv_len: usize,
    pub past_len: usize,
    pub head_size: usize,
    pub v_head_size: usize,
    /// The 3-D layout `[batch, seq, heads · head_size]`.
    pub packed: bool,
    pub scale: f32,
    pub softcap: f32,
    pub causal: bool,
    pub left_window: i64,
    pub right_window: i64,
    /// The mask's dtype (bool or f32), and its shape padded to rank 4.
    pub mask: Option<(DType, [usize; 4])>,
    pub nonpad: bool,
    pub qk_mode: i64,
    /// How many outputs the node produces: Y, present_key, present_value, qk.
    pub n_outputs: usize,
}

/// Input slots of the ONNX node.
const MASK: usize = 3;
const PAST_KEY: usize = 4;
const PAST_VALUE: usize = 5;
const NONPAD: usize = 6;

impl Attention {
    fn total_len(&self) -> usize {
        self.past_len + self.kv_len
    }

    /// The shape of Q, K or V (`heads` heads of `seq` rows, `width` wide) in the node's
    /// layout.
    fn qkv_shape(&self, heads: usize, seq: usize, width: usize) -> Vec<usize> {
        if self.packed {
            vec![self.batch, seq, heads * width]
        } else {
            vec![self.batch, heads, seq, width]
        }
    }

    /// Where the mask value of `(b, h, i, j)` lives (`rt::attention::MaskLayout`).
    fn mask_layout(&self) -> TokenStream {
        let [mb, mh, ms, cols] = self.mask.map_or([1, 1, 1, 0], |(_, s)| s);
        let stride = |dim: usize, step: usize| if dim == 1 { 0 } else { step };
        let query_stride = stride(ms, cols);
        let head_stride = stride(mh, ms * cols);
        let batch_stride = stride(mb, mh * ms * cols);
        quote! {
            rt::attention::MaskLayout {
                batch_stride: #batch_stride,
                head_stride: #head_stride,
                query_stride: #query_stride,
                cols: #cols,
            }
        }
    }
}

impl Parse for Attention {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (q, k, v) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
        for (name, t) in [("Q", q), ("K", k), ("V", v)] {
            if t.dtype != DType::F32 {
                return Err(OpError::Other(format!(
                    "Attention is implemented for f32, not {name} {t}"
                )));
            }
        }
        if q.rank() != k.rank() || q.rank() != v.rank() || !matches!(q.rank(), 3 | 4) {
            return Err(OpError::Other(format!(
                "Q, K and V must all be 3-D or all 4-D, got {q}, {k} and {v}"
            )));
        }
        let attr_heads = |name: &str| -> Result<Option<usize>, OpError> {
            match ctx.int(name, 0)? {
                0 => Ok(None),
                n if n > 0 => Ok(Some(n as usize)),
                n => Err(OpError::Other(format!("{name} must be positive, got {n}"))),
            }
        };
        let (q_num_heads, kv_num_heads) = (attr_heads("q_num_heads")?, attr_heads("kv_num_heads")?);
        let packed = q.rank() == 3;
        let batch = q.shape[0];
        let (q_heads, kv_heads, q_len, kv_len, head_size, k_head_size, v_head_size);
        if packed {
            let (Some(hq), Some(hkv)) = (q_num_heads, kv_num_heads) else {
                return Err(OpError::Other(
                    "3-D inputs need the q_num_heads and kv_num_heads attributes".into(),
                ));
            };
            let split = |t: &TensorType, heads: usize, what: &str| -> Result<usize, OpError> {
                if !t.shape[2].is_multiple_of(heads) {
                    return Err(OpError::Other(format!(
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
                return Err(OpError::Other(format!(
                    "K {k} and V {v} have different sequence lengths"
                )));
            }
        } else {
            (q_heads, kv_heads) = (q.shape[1], k.shape[1]);
            (q_len, kv_len) = (q.shape[2], k.shape[2]);
            (head_size, k_head_size, v_head_size) = (q.shape[3], k.shape[3], v.shape[3]);
            if v.shape[1] != kv_heads || v.shape[2] != kv_len {
                return Err(OpError::Other(format!(
                    "K {k} and V {v} disagree on heads or sequence length"
                )));
            }
            for (name, attr) in [("q_num_heads", q_num_heads), ("kv_num_heads", kv_num_heads)] {
                let shape_heads = if name == "q_num_heads" {
                    q_heads
                } else {
                    kv_heads
                };
                if attr.is_some_and(|n| n != shape_heads) {
                    return Err(OpError::Other(format!(
                        "{name} disagrees with the 4-D inputs"
                    )));
                }
            }
        }
        if k.shape[0] != batch || v.shape[0] != batch {
            return Err(OpError::Other(format!(
                "Q {q}, K {k} and V {v} have different batch sizes"
            )));
        }
        if k_head_size != head_size {
            return Err(OpError::Other(format!(
                "Q and K have different head sizes ({head_size} and {k_head_size})"
            )));
        }
        if q_heads == 0 || kv_heads == 0 || !q_heads.is_multiple_of(kv_heads) {
            return Err(OpError::Other(format!(
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
                    return Err(OpError::Other("past_key and past_value must be f32".into()));
                }
                if pk.shape != want_k || pv.shape != want_v {
                    return Err(OpError::Other(format!(
                        "past_key {pk} and past_value {pv} do not match [batch, kv_heads, past, head_size]"
                    )));
                }
                want_k[2]
            }
            _ => {
                return Err(OpError::Other(
                    "past_key and past_value come together".into(),
                ))
            }
        };
        let total = past_len + kv_len;

        let nonpad = ctx.has_input(NONPAD);
        if nonpad && ctx.opset < 24 {
            return Err(OpError::Other(
                "nonpad_kv_seqlen arrives with opset 24".into(),
            ));
        }
        if nonpad {
            let t = ctx.input(NONPAD)?;
            if t.dtype != DType::I64 || t.shape != [batch] {
                return Err(OpError::Other(format!(
                    "nonpad_kv_seqlen must be int64 [batch], not {t}"
                )));
            }
            if past_len > 0 {
                return Err(OpError::Other(
                    "nonpad_kv_seqlen cannot be combined with a past cache".into(),
                ));
            }
        }

        let mask = if ctx.has_input(MASK) {
            let m = ctx.input(MASK)?;
            if !matches!(m.dtype, DType::Bool | DType::F32) || m.rank() == 0 || m.rank() > 4 {
                return Err(OpError::Other(format!(
                    "attn_mask must be bool or f32 of rank 1 to 4, not {m}"
                )));
            }
            let mut dims = [1; 4];
            dims[4 - m.rank()..].copy_from_slice(&m.shape);
            let fits = |d: usize, full: usize| d == 1 || d == full;
            if !(fits(dims[0], batch) && fits(dims[1], q_heads) && fits(dims[2], q_len))
                || dims[3] > total
            {
                return Err(OpError::Other(format!(
                    "attn_mask {m} does not broadcast to [batch {batch}, heads {q_heads}, queries {q_len}, keys ≤ {total}]"
                )));
            }
            Some((m.dtype, dims))
        } else {
            None
        };

        let scale = match ctx.attr("scale") {
            Some(_) => ctx.float("scale", 0.0)?,
            None => (1.0 / (head_size as f64).sqrt()) as f32,
        };
        let softcap = ctx.float("softcap", 0.0)?;
        match ctx.int("softmax_precision", 1)? {
            1 | 11 => {}
            other => {
                return Err(OpError::Other(format!(
                    "softmax_precision {other} is not supported; f32 inputs use f32 or f64"
                )))
            }
        }
        let qk_mode = ctx.int("qk_matmul_output_mode", 0)?;
        if !(0..=3).contains(&qk_mode) {
            return Err(OpError::Other(format!(
                "qk_matmul_output_mode {qk_mode} is not 0 to 3"
            )));
        }
        let window = |name: &str| -> Result<i64, OpError> {
            if ctx.opset < 25 && ctx.attr(name).is_some() {
                return Err(OpError::Other(format!("{name} arrives with opset 25")));
            }
            match ctx.int(name, -1)? {
                w if w >= -1 => Ok(w),
                w => Err(OpError::Other(format!(
                    "{name} must be -1 or non-negative, got {w}"
                ))),
            }
        };
        Ok(Self {
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
            mask,
            nonpad,
            qk_mode,
            n_outputs: ctx.n_outputs.clamp(1, 4),
        })
    }
}

impl OpKind for Attention {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let shape_of = |i: usize| inputs.get(i).copied().flatten().map(|t| &t.shape[..]);
        if shape_of(0) != Some(&self.qkv_shape(self.q_heads, self.q_len, self.head_size)[..])
            || shape_of(1) != Some(&self.qkv_shape(self.kv_heads, self.kv_len, self.head_size)[..])
            || shape_of(2)
                != Some(&self.qkv_shape(self.kv_heads, self.kv_len, self.v_head_size)[..])
        {
            return Err(OpError::Other(
                "Q, K or V no longer has the shape the node was built for".into(),
            ));
        }
        let (b, total) = (self.batch, self.total_len());
        let f32_of = |shape: Vec<usize>| TensorType::new(DType::F32, shape);
        let outputs = [
            f32_of(self.qkv_shape(self.q_heads, self.q_len, self.v_head_size)),
            f32_of(vec![b, self.kv_heads, total, self.head_size]),
            f32_of(vec![b, self.kv_heads, total, self.v_head_size]),
            f32_of(vec![b, self.q_heads, self.q_len, total]),
        ];
        Ok(outputs[..self.n_outputs].to_vec())
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (q, k, v) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let mask = match self.mask {
            None => quote!(rt::attention::Mask::None),
            Some((DType::Bool, _)) => {
                let m = ctx.expr(MASK)?;
                quote!(rt::attention::Mask::Bool(#m))
            }
            Some(_) => {
                let m = ctx.expr(MASK)?;
                quote!(rt::attention::Mask::Float(#m))
            }
        };
        let (past_key, past_value) = if self.past_len > 0 {
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
        let qk = if self.n_outputs > 3 {
            let mode = match self.qk_mode {
                0 | 1 => quote!(Scores),
                2 => quote!(Biased),
                _ => quote!(Probabilities),
            };
            quote!(Some((rt::attention::QkOutput::#mode, y3)))
        } else {
            quote!(None)
        };
        let Self {
            batch,
            q_heads,
            kv_heads,
            q_len,
            kv_len,
            past_len,
            head_size,
            v_head_size,
            packed,
            causal,
            left_window,
            right_window,
            ..
        } = *self;
        let (scale, softcap) = (f32_tokens(self.scale), f32_tokens(self.softcap));
        let layout = self.mask_layout();
        Ok(quote! {
            rt::attention::attention(
                &rt::attention::Attention {
                    batch: #batch,
                    q_heads: #q_heads,
                    kv_heads: #kv_heads,
                    q_len: #q_len,
                    kv_len: #kv_len,
                    past_len: #past_len,
                    head_size: #head_size,
                    v_head_size: #v_head_size,
                    packed: #packed,
                    scale: #scale,
                    softcap: #softcap,
                    causal: #causal,
                    left_window: #left_window,
                    right_window: #right_window,
                    mask: #layout,
                },
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
}
