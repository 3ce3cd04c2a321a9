//! Transformer kernels: scaled dot-product attention (ONNX `Attention`), linear attention
//! (ONNX `LinearAttention`) and rotary position embeddings (ONNX `RotaryEmbedding`).
//!
//! Attention works one query row at a time and never materialises the score matrix: the
//! softmax is computed online (the running maximum rescales the partial sums whenever it
//! grows), accumulating `Σ p·v` directly in the row of the output. The only buffer the
//! optional `qk_matmul_output` needs is that output itself. Keys come straight from
//! `past_key` and `K` in their own layouts, so the present key and value outputs are
//! plain copies that nothing else reads.
//!
//! Linear attention keeps its recurrent state in the `present_state` output, which the op
//! always has, and updates it one value column at a time, so it needs no scratch either.

use crate::tokens::tokens;
use crate::KernelError;

tokens! {
    rt::attention;
    /// The shapes and options of one `Attention` node.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Attention {
        pub batch: usize,
        pub q_heads: usize,
        /// Key and value heads; each serves `q_heads / kv_heads` query heads (grouped-query
        /// attention).
        pub kv_heads: usize,
        pub q_len: usize,
        /// Keys and values in `K` and `V`; the past cache holds `past_len` more before them.
        pub kv_len: usize,
        pub past_len: usize,
        pub head_size: usize,
        pub v_head_size: usize,
        /// Q, K, V and Y are `[batch, seq, heads · head_size]` (the 3-D form) instead of
        /// `[batch, heads, seq, head_size]`. The caches and `qk` are always 4-D.
        pub packed: bool,
        /// The factor of `Q·Kᵀ`.
        pub scale: f32,
        /// `softcap · tanh(s / softcap)` bounds the scores when positive.
        pub softcap: f32,
        /// Query `i` attends key `j` only when `j ≤ i + offset`, the offset being `past_len`
        /// (or `nonpad_kv_seqlen[b] − q_len` for an external cache).
        pub causal: bool,
        /// Query `i` at position `p = i + offset` attends key `j` only when
        /// `p − left ≤ j ≤ p + right`; a negative bound leaves that side open.
        pub left_window: i64,
        pub right_window: i64,
        pub mask: MaskLayout,
    }
}

tokens! {
    rt::attention;
    /// Where the mask value of (batch `b`, head `h`, query `i`, key `j`) lives: at
    /// `b·batch_stride + h·head_stride + i·query_stride + j` for `j < cols`; keys past `cols`
    /// are masked out. A stride is 0 along an axis the mask broadcasts.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct MaskLayout {
        pub batch_stride: usize,
        pub head_stride: usize,
        pub query_stride: usize,
        pub cols: usize,
    }
}

/// An attention mask: none, boolean (`0` masks a key out) or additive.
#[derive(Clone, Copy, Debug)]
pub enum Mask<'a> {
    None,
    Bool(&'a [u8]),
    Float(&'a [f32]),
}

/// The inputs of [`attention`]; `past_key` and `past_value` are empty without a cache.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub mask: Mask<'a>,
    pub past_key: &'a [f32],
    pub past_value: &'a [f32],
    /// Per batch, how many leading keys are valid (an external, padded cache).
    pub nonpad_kv_seqlen: Option<&'a [i64]>,
}

tokens! {
    rt::attention;
    /// What the optional `qk_matmul_output` holds (`qk_matmul_output_mode`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum QkOutput {
        /// The scaled scores, after the softcap (modes 0 and 1).
        Scores,
        /// The scores plus the mask and causal bias (mode 2).
        Biased,
        /// The attention probabilities (mode 3).
        Probabilities,
    }
}

/// The outputs of [`attention`]: `y`, and the present key and value caches and the
/// `[batch, q_heads, q_len, past_len + kv_len]` scores when wanted.
#[derive(Debug)]
pub struct Outputs<'a> {
    pub y: &'a mut [f32],
    pub present_key: Option<&'a mut [f32]>,
    pub present_value: Option<&'a mut [f32]>,
    pub qk: Option<(QkOutput, &'a mut [f32])>,
}

/// `Y = softmax(scale · Q·Kᵀ (softcapped) + bias) · V`, where the bias is the mask plus
/// `−∞` for every key the causal, window or padding rules exclude. A query row whose bias
/// is `−∞` everywhere attends nothing: its output (and its probabilities) are zero. A key
/// with a `−∞` bias contributes nothing, even when its score is not finite.
pub fn attention(p: &Attention, inputs: Inputs<'_>, outputs: Outputs<'_>) {
    let Outputs {
        y,
        present_key,
        present_value,
        mut qk,
    } = outputs;
    if let Some(present) = present_key {
        write_present(p, inputs.past_key, inputs.k, p.head_size, present);
    }
    if let Some(present) = present_value {
        write_present(p, inputs.past_value, inputs.v, p.v_head_size, present);
    }
    let total = p.past_len + p.kv_len;
    let group = (p.q_heads / p.kv_heads.max(1)).max(1);
    for b in 0..p.batch {
        let valid = inputs.nonpad_kv_seqlen.map(|n| n[b]);
        // The causal frontier sits after the cached keys, or after the valid ones.
        let offset = match valid {
            Some(n) if p.past_len == 0 => n - p.q_len as i64,
            _ => p.past_len as i64,
        };
        for h in 0..p.q_heads {
            let kv = h / group;
            for i in 0..p.q_len {
                let row = Row {
                    p,
                    inputs: &inputs,
                    b,
                    kv,
                    position: i as i64 + offset,
                    valid,
                    q: q_row(p, inputs.q, b, h, i),
                    mask_at: b * p.mask.batch_stride
                        + h * p.mask.head_stride
                        + i * p.mask.query_stride,
                };
                let y_at = if p.packed {
                    ((b * p.q_len + i) * p.q_heads + h) * p.v_head_size
                } else {
                    ((b * p.q_heads + h) * p.q_len + i) * p.v_head_size
                };
                let y_row = &mut y[y_at..y_at + p.v_head_size];
                let qk_row = qk.as_mut().map(|(mode, out)| {
                    let at = ((b * p.q_heads + h) * p.q_len + i) * total;
                    (*mode, &mut out[at..at + total])
                });
                row.run(y_row, qk_row);
            }
        }
    }
}

/// The query row `(b, h, i)`.
fn q_row<'a>(p: &Attention, q: &'a [f32], b: usize, h: usize, i: usize) -> &'a [f32] {
    let at = if p.packed {
        ((b * p.q_len + i) * p.q_heads + h) * p.head_size
    } else {
        ((b * p.q_heads + h) * p.q_len + i) * p.head_size
    };
    &q[at..at + p.head_size]
}

/// Row `j` of head `kv` in batch `b` of the cache followed by the new keys (or values),
/// each `width` wide.
fn kv_row<'a>(
    p: &Attention,
    past: &'a [f32],
    new: &'a [f32],
    width: usize,
    (b, kv, j): (usize, usize, usize),
) -> &'a [f32] {
    if j < p.past_len {
        let at = ((b * p.kv_heads + kv) * p.past_len + j) * width;
        return &past[at..at + width];
    }
    let at = if p.packed {
        ((b * p.kv_len + j - p.past_len) * p.kv_heads + kv) * width
    } else {
        ((b * p.kv_heads + kv) * p.kv_len + j - p.past_len) * width
    };
    &new[at..at + width]
}

/// `present = concat(past, new)` along the sequence, as `[batch, kv_heads, total, width]`.
fn write_present(p: &Attention, past: &[f32], new: &[f32], width: usize, present: &mut [f32]) {
    let total = p.past_len + p.kv_len;
    for b in 0..p.batch {
        for kv in 0..p.kv_heads {
            for j in 0..total {
                let at = ((b * p.kv_heads + kv) * total + j) * width;
                present[at..at + width].copy_from_slice(kv_row(p, past, new, width, (b, kv, j)));
            }
        }
    }
}

/// One query row and everything that decides its bias.
struct Row<'a, 'i> {
    p: &'a Attention,
    inputs: &'a Inputs<'i>,
    b: usize,
    kv: usize,
    /// The query's position among the keys (`i + offset`).
    position: i64,
    valid: Option<i64>,
    q: &'a [f32],
    mask_at: usize,
}

impl Row<'_, '_> {
    /// The additive bias of key `j`: the mask value plus `−∞` if a rule excludes the key.
    #[inline]
    fn bias(&self, j: usize) -> f32 {
        let p = self.p;
        let mut bias = match self.inputs.mask {
            Mask::None => 0.0,
            _ if j >= p.mask.cols => f32::NEG_INFINITY,
            Mask::Bool(m) => {
                if m[self.mask_at + j] != 0 {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            }
            Mask::Float(m) => m[self.mask_at + j],
        };
        let key = j as i64;
        let distance = self.position - key;
        let excluded = (p.causal && distance < 0)
            || (p.left_window >= 0 && distance > p.left_window)
            || (p.right_window >= 0 && -distance > p.right_window)
            || self.valid.is_some_and(|n| key >= n);
        if excluded {
            bias += f32::NEG_INFINITY;
        }
        bias
    }

    /// `scale · q·k` of key `j`, softcapped.
    #[inline]
    fn score(&self, j: usize) -> f32 {
        let p = self.p;
        let k = kv_row(
            p,
            self.inputs.past_key,
            self.inputs.k,
            p.head_size,
            (self.b, self.kv, j),
        );
        let dot: f32 = self.q.iter().zip(k).map(|(&a, &b)| a * b).sum();
        let s = dot * p.scale;
        if p.softcap > 0.0 {
            p.softcap * libm::tanhf(s / p.softcap)
        } else {
            s
        }
    }

    fn value(&self, j: usize) -> &[f32] {
        let p = self.p;
        kv_row(
            p,
            self.inputs.past_value,
            self.inputs.v,
            p.v_head_size,
            (self.b, self.kv, j),
        )
    }

    /// Writes the output row and, when asked, the row of `qk_matmul_output`.
    fn run(&self, y: &mut [f32], qk: Option<(QkOutput, &mut [f32])>) {
        let total = self.p.past_len + self.p.kv_len;
        match qk {
            None => {
                let logit = |j: usize| {
                    let bias = self.bias(j);
                    (bias != f32::NEG_INFINITY).then(|| self.score(j) + bias)
                };
                self.softmax_times_v(total, logit, y);
            }
            Some((mode, out)) => {
                // The output row doubles as the buffer of scores, so each dot product is
                // computed once.
                for (j, slot) in out.iter_mut().enumerate() {
                    let score = self.score(j);
                    *slot = match mode {
                        QkOutput::Scores => score,
                        QkOutput::Biased | QkOutput::Probabilities => score + self.bias(j),
                    };
                }
                let logit = |j: usize| {
                    let bias = self.bias(j);
                    (bias != f32::NEG_INFINITY).then(|| match mode {
                        QkOutput::Scores => out[j] + bias,
                        QkOutput::Biased | QkOutput::Probabilities => out[j],
                    })
                };
                let (max, sum) = self.softmax_times_v(total, logit, y);
                if mode == QkOutput::Probabilities {
                    for (j, slot) in out.iter_mut().enumerate() {
                        let attended = self.bias(j) != f32::NEG_INFINITY && sum != 0.0;
                        *slot = if attended {
                            libm::expf(*slot - max) / sum
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }

    /// `y = Σ softmax(logit)ⱼ · vⱼ` over the keys whose logit is `Some`, online: one pass,
    /// the partial sums rescaled whenever the maximum grows. Returns the final maximum and
    /// sum of exponentials (the sum is 0 when no key is attended, and `y` is then zero).
    fn softmax_times_v(
        &self,
        total: usize,
        logit: impl Fn(usize) -> Option<f32>,
        y: &mut [f32],
    ) -> (f32, f32) {
        y.fill(0.0);
        let mut max = f32::NEG_INFINITY;
        let mut sum = 0.0f32;
        for j in 0..total {
            let Some(x) = logit(j) else { continue };
            if x == f32::NEG_INFINITY {
                continue;
            }
            if x > max {
                let rescale = libm::expf(max - x);
                sum *= rescale;
                for acc in y.iter_mut() {
                    *acc *= rescale;
                }
                max = x;
            }
            let weight = libm::expf(x - max);
            sum += weight;
            for (acc, &v) in y.iter_mut().zip(self.value(j)) {
                *acc += weight * v;
            }
        }
        if sum == 0.0 {
            // Nothing attended (every key masked, or every logit −∞).
            y.fill(0.0);
        } else {
            let inv = 1.0 / sum;
            for acc in y.iter_mut() {
                *acc *= inv;
            }
        }
        (max, sum)
    }
}

tokens! {
    rt::attention;
    /// The shapes and options of one `RotaryEmbedding` node.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Rotary {
        pub batch: usize,
        pub heads: usize,
        pub seq: usize,
        pub head_size: usize,
        /// How many leading elements of each head rotate (even); the rest pass through.
        pub rotary_dim: usize,
        /// The input is `[batch, seq, heads · head_size]` instead of
        /// `[batch, heads, seq, head_size]`.
        pub packed: bool,
        /// Rotate the pairs `(2k, 2k+1)` instead of `(k, k + rotary_dim/2)`.
        pub interleaved: bool,
        /// Rows of the cos/sin tables when `position_ids` index them; without position ids
        /// the tables are `[batch, seq, rotary_dim / 2]`.
        pub table_rows: usize,
    }
}

/// Rotates each head's leading `rotary_dim` elements by the angles whose cosines and
/// sines are the table rows of its token: row `position_ids[b, s]`, or row `(b, s)`
/// without position ids.
///
/// A position id outside `0..table_rows` is an [`KernelError::IndexOutOfRange`]; `y` may
/// then be partly written.
pub fn rotary_embedding(
    p: &Rotary,
    x: &[f32],
    cos: &[f32],
    sin: &[f32],
    position_ids: Option<&[i64]>,
    y: &mut [f32],
) -> Result<(), KernelError> {
    let half = p.rotary_dim / 2;
    for b in 0..p.batch {
        for s in 0..p.seq {
            let row = match position_ids {
                Some(ids) => {
                    let id = ids[b * p.seq + s];
                    usize::try_from(id)
                        .ok()
                        .filter(|&r| r < p.table_rows)
                        .ok_or(KernelError::IndexOutOfRange {
                            index: id,
                            len: p.table_rows,
                        })?
                }
                None => b * p.seq + s,
            };
            let (cos, sin) = (&cos[row * half..][..half], &sin[row * half..][..half]);
            for h in 0..p.heads {
                let at = if p.packed {
                    ((b * p.seq + s) * p.heads + h) * p.head_size
                } else {
                    ((b * p.heads + h) * p.seq + s) * p.head_size
                };
                let x = &x[at..at + p.head_size];
                let y = &mut y[at..at + p.head_size];
                for k in 0..half {
                    let (i1, i2) = if p.interleaved {
                        (2 * k, 2 * k + 1)
                    } else {
                        (k, k + half)
                    };
                    let (x1, x2) = (x[i1], x[i2]);
                    y[i1] = cos[k] * x1 - sin[k] * x2;
                    y[i2] = sin[k] * x1 + cos[k] * x2;
                }
                y[p.rotary_dim..].copy_from_slice(&x[p.rotary_dim..]);
            }
        }
    }
    Ok(())
}

tokens! {
    rt::attention;
    /// How `LinearAttention` decays its state before each token (`update_rule` gated or
    /// gated_delta): by `exp(decay)`, one value per key/value head or per key dimension.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Decay {
        None,
        PerHead,
        PerKey,
    }
}

tokens! {
    rt::attention;
    /// How `LinearAttention`'s delta rule (`update_rule` delta or gated_delta) reads its update
    /// rate `beta`: one value per key/value head, or one shared by all heads.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Beta {
        None,
        PerHead,
        Shared,
    }
}

tokens! {
    rt::attention;
    /// The shapes and options of one `LinearAttention` node. Every sequence tensor is packed,
    /// `[batch, seq, heads · size]`; the state is `[batch, kv_heads, key_size, value_size]`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct LinearAttention {
        pub batch: usize,
        pub seq: usize,
        pub q_heads: usize,
        pub kv_heads: usize,
        pub key_size: usize,
        pub value_size: usize,
        pub scale: f32,
        pub decay: Decay,
        pub beta: Beta,
    }
}

/// The inputs of [`linear_attention`]; `decay` and `beta` are read as `p` says.
#[derive(Clone, Copy, Debug)]
pub struct LinearInputs<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    /// The state before the first token; zeros when absent.
    pub past_state: Option<&'a [f32]>,
    pub decay: &'a [f32],
    pub beta: &'a [f32],
}

/// Runs the recurrence token by token: `S ← exp(g)·S` (gated), then `S ← S + k ⊗ v`, or
/// with the delta rule `S ← S + β·k ⊗ (v − Sᵀk)`; each query head of a group reads
/// `y = scale · qᵀS` of its key/value head. `state` ends as the present state.
pub fn linear_attention(
    p: &LinearAttention,
    inputs: LinearInputs<'_>,
    y: &mut [f32],
    state: &mut [f32],
) {
    let LinearAttention {
        batch,
        seq,
        q_heads,
        kv_heads,
        key_size: dk,
        value_size: dv,
        scale,
        decay,
        beta,
    } = *p;
    let state = &mut state[..batch * kv_heads * dk * dv];
    match inputs.past_state {
        Some(past) => state.copy_from_slice(&past[..state.len()]),
        None => state.fill(0.0),
    }
    let group = (q_heads / kv_heads.max(1)).max(1);
    // Heads never mix, so each state block runs through the whole sequence while it is
    // in cache.
    for b in 0..batch {
        for g in 0..kv_heads {
            let s = &mut state[(b * kv_heads + g) * dk * dv..][..dk * dv];
            for t in 0..seq {
                let token = b * seq + t;
                let k = &inputs.k[(token * kv_heads + g) * dk..][..dk];
                let v = &inputs.v[(token * kv_heads + g) * dv..][..dv];
                match decay {
                    Decay::None => {}
                    Decay::PerHead => {
                        let factor = libm::expf(inputs.decay[token * kv_heads + g]);
                        s.iter_mut().for_each(|x| *x *= factor);
                    }
                    Decay::PerKey => {
                        let gates = &inputs.decay[(token * kv_heads + g) * dk..][..dk];
                        for (row, &gate) in s.chunks_exact_mut(dv).zip(gates) {
                            let factor = libm::expf(gate);
                            row.iter_mut().for_each(|x| *x *= factor);
                        }
                    }
                }
                let rate = match beta {
                    Beta::None => None,
                    Beta::PerHead => Some(inputs.beta[token * kv_heads + g]),
                    Beta::Shared => Some(inputs.beta[token]),
                };
                // Each value column m updates on its own: the delta rule's correction
                // of column m reads only column m of the state.
                for (m, &v_m) in v.iter().enumerate() {
                    let update = match rate {
                        None => v_m,
                        Some(rate) => {
                            let retrieved: f32 = (0..dk).map(|d| s[d * dv + m] * k[d]).sum();
                            rate * (v_m - retrieved)
                        }
                    };
                    for (d, &k_d) in k.iter().enumerate() {
                        s[d * dv + m] += k_d * update;
                    }
                }
                for h in g * group..(g + 1) * group {
                    let q = &inputs.q[(token * q_heads + h) * dk..][..dk];
                    let out = &mut y[(token * q_heads + h) * dv..][..dv];
                    for (m, o) in out.iter_mut().enumerate() {
                        let read: f32 = (0..dk).map(|d| q[d] * s[d * dv + m]).sum();
                        *o = scale * read;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;

    /// Deterministic values in [-1, 1).
    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(7);
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    /// What a test feeds the naive reference: everything 4-D, the mask already broadcast
    /// to `[batch, q_heads, q_len, total]` (`None` = no mask), nonpad lengths per batch.
    struct Case {
        p: Attention,
        q: Vec<f32>,
        k: Vec<f32>,
        v: Vec<f32>,
        past_key: Vec<f32>,
        past_value: Vec<f32>,
        mask: Option<Vec<f32>>,
        nonpad: Option<Vec<i64>>,
    }

    /// The reference, literally: materialise K and V with the cache, the bias matrix, the
    /// scores; a plain softmax in f64; zero for rows whose bias is all −∞.
    fn naive(c: &Case) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let p = &c.p;
        let total = p.past_len + p.kv_len;
        let (d, dv) = (p.head_size, p.v_head_size);
        let key = |b: usize, g: usize, j: usize, t: usize| -> f64 {
            if j < p.past_len {
                c.past_key[((b * p.kv_heads + g) * p.past_len + j) * d + t] as f64
            } else {
                c.k[((b * p.kv_heads + g) * p.kv_len + j - p.past_len) * d + t] as f64
            }
        };
        let value = |b: usize, g: usize, j: usize, t: usize| -> f64 {
            if j < p.past_len {
                c.past_value[((b * p.kv_heads + g) * p.past_len + j) * dv + t] as f64
            } else {
                c.v[((b * p.kv_heads + g) * p.kv_len + j - p.past_len) * dv + t] as f64
            }
        };
        let mut y = vec![0.0; p.batch * p.q_heads * p.q_len * dv];
        let mut scores = vec![0.0; p.batch * p.q_heads * p.q_len * total];
        let mut probs = scores.clone();
        for b in 0..p.batch {
            let offset = match &c.nonpad {
                Some(n) if p.past_len == 0 => n[b] - p.q_len as i64,
                _ => p.past_len as i64,
            };
            for h in 0..p.q_heads {
                let g = h / (p.q_heads / p.kv_heads);
                for i in 0..p.q_len {
                    let row = (b * p.q_heads + h) * p.q_len + i;
                    let mut logits = vec![0.0f64; total];
                    let mut biases = vec![0.0f64; total];
                    for j in 0..total {
                        let mut s = 0.0;
                        for t in 0..d {
                            s += c.q[row * d + t] as f64 * key(b, g, j, t);
                        }
                        s *= p.scale as f64;
                        if p.softcap > 0.0 {
                            s = p.softcap as f64 * (s / p.softcap as f64).tanh();
                        }
                        scores[row * total + j] = s;
                        let mut bias = c.mask.as_ref().map_or(0.0, |m| m[row * total + j] as f64);
                        let pos = i as i64 + offset;
                        let jj = j as i64;
                        if (p.causal && jj > pos)
                            || (p.left_window >= 0 && pos - jj > p.left_window)
                            || (p.right_window >= 0 && jj - pos > p.right_window)
                            || c.nonpad.as_ref().is_some_and(|n| jj >= n[b])
                        {
                            bias = f64::NEG_INFINITY;
                        }
                        biases[j] = bias;
                        logits[j] = s + bias;
                    }
                    if biases.iter().all(|&x| x == f64::NEG_INFINITY) {
                        continue;
                    }
                    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = logits.iter().map(|&x| (x - max).exp()).sum();
                    for j in 0..total {
                        let pj = (logits[j] - max).exp() / sum;
                        probs[row * total + j] = pj;
                        for t in 0..dv {
                            y[row * dv + t] += pj * value(b, g, j, t);
                        }
                    }
                }
            }
        }
        (y, scores, probs)
    }

    fn check(what: &str, got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            // f32 dot products of short rows and an online f32 softmax.
            let ok =
                (g as f64 - w).abs() <= 1e-5 + 1e-4 * w.abs() || (g.is_infinite() && g as f64 == w);
            assert!(ok, "{what}[{i}]: got {g}, want {w}");
        }
    }

    fn base(
        batch: usize,
        q_heads: usize,
        kv_heads: usize,
        q_len: usize,
        kv_len: usize,
    ) -> Attention {
        Attention {
            batch,
            q_heads,
            kv_heads,
            q_len,
            kv_len,
            past_len: 0,
            head_size: 4,
            v_head_size: 3,
            packed: false,
            scale: 0.5,
            softcap: 0.0,
            causal: false,
            left_window: -1,
            right_window: -1,
            mask: MaskLayout::default(),
        }
    }

    fn case(p: Attention) -> Case {
        let kv_rows = p.batch * p.kv_heads;
        Case {
            q: data(p.batch * p.q_heads * p.q_len * p.head_size, 1),
            k: data(kv_rows * p.kv_len * p.head_size, 2),
            v: data(kv_rows * p.kv_len * p.v_head_size, 3),
            past_key: data(kv_rows * p.past_len * p.head_size, 4),
            past_value: data(kv_rows * p.past_len * p.v_head_size, 5),
            mask: None,
            nonpad: None,
            p,
        }
    }

    /// Runs the kernel on `c` with a full float mask (if any), every output requested.
    fn run(c: &Case, mode: QkOutput) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let p = c.p;
        let total = p.past_len + p.kv_len;
        let mut p_run = p;
        if c.mask.is_some() {
            p_run.mask = MaskLayout {
                batch_stride: p.q_heads * p.q_len * total,
                head_stride: p.q_len * total,
                query_stride: total,
                cols: total,
            };
        }
        let mut y = vec![f32::NAN; p.batch * p.q_heads * p.q_len * p.v_head_size];
        let mut pk = vec![0.0; p.batch * p.kv_heads * total * p.head_size];
        let mut pv = vec![0.0; p.batch * p.kv_heads * total * p.v_head_size];
        let mut qk = vec![0.0; p.batch * p.q_heads * p.q_len * total];
        attention(
            &p_run,
            Inputs {
                q: &c.q,
                k: &c.k,
                v: &c.v,
                mask: c.mask.as_deref().map_or(Mask::None, Mask::Float),
                past_key: &c.past_key,
                past_value: &c.past_value,
                nonpad_kv_seqlen: c.nonpad.as_deref(),
            },
            Outputs {
                y: &mut y,
                present_key: Some(&mut pk),
                present_value: Some(&mut pv),
                qk: Some((mode, &mut qk)),
            },
        );
        (y, pk, pv, qk)
    }

    #[test]
    fn plain_attention_matches_naive() {
        let c = case(base(2, 3, 3, 4, 5));
        let (want_y, want_scores, want_probs) = naive(&c);
        let (y, _, _, qk) = run(&c, QkOutput::Scores);
        check("y", &y, &want_y);
        check("scores", &qk, &want_scores);
        let (y, _, _, qk) = run(&c, QkOutput::Probabilities);
        check("y", &y, &want_y);
        check("probabilities", &qk, &want_probs);
    }

    #[test]
    fn grouped_query_attention_with_a_cache_matches_naive() {
        let mut p = base(2, 6, 2, 3, 2);
        p.past_len = 4;
        p.causal = true;
        p.softcap = 1.5;
        let c = case(p);
        let (want_y, _, want_probs) = naive(&c);
        let (y, pk, pv, qk) = run(&c, QkOutput::Probabilities);
        check("y", &y, &want_y);
        check("probabilities", &qk, &want_probs);
        // The present caches are the past followed by the new rows, per head.
        let (d, total) = (p.head_size, 6);
        assert_eq!(&pk[..4 * d], &c.past_key[..4 * d]);
        assert_eq!(&pk[4 * d..total * d], &c.k[..2 * d]);
        assert_eq!(&pv[(total + 4) * 3..(total + 6) * 3], &c.v[2 * 3..4 * 3]);
    }

    #[test]
    fn masks_windows_and_padding_match_naive() {
        let mut p = base(2, 2, 1, 4, 6);
        p.causal = true;
        p.left_window = 2;
        let mut c = case(p);
        let mut mask = data(2 * 2 * 4 * 6, 9);
        // Some −∞ entries; query 0 of batch 1, head 1 loses every key.
        mask[5] = f32::NEG_INFINITY;
        mask[30] = f32::NEG_INFINITY;
        for m in &mut mask[(2 + 1) * 4 * 6..(2 + 1) * 4 * 6 + 6] {
            *m = f32::NEG_INFINITY;
        }
        c.mask = Some(mask);
        c.nonpad = Some(vec![6, 5]);
        let (want_y, _, want_probs) = naive(&c);
        for mode in [QkOutput::Scores, QkOutput::Probabilities] {
            let (y, _, _, qk) = run(&c, mode);
            check("y", &y, &want_y);
            if mode == QkOutput::Probabilities {
                check("probabilities", &qk, &want_probs);
            }
        }
        let row = 3 * 4 * 3;
        let (y, ..) = run(&c, QkOutput::Biased);
        assert_eq!(&y[row..row + 3], &[0.0; 3], "a fully masked row is zero");
    }

    #[test]
    fn packed_layout_and_broadcast_bool_mask_agree_with_4d() {
        // 4-D run with a float mask equal to the bool mask broadcast.
        let p = base(1, 2, 2, 3, 4);
        let mut c = case(p);
        let bool_mask: [u8; 12] = [1, 1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0];
        let full: Vec<f32> = (0..2)
            .flat_map(|_| {
                bool_mask
                    .iter()
                    .map(|&m| if m != 0 { 0.0 } else { f32::NEG_INFINITY })
            })
            .collect();
        c.mask = Some(full);
        let (want_y, _, _) = naive(&c);

        // The same data in the 3-D layout, with the [q_len, kv_len] bool mask.
        let pack = |x: &[f32], seq: usize, heads: usize, width: usize| -> Vec<f32> {
            let mut out = vec![0.0; x.len()];
            for h in 0..heads {
                for s in 0..seq {
                    for t in 0..width {
                        out[(s * heads + h) * width + t] = x[(h * seq + s) * width + t];
                    }
                }
            }
            out
        };
        let mut packed = p;
        packed.packed = true;
        packed.mask = MaskLayout {
            batch_stride: 0,
            head_stride: 0,
            query_stride: 4,
            cols: 4,
        };
        let (q, k, v) = (
            pack(&c.q, 3, 2, 4),
            pack(&c.k, 4, 2, 4),
            pack(&c.v, 4, 2, 3),
        );
        let mut y = vec![0.0; 2 * 3 * 3];
        attention(
            &packed,
            Inputs {
                q: &q,
                k: &k,
                v: &v,
                mask: Mask::Bool(&bool_mask),
                past_key: &[],
                past_value: &[],
                nonpad_kv_seqlen: None,
            },
            Outputs {
                y: &mut y,
                present_key: None,
                present_value: None,
                qk: None,
            },
        );
        let want_y: Vec<f64> = {
            let y32: Vec<f32> = want_y.iter().map(|&w| w as f32).collect();
            pack(&y32, 3, 2, 3).iter().map(|&w| w as f64).collect()
        };
        check("y", &y, &want_y);
        assert_eq!(&y[2 * 3 * 3 - 6..], &[0.0; 6], "query 2 attends nothing");
    }

    #[test]
    fn keys_past_a_short_mask_are_masked_out() {
        let p = base(1, 1, 1, 2, 4);
        let mut c = case(p);
        let mut run_p = p;
        run_p.mask = MaskLayout {
            batch_stride: 0,
            head_stride: 0,
            query_stride: 2,
            cols: 2,
        };
        let short = [0.0f32, 0.25, -0.5, 0.0];
        let mut y = vec![0.0; 2 * 3];
        attention(
            &run_p,
            Inputs {
                q: &c.q,
                k: &c.k,
                v: &c.v,
                mask: Mask::Float(&short),
                past_key: &[],
                past_value: &[],
                nonpad_kv_seqlen: None,
            },
            Outputs {
                y: &mut y,
                present_key: None,
                present_value: None,
                qk: None,
            },
        );
        let ninf = f32::NEG_INFINITY;
        c.mask = Some(vec![0.0, 0.25, ninf, ninf, -0.5, 0.0, ninf, ninf]);
        check("y", &y, &naive(&c).0);
    }

    /// The recurrence in f64, written from the operator's equations.
    fn naive_linear(p: &LinearAttention, i: &LinearInputs<'_>) -> (Vec<f64>, Vec<f64>) {
        let (dk, dv) = (p.key_size, p.value_size);
        let mut state: Vec<f64> = match i.past_state {
            Some(s) => s.iter().map(|&x| x as f64).collect(),
            None => vec![0.0; p.batch * p.kv_heads * dk * dv],
        };
        let mut y = vec![0.0; p.batch * p.seq * p.q_heads * dv];
        for b in 0..p.batch {
            for t in 0..p.seq {
                let token = b * p.seq + t;
                for g in 0..p.kv_heads {
                    let at = |d: usize, m: usize| ((b * p.kv_heads + g) * dk + d) * dv + m;
                    let k = |d: usize| i.k[(token * p.kv_heads + g) * dk + d] as f64;
                    let v = |m: usize| i.v[(token * p.kv_heads + g) * dv + m] as f64;
                    for d in 0..dk {
                        let gate = match p.decay {
                            Decay::None => 0.0,
                            Decay::PerHead => i.decay[token * p.kv_heads + g] as f64,
                            Decay::PerKey => i.decay[(token * p.kv_heads + g) * dk + d] as f64,
                        };
                        for m in 0..dv {
                            state[at(d, m)] *= gate.exp();
                        }
                    }
                    let rate = match p.beta {
                        Beta::None => None,
                        Beta::PerHead => Some(i.beta[token * p.kv_heads + g] as f64),
                        Beta::Shared => Some(i.beta[token] as f64),
                    };
                    let retrieved: Vec<f64> = (0..dv)
                        .map(|m| (0..dk).map(|d| state[at(d, m)] * k(d)).sum())
                        .collect();
                    for d in 0..dk {
                        for m in 0..dv {
                            let u = rate.map_or(v(m), |r| r * (v(m) - retrieved[m]));
                            state[at(d, m)] += k(d) * u;
                        }
                    }
                }
                for h in 0..p.q_heads {
                    let g = h / (p.q_heads / p.kv_heads);
                    for m in 0..dv {
                        let mut read = 0.0;
                        for d in 0..dk {
                            let q = i.q[(token * p.q_heads + h) * dk + d] as f64;
                            read += q * state[((b * p.kv_heads + g) * dk + d) * dv + m];
                        }
                        y[(token * p.q_heads + h) * dv + m] = p.scale as f64 * read;
                    }
                }
            }
        }
        (y, state)
    }

    #[test]
    fn linear_attention_matches_the_recurrence_for_every_rule() {
        let rules = [
            (Decay::None, Beta::None, false),
            (Decay::PerHead, Beta::None, true),
            (Decay::None, Beta::PerHead, false),
            (Decay::PerKey, Beta::PerHead, true),
            (Decay::PerKey, Beta::Shared, false),
        ];
        for (decay, beta, with_past) in rules {
            let p = LinearAttention {
                batch: 2,
                seq: 3,
                q_heads: 4,
                kv_heads: 2,
                key_size: 3,
                value_size: 2,
                scale: 0.5,
                decay,
                beta,
            };
            let tokens = p.batch * p.seq;
            let q = data(tokens * p.q_heads * p.key_size, 21);
            let k = data(tokens * p.kv_heads * p.key_size, 22);
            let v = data(tokens * p.kv_heads * p.value_size, 23);
            let past = data(p.batch * p.kv_heads * p.key_size * p.value_size, 24);
            // Log-space gates below zero and rates in (0, 1), as models produce them.
            let decay_values: Vec<f32> = data(tokens * p.kv_heads * p.key_size, 25)
                .iter()
                .map(|x| -0.5 * x.abs())
                .collect();
            let beta_values: Vec<f32> = data(tokens * p.kv_heads, 26)
                .iter()
                .map(|x| 0.5 + 0.4 * x)
                .collect();
            let inputs = LinearInputs {
                q: &q,
                k: &k,
                v: &v,
                past_state: with_past.then_some(&past[..]),
                decay: &decay_values,
                beta: &beta_values,
            };
            let mut y = vec![f32::NAN; tokens * p.q_heads * p.value_size];
            let mut state = vec![f32::NAN; past.len()];
            linear_attention(&p, inputs, &mut y, &mut state);
            let (want_y, want_state) = naive_linear(&p, &inputs);
            check("y", &y, &want_y);
            check("state", &state, &want_state);
        }
    }

    #[test]
    fn rotary_embedding_matches_naive() {
        for (interleaved, packed, with_ids) in [
            (false, false, true),
            (true, false, true),
            (false, true, false),
            (true, true, false),
        ] {
            let (batch, heads, seq, head_size, rotary_dim) = (2, 3, 4, 8, 6);
            let half = rotary_dim / 2;
            let table_rows = if with_ids { 10 } else { batch * seq };
            let p = Rotary {
                batch,
                heads,
                seq,
                head_size,
                rotary_dim,
                packed,
                interleaved,
                table_rows,
            };
            let x = data(batch * heads * seq * head_size, 11);
            let cos = data(table_rows * half, 12);
            let sin = data(table_rows * half, 13);
            let ids: Vec<i64> = (0..(batch * seq) as i64).map(|i| (i * 7) % 10).collect();
            let mut y = vec![0.0; x.len()];
            rotary_embedding(&p, &x, &cos, &sin, with_ids.then_some(&ids[..]), &mut y).unwrap();
            for b in 0..batch {
                for s in 0..seq {
                    let row = if with_ids {
                        ids[b * seq + s] as usize
                    } else {
                        b * seq + s
                    };
                    for h in 0..heads {
                        let at = if packed {
                            ((b * seq + s) * heads + h) * head_size
                        } else {
                            ((b * heads + h) * seq + s) * head_size
                        };
                        let xs = &x[at..at + head_size];
                        let mut want = xs.to_vec();
                        for k in 0..half {
                            let (i1, i2) = if interleaved {
                                (2 * k, 2 * k + 1)
                            } else {
                                (k, k + half)
                            };
                            let (c, sn) = (cos[row * half + k], sin[row * half + k]);
                            want[i1] = c * xs[i1] - sn * xs[i2];
                            want[i2] = sn * xs[i1] + c * xs[i2];
                        }
                        assert_eq!(&y[at..at + head_size], &want[..]);
                    }
                }
            }
        }
    }

    #[test]
    fn a_position_id_out_of_range_is_an_error() {
        let p = Rotary {
            batch: 1,
            heads: 1,
            seq: 2,
            head_size: 2,
            rotary_dim: 2,
            packed: false,
            interleaved: false,
            table_rows: 3,
        };
        let mut y = [0.0; 4];
        let err = rotary_embedding(&p, &[1.0; 4], &[1.0; 3], &[0.0; 3], Some(&[0, 3]), &mut y);
        assert_eq!(err, Err(KernelError::IndexOutOfRange { index: 3, len: 3 }));
        let err = rotary_embedding(&p, &[1.0; 4], &[1.0; 3], &[0.0; 3], Some(&[-1, 0]), &mut y);
        assert_eq!(err, Err(KernelError::IndexOutOfRange { index: -1, len: 3 }));
    }
}
