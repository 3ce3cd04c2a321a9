//! Recurrent layers: ONNX `RNN`, `GRU` and `LSTM`, one kernel for the three cells.
//!
//! A layer runs each direction in turn. The input projection `X·Wᵀ` of every time step is
//! one GEMM over all `seq_len · batch` rows of `X`, since it does not depend on the state;
//! each step then needs only the recurrent product `Hₜ₋₁·Rᵀ` (one GEMM over the batch, a
//! matrix-vector product for a batch of one; two for a GRU whose reset gate scales the
//! state before `R`), followed by the gate arithmetic. That arithmetic runs gate block by
//! gate block over contiguous rows, so its sums vectorise and each activation is chosen
//! once per block, not once per element.
//!
//! With [`Recurrent::r_panels`] (the compiler's choice for a batch of one) `R` comes in
//! the column panels of [`pack_r`], interleaved in groups, and each step's product is
//! fused multiply-adds over several panels a pass, reading `R` as one stream; with
//! [`Recurrent::w_panels`] `W` comes in panels of the same width, each on its own
//! ([`pack_w`]), and the projection runs in register tiles of rows by panels.
//!
//! Everything the layer keeps between steps (the projections of all steps, the gate
//! products, the hidden and cell states, the combined biases, the GEMM's packing panels)
//! lives in one caller-provided scratch slice of [`Recurrent::scratch_len`] floats, which
//! generated code takes from its arena.
//!
//! Numerics follow ONNX Runtime, the reference the project checks against: a gate's input
//! is `(Xₜ·Wᵀ + Hₜ₋₁·Rᵀ) + (Wb + Rb)`, with the peephole term added before the bias, the
//! clip applies to gate inputs only (not to the cell state before `h`), and `tanh` is the
//! rational approximation of the `Tanh` op. A batch entry whose sequence is shorter than
//! `seq_len` leaves its later outputs zero and keeps its state from its last step; an
//! entry of length zero ends with zero states, as ONNX Runtime's do.

use crate::elementwise::{self, UnaryOp};
use crate::gemm::{self, Bias};
use crate::tokens::tokens;
use crate::unroll::unroll;
use crate::{Activation, KernelError};

tokens! {
    rt::recurrent;
    /// The cell a recurrent layer runs at each step, with the options that change it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Cell {
        /// One gate: `Hₜ = f(Xₜ·Wᵀ + Hₜ₋₁·Rᵀ + Wb + Rb)`.
        Rnn,
        /// Update, reset and hidden gates, in that order in `W`, `R` and `B`. With
        /// `linear_before_reset` the reset gate scales `Hₜ₋₁·Rₕᵀ + Rbₕ` rather than the
        /// state before the product.
        Gru { linear_before_reset: bool },
        /// Input, output, forget and cell gates, in that order. With `input_forget` the
        /// forget gate is `1 − i` (coupled gates) and the forget weights are unused.
        Lstm { input_forget: bool },
    }
}

tokens! {
    rt::recurrent;
    /// Which way the layer reads the sequence.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Direction {
        Forward,
        Reverse,
        /// Forward with the weights of direction 0, then in reverse with those of 1.
        Bidirectional,
    }
}

tokens! {
    rt::recurrent;
    /// An activation function of a recurrent cell, as ONNX names them, with its
    /// `activation_alpha` and `activation_beta`.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub enum GateActivation {
        Relu,
        Tanh,
        Sigmoid,
        /// `alpha·x + beta`.
        Affine { alpha: f32, beta: f32 },
        LeakyRelu { alpha: f32 },
        ThresholdedRelu { alpha: f32 },
        /// `alpha·tanh(beta·x)`.
        ScaledTanh { alpha: f32, beta: f32 },
        HardSigmoid { alpha: f32, beta: f32 },
        Elu { alpha: f32 },
        Softsign,
        Softplus,
    }
}

tokens! {
    rt::recurrent;
    /// The shapes and options of one recurrent layer.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Recurrent {
        pub cell: Cell,
        pub direction: Direction,
        pub seq_len: usize,
        pub batch: usize,
        pub input_size: usize,
        pub hidden: usize,
        /// ONNX `layout = 1`: `X` and `Y` put the batch axis first, and the states are
        /// `[batch, directions, hidden]` instead of `[directions, batch, hidden]`.
        pub batch_first: bool,
        /// Gate inputs are limited to `[-clip, clip]` before their activation.
        pub clip: Option<f32>,
        /// `f`, `g` and `h` of each direction (the forward pass, or the only one, first);
        /// an RNN uses `f` only, a GRU `f` and `g`.
        pub activations: [[GateActivation; 3]; 2],
        /// `R` is in the column panels of [`pack_r`] (the compiler lays out a constant
        /// `R` so for a batch of one), not as ONNX stores it.
        pub r_panels: bool,
        /// `W` is in the column panels of [`pack_w`] (the compiler lays out a constant
        /// `W` so), not as ONNX stores it.
        pub w_panels: bool,
    }
}

/// The columns of one panel of a packed `R` (see [`pack_r`]): one AVX-512 vector, two
/// of AVX or NEON, sixteen scalar accumulators elsewhere.
pub const PANEL: usize = 16;

/// The floats of `R` in panels for one direction: each gate's `hidden` outputs rounded
/// up to whole panels, each panel `hidden` deep.
pub const fn packed_r_len(cell: Cell, hidden: usize) -> usize {
    packed_len(cell, hidden, hidden)
}

/// The floats of `W` in panels for one direction, each panel `input_size` deep.
pub const fn packed_w_len(cell: Cell, hidden: usize, input_size: usize) -> usize {
    packed_len(cell, hidden, input_size)
}

const fn packed_len(cell: Cell, hidden: usize, depth: usize) -> usize {
    cell.gates() * hidden.div_ceil(PANEL) * PANEL * depth
}

/// Lays out `r`, ONNX's `[directions, gates · hidden, hidden]`, in column panels for the
/// recurrent matrix-vector product: for each direction and gate, the gate's outputs in
/// panels of [`PANEL`] (the last one padded with zeros), the panels in groups of up to
/// [`R_GROUP`] interleaved depth by depth: a group of `s` panels is `[hidden, s, PANEL]`,
/// its `s · PANEL` weights of one state element adjacent. `out` holds `directions ·`
/// [`packed_r_len`] floats.
///
/// The product then reads `R` once, front to back, as one stream, and each output is a
/// chain of fused multiply-adds in depth order, as ONNX Runtime's SGEMM computes
/// `Hₜ₋₁·Rᵀ`.
pub fn pack_r(cell: Cell, directions: usize, hidden: usize, r: &[f32], out: &mut [f32]) {
    pack(cell, directions, hidden, hidden, r, R_GROUP, out);
}

/// The most panels of one gate [`pack_r`] interleaves, on every target (the layout is
/// the compiler's, whatever the target): the eight of an AVX-512 pass of the step's
/// product. With each of eight panels read as its own stream, a step of a
/// 128-wide LSTM (`R` 256 KiB, streamed from L2 every step) took 2.8 µs on an AMD Zen 4
/// host; as one stream, 2.4.
pub const R_GROUP: usize = 8;

/// Lays out `w`, ONNX's `[directions, gates · hidden, input_size]`, in column panels of
/// [`PANEL`] outputs as [`pack_r`] does but each panel on its own, `input_size` deep
/// (`[input_size, PANEL]`, not interleaved): the input projection of all steps then
/// reads a panel's weights of one input element as one vector. `out` holds
/// `directions ·` [`packed_w_len`] floats.
pub fn pack_w(
    cell: Cell,
    directions: usize,
    hidden: usize,
    input_size: usize,
    w: &[f32],
    out: &mut [f32],
) {
    pack(cell, directions, hidden, input_size, w, 1, out);
}

/// The panels of each gate, in groups of up to `group` panels interleaved depth by depth
/// (one: each panel on its own, depth by depth).
fn pack(
    cell: Cell,
    directions: usize,
    hidden: usize,
    depth: usize,
    src: &[f32],
    group: usize,
    out: &mut [f32],
) {
    let panels = hidden.div_ceil(PANEL);
    let rows = cell.gates() * hidden;
    let len = packed_len(cell, hidden, depth);
    for d in 0..directions {
        let src = &src[d * rows * depth..][..rows * depth];
        let out = &mut out[d * len..][..len];
        for g in 0..cell.gates() {
            let gate = &mut out[g * panels * depth * PANEL..][..panels * depth * PANEL];
            for q0 in (0..panels).step_by(group) {
                let size = group.min(panels - q0);
                let block = &mut gate[q0 * depth * PANEL..][..size * depth * PANEL];
                for (i, at_depth) in block.chunks_exact_mut(PANEL).enumerate() {
                    let (k, q) = (i / size, q0 + i % size);
                    for (l, v) in at_depth.iter_mut().enumerate() {
                        let column = q * PANEL + l;
                        *v = if column < hidden {
                            src[(g * hidden + column) * depth + k]
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// The layer's tensors. `W` is `[directions, gates · hidden, input_size]`, `R`
/// `[directions, gates · hidden, hidden]`, `B` `[directions, 2 · gates · hidden]` (`Wb`
/// then `Rb`), `P` `[directions, 3 · hidden]` (LSTM peepholes `i`, `o`, `f`), and the
/// initial states are shaped like the final ones.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    pub x: &'a [f32],
    pub w: &'a [f32],
    pub r: &'a [f32],
    pub b: Option<&'a [f32]>,
    /// The length of each batch entry's sequence, `0..=seq_len`.
    pub sequence_lens: Option<&'a [i32]>,
    pub initial_h: Option<&'a [f32]>,
    pub initial_c: Option<&'a [f32]>,
    pub p: Option<&'a [f32]>,
}

/// The outputs the node asks for: `Y` (every step's hidden state), `Y_h` (the last hidden
/// state) and, for an LSTM, `Y_c` (the last cell state).
#[derive(Debug)]
pub struct Outputs<'a> {
    pub y: Option<&'a mut [f32]>,
    pub y_h: Option<&'a mut [f32]>,
    pub y_c: Option<&'a mut [f32]>,
}

impl Cell {
    /// The gate blocks in `W` and `R`: 1, 3 or 4.
    pub const fn gates(self) -> usize {
        match self {
            Cell::Rnn => 1,
            Cell::Gru { .. } => 3,
            Cell::Lstm { .. } => 4,
        }
    }
}

impl Direction {
    pub const fn count(self) -> usize {
        match self {
            Direction::Bidirectional => 2,
            Direction::Forward | Direction::Reverse => 1,
        }
    }
}

impl GateActivation {
    /// Applies the activation to every element of `x`, choosing the formula once.
    pub fn apply(self, x: &mut [f32]) {
        // The activations that are also ONNX unary ops share the element-wise kernel's
        // formulas; Affine and ScaledTanh exist only here.
        let op = match self {
            GateActivation::Relu => UnaryOp::Relu,
            GateActivation::Tanh => UnaryOp::Tanh,
            GateActivation::Sigmoid => UnaryOp::Sigmoid,
            GateActivation::LeakyRelu { alpha } => UnaryOp::LeakyRelu { alpha },
            GateActivation::ThresholdedRelu { alpha } => UnaryOp::ThresholdedRelu { alpha },
            GateActivation::HardSigmoid { alpha, beta } => UnaryOp::HardSigmoid { alpha, beta },
            GateActivation::Elu { alpha } => UnaryOp::Elu { alpha },
            GateActivation::Softsign => UnaryOp::Softsign,
            GateActivation::Softplus => UnaryOp::Softplus,
            GateActivation::Affine { alpha, beta } => {
                for v in x.iter_mut() {
                    *v = alpha * *v + beta;
                }
                return;
            }
            GateActivation::ScaledTanh { alpha, beta } => {
                for v in x.iter_mut() {
                    *v = alpha * elementwise::tanh(beta * *v);
                }
                return;
            }
        };
        elementwise::unary_in_place(op, x);
    }
}

/// The regions of the scratch slice, in floats, in the order they are laid out.
struct Layout {
    /// `X·Wᵀ` of every step: `seq_len · batch` rows of `gates · hidden`.
    projection: usize,
    /// The recurrent products of one step: `batch` rows of `gates · hidden`.
    products: usize,
    /// The hidden state, `batch` rows of `hidden`.
    state: usize,
    /// The LSTM cell state, or the GRU's reset state `rₜ ⊙ Hₜ₋₁`.
    second_state: usize,
    /// `Wb + Rb` per gate, and for a GRU `Rbₕ` on its own.
    bias: usize,
    /// The blocked GEMM's packing panels, for the largest product the layer runs.
    packing: usize,
}

impl Recurrent {
    /// The floats of scratch [`recurrent`] needs.
    pub const fn scratch_len(&self) -> usize {
        let l = self.layout();
        l.projection + l.products + l.state + l.second_state + l.bias + l.packing
    }

    const fn layout(&self) -> Layout {
        let width = self.cell.gates() * self.hidden;
        let rows = self.seq_len * self.batch;
        let (second_state, extra_bias) = match self.cell {
            Cell::Rnn => (0, 0),
            Cell::Gru { .. } => (self.batch * self.hidden, self.hidden),
            Cell::Lstm { .. } => (self.batch * self.hidden, 0),
        };
        // The steps' products have `batch` rows and depth `hidden`; a GRU without
        // `linear_before_reset` splits them into two narrower products of the same depth,
        // which need no more packing than one of full width.
        let input = gemm::scratch_len(rows, width, self.input_size);
        let step = gemm::scratch_len(self.batch, width, self.hidden);
        Layout {
            projection: rows * width,
            products: self.batch * width,
            state: self.batch * self.hidden,
            second_state,
            bias: width + extra_bias,
            packing: if input > step { input } else { step },
        }
    }
}

/// Runs a recurrent layer. `scratch` holds at least [`Recurrent::scratch_len`] floats;
/// its contents on entry do not matter.
///
/// Fails when a sequence length lies outside `0..=seq_len`; the outputs may then be
/// partly written.
pub fn recurrent(
    p: &Recurrent,
    inputs: Inputs<'_>,
    outputs: Outputs<'_>,
    scratch: &mut [f32],
) -> Result<(), KernelError> {
    if let Some(lens) = inputs.sequence_lens {
        for &len in &lens[..p.batch] {
            if len < 0 || len as usize > p.seq_len {
                return Err(KernelError::SequenceLength {
                    len: len.into(),
                    seq_len: p.seq_len,
                });
            }
        }
    }
    let Outputs {
        mut y,
        mut y_h,
        mut y_c,
    } = outputs;
    // Steps past the end of a shorter sequence write nothing, and read as zero.
    if inputs.sequence_lens.is_some() {
        if let Some(y) = y.as_deref_mut() {
            y.fill(0.0);
        }
    }
    let layout = p.layout();
    let (projection, rest) = scratch.split_at_mut(layout.projection);
    let (products, rest) = rest.split_at_mut(layout.products);
    let (state, rest) = rest.split_at_mut(layout.state);
    let (second_state, rest) = rest.split_at_mut(layout.second_state);
    let (bias, packing) = rest.split_at_mut(layout.bias);
    let mut pass = Pass {
        p,
        inputs,
        direction: 0,
        reverse: false,
        projection,
        products,
        state,
        second_state,
        bias,
        packing: &mut packing[..layout.packing],
    };
    for direction in 0..p.direction.count() {
        pass.direction = direction;
        pass.reverse = p.direction == Direction::Reverse || direction == 1;
        pass.run(y.as_deref_mut());
        pass.write_final_states(y_h.as_deref_mut(), y_c.as_deref_mut());
    }
    Ok(())
}

/// One direction of a layer: its weights, and the scratch it works in.
struct Pass<'a, 's> {
    p: &'a Recurrent,
    inputs: Inputs<'a>,
    direction: usize,
    reverse: bool,
    projection: &'s mut [f32],
    products: &'s mut [f32],
    state: &'s mut [f32],
    second_state: &'s mut [f32],
    bias: &'s mut [f32],
    packing: &'s mut [f32],
}

impl Pass<'_, '_> {
    /// `gates · hidden`: the width of one row of `W`'s output.
    fn width(&self) -> usize {
        self.p.cell.gates() * self.p.hidden
    }

    /// The length of batch entry `b`'s sequence.
    fn len(&self, b: usize) -> usize {
        self.inputs
            .sequence_lens
            .map_or(self.p.seq_len, |lens| lens[b] as usize)
    }

    /// The time index batch entry `b` reads at step `s`, or `None` once its sequence ended.
    fn time(&self, s: usize, b: usize) -> Option<usize> {
        let len = self.len(b);
        (s < len).then(|| if self.reverse { len - 1 - s } else { s })
    }

    /// The row of `X` (and of the projection) at time `t` of batch entry `b`.
    fn row(&self, t: usize, b: usize) -> usize {
        if self.p.batch_first {
            b * self.p.seq_len + t
        } else {
            t * self.p.batch + b
        }
    }

    /// Where the state of batch entry `b` starts in `Y_h`, `Y_c` and the initial states.
    fn state_offset(&self, b: usize) -> usize {
        let (dirs, p) = (self.p.direction.count(), self.p);
        if p.batch_first {
            (b * dirs + self.direction) * p.hidden
        } else {
            (self.direction * p.batch + b) * p.hidden
        }
    }

    /// Where the output of time `t`, batch entry `b` starts in `Y`.
    fn y_offset(&self, t: usize, b: usize) -> usize {
        let (dirs, p) = (self.p.direction.count(), self.p);
        if p.batch_first {
            ((b * p.seq_len + t) * dirs + self.direction) * p.hidden
        } else {
            ((t * dirs + self.direction) * p.batch + b) * p.hidden
        }
    }

    /// Runs every step of this direction, writing each hidden state into `Y`.
    fn run(&mut self, mut y: Option<&mut [f32]>) {
        let p = self.p;
        let (width, hidden, d) = (self.width(), p.hidden, self.direction);
        // The input projection of every step at once.
        if p.w_panels {
            let len = packed_w_len(p.cell, hidden, p.input_size);
            let w = &self.inputs.w[d * len..][..len];
            let rows = p.seq_len * p.batch;
            panel_gemm(
                &self.inputs.x[..rows * p.input_size],
                p.input_size,
                w,
                hidden,
                &mut self.projection[..rows * width],
            );
        } else {
            let w = &self.inputs.w[d * width * p.input_size..][..width * p.input_size];
            gemm::gemm_with_scratch(
                p.seq_len * p.batch,
                width,
                p.input_size,
                self.inputs.x,
                false,
                w,
                true,
                1.0,
                0.0,
                Bias::None,
                Activation::None,
                self.packing,
                self.projection,
            );
        }
        self.prepare_bias();
        self.load_initial_states();
        let longest = (0..p.batch).map(|b| self.len(b)).max().unwrap_or(0);
        for s in 0..longest {
            match p.cell {
                Cell::Rnn => self.rnn_step(s),
                Cell::Gru {
                    linear_before_reset,
                } => self.gru_step(s, linear_before_reset),
                Cell::Lstm { input_forget } => self.lstm_step(s, input_forget),
            }
            if let Some(y) = y.as_deref_mut() {
                for b in 0..p.batch {
                    if let Some(t) = self.time(s, b) {
                        let at = self.y_offset(t, b);
                        y[at..at + hidden].copy_from_slice(&self.state[b * hidden..][..hidden]);
                    }
                }
            }
        }
    }

    /// `Wb + Rb` for every gate, except a GRU's hidden gate with `linear_before_reset`,
    /// which adds `Wbₕ` there and keeps `Rbₕ` apart (after the bias block).
    fn prepare_bias(&mut self) {
        let (width, hidden) = (self.width(), self.p.hidden);
        let Some(b) = self.inputs.b else {
            self.bias.fill(0.0);
            return;
        };
        let b = &b[self.direction * 2 * width..][..2 * width];
        let (wb, rb) = b.split_at(width);
        let (combined, own) = self.bias.split_at_mut(width);
        for ((out, &w), &r) in combined.iter_mut().zip(wb).zip(rb) {
            *out = w + r;
        }
        if let Cell::Gru {
            linear_before_reset,
        } = self.p.cell
        {
            own.copy_from_slice(&rb[2 * hidden..]);
            if linear_before_reset {
                combined[2 * hidden..].copy_from_slice(&wb[2 * hidden..]);
            }
        }
    }

    /// The initial hidden (and cell) states, zero when the node has none.
    fn load_initial_states(&mut self) {
        let hidden = self.p.hidden;
        for b in 0..self.p.batch {
            let at = self.state_offset(b);
            let h = &mut self.state[b * hidden..][..hidden];
            match self.inputs.initial_h {
                Some(h0) => h.copy_from_slice(&h0[at..at + hidden]),
                None => h.fill(0.0),
            }
            if let Cell::Lstm { .. } = self.p.cell {
                let c = &mut self.second_state[b * hidden..][..hidden];
                match self.inputs.initial_c {
                    Some(c0) => c.copy_from_slice(&c0[at..at + hidden]),
                    None => c.fill(0.0),
                }
            }
        }
    }

    /// Copies the last states into `Y_h` and `Y_c`; an entry of length zero ends with
    /// zero states.
    fn write_final_states(&self, y_h: Option<&mut [f32]>, y_c: Option<&mut [f32]>) {
        let hidden = self.p.hidden;
        let write = |out: &mut [f32], state: &[f32]| {
            for b in 0..self.p.batch {
                let at = self.state_offset(b);
                let out = &mut out[at..at + hidden];
                if self.len(b) == 0 {
                    out.fill(0.0);
                } else {
                    out.copy_from_slice(&state[b * hidden..][..hidden]);
                }
            }
        };
        if let Some(y_h) = y_h {
            write(y_h, self.state);
        }
        if let (Some(y_c), Cell::Lstm { .. }) = (y_c, self.p.cell) {
            write(y_c, self.second_state);
        }
    }

    /// `products[b] = state[b]·Rᵀ` over rows `first_gate..first_gate + n_gates` of this
    /// direction's `R`, for every batch entry (entries whose sequence ended included: their
    /// rows are computed and ignored, which keeps the product one GEMM).
    fn recurrent_product(&mut self, state_is_second: bool, first_gate: usize, n_gates: usize) {
        let p = self.p;
        let (width, hidden) = (self.width(), p.hidden);
        let state = if state_is_second {
            &*self.second_state
        } else {
            &*self.state
        };
        let offset = if first_gate == 0 {
            0
        } else {
            p.batch * first_gate * hidden
        };
        if p.r_panels {
            let per_gate = packed_r_len(p.cell, hidden) / p.cell.gates();
            let r = &self.inputs.r[self.direction * packed_r_len(p.cell, hidden)..];
            let r = &r[first_gate * per_gate..][..n_gates * per_gate];
            let products = &mut self.products[offset..][..p.batch * n_gates * hidden];
            for (h, out) in state
                .chunks_exact(hidden)
                .zip(products.chunks_exact_mut(n_gates * hidden))
            {
                gate_product(r, h, hidden, out);
            }
            return;
        }
        let r = &self.inputs.r[self.direction * width * hidden..][..width * hidden];
        let r = &r[first_gate * hidden * hidden..][..n_gates * hidden * hidden];
        gemm::gemm_with_scratch(
            p.batch,
            n_gates * hidden,
            hidden,
            state,
            false,
            r,
            true,
            1.0,
            0.0,
            Bias::None,
            Activation::None,
            self.packing,
            &mut self.products[offset..][..p.batch * n_gates * hidden],
        );
    }

    /// `out[j] = clip(projection[j] + product[j] + bias[j])`, the input of a gate's
    /// activation.
    fn gate_input(&self, out: &mut [f32], projection: &[f32], bias: &[f32]) {
        for ((v, &x), &b) in out.iter_mut().zip(projection).zip(bias) {
            *v = *v + x + b;
        }
        self.clip(out);
    }

    fn clip(&self, values: &mut [f32]) {
        if let Some(clip) = self.p.clip {
            for v in values.iter_mut() {
                *v = v.max(-clip).min(clip);
            }
        }
    }

    /// The activations of this direction.
    fn activations(&self) -> [GateActivation; 3] {
        self.p.activations[self.direction]
    }

    /// `Hₜ = f(Xₜ·Wᵀ + Hₜ₋₁·Rᵀ + Wb + Rb)`.
    fn rnn_step(&mut self, s: usize) {
        let hidden = self.p.hidden;
        let [f, ..] = self.activations();
        self.recurrent_product(false, 0, 1);
        for b in 0..self.p.batch {
            let Some(t) = self.time(s, b) else { continue };
            let projection = &self.projection[self.row(t, b) * hidden..][..hidden];
            let gate = core::mem::take(&mut self.products);
            let row = &mut gate[b * hidden..][..hidden];
            self.gate_input(row, projection, &self.bias[..hidden]);
            f.apply(row);
            self.state[b * hidden..][..hidden].copy_from_slice(row);
            self.products = gate;
        }
    }

    /// `zₜ = f(..)`, `rₜ = f(..)`, `h̃ₜ = g(..)`, `Hₜ = (1 − zₜ) ⊙ h̃ₜ + zₜ ⊙ Hₜ₋₁`.
    fn gru_step(&mut self, s: usize, linear_before_reset: bool) {
        let (p, hidden) = (self.p, self.p.hidden);
        let width = 3 * hidden;
        let [f, g, _] = self.activations();
        if linear_before_reset {
            // One product of all three gates: `rₜ` scales `Hₜ₋₁·Rₕᵀ + Rbₕ` afterwards.
            self.recurrent_product(false, 0, 3);
        } else {
            // The update and reset gates first; the hidden gate's product needs `rₜ`.
            self.recurrent_product(false, 0, 2);
        }
        let products = core::mem::take(&mut self.products);
        // Rows of `products`: `[batch, 2·hidden]` for z and r, then `[batch, hidden]` for
        // the hidden gate when it is a separate product, else `[batch, 3·hidden]`.
        let zr_width = if linear_before_reset {
            width
        } else {
            2 * hidden
        };
        for b in 0..p.batch {
            let Some(t) = self.time(s, b) else {
                // The reset state of an ended entry only feeds rows that are ignored.
                if !linear_before_reset {
                    self.second_state[b * hidden..][..hidden].fill(0.0);
                }
                continue;
            };
            let projection = &self.projection[self.row(t, b) * width..][..2 * hidden];
            let zr = &mut products[b * zr_width..][..2 * hidden];
            self.gate_input(zr, projection, &self.bias[..2 * hidden]);
            f.apply(zr);
            if !linear_before_reset {
                let reset = &zr[hidden..];
                let h = &self.state[b * hidden..][..hidden];
                for ((out, &r), &h) in self.second_state[b * hidden..][..hidden]
                    .iter_mut()
                    .zip(reset)
                    .zip(h)
                {
                    *out = r * h;
                }
            }
        }
        self.products = products;
        if !linear_before_reset {
            self.recurrent_product(true, 2, 1);
        }
        let products = core::mem::take(&mut self.products);
        for b in 0..p.batch {
            let Some(t) = self.time(s, b) else { continue };
            let projection = &self.projection[self.row(t, b) * width + 2 * hidden..][..hidden];
            let (zr, candidate) = if linear_before_reset {
                let row = &mut products[b * width..][..width];
                let (zr, candidate) = row.split_at_mut(2 * hidden);
                (&*zr, candidate)
            } else {
                let (zr_rows, candidates) = products.split_at_mut(p.batch * 2 * hidden);
                (
                    &zr_rows[b * 2 * hidden..][..2 * hidden],
                    &mut candidates[b * hidden..][..hidden],
                )
            };
            let (z, r) = zr.split_at(hidden);
            let bias = &self.bias[2 * hidden..width];
            if linear_before_reset {
                let reset_bias = &self.bias[width..];
                for ((((v, &x), &r), &rb), &wb) in candidate
                    .iter_mut()
                    .zip(projection)
                    .zip(r)
                    .zip(reset_bias)
                    .zip(bias)
                {
                    *v = x + r * (*v + rb) + wb;
                }
                self.clip(candidate);
            } else {
                self.gate_input(candidate, projection, bias);
            }
            g.apply(candidate);
            let h = &mut self.state[b * hidden..][..hidden];
            for ((h, &z), &c) in h.iter_mut().zip(z).zip(&*candidate) {
                *h = (1.0 - z) * c + z * *h;
            }
        }
        self.products = products;
    }

    /// `iₜ, oₜ, fₜ, cₜ` with peepholes, `Cₜ = fₜ ⊙ Cₜ₋₁ + iₜ ⊙ c̃ₜ`, `Hₜ = oₜ ⊙ h(Cₜ)`.
    fn lstm_step(&mut self, s: usize, input_forget: bool) {
        let (p, hidden) = (self.p, self.p.hidden);
        let width = 4 * hidden;
        let [f, g, h_act] = self.activations();
        let peepholes = self
            .inputs
            .p
            .map(|peep| &peep[self.direction * 3 * hidden..][..3 * hidden]);
        self.recurrent_product(false, 0, 4);
        let products = core::mem::take(&mut self.products);
        for b in 0..p.batch {
            let Some(t) = self.time(s, b) else { continue };
            let projection = &self.projection[self.row(t, b) * width..][..width];
            let row = &mut products[b * width..][..width];
            let (i, rest) = row.split_at_mut(hidden);
            let (o, rest) = rest.split_at_mut(hidden);
            let (forget, candidate) = rest.split_at_mut(hidden);
            let c = &mut self.second_state[b * hidden..][..hidden];
            let bias = |gate: usize| &self.bias[gate * hidden..][..hidden];
            let projection = |gate: usize| &projection[gate * hidden..][..hidden];
            // The peephole terms join the sum before the bias, as ONNX Runtime adds them.
            if let Some(peep) = peepholes {
                add_product(i, &peep[..hidden], c, projection(0));
            } else {
                add(i, projection(0));
            }
            add_clip(i, bias(0), p.clip);
            f.apply(i);
            if input_forget {
                for (fv, &iv) in forget.iter_mut().zip(&*i) {
                    *fv = 1.0 - iv;
                }
            } else {
                if let Some(peep) = peepholes {
                    add_product(forget, &peep[2 * hidden..], c, projection(2));
                } else {
                    add(forget, projection(2));
                }
                add_clip(forget, bias(2), p.clip);
                f.apply(forget);
            }
            add(candidate, projection(3));
            add_clip(candidate, bias(3), p.clip);
            g.apply(candidate);
            for (((c, &fv), &iv), &cv) in c.iter_mut().zip(&*forget).zip(&*i).zip(&*candidate) {
                *c = *c * fv + iv * cv;
            }
            if let Some(peep) = peepholes {
                add_product(o, &peep[hidden..2 * hidden], c, projection(1));
            } else {
                add(o, projection(1));
            }
            add_clip(o, bias(1), p.clip);
            f.apply(o);
            // `h(Cₜ)` goes where the candidate was, which is no longer needed.
            candidate.copy_from_slice(c);
            h_act.apply(candidate);
            for ((h, &ov), &hc) in self.state[b * hidden..][..hidden]
                .iter_mut()
                .zip(&*o)
                .zip(&*candidate)
            {
                *h = ov * hc;
            }
        }
        self.products = products;
    }
}

/// Panels of `PANEL` weights at one depth, whole by construction, so that the products'
/// loops index arrays whose length they know; `None` for an empty product.
fn whole_panels(panels: &[f32], hidden: usize, depth: usize) -> Option<&[[f32; PANEL]]> {
    if hidden == 0 || depth == 0 {
        return None;
    }
    bytemuck::try_cast_slice(panels).ok()
}

/// `out = h·Rᵀ` for `R` in the grouped panels of [`pack_r`]: `panels` holds whole gates
/// of `hidden` outputs each, `out` their `gates · hidden` products. Each output is a chain
/// of fused multiply-adds over `h` in order (a multiply and an add where the target has
/// no fused vectors), [`GROUP`] panels of a group at a time so the chains overlap.
fn gate_product(panels: &[f32], h: &[f32], hidden: usize, out: &mut [f32]) {
    let depth = h.len();
    let Some(panels) = whole_panels(panels, hidden, depth) else {
        return;
    };
    let per_gate = hidden.div_ceil(PANEL);
    let gates = panels.chunks_exact(per_gate * depth);
    for (gate, out) in gates.zip(out.chunks_exact_mut(hidden)) {
        for q0 in (0..per_gate).step_by(R_GROUP) {
            let size = R_GROUP.min(per_gate - q0);
            let Some(group) = gate.get(q0 * depth..(q0 + size) * depth) else {
                return;
            };
            // Panel `q0 + first + i`'s sums go to the gate's outputs from its first
            // column, at most `PANEL` of them.
            let mut store = |first: usize, sums: &[[f32; PANEL]]| {
                for (i, values) in sums.iter().enumerate() {
                    let column = (q0 + first + i) * PANEL;
                    let n = PANEL.min(hidden.saturating_sub(column));
                    if let Some(out) = out.get_mut(column..column + n) {
                        out.copy_from_slice(&values[..n]);
                    }
                }
            };
            let mut first = 0;
            while first < size {
                let n = GROUP.min(size - first);
                macro_rules! by_count {
                    ($($count:literal)*) => {
                        match n {
                            $($count => store(
                                first,
                                &interleaved_group::<$count>(group, size, first, h),
                            ),)*
                            _ => store(first, &interleaved_group::<1>(group, size, first, h)),
                        }
                    };
                }
                #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
                by_count!(8 7 6 5 4 3 2);
                #[cfg(all(
                    any(target_arch = "x86_64", target_arch = "aarch64"),
                    not(all(target_arch = "x86_64", target_feature = "avx512f"))
                ))]
                by_count!(4 3 2);
                #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
                by_count!();
                first += n;
            }
        }
    }
}

/// `out = x·Wᵀ` for one row `x` and `W` in the panels of [`pack_w`] (each panel on its
/// own, depth by depth): `panels` holds whole gates of `hidden` outputs each, `out` their
/// `gates · hidden` products, each output a chain of fused multiply-adds over `x` in
/// order, several panels at a time so the chains overlap.
fn panel_product(panels: &[f32], h: &[f32], hidden: usize, out: &mut [f32]) {
    let depth = h.len();
    let Some(panels) = whole_panels(panels, hidden, depth) else {
        return;
    };
    let per_gate = hidden.div_ceil(PANEL);
    let n_panels = panels.len() / depth;
    // Panel `q` of the gates' list writes `out` from its first column, at most `PANEL`
    // values.
    let store = |out: &mut [f32], q: usize, values: &[f32; PANEL]| {
        let (gate, within) = (q / per_gate, q % per_gate * PANEL);
        let n = PANEL.min(hidden - within);
        out[gate * hidden + within..][..n].copy_from_slice(&values[..n]);
    };
    let mut q = 0;
    while q + GROUP <= n_panels {
        let sums = panel_group::<GROUP>(&panels[q * depth..][..GROUP * depth], h);
        for (i, values) in sums.iter().enumerate() {
            store(out, q + i, values);
        }
        q += GROUP;
    }
    while q < n_panels {
        let [sums] = panel_group::<1>(&panels[q * depth..][..depth], h);
        store(out, q, &sums);
        q += 1;
    }
}

/// `out = x·Wᵀ` for the `m` rows of `x` (each `depth` long) and `W` in the panels of
/// [`pack_w`]: `out` holds `m` rows of `gates · hidden`. Each output is a chain of fused
/// multiply-adds in depth order, as in [`panel_product`] and ONNX Runtime's SGEMM; with
/// SIMD, a register tile of several rows and panels shares each load of weights.
fn panel_gemm(x: &[f32], depth: usize, panels: &[f32], hidden: usize, out: &mut [f32]) {
    if depth == 0 {
        out.fill(0.0);
        return;
    }
    let m = x.len() / depth;
    if m == 0 || hidden == 0 {
        return;
    }
    let width = out.len() / m;
    #[allow(unused_mut)]
    let mut row = 0;
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    if let Ok(tiles) = bytemuck::try_cast_slice::<f32, [f32; PANEL]>(panels) {
        let per_gate = hidden.div_ceil(PANEL);
        let n_panels = tiles.len() / depth;
        while row + TILE_ROWS <= m {
            let rows = &x[row * depth..][..TILE_ROWS * depth];
            let out = &mut out[row * width..][..TILE_ROWS * width];
            let mut q = 0;
            while q < n_panels {
                let end = ((q + TILE_PANELS) * depth).min(tiles.len());
                let sums = panel_tile(rows, &tiles[q * depth..end], depth);
                for (r, row_sums) in sums.iter().enumerate() {
                    for (i, values) in row_sums.iter().enumerate() {
                        // A tile reaches past the last panel when their count is odd: its
                        // weights are the next panels' (or nothing) and its sums unused.
                        if q + i >= n_panels {
                            continue;
                        }
                        let (gate, within) = ((q + i) / per_gate, (q + i) % per_gate * PANEL);
                        let n = PANEL.min(hidden - within);
                        out[r * width + gate * hidden + within..][..n]
                            .copy_from_slice(&values[..n]);
                    }
                }
                q += TILE_PANELS;
            }
            row += TILE_ROWS;
        }
    }
    while row < m {
        panel_product(
            panels,
            &x[row * depth..][..depth],
            hidden,
            &mut out[row * width..][..width],
        );
        row += 1;
    }
}

/// The rows and panels of one register tile of [`panel_gemm`]: 8 × 2 AVX-512 vectors, or
/// 4 × 1 panel of two 8-lane vectors.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
const TILE_ROWS: usize = 8;
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
const TILE_PANELS: usize = 2;
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(all(target_arch = "x86_64", target_feature = "avx512f"))
))]
const TILE_ROWS: usize = 4;
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(all(target_arch = "x86_64", target_feature = "avx512f"))
))]
const TILE_PANELS: usize = 1;

/// The sums of one tile: `TILE_ROWS` rows of `x` (`rows`) against up to `TILE_PANELS`
/// panels (`panels` holds their depths, fewer panels reading as zeros).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn panel_tile(
    rows: &[f32],
    panels: &[[f32; PANEL]],
    depth: usize,
) -> [[[f32; PANEL]; TILE_PANELS]; TILE_ROWS] {
    use crate::gemm::simd::F32x16;
    let mut x: [&[f32]; TILE_ROWS] = [&[]; TILE_ROWS];
    unroll!(TILE_ROWS, |r| x[r] = &rows[r * depth..][..depth]);
    let mut w: [&[[f32; PANEL]]; TILE_PANELS] = [&[]; TILE_PANELS];
    unroll!(TILE_PANELS, |i| w[i] = panels
        .get(i * depth..)
        .map_or(&[], |p| &p[..depth.min(p.len())]));
    let full = w.iter().all(|p| p.len() == depth);
    let mut acc = [[F32x16::splat(0.0); TILE_PANELS]; TILE_ROWS];
    if full {
        // An index loop: every row and panel has exactly `depth` values, so the bounds
        // checks go.
        #[allow(clippy::needless_range_loop)]
        for k in 0..depth {
            let mut weights = [F32x16::splat(0.0); TILE_PANELS];
            unroll!(TILE_PANELS, |i| weights[i] = F32x16::load(&w[i][k]));
            unroll!(TILE_ROWS, |r| {
                let v = F32x16::splat(x[r][k]);
                unroll!(TILE_PANELS, |i| acc[r][i] =
                    v.mul_add(weights[i], acc[r][i]));
            });
        }
    } else {
        // The last, single panel: one vector of weights a depth.
        for k in 0..depth {
            let weights = F32x16::load(&w[0][k]);
            unroll!(TILE_ROWS, |r| acc[r][0] =
                F32x16::splat(x[r][k]).mul_add(weights, acc[r][0]));
        }
    }
    let mut sums = [[[0.0; PANEL]; TILE_PANELS]; TILE_ROWS];
    unroll!(TILE_ROWS, |r| unroll!(TILE_PANELS, |i| sums[r][i] =
        acc[r][i].to_array()));
    sums
}

/// The sums of one tile in 8-lane vectors: `TILE_ROWS` rows against one panel.
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(all(target_arch = "x86_64", target_feature = "avx512f"))
))]
#[inline(always)]
fn panel_tile(
    rows: &[f32],
    panels: &[[f32; PANEL]],
    depth: usize,
) -> [[[f32; PANEL]; TILE_PANELS]; TILE_ROWS] {
    use crate::gemm::simd::{F32x8, LANES};
    use crate::unroll::array;
    let mut x: [&[f32]; TILE_ROWS] = [&[]; TILE_ROWS];
    unroll!(TILE_ROWS, |r| x[r] = &rows[r * depth..][..depth]);
    let w = &panels[..depth];
    let mut acc = [[F32x8::splat(0.0); 2]; TILE_ROWS];
    // An index loop: every row and the panel have exactly `depth` values, so the bounds
    // checks go.
    #[allow(clippy::needless_range_loop)]
    for k in 0..depth {
        let weights = [
            F32x8::from_array(array(&w[k][..])),
            F32x8::from_array(array(&w[k][LANES..])),
        ];
        unroll!(TILE_ROWS, |r| {
            let v = F32x8::splat(x[r][k]);
            unroll!(2, |half| acc[r][half] =
                v.mul_add(weights[half], acc[r][half]));
        });
    }
    let mut sums = [[[0.0; PANEL]; TILE_PANELS]; TILE_ROWS];
    unroll!(TILE_ROWS, |r| unroll!(2, |half| sums[r][0][half * LANES..]
        [..LANES]
        .copy_from_slice(&acc[r][half].to_array())));
    sums
}

/// Panels one pass of [`gate_product`] and [`panel_product`] takes: eight AVX-512
/// accumulators, or four panels of two 8-lane vectors, enough independent chains to hide
/// the latency of the fused multiply-adds; one where the sixteen scalar sums of a panel
/// already fill the registers.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const GROUP: usize = if cfg!(target_feature = "avx512f") {
    8
} else {
    4
};
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const GROUP: usize = 1;

/// The sums of `N` consecutive panels, each on its own depth by depth ([`pack_w`]:
/// `panels` holds exactly their `N · h.len()` depths), against `h`.
#[inline(always)]
fn panel_group<const N: usize>(panels: &[[f32; PANEL]], h: &[f32]) -> [[f32; PANEL]; N] {
    let hidden = h.len();
    let mut panel: [&[[f32; PANEL]]; N] = [&[]; N];
    unroll!(8, |i| if i < N {
        panel[i] = panels.get(i * hidden..(i + 1) * hidden).unwrap_or_default();
    });
    panel_sums(h, |k| {
        let mut row = [&[0.0; PANEL]; N];
        unroll!(8, |i| if i < N {
            row[i] = panel[i].get(k)?;
        });
        Some(row)
    })
}

/// The sums of panels `first..first + N` of a group of `size` interleaved panels
/// ([`pack_r`]: panel `i` at depth `k` is `group[k · size + i]`) against `h`.
#[inline(always)]
fn interleaved_group<const N: usize>(
    group: &[[f32; PANEL]],
    size: usize,
    first: usize,
    h: &[f32],
) -> [[f32; PANEL]; N] {
    panel_sums(h, |k| {
        let row = group.get(k * size + first..)?.first_chunk::<N>()?;
        Some(core::array::from_fn(|i| &row[i]))
    })
}

/// The sums of `N` panels against `h`, depth by depth: `rows(k)` gives the panels'
/// weights at depth `k` (`None` ends the sums, which the callers' layouts rule out).
/// Each output is a chain of fused multiply-adds in AVX-512 vectors.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
#[inline(always)]
fn panel_sums<'a, const N: usize>(
    h: &[f32],
    rows: impl Fn(usize) -> Option<[&'a [f32; PANEL]; N]>,
) -> [[f32; PANEL]; N] {
    use crate::gemm::simd::F32x16;
    let mut acc = [F32x16::splat(0.0); N];
    for (k, &v) in h.iter().enumerate() {
        let Some(row) = rows(k) else {
            break;
        };
        let v = F32x16::splat(v);
        unroll!(8, |i| if i < N {
            acc[i] = v.mul_add(F32x16::load(row[i]), acc[i]);
        });
    }
    let mut sums = [[0.0; PANEL]; N];
    unroll!(8, |i| if i < N {
        sums[i] = acc[i].to_array();
    });
    sums
}

/// [`panel_sums`] in two 8-lane vectors a panel.
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(all(target_arch = "x86_64", target_feature = "avx512f"))
))]
#[inline(always)]
fn panel_sums<'a, const N: usize>(
    h: &[f32],
    rows: impl Fn(usize) -> Option<[&'a [f32; PANEL]; N]>,
) -> [[f32; PANEL]; N] {
    use crate::gemm::simd::{F32x8, LANES};
    use crate::unroll::array;
    let mut acc = [[F32x8::splat(0.0); 2]; N];
    for (k, &v) in h.iter().enumerate() {
        let Some(row) = rows(k) else {
            break;
        };
        let v = F32x8::splat(v);
        unroll!(8, |i| if i < N {
            unroll!(2, |half| acc[i][half] = v.mul_add(
                F32x8::from_array(array(&row[i][half * LANES..])),
                acc[i][half]
            ));
        });
    }
    let mut sums = [[0.0; PANEL]; N];
    unroll!(8, |i| if i < N {
        unroll!(2, |half| sums[i][half * LANES..][..LANES]
            .copy_from_slice(&acc[i][half].to_array()));
    });
    sums
}

/// [`panel_sums`] in scalar code: a multiply and an add per weight (targets without
/// SIMD need not fuse them).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
fn panel_sums<'a, const N: usize>(
    h: &[f32],
    rows: impl Fn(usize) -> Option<[&'a [f32; PANEL]; N]>,
) -> [[f32; PANEL]; N] {
    let mut sums = [[0.0; PANEL]; N];
    // Index loops: zipped iterators stay calls at "z".
    #[allow(clippy::needless_range_loop)]
    for k in 0..h.len() {
        let Some(row) = rows(k) else {
            break;
        };
        let v = h[k];
        for i in 0..N {
            unroll!(PANEL, |l| sums[i][l] += v * row[i][l]);
        }
    }
    sums
}

/// `out[j] += x[j]`: the projection joins the recurrent product.
fn add(out: &mut [f32], x: &[f32]) {
    for (v, &x) in out.iter_mut().zip(x) {
        *v += x;
    }
}

/// `out[j] = (out[j] + x[j]) + peep[j]·c[j]`: the projection, then the peephole term.
fn add_product(out: &mut [f32], peep: &[f32], c: &[f32], x: &[f32]) {
    for (((v, &x), &p), &c) in out.iter_mut().zip(x).zip(peep).zip(c) {
        *v = (*v + x) + p * c;
    }
}

/// `out[j] = clip(out[j] + bias[j])`.
fn add_clip(out: &mut [f32], bias: &[f32], clip: Option<f32>) {
    for (v, &b) in out.iter_mut().zip(bias) {
        *v += b;
    }
    if let Some(clip) = clip {
        for v in out.iter_mut() {
            *v = v.max(-clip).min(clip);
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

    /// The activations in `f64`, written from the ONNX operator definitions.
    fn activate(a: GateActivation, x: f64) -> f64 {
        let (alpha, beta) = (f64::from, f64::from);
        match a {
            GateActivation::Relu => x.max(0.0),
            GateActivation::Tanh => x.tanh(),
            GateActivation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            GateActivation::Affine { alpha: a, beta: b } => alpha(a) * x + beta(b),
            GateActivation::LeakyRelu { alpha: a } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha(a) * x
                }
            }
            GateActivation::ThresholdedRelu { alpha: a } => {
                if x > alpha(a) {
                    x
                } else {
                    0.0
                }
            }
            GateActivation::ScaledTanh { alpha: a, beta: b } => alpha(a) * (beta(b) * x).tanh(),
            GateActivation::HardSigmoid { alpha: a, beta: b } => {
                (alpha(a) * x + beta(b)).clamp(0.0, 1.0)
            }
            GateActivation::Elu { alpha: a } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha(a) * (x.exp() - 1.0)
                }
            }
            GateActivation::Softsign => x / (1.0 + x.abs()),
            GateActivation::Softplus => (1.0 + x.exp()).ln(),
        }
    }

    /// A layer's inputs, owned.
    #[derive(Clone)]
    struct Layer {
        p: Recurrent,
        x: Vec<f32>,
        w: Vec<f32>,
        r: Vec<f32>,
        b: Option<Vec<f32>>,
        lens: Option<Vec<i32>>,
        h0: Option<Vec<f32>>,
        c0: Option<Vec<f32>>,
        peep: Option<Vec<f32>>,
    }

    impl Layer {
        /// Random weights for `p`, every optional input present.
        fn new(p: Recurrent) -> Self {
            let (dirs, width) = (p.direction.count(), p.cell.gates() * p.hidden);
            let states = dirs * p.batch * p.hidden;
            Layer {
                x: data(p.seq_len * p.batch * p.input_size, 1),
                w: data(dirs * width * p.input_size, 2),
                r: data(dirs * width * p.hidden, 3),
                b: Some(data(dirs * 2 * width, 4)),
                lens: None,
                h0: Some(data(states, 5)),
                c0: Some(data(states, 6).iter().map(|v| 2.0 * v).collect()),
                peep: Some(data(dirs * 3 * p.hidden, 7)),
                p,
            }
        }

        fn inputs(&self) -> Inputs<'_> {
            Inputs {
                x: &self.x,
                w: &self.w,
                r: &self.r,
                b: self.b.as_deref(),
                sequence_lens: self.lens.as_deref(),
                initial_h: self.h0.as_deref(),
                initial_c: self.c0.as_deref(),
                p: self.peep.as_deref(),
            }
        }

        /// The same layer with `R` in the panels of [`pack_r`] and `W` in those of
        /// [`pack_w`], as asked.
        fn paneled(&self, r_panels: bool, w_panels: bool) -> Layer {
            let (p, dirs) = (self.p, self.p.direction.count());
            let mut l = self.clone();
            if r_panels {
                l.r = vec![f32::NAN; dirs * packed_r_len(p.cell, p.hidden)];
                pack_r(p.cell, dirs, p.hidden, &self.r, &mut l.r);
                l.p.r_panels = true;
            }
            if w_panels {
                l.w = vec![f32::NAN; dirs * packed_w_len(p.cell, p.hidden, p.input_size)];
                pack_w(p.cell, dirs, p.hidden, p.input_size, &self.w, &mut l.w);
                l.p.w_panels = true;
            }
            l
        }

        fn sizes(&self) -> (usize, usize) {
            let p = &self.p;
            let states = p.direction.count() * p.batch * p.hidden;
            (p.seq_len * states, states)
        }

        /// `(Y, Y_h, Y_c)` from the kernel, its scratch filled with NaN first so a read
        /// before a write shows.
        fn run(&self) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
            let (n_y, n_state) = self.sizes();
            let (mut y, mut y_h, mut y_c) =
                (vec![7.0; n_y], vec![7.0; n_state], vec![7.0; n_state]);
            let mut scratch = vec![f32::NAN; self.p.scratch_len()];
            let outputs = Outputs {
                y: Some(&mut y),
                y_h: Some(&mut y_h),
                y_c: Some(&mut y_c),
            };
            recurrent(&self.p, self.inputs(), outputs, &mut scratch).unwrap();
            (y, y_h, y_c)
        }

        /// `(Y, Y_h, Y_c)` the textbook way, in `f64`: one batch entry and one time step
        /// at a time, in the ONNX layouts indexed element by element.
        fn naive(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
            let p = &self.p;
            let (dirs, hid, gates) = (p.direction.count(), p.hidden, p.cell.gates());
            let width = gates * hid;
            let (n_y, n_state) = self.sizes();
            let (mut y, mut y_h, mut y_c) =
                (vec![0.0; n_y], vec![0.0; n_state], vec![0.0; n_state]);
            let x_at = |t: usize, b: usize, i: usize| {
                let row = if p.batch_first {
                    b * p.seq_len + t
                } else {
                    t * p.batch + b
                };
                f64::from(self.x[row * p.input_size + i])
            };
            let state_at = |d: usize, b: usize| {
                if p.batch_first {
                    (b * dirs + d) * hid
                } else {
                    (d * p.batch + b) * hid
                }
            };
            let y_at = |t: usize, d: usize, b: usize| {
                if p.batch_first {
                    ((b * p.seq_len + t) * dirs + d) * hid
                } else {
                    ((t * dirs + d) * p.batch + b) * hid
                }
            };
            let clip = |v: f64| match p.clip {
                Some(c) => v.clamp(-f64::from(c), f64::from(c)),
                None => v,
            };
            for d in 0..dirs {
                let reverse = p.direction == Direction::Reverse || d == 1;
                let [f, g, h_act] = p.activations[d];
                // Row `j` of W·x + R·h + Wb + Rb for gate `k`, and its parts.
                let wx = |t: usize, b: usize, k: usize, j: usize| {
                    let row = d * width + k * hid + j;
                    (0..p.input_size)
                        .map(|i| f64::from(self.w[row * p.input_size + i]) * x_at(t, b, i))
                        .sum::<f64>()
                };
                let rh = |h: &[f64], k: usize, j: usize| {
                    let row = d * width + k * hid + j;
                    (0..hid)
                        .map(|i| f64::from(self.r[row * hid + i]) * h[i])
                        .sum::<f64>()
                };
                let bias = |k: usize, j: usize, recurrent: bool| {
                    self.b.as_ref().map_or(0.0, |b| {
                        f64::from(b[d * 2 * width + usize::from(recurrent) * width + k * hid + j])
                    })
                };
                let peep = |k: usize, j: usize| {
                    self.peep
                        .as_ref()
                        .map_or(0.0, |pp| f64::from(pp[d * 3 * hid + k * hid + j]))
                };
                for b in 0..p.batch {
                    let len = self.lens.as_ref().map_or(p.seq_len, |l| l[b] as usize);
                    let at = state_at(d, b);
                    let mut h: Vec<f64> = match &self.h0 {
                        Some(h0) => h0[at..at + hid].iter().map(|&v| v.into()).collect(),
                        None => vec![0.0; hid],
                    };
                    let mut c: Vec<f64> = match &self.c0 {
                        Some(c0) => c0[at..at + hid].iter().map(|&v| v.into()).collect(),
                        None => vec![0.0; hid],
                    };
                    for s in 0..len {
                        let t = if reverse { len - 1 - s } else { s };
                        let pre = |k: usize, j: usize, h: &[f64]| {
                            wx(t, b, k, j) + rh(h, k, j) + bias(k, j, false) + bias(k, j, true)
                        };
                        let next: Vec<f64> = match p.cell {
                            Cell::Rnn => {
                                (0..hid).map(|j| activate(f, clip(pre(0, j, &h)))).collect()
                            }
                            Cell::Gru {
                                linear_before_reset,
                            } => {
                                let z: Vec<f64> =
                                    (0..hid).map(|j| activate(f, clip(pre(0, j, &h)))).collect();
                                let r: Vec<f64> =
                                    (0..hid).map(|j| activate(f, clip(pre(1, j, &h)))).collect();
                                let reset: Vec<f64> = (0..hid).map(|j| r[j] * h[j]).collect();
                                (0..hid)
                                    .map(|j| {
                                        let candidate = if linear_before_reset {
                                            wx(t, b, 2, j)
                                                + r[j] * (rh(&h, 2, j) + bias(2, j, true))
                                                + bias(2, j, false)
                                        } else {
                                            wx(t, b, 2, j)
                                                + rh(&reset, 2, j)
                                                + bias(2, j, false)
                                                + bias(2, j, true)
                                        };
                                        let candidate = activate(g, clip(candidate));
                                        (1.0 - z[j]) * candidate + z[j] * h[j]
                                    })
                                    .collect()
                            }
                            Cell::Lstm { input_forget } => {
                                let i: Vec<f64> = (0..hid)
                                    .map(|j| activate(f, clip(pre(0, j, &h) + peep(0, j) * c[j])))
                                    .collect();
                                let fg: Vec<f64> = (0..hid)
                                    .map(|j| {
                                        if input_forget {
                                            1.0 - i[j]
                                        } else {
                                            activate(f, clip(pre(2, j, &h) + peep(2, j) * c[j]))
                                        }
                                    })
                                    .collect();
                                let cand: Vec<f64> =
                                    (0..hid).map(|j| activate(g, clip(pre(3, j, &h)))).collect();
                                let new_c: Vec<f64> =
                                    (0..hid).map(|j| fg[j] * c[j] + i[j] * cand[j]).collect();
                                let next = (0..hid)
                                    .map(|j| {
                                        let o = activate(
                                            f,
                                            clip(pre(1, j, &h) + peep(1, j) * new_c[j]),
                                        );
                                        o * activate(h_act, new_c[j])
                                    })
                                    .collect();
                                c = new_c;
                                next
                            }
                        };
                        h = next;
                        let at = y_at(t, d, b);
                        y[at..at + hid].copy_from_slice(&h);
                    }
                    if len > 0 {
                        y_h[at..at + hid].copy_from_slice(&h);
                        y_c[at..at + hid].copy_from_slice(&c);
                    }
                }
            }
            (y, y_h, y_c)
        }

        /// Runs the kernel and the naive layer and compares every output.
        fn check(&self) {
            self.check_against(self);
        }

        /// Runs the kernel on this layer and compares every output with the naive
        /// layer of `reference`, the same layer with `R` as ONNX stores it.
        fn check_against(&self, reference: &Layer) {
            let (y, y_h, y_c) = self.run();
            let (want_y, want_h, want_c) = reference.naive();
            let lstm = matches!(self.p.cell, Cell::Lstm { .. });
            let mut outputs = vec![("Y", &y, &want_y), ("Y_h", &y_h, &want_h)];
            if lstm {
                outputs.push(("Y_c", &y_c, &want_c));
            }
            for (name, got, want) in outputs {
                assert_eq!(got.len(), want.len());
                for (k, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
                    // f32 sums of a few products per step, over a few steps, against f64.
                    assert!(
                        (f64::from(g) - w).abs() <= 2e-5 + 2e-5 * w.abs(),
                        "{:?}: {name}[{k}] = {g}, want {w}",
                        self.p
                    );
                }
            }
        }
    }

    const DEFAULT_ACTIVATIONS: [GateActivation; 3] = [
        GateActivation::Sigmoid,
        GateActivation::Tanh,
        GateActivation::Tanh,
    ];

    fn layer(cell: Cell, direction: Direction, batch: usize, hidden: usize) -> Recurrent {
        let first = match cell {
            Cell::Rnn => GateActivation::Tanh,
            _ => GateActivation::Sigmoid,
        };
        let activations = [first, GateActivation::Tanh, GateActivation::Tanh];
        Recurrent {
            cell,
            direction,
            seq_len: 4,
            batch,
            input_size: 3,
            hidden,
            batch_first: false,
            clip: None,
            activations: [activations; 2],
            r_panels: false,
            w_panels: false,
        }
    }

    const CELLS: [Cell; 5] = [
        Cell::Rnn,
        Cell::Gru {
            linear_before_reset: false,
        },
        Cell::Gru {
            linear_before_reset: true,
        },
        Cell::Lstm {
            input_forget: false,
        },
        Cell::Lstm { input_forget: true },
    ];

    const DIRECTIONS: [Direction; 3] = [
        Direction::Forward,
        Direction::Reverse,
        Direction::Bidirectional,
    ];

    #[test]
    fn every_cell_and_direction_matches_the_naive_layer() {
        for cell in CELLS {
            for direction in DIRECTIONS {
                // A batch of one runs matrix-vector products; a batch of three and a wide
                // hidden state run the blocked GEMM with its packing scratch.
                for (batch, hidden) in [(1, 3), (3, 5), (2, 17)] {
                    Layer::new(layer(cell, direction, batch, hidden)).check();
                }
            }
        }
    }

    #[test]
    fn pack_r_puts_each_gate_in_zero_padded_panels() {
        // Two gates (a GRU has three; take its first two rows' worth) of hidden 17: each
        // gate is two panels, the second holding one column and fifteen zeros.
        let cell = Cell::Gru {
            linear_before_reset: true,
        };
        let hidden = 17;
        let r: Vec<f32> = (0..3 * hidden * hidden).map(|v| v as f32).collect();
        let mut packed = vec![f32::NAN; packed_r_len(cell, hidden)];
        pack_r(cell, 1, hidden, &r, &mut packed);
        assert_eq!(packed.len(), 3 * 2 * PANEL * hidden);
        // The gate's two panels interleaved depth by depth.
        let at = |gate: usize, panel: usize, k: usize, lane: usize| {
            packed[((gate * hidden + k) * 2 + panel) * PANEL + lane]
        };
        // Gate 1, column 16 (its second panel's lane 0), depth 5: R[1·17 + 16][5].
        assert_eq!(at(1, 1, 5, 0), r[(17 + 16) * hidden + 5]);
        assert_eq!(at(1, 1, 5, 1), 0.0);
        // Gate 2, column 3, depth 16.
        assert_eq!(at(2, 0, 16, 3), r[(34 + 3) * hidden + 16]);
        assert!(packed.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn gate_product_is_the_matrix_vector_product() {
        // Gates of one to nineteen panels: groups of eight and the rest.
        for hidden in [1, 5, 16, 17, 129, 300] {
            for gates in 1..=4 {
                let cell = [
                    Cell::Rnn,
                    Cell::Rnn,
                    Cell::Gru {
                        linear_before_reset: true,
                    },
                    Cell::Lstm {
                        input_forget: false,
                    },
                ][gates - 1];
                let gates = cell.gates();
                let r = data(gates * hidden * hidden, 11);
                let h = data(hidden, 12);
                let mut packed = vec![f32::NAN; packed_r_len(cell, hidden)];
                pack_r(cell, 1, hidden, &r, &mut packed);
                let mut out = vec![f32::NAN; gates * hidden];
                gate_product(&packed, &h, hidden, &mut out);
                for (j, &o) in out.iter().enumerate() {
                    let want: f64 = (0..hidden)
                        .map(|k| f64::from(r[j * hidden + k]) * f64::from(h[k]))
                        .sum();
                    assert!(
                        (f64::from(o) - want).abs() < 1e-4,
                        "hidden {hidden} gates {gates} out[{j}] = {o}, want {want}"
                    );
                }
            }
        }
    }

    /// Deterministic shapes in `0..n`.
    fn pick(state: &mut u32, n: usize) -> usize {
        *state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (*state >> 8) as usize % n
    }

    #[test]
    fn paneled_weights_match_the_naive_layer_and_the_gemm_path() {
        let mut state = 47;
        let mut runs = [0usize; 2];
        for case in 0..60 {
            let cell = CELLS[case % CELLS.len()];
            let direction = DIRECTIONS[pick(&mut state, 3)];
            // Hidden sizes around the panel width and across several panels and groups
            // of panels (eight per pass with AVX-512), none a multiple of 16 but one.
            let hidden = [1, 3, 7, 15, 16, 17, 31, 33, 45, 129][pick(&mut state, 10)];
            let batch = 1 + pick(&mut state, 2);
            let mut p = layer(cell, direction, batch, hidden);
            // Up to 20 rows of `X`: whole register tiles of the projection and a rest.
            p.seq_len = 1 + pick(&mut state, 10);
            p.input_size = 1 + pick(&mut state, 9);
            let mut l = Layer::new(p);
            if case % 3 == 0 {
                (l.b, l.h0, l.c0, l.peep) = (None, None, None, None);
            }
            let (want_y, want_h, want_c) = l.run();
            for (r_panels, w_panels) in [(true, false), (false, true), (true, true)] {
                let paneled = l.paneled(r_panels, w_panels);
                paneled.check_against(&l);
                let (y, y_h, y_c) = paneled.run();
                for (name, got, want) in [
                    ("Y", &y, &want_y),
                    ("Y_h", &y_h, &want_h),
                    ("Y_c", &y_c, &want_c),
                ] {
                    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
                        // The same sums in another order (fused, in depth order, against
                        // the GEMM's blocks): a few roundings of values below 1 per step.
                        assert!(
                            (g - w).abs() <= 1e-5 + 1e-5 * w.abs(),
                            "{:?}: {name}[{k}] = {g}, the GEMM path gives {w}",
                            paneled.p
                        );
                    }
                }
            }
            runs[direction.count() - 1] += 1;
        }
        assert!(
            runs.iter().all(|&n| n > 0),
            "both direction counts ran: {runs:?}"
        );
    }

    #[test]
    fn batch_first_layout_matches_the_naive_layer() {
        for cell in CELLS {
            for direction in DIRECTIONS {
                let mut p = layer(cell, direction, 3, 4);
                p.batch_first = true;
                Layer::new(p).check();
            }
        }
    }

    #[test]
    fn omitted_inputs_read_as_zero() {
        for cell in CELLS {
            let mut l = Layer::new(layer(cell, Direction::Bidirectional, 2, 3));
            (l.b, l.h0, l.c0, l.peep) = (None, None, None, None);
            l.check();
        }
    }

    #[test]
    fn shorter_sequences_leave_zeros_and_keep_their_state() {
        for cell in CELLS {
            for direction in DIRECTIONS {
                for batch_first in [false, true] {
                    let mut p = layer(cell, direction, 4, 3);
                    p.batch_first = batch_first;
                    let mut l = Layer::new(p);
                    l.lens = Some(vec![4, 2, 0, 3]);
                    l.check();
                    // Entry 2 has no steps: its outputs and its final states are zero,
                    // whatever its initial state.
                    let (y, y_h, y_c) = l.run();
                    let dirs = direction.count();
                    for d in 0..dirs {
                        let at = if batch_first {
                            (2 * dirs + d) * 3
                        } else {
                            (d * 4 + 2) * 3
                        };
                        assert_eq!(y_h[at..at + 3], [0.0; 3]);
                        if let Cell::Lstm { .. } = cell {
                            assert_eq!(y_c[at..at + 3], [0.0; 3]);
                        }
                        for t in 0..4 {
                            let at = if batch_first {
                                ((2 * 4 + t) * dirs + d) * 3
                            } else {
                                ((t * dirs + d) * 4 + 2) * 3
                            };
                            assert_eq!(y[at..at + 3], [0.0; 3]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn clip_and_every_activation_match_the_naive_layer() {
        let activations = [
            GateActivation::Relu,
            GateActivation::Affine {
                alpha: 0.5,
                beta: -0.25,
            },
            GateActivation::LeakyRelu { alpha: 0.1 },
            GateActivation::ThresholdedRelu { alpha: 0.2 },
            GateActivation::ScaledTanh {
                alpha: 0.9,
                beta: 1.5,
            },
            GateActivation::HardSigmoid {
                alpha: 0.3,
                beta: 0.6,
            },
            GateActivation::Elu { alpha: 0.7 },
            GateActivation::Softsign,
            GateActivation::Softplus,
        ];
        for cell in CELLS {
            for (k, &a) in activations.iter().enumerate() {
                let mut p = layer(cell, Direction::Bidirectional, 2, 3);
                // Each position of each direction meets the activation under test.
                let other = activations[(k + 1) % activations.len()];
                p.activations = [
                    [a, other, DEFAULT_ACTIVATIONS[1]],
                    [other, DEFAULT_ACTIVATIONS[0], a],
                ];
                p.clip = Some(0.75);
                Layer::new(p).check();
            }
        }
    }

    #[test]
    fn outputs_are_optional() {
        let l = Layer::new(layer(
            Cell::Lstm {
                input_forget: false,
            },
            Direction::Forward,
            2,
            3,
        ));
        let (_, want_h, _) = l.run();
        let mut y_h = vec![0.0; want_h.len()];
        let mut scratch = vec![0.0; l.p.scratch_len()];
        let outputs = Outputs {
            y: None,
            y_h: Some(&mut y_h),
            y_c: None,
        };
        recurrent(&l.p, l.inputs(), outputs, &mut scratch).unwrap();
        assert_eq!(y_h, want_h);
    }

    #[test]
    fn a_sequence_length_out_of_range_is_an_error() {
        let mut l = Layer::new(layer(Cell::Rnn, Direction::Forward, 2, 3));
        let mut scratch = vec![0.0; l.p.scratch_len()];
        for bad in [-1, 5] {
            l.lens = Some(vec![2, bad]);
            let outputs = Outputs {
                y: None,
                y_h: None,
                y_c: None,
            };
            assert_eq!(
                recurrent(&l.p, l.inputs(), outputs, &mut scratch),
                Err(KernelError::SequenceLength {
                    len: bad.into(),
                    seq_len: 4
                })
            );
        }
    }

    #[test]
    fn scratch_counts_every_region() {
        let p = layer(
            Cell::Lstm {
                input_forget: false,
            },
            Direction::Forward,
            1,
            8,
        );
        // Projections of 4 steps, one step's products, hidden and cell states, the
        // combined bias; a batch of one packs nothing for its steps, and the projection
        // (4 × 32 × 3) packs whole register tiles of A (6 rows) plus a 16-column sliver of
        // B, 3 deep.
        let packing = gemm::scratch_len(4, 32, 3);
        assert_eq!(p.scratch_len(), 4 * 32 + 32 + 8 + 8 + 32 + packing);
        assert!(packing > 0);
    }
}
