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

use super::{mac_count, required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct LinearAttention {
    /// The kernel's shapes and options; `decay` and `beta` say which inputs the
    /// `update_rule` reads and how wide they are.
    pub params: zant_runtime::attention::LinearAttention,
    pub past_state: bool,
}

/// Input slots of the ONNX node.
const PAST_STATE: usize = 3;
const DECAY: usize = 4;
const BETA: usize = 5;

impl LinearAttention {
    fn packed(&self, heads: usize, size: usize) -> Vec<usize> {
        vec![self.params.batch, self.params.seq, heads * size]
    }

    fn state_shape(&self) -> Vec<usize> {
        let p = &self.params;
        vec![p.batch, p.kv_heads, p.key_size, p.value_size]
    }

    /// The last dimension of the decay input, when the rule reads one.
    fn decay_width(&self) -> Option<usize> {
        let p = &self.params;
        match p.decay {
            Decay::None => None,
            Decay::PerHead => Some(p.kv_heads),
            Decay::PerKey => Some(p.kv_heads * p.key_size),
        }
    }

    /// The last dimension of the beta input, when the rule reads one.
    fn beta_width(&self) -> Option<usize> {
        match self.params.beta {
            Beta::None => None,
            Beta::PerHead => Some(self.params.kv_heads),
            Beta::Shared => Some(1),
        }
    }

    /// The `update_rule` whose inputs the op reads.
    fn update_rule(&self) -> &'static str {
        match (
            self.params.decay != Decay::None,
            self.params.beta != Beta::None,
        ) {
            (false, false) => "linear",
            (true, false) => "gated",
            (false, true) => "delta",
            (true, true) => "gated_delta",
        }
    }
}

impl Parse for LinearAttention {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let (q, k, v) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
        for (name, t) in [("query", q), ("key", k), ("value", v)] {
            if t.dtype != DType::F32 {
                return Err(OpError::unsupported(format!(
                    "implemented for f32, not {name} {t}"
                )));
            }
            if t.rank() != 3 {
                return Err(OpError::shape(format!(
                    "{name} {t} is not packed [batch, seq, hidden]"
                )));
            }
        }
        let heads = |name: &str| -> Result<usize, OpError> {
            match ctx.int(name, 0)? {
                n if n > 0 => Ok(n as usize),
                _ => Err(OpError::attr(name, "is required and positive")),
            }
        };
        let (q_heads, kv_heads) = (heads("q_num_heads")?, heads("kv_num_heads")?);
        if !q_heads.is_multiple_of(kv_heads) {
            return Err(OpError::shape(format!(
                "{q_heads} query heads cannot be grouped over {kv_heads} key/value heads"
            )));
        }
        let (batch, seq) = (q.shape[0], q.shape[1]);
        let split = |t: &TensorType, heads: usize, what: &str| -> Result<usize, OpError> {
            if t.shape[0] != batch || t.shape[1] != seq || !t.shape[2].is_multiple_of(heads) {
                return Err(OpError::shape(format!(
                    "{what} {t} is not [{batch}, {seq}, a multiple of {heads} heads]"
                )));
            }
            Ok(t.shape[2] / heads)
        };
        let key_size = split(q, q_heads, "query")?;
        if split(k, kv_heads, "key")? != key_size {
            return Err(OpError::shape(format!(
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
            other => {
                return Err(OpError::attr(
                    "update_rule",
                    format!("`{other}` is not linear, gated, delta or gated_delta"),
                ))
            }
        };
        let optional_f32 = |i: usize, what: &str| -> Result<Option<&TensorType>, OpError> {
            if !ctx.has_input(i) {
                return Ok(None);
            }
            let t = ctx.input(i)?;
            if t.dtype != DType::F32 {
                return Err(OpError::shape(format!(
                    "{what} {t} must be f32 like the query"
                )));
            }
            Ok(Some(t))
        };
        let decay = match (gated, optional_f32(DECAY, "decay")?) {
            (false, None) => Decay::None,
            (true, Some(t)) if t.rank() == 3 && t.shape[..2] == [batch, seq] => match t.shape[2] {
                w if w == kv_heads => Decay::PerHead,
                w if w == kv_heads * key_size => Decay::PerKey,
                _ => {
                    return Err(OpError::shape(format!(
                        "decay {t} must end in kv_num_heads or kv_num_heads · key size"
                    )))
                }
            },
            (true, Some(t)) => {
                return Err(OpError::shape(format!(
                    "decay {t} is not [{batch}, {seq}, …]"
                )))
            }
            (true, None) => {
                return Err(OpError::shape(format!(
                    "update_rule `{rule}` needs the decay input"
                )))
            }
            (false, Some(_)) => {
                return Err(OpError::shape(format!(
                    "update_rule `{rule}` takes no decay input"
                )))
            }
        };
        let beta = match (delta, optional_f32(BETA, "beta")?) {
            (false, None) => Beta::None,
            (true, Some(t)) if t.rank() == 3 && t.shape[..2] == [batch, seq] => match t.shape[2] {
                w if w == kv_heads => Beta::PerHead,
                1 => Beta::Shared,
                _ => {
                    return Err(OpError::shape(format!(
                        "beta {t} must end in kv_num_heads or 1"
                    )));
                }
            },
            (true, Some(t)) => {
                return Err(OpError::shape(format!(
                    "beta {t} is not [{batch}, {seq}, …]"
                )))
            }
            (true, None) => {
                return Err(OpError::shape(format!(
                    "update_rule `{rule}` needs the beta input"
                )))
            }
            (false, Some(_)) => {
                return Err(OpError::shape(format!(
                    "update_rule `{rule}` takes no beta input"
                )))
            }
        };
        let past_state = optional_f32(PAST_STATE, "past_state")?;
        let state_shape = [batch, kv_heads, key_size, value_size];
        if let Some(t) = past_state.filter(|t| t.shape != state_shape) {
            return Err(OpError::shape(format!(
                "past_state {t} must have the shape {state_shape:?}"
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
            params: zant_runtime::attention::LinearAttention {
                batch,
                seq,
                q_heads,
                kv_heads,
                key_size,
                value_size,
                scale,
                decay,
                beta,
            },
            past_state: past_state.is_some(),
        })
    }
}

impl OpKind for LinearAttention {
    fn attrs(&self, attrs: &mut Attrs) {
        let p = &self.params;
        attrs
            .int("q_num_heads", p.q_heads as i64)
            .int("kv_num_heads", p.kv_heads as i64)
            .string("update_rule", self.update_rule())
            .float("scale", p.scale);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let p = &self.params;
        let q = required(inputs, 0)?;
        let shape_of = |i: usize| inputs.get(i).copied().flatten().map(|t| t.shape.clone());
        let expected = [
            Some(self.packed(p.q_heads, p.key_size)),
            Some(self.packed(p.kv_heads, p.key_size)),
            Some(self.packed(p.kv_heads, p.value_size)),
            self.past_state.then(|| self.state_shape()),
            self.decay_width().map(|w| vec![p.batch, p.seq, w]),
            self.beta_width().map(|w| vec![p.batch, p.seq, w]),
        ];
        if (0..6).any(|i| shape_of(i) != expected[i]) {
            return Err(OpError::shape(format!(
                "the inputs (query {q}) no longer have the shapes the node was built for"
            )));
        }
        Ok(vec![
            TensorType::new(DType::F32, self.packed(p.q_heads, p.value_size)),
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
        let decay_input = if self.params.decay == Decay::None {
            quote!(&[])
        } else {
            ctx.expr(DECAY)?
        };
        let beta_input = if self.params.beta == Beta::None {
            quote!(&[])
        } else {
            ctx.expr(BETA)?
        };
        let params = &self.params;
        Ok(quote! {
            rt::attention::linear_attention(
                &#params,
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

    /// Per token: the state update `k ⊗ v` for each key/value head (plus `Sᵀk` with the
    /// delta rule) and `qᵀS` for each query head, `key_size · value_size` MACs each; the
    /// decay's scaling of the state counts 0, as element-wise work does.
    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        let p = &self.params;
        let delta = usize::from(p.beta != Beta::None);
        let per_state = p.kv_heads * (1 + delta) + p.q_heads;
        mac_count([p.batch, p.seq, per_state, p.key_size, p.value_size])
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        // The default gated delta rule: a decay per key/value head and one shared beta.
        insta::assert_snapshot!(node("LinearAttention")
            .int("q_num_heads", 4)
            .int("kv_num_heads", 2)
            .input("f32[1,3,8]")
            .input("f32[1,3,4]")
            .input("f32[1,3,6]")
            .omitted()
            .input("f32[1,3,2]")
            .input("f32[1,3,1]")
            .outputs(2)
            .emit(), @r#"
        LinearAttention(f32[1,3,8], f32[1,3,4], f32[1,3,6], _, f32[1,3,2], f32[1,3,1]) q_num_heads=4 kv_num_heads=2 update_rule="gated_delta" scale=0.70710677 -> f32[1,3,12], f32[1,2,2,3]
        rt::attention::linear_attention(
            &rt::attention::LinearAttention {
                batch: 1,
                seq: 3,
                q_heads: 4,
                kv_heads: 2,
                key_size: 2,
                value_size: 3,
                scale: 0.70710677f32,
                decay: rt::attention::Decay::PerHead,
                beta: rt::attention::Beta::Shared,
            },
            rt::attention::LinearInputs {
                q: x0,
                k: x1,
                v: x2,
                past_state: None,
                decay: x4,
                beta: x5,
            },
            y,
            y1,
        );
        "#);
        // The plain linear rule, from a past state.
        insta::assert_snapshot!(node("LinearAttention")
            .string("update_rule", "linear")
            .float("scale", 0.5)
            .int("q_num_heads", 2)
            .int("kv_num_heads", 2)
            .input("f32[1,3,4]")
            .input("f32[1,3,4]")
            .input("f32[1,3,4]")
            .input("f32[1,2,2,2]")
            .outputs(2)
            .emit(), @r#"
        LinearAttention(f32[1,3,4], f32[1,3,4], f32[1,3,4], f32[1,2,2,2]) q_num_heads=2 kv_num_heads=2 update_rule="linear" scale=0.5 -> f32[1,3,4], f32[1,2,2,2]
        rt::attention::linear_attention(
            &rt::attention::LinearAttention {
                batch: 1,
                seq: 3,
                q_heads: 2,
                kv_heads: 2,
                key_size: 2,
                value_size: 2,
                scale: 0.5f32,
                decay: rt::attention::Decay::None,
                beta: rt::attention::Beta::None,
            },
            rt::attention::LinearInputs {
                q: x0,
                k: x1,
                v: x2,
                past_state: Some(x3),
                decay: &[],
                beta: &[],
            },
            y,
            y1,
        );
        "#);
        // The gated rule, with a decay per key dimension.
        insta::assert_snapshot!(node("LinearAttention")
            .string("update_rule", "gated")
            .int("q_num_heads", 2)
            .int("kv_num_heads", 2)
            .input("f32[1,3,4]")
            .input("f32[1,3,4]")
            .input("f32[1,3,4]")
            .omitted()
            .input("f32[1,3,4]")
            .outputs(2)
            .emit(), @r#"
        LinearAttention(f32[1,3,4], f32[1,3,4], f32[1,3,4], _, f32[1,3,4]) q_num_heads=2 kv_num_heads=2 update_rule="gated" scale=0.70710677 -> f32[1,3,4], f32[1,2,2,2]
        rt::attention::linear_attention(
            &rt::attention::LinearAttention {
                batch: 1,
                seq: 3,
                q_heads: 2,
                kv_heads: 2,
                key_size: 2,
                value_size: 2,
                scale: 0.70710677f32,
                decay: rt::attention::Decay::PerKey,
                beta: rt::attention::Beta::None,
            },
            rt::attention::LinearInputs {
                q: x0,
                k: x1,
                v: x2,
                past_state: None,
                decay: x4,
                beta: &[],
            },
            y,
            y1,
        );
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("LinearAttention")
            .string("update_rule", "delta")
            .int("q_num_heads", 2)
            .int("kv_num_heads", 2)
            .input("f32[1,3,4]")
            .input("f32[1,3,4]")
            .input("f32[1,3,4]")
            .outputs(2)
            .emit(), @"parse: update_rule `delta` needs the beta input");
        insta::assert_snapshot!(node("LinearAttention")
            .string("update_rule", "fast")
            .int("q_num_heads", 2)
            .int("kv_num_heads", 2)
            .input("f32[1,3,4]")
            .input("f32[1,3,4]")
            .input("f32[1,3,4]")
            .outputs(2)
            .emit(), @"parse: attribute `update_rule`: `fast` is not linear, gated, delta or gated_delta");
    }

    #[test]
    fn counts_the_state_update_and_the_readout() {
        // Three tokens; key 2 by value 3 states. Two key/value heads update with the delta
        // rule (`Sᵀk`, then `k ⊗ …`), four query heads read `qᵀS`.
        let gated_delta = node("LinearAttention")
            .int("q_num_heads", 4)
            .int("kv_num_heads", 2)
            .input("f32[1,3,8]")
            .input("f32[1,3,4]")
            .input("f32[1,3,6]")
            .omitted()
            .input("f32[1,3,2]")
            .input("f32[1,3,1]")
            .outputs(2);
        assert_eq!(gated_delta.macs(), 3 * (2 * 2 + 4) * (2 * 3));
    }
}
