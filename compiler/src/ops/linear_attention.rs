//! LinearAttention (opset 27): the recurrent linear-attention family in one op, selected by
//! `update_rule`: `linear` (`S ← S + k ⊗ v`), `gated` (the state first decays by
//! `exp(decay)`), `delta` (`S ← S + β·k ⊗ (v − Sᵀk)`) and `gated_delta` (both, the
//! default). Each token's output is `scale · qᵀS`; query heads share key/value heads in
//! groups. Query, key, value, decay and beta are packed `[batch, seq, heads · size]`; the
//! past and present states are `[batch, kv_heads, key_size, value_size]`.
//!
//! The kernel (`rt::attention::linear_attention`) keeps the state in the `present_state`
//! output, which the op always has. `chunk_size` is a tuning hint for chunk-parallel
//! implementations and does not change the result; the kernel runs token by token.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::attention::{Beta, Decay};

use super::{f32_tokens, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct LinearAttention {
    pub batch: usize,
    pub seq: usize,
    pub q_heads: usize,
    pub kv_heads: usize,
    pub key_size: usize,
    pub value_size: usize,
    pub scale: f32,
    pub past_state: bool,
    pub decay: Decay,
    /// The last dimension of the decay input, when there is one.
    pub decay_width: usize,
    pub beta: Beta,
    pub beta_width: usize,
}

/// Input slots of the ONNX node.
const PAST_STATE: usize = 3;
const DECAY: usize = 4;
const BETA: usize = 5;

impl LinearAttention {
    fn packed(&self, heads: usize, size: usize) -> Vec<usize> {
        vec![self.batch, self.seq, heads * size]
    }

    fn state_shape(&self) -> Vec<usize> {
        vec![self.batch, self.kv_heads, self.key_size, self.value_size]
    }
}

impl Parse for LinearAttention {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (q, k, v) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
        for (name, t) in [("query", q), ("key", k), ("value", v)] {
            if t.dtype != DType::F32 || t.rank() != 3 {
                return Err(OpError::Other(format!(
                    "LinearAttention is implemented for packed f32 [batch, seq, hidden], not {name} {t}"
                )));
            }
        }
        let heads = |name: &str| -> Result<usize, OpError> {
            match ctx.int(name, 0)? {
                n if n > 0 => Ok(n as usize),
                _ => Err(OpError::Other(format!(
                    "the {name} attribute is required and positive"
                ))),
            }
        };
        let (q_heads, kv_heads) = (heads("q_num_heads")?, heads("kv_num_heads")?);
        if !q_heads.is_multiple_of(kv_heads) {
            return Err(OpError::Other(format!(
                "{q_heads} query heads cannot be grouped over {kv_heads} key/value heads"
            )));
        }
        let (batch, seq) = (q.shape[0], q.shape[1]);
        let split = |t: &TensorType, heads: usize, what: &str| -> Result<usize, OpError> {
            if t.shape[0] != batch || t.shape[1] != seq || !t.shape[2].is_multiple_of(heads) {
                return Err(OpError::Other(format!(
                    "{what} {t} is not [{batch}, {seq}, a multiple of {heads} heads]"
                )));
            }
            Ok(t.shape[2] / heads)
        };
        let key_size = split(q, q_heads, "query")?;
        if split(k, kv_heads, "key")? != key_size {
            return Err(OpError::Other(format!(
                "query {q} and key {k} have different head sizes"
            )));
        }
        let value_size = split(v, kv_heads, "value")?;

        let rule = ctx.string("update_rule", "gated_delta")?;
        let (gated, delta) = match rule.as_str() {
            "linear" => (false, false),
            "gated" => (true, false),
            "delta" => (false, true),
            "gated_delta" => (true, true),
            other => return Err(OpError::Other(format!("unknown update_rule `{other}`"))),
        };
        let optional_f32 = |i: usize, what: &str| -> Result<Option<&TensorType>, OpError> {
            if !ctx.has_input(i) {
                return Ok(None);
            }
            let t = ctx.input(i)?;
            if t.dtype != DType::F32 {
                return Err(OpError::Other(format!("{what} must be f32, not {t}")));
            }
            Ok(Some(t))
        };
        let (decay, decay_width) = match (gated, optional_f32(DECAY, "decay")?) {
            (false, None) => (Decay::None, 0),
            (true, Some(t)) if t.rank() == 3 && t.shape[..2] == [batch, seq] => match t.shape[2] {
                w if w == kv_heads => (Decay::PerHead, w),
                w if w == kv_heads * key_size => (Decay::PerKey, w),
                _ => {
                    return Err(OpError::Other(format!(
                        "decay {t} must end in kv_num_heads or kv_num_heads · key size"
                    )))
                }
            },
            (true, Some(t)) => {
                return Err(OpError::Other(format!(
                    "decay {t} is not [{batch}, {seq}, …]"
                )))
            }
            (true, None) => {
                return Err(OpError::Other(format!(
                    "update_rule `{rule}` needs the decay input"
                )))
            }
            (false, Some(_)) => {
                return Err(OpError::Other(format!(
                    "update_rule `{rule}` takes no decay input"
                )))
            }
        };
        let (beta, beta_width) = match (delta, optional_f32(BETA, "beta")?) {
            (false, None) => (Beta::None, 0),
            (true, Some(t)) if t.rank() == 3 && t.shape[..2] == [batch, seq] => match t.shape[2] {
                w if w == kv_heads => (Beta::PerHead, w),
                1 => (Beta::Shared, 1),
                _ => {
                    return Err(OpError::Other(format!(
                        "beta {t} must end in kv_num_heads or 1"
                    )));
                }
            },
            (true, Some(t)) => {
                return Err(OpError::Other(format!(
                    "beta {t} is not [{batch}, {seq}, …]"
                )))
            }
            (true, None) => {
                return Err(OpError::Other(format!(
                    "update_rule `{rule}` needs the beta input"
                )))
            }
            (false, Some(_)) => {
                return Err(OpError::Other(format!(
                    "update_rule `{rule}` takes no beta input"
                )))
            }
        };
        let past_state = optional_f32(PAST_STATE, "past_state")?;
        let state_shape = [batch, kv_heads, key_size, value_size];
        if past_state.is_some_and(|t| t.shape != state_shape) {
            return Err(OpError::Other(format!(
                "past_state must have the shape {state_shape:?}"
            )));
        }
        // 0 (the default) stands for 1/√key_size.
        let scale = ctx.float("scale", 0.0)?;
        let scale = if scale == 0.0 {
            (1.0 / (key_size as f64).sqrt()) as f32
        } else {
            scale
        };
        Ok(Self {
            batch,
            seq,
            q_heads,
            kv_heads,
            key_size,
            value_size,
            scale,
            past_state: past_state.is_some(),
            decay,
            decay_width,
            beta,
            beta_width,
        })
    }
}

impl OpKind for LinearAttention {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let shape_of = |i: usize| inputs.get(i).copied().flatten().map(|t| t.shape.clone());
        let expected = [
            Some(self.packed(self.q_heads, self.key_size)),
            Some(self.packed(self.kv_heads, self.key_size)),
            Some(self.packed(self.kv_heads, self.value_size)),
            self.past_state.then(|| self.state_shape()),
            (self.decay != Decay::None).then(|| vec![self.batch, self.seq, self.decay_width]),
            (self.beta != Beta::None).then(|| vec![self.batch, self.seq, self.beta_width]),
        ];
        if (0..6).any(|i| shape_of(i) != expected[i]) {
            return Err(OpError::Other(
                "the inputs no longer have the shapes the node was built for".into(),
            ));
        }
        Ok(vec![
            TensorType::new(DType::F32, self.packed(self.q_heads, self.value_size)),
            TensorType::new(DType::F32, self.state_shape()),
        ])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (q, k, v) = (ctx.expr(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let past_state = if self.past_state {
            let e = ctx.expr(PAST_STATE)?;
            quote!(Some(#e))
        } else {
            quote!(None)
        };
        let decay_input = if self.decay == Decay::None {
            quote!(&[])
        } else {
            ctx.expr(DECAY)?
        };
        let beta_input = if self.beta == Beta::None {
            quote!(&[])
        } else {
            ctx.expr(BETA)?
        };
        let decay = match self.decay {
            Decay::None => quote!(None),
            Decay::PerHead => quote!(PerHead),
            Decay::PerKey => quote!(PerKey),
        };
        let beta = match self.beta {
            Beta::None => quote!(None),
            Beta::PerHead => quote!(PerHead),
            Beta::Shared => quote!(Shared),
        };
        let Self {
            batch,
            seq,
            q_heads,
            kv_heads,
            key_size,
            value_size,
            ..
        } = *self;
        let scale = f32_tokens(self.scale);
        Ok(quote! {
            rt::attention::linear_attention(
                &rt::attention::LinearAttention {
                    batch: #batch,
                    seq: #seq,
                    q_heads: #q_heads,
                    kv_heads: #kv_heads,
                    key_size: #key_size,
                    value_size: #value_size,
                    scale: #scale,
                    decay: rt::attention::Decay::#decay,
                    beta: rt::attention::Beta::#beta,
                },
                rt::attention::LinearInputs {
                    q: #q,
                    k: #k,
                    v: #v,
                    past_state: #past_state,
                    decay: #decay_input,
                    beta: #beta_input,
                },
                y,
                y1,
            );
        })
    }
}
