//! Recurrent layers (ONNX `RNN`, `GRU`, `LSTM`): the one entry point the compiler emits,
//! `recurrent`, with `W` and `R` as ONNX stores them and in the column panels of
//! `pack_w` and `pack_r` (the `layout` pass's form), every output and `Y_h` alone, and a
//! sequence length out of range, against the ONNX formulas in `f64`.
//!
//! Cases cover the three cells (GRU with and without `linear_before_reset`, LSTM with
//! and without coupled input and forget gates and peepholes), the three directions,
//! `layout = 1` (batch first), `clip`, every activation the node accepts (with its
//! `alpha` and `beta`), initial states, sequence lengths shorter than `seq_len` (zero
//! among them), and hidden sizes on both sides of the 16-column panels.
//!
//! The reference carries, beside each value, a bound on how far the kernel's `f32` value
//! may lie from it: a running error analysis of the kernel's arithmetic in the order it
//! evaluates it. Every `f32` operation adds its rounding (`u = 2^−24` of its result);
//! a dot product of `n` terms, in any order and with or without fused multiply-adds,
//! errs by `γ(n)·Σ|terms|` plus the errors of its inputs weighted by `|weights|`; an
//! activation passes its input's error on times its largest slope within that error and
//! adds its own accuracy, the bounds `elementwise`'s family checks (`Tanh` `3e-7`,
//! documented; the logistic 3 ulp, documented; the other formulas the sum of their
//! roundings). The bound follows the state from step to step, so it grows only as fast
//! as the layer amplifies an error: over 1,000 cases nine outputs in ten are bounded
//! within `1e-5` of their value, and a wrong weight, lane or step stands out by orders
//! of magnitude. (A discontinuous activation, ThresholdedRelu, near its threshold may
//! take either side, and the bound there is the jump.)

use zant_runtime::recurrent::{
    self, packed_r_len, packed_w_len, Cell, Direction, GateActivation, Inputs, Outputs,
    Recurrent as Layer,
};
use zant_runtime::KernelError;

use crate::elementwise::{gamma, sigmoid, softplus, ulp32, MIN_NORMAL, TINY, U};
use crate::{Buffers, Family, Mismatch, Rng, BUFFER_LEN};

/// The recurrent family.
pub struct Recurrent;

/// One layer: its parameters (`r_panels` and `w_panels` off: the check runs every
/// layout), the length of each batch entry's sequence (`None`: no `sequence_lens`
/// input), which optional inputs it has, and the seed of its data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Case {
    pub p: Layer,
    pub lens: Option<[usize; 3]>,
    pub bias: bool,
    pub peepholes: bool,
    pub initial_h: bool,
    pub initial_c: bool,
    pub seed: u64,
}

/// The largest batch, hidden size, input size and sequence length drawn.
const MAX_BATCH: usize = 3;
const MAX_HIDDEN: usize = 20;
const MAX_INPUT: usize = 20;
const MAX_SEQ: usize = 6;

/// A value of the reference and a bound on the error of the kernel's `f32` value of it.
#[derive(Clone, Copy, Debug, Default)]
struct Bounded {
    v: f64,
    e: f64,
}

impl Bounded {
    /// An input, which the kernel holds exactly.
    fn exact(v: f32) -> Self {
        Bounded {
            v: f64::from(v),
            e: 0.0,
        }
    }

    /// A result of value `v` and error `e`. Past `f32`'s range the kernel's value is an
    /// infinity or NaN, and so is every value computed from it: the bound is infinite
    /// there, and [`verify`] makes no claim (it happens where a layer's state grows
    /// without bound, an unbounded gate activation multiplying the cell state it reads
    /// through a peephole, for one).
    fn new(v: f64, e: f64) -> Self {
        let representable = v.abs() <= f64::from(f32::MAX) && !e.is_nan();
        Bounded {
            v,
            e: if representable { e } else { f64::INFINITY },
        }
    }

    /// The rounding of a result of value `v` and error `e` to `f32` (by half an ulp:
    /// `u` of it, or half the least subnormal).
    fn rounded(v: f64, e: f64) -> Self {
        Bounded::new(v, e + U * (v.abs() + e) + TINY / 2.0)
    }

    fn add(self, other: Self) -> Self {
        Bounded::rounded(self.v + other.v, self.e + other.e)
    }

    fn sub(self, other: Self) -> Self {
        Bounded::rounded(self.v - other.v, self.e + other.e)
    }

    fn mul(self, other: Self) -> Self {
        let e = self.v.abs() * other.e + other.v.abs() * self.e + self.e * other.e;
        Bounded::rounded(self.v * other.v, e)
    }

    /// `clamp(self, −clip, clip)`, which cannot add error and removes it where every value
    /// within the bound clamps alike.
    fn clip(self, clip: Option<f32>) -> Self {
        let Some(clip) = clip else { return self };
        let c = f64::from(clip);
        let e = if self.v - self.e > c || self.v + self.e < -c {
            0.0
        } else {
            self.e
        };
        Bounded {
            v: self.v.clamp(-c, c),
            e,
        }
    }
}

/// `Σ x_k·w_k` for inputs `x` with errors and exact weights `w`, summed in `f32` in any
/// order.
fn dot(x: impl Iterator<Item = Bounded> + Clone, w: &[f32]) -> Bounded {
    let terms = x.zip(w.iter().map(|&w| f64::from(w)));
    let v = terms.clone().map(|(x, w)| x.v * w).sum();
    let propagated: f64 = terms.clone().map(|(x, w)| x.e * w.abs()).sum();
    let magnitude: f64 = terms.map(|(x, w)| (x.v.abs() + x.e) * w.abs()).sum();
    Bounded::new(v, propagated + gamma(w.len()) * magnitude)
}

/// `tanh'(x) = 1/cosh²(x)`, which `1 − tanh²(x)` would cancel to 0 for large `|x|`.
fn sech_squared(x: f64) -> f64 {
    let c = libm::cosh(x);
    1.0 / (c * c)
}

/// An activation of a bounded value: the exact function of the reference's value, and
/// the input's error times the largest slope of the function within that error (so a
/// saturated gate passes little on) plus the function's own accuracy in `f32`: the
/// bounds of the element-wise ops it shares (`Tanh` `3e-7`, documented; the logistic
/// 3 ulp, documented, or `4u` for its scalar formula; the others the sum of their
/// roundings), and for Affine and ScaledTanh, which are the recurrent kernel's own, the
/// roundings of `alpha·x + beta` and `alpha·tanh(beta·x)`.
fn activate(a: GateActivation, x: Bounded) -> Bounded {
    let (v, e) = (x.v, x.e);
    let (lo, hi) = (v - e, v + e);
    // The magnitude of the point of `[lo, hi]` nearest 0, where the slopes of `tanh`,
    // the logistic and Softsign are largest.
    let nearest = if lo <= 0.0 && hi >= 0.0 {
        0.0
    } else {
        lo.abs().min(hi.abs())
    };
    let (out, slope, own) = match a {
        GateActivation::Relu => (v.max(0.0), if hi > 0.0 { 1.0 } else { 0.0 }, 0.0),
        GateActivation::Tanh => (libm::tanh(v), sech_squared(nearest), 3e-7),
        GateActivation::Sigmoid => {
            let out = sigmoid(v);
            let own = 4.0 * U * out + 3.5 * ulp32(out) + MIN_NORMAL;
            // `σ'(m) = σ(m)·σ(−m)`: `σ(m)·(1 − σ(m))` would cancel to 0 in the tails.
            (out, sigmoid(nearest) * sigmoid(-nearest), own)
        }
        GateActivation::Affine { alpha, beta } => {
            let (alpha, beta) = (f64::from(alpha), f64::from(beta));
            let out = alpha * v + beta;
            (out, alpha.abs(), U * ((alpha * v).abs() + out.abs()))
        }
        GateActivation::LeakyRelu { alpha } => {
            let alpha = f64::from(alpha);
            let out = if v >= 0.0 { v } else { alpha * v };
            let slope = match (lo >= 0.0, hi < 0.0) {
                (true, _) => 1.0,
                (_, true) => alpha.abs(),
                _ => alpha.abs().max(1.0),
            };
            (out, slope, U * out.abs())
        }
        GateActivation::ThresholdedRelu { alpha } => {
            let alpha = f64::from(alpha);
            let out = if v > alpha { v } else { 0.0 };
            // Within the bound of the threshold the kernel may take either side.
            if lo <= alpha && hi > alpha {
                return Bounded::new(out, v.abs() + e);
            }
            (out, if v > alpha { 1.0 } else { 0.0 }, 0.0)
        }
        GateActivation::ScaledTanh { alpha, beta } => {
            let (alpha, beta) = (f64::from(alpha), f64::from(beta));
            let out = alpha * libm::tanh(beta * v);
            let own = alpha.abs() * (U * (beta * v).abs() + 3e-7) + U * out.abs();
            (
                out,
                (alpha * beta).abs() * sech_squared(beta * nearest),
                own,
            )
        }
        GateActivation::HardSigmoid { alpha, beta } => {
            let (alpha, beta) = (f64::from(alpha), f64::from(beta));
            let t = alpha * v + beta;
            let e = alpha.abs() * e + U * ((alpha * v).abs() + t.abs());
            let e = if t - e > 1.0 || t + e < 0.0 { 0.0 } else { e };
            return Bounded::new(t.clamp(0.0, 1.0), e);
        }
        GateActivation::Elu { alpha } => {
            let alpha = f64::from(alpha);
            let out = if v > 0.0 { v } else { alpha * libm::expm1(v) };
            let slope = if hi > 0.0 {
                alpha.abs().max(1.0)
            } else {
                alpha.abs() * libm::exp(hi)
            };
            (out, slope, 3.0 * U * out.abs() + 2.0 * TINY)
        }
        GateActivation::Softsign => {
            let out = v / (1.0 + v.abs());
            let slope = 1.0 / ((1.0 + nearest) * (1.0 + nearest));
            (out, slope, 2.0 * U * out.abs())
        }
        GateActivation::Softplus => {
            let out = softplus(v);
            (out, sigmoid(hi), 5.0 * U * out.abs() + 2.0 * TINY)
        }
    };
    Bounded::new(out, slope * e * (1.0 + U) + own)
}

/// Where each tensor of a case lives in [`Buffers`], in floats.
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// In `x`: `X`, then `B`, `P`, `initial_h`, `initial_c`.
    x: usize,
    b: usize,
    p: usize,
    h0: usize,
    c0: usize,
    /// In `w`: `W` then `R` (and in `w2` the same in panels: `w_packed`, `r_packed`).
    w: usize,
    r: usize,
    w_packed: usize,
    r_packed: usize,
    /// In `want`, `got` and `bias` (the tolerances): `Y`, then `Y_h`, `Y_c`.
    y: usize,
    state: usize,
}

impl Case {
    fn directions(&self) -> usize {
        self.p.direction.count()
    }

    fn layout(&self) -> Layout {
        let p = &self.p;
        let (dirs, gates) = (self.directions(), p.cell.gates());
        let width = gates * p.hidden;
        Layout {
            x: p.seq_len * p.batch * p.input_size,
            b: dirs * 2 * width,
            p: dirs * 3 * p.hidden,
            h0: dirs * p.batch * p.hidden,
            c0: dirs * p.batch * p.hidden,
            w: dirs * width * p.input_size,
            r: dirs * width * p.hidden,
            w_packed: dirs * packed_w_len(p.cell, p.hidden, p.input_size),
            r_packed: dirs * packed_r_len(p.cell, p.hidden),
            y: p.seq_len * dirs * p.batch * p.hidden,
            state: dirs * p.batch * p.hidden,
        }
    }

    /// The length of batch entry `b`'s sequence.
    fn len(&self, b: usize) -> usize {
        self.lens.map_or(self.p.seq_len, |lens| lens[b])
    }
}

/// Whether `case` is a valid layer whose tensors and scratch fit.
fn fits(case: &Case) -> bool {
    let p = &case.p;
    let l = case.layout();
    let sizes_valid = (1..=MAX_SEQ).contains(&p.seq_len)
        && (1..=MAX_BATCH).contains(&p.batch)
        && (1..=MAX_INPUT).contains(&p.input_size)
        && (1..=MAX_HIDDEN).contains(&p.hidden);
    let lens_valid = case
        .lens
        .is_none_or(|lens| lens[..p.batch].iter().all(|&len| len <= p.seq_len));
    sizes_valid
        && lens_valid
        && l.x + l.b + l.p + l.h0 + l.c0 <= BUFFER_LEN
        && l.w + l.r <= BUFFER_LEN
        && l.w_packed + l.r_packed <= BUFFER_LEN
        && l.y + 2 * l.state <= BUFFER_LEN
        && p.scratch_len() <= BUFFER_LEN
}

/// An activation the node accepts, with `alpha` and `beta` where it takes them.
fn draw_activation(rng: &mut Rng) -> GateActivation {
    match rng.range(0, 10) {
        0 => GateActivation::Relu,
        1 => GateActivation::Tanh,
        2 => GateActivation::Sigmoid,
        3 => {
            let (alpha, beta) = [(0.5, 0.1), (1.5, -0.2)][rng.range(0, 1)];
            GateActivation::Affine { alpha, beta }
        }
        4 => GateActivation::LeakyRelu {
            alpha: [0.01, 0.2][rng.range(0, 1)],
        },
        5 => GateActivation::ThresholdedRelu {
            alpha: [1.0, 0.3][rng.range(0, 1)],
        },
        6 => {
            let (alpha, beta) = [(1.0, 1.0), (0.7, 1.3)][rng.range(0, 1)];
            GateActivation::ScaledTanh { alpha, beta }
        }
        7 => GateActivation::HardSigmoid {
            alpha: 0.2,
            beta: 0.5,
        },
        8 => GateActivation::Elu {
            alpha: [1.0, 0.5][rng.range(0, 1)],
        },
        9 => GateActivation::Softsign,
        _ => GateActivation::Softplus,
    }
}

/// The spec's default activations of a cell, padded to three.
fn default_activations(cell: Cell) -> [GateActivation; 3] {
    use GateActivation::{Sigmoid, Tanh};
    match cell {
        Cell::Rnn => [Tanh, Tanh, Tanh],
        Cell::Gru { .. } | Cell::Lstm { .. } => [Sigmoid, Tanh, Tanh],
    }
}

/// A hidden size: often on either side of a 16-column panel.
fn draw_hidden(rng: &mut Rng) -> usize {
    if rng.one_in(3) {
        [15, 16, 17][rng.range(0, 2)]
    } else {
        rng.range(1, MAX_HIDDEN)
    }
}

impl Family for Recurrent {
    type Case = Case;
    const NAME: &'static str = "recurrent";
    const FIXTURES: &'static [Case] = &[];

    fn draw(rng: &mut Rng) -> Case {
        loop {
            let cell = match rng.range(0, 2) {
                0 => Cell::Rnn,
                1 => Cell::Gru {
                    linear_before_reset: rng.one_in(2),
                },
                _ => Cell::Lstm {
                    input_forget: rng.one_in(5),
                },
            };
            let direction = [
                Direction::Forward,
                Direction::Reverse,
                Direction::Bidirectional,
            ][rng.range(0, 2)];
            let mut activations = [default_activations(cell); 2];
            if rng.one_in(2) {
                for a in activations.iter_mut().flatten() {
                    *a = draw_activation(rng);
                }
                // One list serves both passes of a layer of one direction.
                if direction.count() == 1 {
                    activations[1] = activations[0];
                }
            }
            let seq_len = rng.range(1, MAX_SEQ);
            let lens = rng.one_in(2).then(|| {
                let mut lens = [0; 3];
                for len in &mut lens {
                    *len = if rng.one_in(3) {
                        seq_len
                    } else {
                        rng.range(0, seq_len)
                    };
                }
                lens
            });
            let lstm = matches!(cell, Cell::Lstm { .. });
            let case = Case {
                p: Layer {
                    cell,
                    direction,
                    seq_len,
                    batch: rng.range(1, MAX_BATCH),
                    input_size: rng.range(1, MAX_INPUT),
                    hidden: draw_hidden(rng),
                    batch_first: rng.one_in(4),
                    clip: if rng.one_in(3) {
                        Some([0.5, 3.0, 10.0][rng.range(0, 2)])
                    } else {
                        None
                    },
                    activations,
                    r_panels: false,
                    w_panels: false,
                },
                lens,
                bias: !rng.one_in(4),
                peepholes: lstm && rng.one_in(2),
                initial_h: rng.one_in(2),
                initial_c: lstm && rng.one_in(2),
                seed: rng.next_u64(),
            };
            if fits(&case) {
                return case;
            }
        }
    }

    fn shrink(case: &Case, out: &mut [Case; 16]) -> usize {
        let mut n = 0;
        let mut push = |c: Case| {
            if n < out.len() && c != *case && fits(&c) {
                out[n] = c;
                n += 1;
            }
        };
        let p = case.p;
        let with = |p: Layer| Case { p, ..*case };
        let dec = |v: usize| v.saturating_sub(1).max(1);
        // A shorter sequence keeps every length within it.
        let shorter = |seq_len: usize| Case {
            p: Layer { seq_len, ..p },
            lens: case.lens.map(|lens| lens.map(|len| len.min(seq_len))),
            ..*case
        };
        push(shorter(dec(p.seq_len)));
        push(with(Layer {
            batch: dec(p.batch),
            ..p
        }));
        push(with(Layer {
            hidden: dec(p.hidden),
            ..p
        }));
        push(with(Layer {
            input_size: dec(p.input_size),
            ..p
        }));
        push(with(Layer {
            direction: Direction::Forward,
            activations: [p.activations[0]; 2],
            ..p
        }));
        push(with(Layer { clip: None, ..p }));
        push(with(Layer {
            batch_first: false,
            ..p
        }));
        push(with(Layer {
            activations: [default_activations(p.cell); 2],
            ..p
        }));
        match p.cell {
            Cell::Gru {
                linear_before_reset: true,
            } => push(with(Layer {
                cell: Cell::Gru {
                    linear_before_reset: false,
                },
                ..p
            })),
            Cell::Lstm { input_forget: true } => push(with(Layer {
                cell: Cell::Lstm {
                    input_forget: false,
                },
                ..p
            })),
            _ => {}
        }
        push(Case {
            lens: None,
            ..*case
        });
        push(Case {
            bias: false,
            ..*case
        });
        push(Case {
            peepholes: false,
            ..*case
        });
        push(Case {
            initial_h: false,
            initial_c: false,
            ..*case
        });
        n
    }

    fn check(case: &Case, bufs: &mut Buffers) -> Result<(), Mismatch> {
        let p = case.p;
        let l = case.layout();
        let mut rng = Rng::new(case.seed);
        // The tensors, each from its own stream so that shrinking one leaves the others.
        let mut fill = |out: &mut [f32]| Rng::new(rng.next_u64()).fill(out);
        let (x, rest) = bufs.x.split_at_mut(l.x);
        let (b, rest) = rest.split_at_mut(l.b);
        let (peep, rest) = rest.split_at_mut(l.p);
        let (h0, rest) = rest.split_at_mut(l.h0);
        let c0 = &mut rest[..l.c0];
        let (w, rest) = bufs.w.split_at_mut(l.w);
        let r = &mut rest[..l.r];
        for tensor in [
            &mut *x, &mut *b, &mut *peep, &mut *h0, &mut *c0, &mut *w, &mut *r,
        ] {
            fill(tensor);
        }
        // Weights scaled to their fan-in, as a trained layer's are, so that the gates
        // work in their sensitive range rather than saturate, and the state stays
        // within a few orders of magnitude (the scales are powers of two: the values
        // stay on `Rng::unit`'s grid).
        for (weights, fan_in) in [(&mut *w, p.input_size), (&mut *r, p.hidden)] {
            let scale = fan_in_scale(fan_in);
            weights.iter_mut().for_each(|v| *v *= scale);
        }
        let lens = &mut bufs.bias_i32[..p.batch];
        for (i, len) in lens.iter_mut().enumerate() {
            *len = case.len(i) as i32;
        }
        let (want, tolerance) = (
            &mut bufs.want[..l.y + 2 * l.state],
            &mut bufs.bias[..l.y + 2 * l.state],
        );
        reference(case, (x, w, r), (b, peep, h0, c0), want, tolerance);
        let inputs = Inputs {
            x,
            w,
            r,
            b: case.bias.then_some(&*b),
            sequence_lens: case.lens.map(|_| &*lens),
            initial_h: case.initial_h.then_some(&*h0),
            initial_c: case.initial_c.then_some(&*c0),
            p: case.peepholes.then_some(&*peep),
        };
        let (w_packed, rest) = bufs.w2.split_at_mut(l.w_packed);
        let r_packed = &mut rest[..l.r_packed];
        w_packed.fill(f32::NAN);
        r_packed.fill(f32::NAN);
        let dirs = case.directions();
        recurrent::pack_w(p.cell, dirs, p.hidden, p.input_size, w, w_packed);
        recurrent::pack_r(p.cell, dirs, p.hidden, r, r_packed);
        let scratch = &mut bufs.scratch[..p.scratch_len()];
        let got = &mut bufs.got[..l.y + 2 * l.state];
        let tolerance = &tolerance[..l.y + 2 * l.state];
        let lstm = matches!(p.cell, Cell::Lstm { .. });
        // Every layout of `W` and `R` the compiler passes: ONNX's, and the panels the
        // `layout` pass stores for a constant `W` (always) and `R` (a batch of one).
        for (w_panels, r_panels, path) in [
            (false, false, "recurrent"),
            (true, false, "recurrent, W in panels"),
            (false, true, "recurrent, R in panels"),
            (true, true, "recurrent, W and R in panels"),
        ] {
            let layer = Layer {
                w_panels,
                r_panels,
                ..p
            };
            let inputs = Inputs {
                w: if w_panels { w_packed } else { w },
                r: if r_panels { r_packed } else { r },
                ..inputs
            };
            got.fill(f32::NAN);
            scratch.fill(f32::NAN);
            let (y, rest) = got.split_at_mut(l.y);
            let (y_h, y_c) = rest.split_at_mut(l.state);
            let outputs = Outputs {
                y: Some(y),
                y_h: Some(y_h),
                y_c: lstm.then_some(y_c),
            };
            if recurrent::recurrent(&layer, inputs, outputs, scratch).is_err() {
                return Err(failed(path));
            }
            if !lstm {
                // A cell without `Y_c` leaves it: it is compared with the reference's
                // zeros below only for an LSTM.
                got[l.y + l.state..].fill(0.0);
            }
            verify(path, got, want, tolerance)?;
        }
        // `Y_h` alone, as a node with one used output runs it.
        got.fill(f32::NAN);
        scratch.fill(f32::NAN);
        let y_h = &mut got[l.y..l.y + l.state];
        let outputs = Outputs {
            y: None,
            y_h: Some(y_h),
            y_c: None,
        };
        if recurrent::recurrent(&p, inputs, outputs, scratch).is_err() {
            return Err(failed("recurrent, Y_h alone"));
        }
        let range = l.y..l.y + l.state;
        verify(
            "recurrent, Y_h alone",
            &got[range.clone()],
            &want[range.clone()],
            &tolerance[range],
        )?;
        // A length past `seq_len` is an error, whatever else the layer is.
        if let Some(lens) = inputs.sequence_lens {
            let mut bad = [0i32; MAX_BATCH];
            bad[..p.batch].copy_from_slice(lens);
            bad[p.batch - 1] = p.seq_len as i32 + 1;
            let inputs = Inputs {
                sequence_lens: Some(&bad[..p.batch]),
                ..inputs
            };
            let outputs = Outputs {
                y: None,
                y_h: None,
                y_c: None,
            };
            let result = recurrent::recurrent(&p, inputs, outputs, scratch);
            let expected = KernelError::SequenceLength {
                len: p.seq_len as i64 + 1,
                seq_len: p.seq_len,
            };
            if result != Err(expected) {
                return Err(Mismatch {
                    path: "recurrent, a length past seq_len is not SequenceLength",
                    index: p.batch - 1,
                    got: if result.is_ok() { 0.0 } else { 1.0 },
                    want: 1.0,
                });
            }
        }
        Ok(())
    }
}

/// `1/m` for the least power of two `m` with `m² ≥ n`: about `1/√n`.
fn fan_in_scale(n: usize) -> f32 {
    let (mut m, mut scale) = (1, 1.0);
    while m * m < n {
        m *= 2;
        scale *= 0.5;
    }
    scale
}

/// A path returned an error on a valid layer.
fn failed(path: &'static str) -> Mismatch {
    Mismatch {
        path,
        index: 0,
        got: f32::NAN,
        want: 0.0,
    }
}

/// The first output farther from the reference than its bound (none where the bound
/// is infinite: see [`Bounded::new`]).
fn verify(
    path: &'static str,
    got: &[f32],
    want: &[f32],
    tolerance: &[f32],
) -> Result<(), Mismatch> {
    let far = |(&g, (&w, &t)): (&f32, (&f32, &f32))| {
        !(g == w || t == f32::INFINITY || (f64::from(g) - f64::from(w)).abs() <= f64::from(t))
    };
    match got.iter().zip(want.iter().zip(tolerance)).position(far) {
        Some(index) => Err(Mismatch {
            path,
            index,
            got: got[index],
            want: want[index],
        }),
        None => Ok(()),
    }
}

/// The weights of one direction of a layer, ONNX's layout, and its activations.
struct Weights<'a> {
    w: &'a [f32],
    r: &'a [f32],
    wb: Option<&'a [f32]>,
    rb: Option<&'a [f32]>,
    peep: Option<&'a [f32]>,
    activations: [GateActivation; 3],
}

impl Weights<'_> {
    /// `Xₜ·W[row]ᵀ` for the input row `x`.
    fn project(&self, x: &[f32], row: usize) -> Bounded {
        let input_size = x.len();
        dot(
            x.iter().map(|&v| Bounded::exact(v)),
            &self.w[row * input_size..][..input_size],
        )
    }

    /// `h·R[row]ᵀ` for the state `h`.
    fn recur(&self, h: &[Bounded], row: usize) -> Bounded {
        let hidden = h.len();
        dot(h.iter().copied(), &self.r[row * hidden..][..hidden])
    }

    /// `Wb[row] + Rb[row]`, as the kernel combines them once (zero without `B`).
    fn bias(&self, row: usize) -> Bounded {
        match (self.wb, self.rb) {
            (Some(wb), Some(rb)) => Bounded::exact(wb[row]).add(Bounded::exact(rb[row])),
            _ => Bounded::default(),
        }
    }

    fn wb(&self, row: usize) -> Bounded {
        self.wb
            .map_or(Bounded::default(), |wb| Bounded::exact(wb[row]))
    }

    fn rb(&self, row: usize) -> Bounded {
        self.rb
            .map_or(Bounded::default(), |rb| Bounded::exact(rb[row]))
    }
}

/// The ONNX formulas in `f64` with the kernel's error bounds: `Y`, `Y_h` and `Y_c` of
/// `case` into `want` (laid out as [`Layout`] says) and their bounds into `tolerance`.
fn reference(
    case: &Case,
    (x, w, r): (&[f32], &[f32], &[f32]),
    (b, peep, h0, c0): (&[f32], &[f32], &[f32], &[f32]),
    want: &mut [f32],
    tolerance: &mut [f32],
) {
    let p = &case.p;
    let l = case.layout();
    let (dirs, hidden, width) = (case.directions(), p.hidden, p.cell.gates() * p.hidden);
    // Steps past the end of a shorter sequence are zero, exactly.
    want.fill(0.0);
    tolerance.fill(0.0);
    let mut put = |at: usize, value: Bounded| {
        want[at] = value.v as f32;
        let rounding = (value.v - f64::from(want[at])).abs();
        tolerance[at] = if value.e.is_finite() {
            ((value.e + rounding) * (1.0 + 1e-6)) as f32
        } else {
            f32::INFINITY
        };
    };
    for d in 0..dirs {
        let bias = &b[d * 2 * width..][..2 * width];
        let weights = Weights {
            w: &w[d * width * p.input_size..][..width * p.input_size],
            r: &r[d * width * hidden..][..width * hidden],
            wb: case.bias.then_some(&bias[..width]),
            rb: case.bias.then_some(&bias[width..]),
            peep: case
                .peepholes
                .then_some(&peep[d * 3 * hidden..][..3 * hidden]),
            activations: p.activations[d],
        };
        let reverse = p.direction == Direction::Reverse || d == 1;
        for batch in 0..p.batch {
            let state_at = if p.batch_first {
                (batch * dirs + d) * hidden
            } else {
                (d * p.batch + batch) * hidden
            };
            let mut h = [Bounded::default(); MAX_HIDDEN];
            let mut c = [Bounded::default(); MAX_HIDDEN];
            let (h, c) = (&mut h[..hidden], &mut c[..hidden]);
            for k in 0..hidden {
                if case.initial_h {
                    h[k] = Bounded::exact(h0[state_at + k]);
                }
                if case.initial_c {
                    c[k] = Bounded::exact(c0[state_at + k]);
                }
            }
            let len = case.len(batch);
            for s in 0..len {
                let t = if reverse { len - 1 - s } else { s };
                let row = if p.batch_first {
                    batch * p.seq_len + t
                } else {
                    t * p.batch + batch
                };
                let x_t = &x[row * p.input_size..][..p.input_size];
                step(p, &weights, x_t, h, c);
                let y_at = if p.batch_first {
                    ((batch * p.seq_len + t) * dirs + d) * hidden
                } else {
                    ((t * dirs + d) * p.batch + batch) * hidden
                };
                for (k, &value) in h.iter().enumerate() {
                    put(y_at + k, value);
                }
            }
            // An entry of length zero ends with zero states.
            let ended = len > 0;
            let lstm = matches!(p.cell, Cell::Lstm { .. });
            for k in 0..hidden {
                put(
                    l.y + state_at + k,
                    if ended { h[k] } else { Bounded::default() },
                );
                let cell = if ended && lstm {
                    c[k]
                } else {
                    Bounded::default()
                };
                put(l.y + l.state + state_at + k, cell);
            }
        }
    }
}

/// One step of one batch entry: the state `h` (and `c`) from `Hₜ₋₁` to `Hₜ`, each
/// operation in the order the kernel evaluates it.
fn step(p: &Layer, weights: &Weights<'_>, x: &[f32], h: &mut [Bounded], c: &mut [Bounded]) {
    let hidden = h.len();
    let [f, g, h_act] = weights.activations;
    // `(Hₜ₋₁·Rᵀ + Xₜ·Wᵀ) + (Wb + Rb)`, clipped: the input of gate `gate`'s output `k`.
    let gate_input = |h: &[Bounded], gate: usize, k: usize| {
        let row = gate * hidden + k;
        let sum = weights.recur(h, row).add(weights.project(x, row));
        sum.add(weights.bias(row)).clip(p.clip)
    };
    match p.cell {
        Cell::Rnn => {
            let mut next = [Bounded::default(); MAX_HIDDEN];
            for (k, out) in next[..hidden].iter_mut().enumerate() {
                *out = activate(f, gate_input(h, 0, k));
            }
            h.copy_from_slice(&next[..hidden]);
        }
        Cell::Gru {
            linear_before_reset,
        } => {
            let mut z = [Bounded::default(); MAX_HIDDEN];
            let mut reset = [Bounded::default(); MAX_HIDDEN];
            for k in 0..hidden {
                z[k] = activate(f, gate_input(h, 0, k));
                reset[k] = activate(f, gate_input(h, 1, k));
            }
            // `rₜ ⊙ Hₜ₋₁`, the state the hidden gate's product reads without
            // `linear_before_reset`.
            let mut reset_state = [Bounded::default(); MAX_HIDDEN];
            for k in 0..hidden {
                reset_state[k] = reset[k].mul(h[k]);
            }
            let mut next = [Bounded::default(); MAX_HIDDEN];
            for k in 0..hidden {
                let row = 2 * hidden + k;
                let input = if linear_before_reset {
                    // `Xₜ·Wₕᵀ + rₜ ⊙ (Hₜ₋₁·Rₕᵀ + Rbₕ) + Wbₕ`.
                    let inner = weights.recur(h, row).add(weights.rb(row));
                    let projected = weights.project(x, row).add(reset[k].mul(inner));
                    projected.add(weights.wb(row)).clip(p.clip)
                } else {
                    gate_input(&reset_state[..hidden], 2, k)
                };
                let candidate = activate(g, input);
                let one = Bounded { v: 1.0, e: 0.0 };
                next[k] = one.sub(z[k]).mul(candidate).add(z[k].mul(h[k]));
            }
            h.copy_from_slice(&next[..hidden]);
        }
        Cell::Lstm { input_forget } => {
            // `((Hₜ₋₁·Rᵀ + Xₜ·Wᵀ) + P ⊙ C) + (Wb + Rb)`, clipped, the peephole term (of
            // peephole block `peep` on the cell state `cell`) before the bias.
            let peephole_input = |gate: usize, peep: usize, k: usize, cell: Bounded| {
                let row = gate * hidden + k;
                let mut sum = weights.recur(h, row).add(weights.project(x, row));
                if let Some(weights_p) = weights.peep {
                    let term = Bounded::exact(weights_p[peep * hidden + k]).mul(cell);
                    sum = sum.add(term);
                }
                sum.add(weights.bias(row)).clip(p.clip)
            };
            let mut next_h = [Bounded::default(); MAX_HIDDEN];
            let mut next_c = [Bounded::default(); MAX_HIDDEN];
            for k in 0..hidden {
                let i = activate(f, peephole_input(0, 0, k, c[k]));
                let forget = if input_forget {
                    Bounded { v: 1.0, e: 0.0 }.sub(i)
                } else {
                    activate(f, peephole_input(2, 2, k, c[k]))
                };
                let candidate = activate(g, gate_input(h, 3, k));
                let cell = c[k].mul(forget).add(i.mul(candidate));
                let o = activate(f, peephole_input(1, 1, k, cell));
                next_h[k] = o.mul(activate(h_act, cell));
                next_c[k] = cell;
            }
            h.copy_from_slice(&next_h[..hidden]);
            c.copy_from_slice(&next_c[..hidden]);
        }
    }
}
