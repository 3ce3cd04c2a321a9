//! RNN, GRU and LSTM (opset 7 on; opset 14 adds `layout`, 22 only widens the types): the
//! recurrent layers, one op for the three cells, run by `rt::recurrent::recurrent`.
//!
//! Every attribute of the spec is read: `direction` (forward, reverse, bidirectional),
//! `activations` with `activation_alpha`/`activation_beta` (consumed in order by the
//! activations that take them, as ONNX Runtime reads them), `clip`, `hidden_size`,
//! `layout`, `input_forget` (LSTM) and `linear_before_reset` (GRU). Every input after
//! `X`, `W` and `R` and every output is optional. `sequence_lens` may be a runtime input;
//! a constant one is checked here, and dropped when every sequence is full. f32 only.
//!
//! The kernel keeps its state, gate products and the input projection of every step in
//! scratch from the memory plan ([`OpKind::scratch_bytes`]).

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::recurrent::{packed_r_len, Cell, Direction, GateActivation, PANEL};
use zant_runtime::target::KernelSet;

use super::{required, Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Recurrent {
    /// The kernel's shapes and options.
    pub params: zant_runtime::recurrent::Recurrent,
    /// The activations as the node listed them, with the alphas and betas they consumed,
    /// for the IR text; `None` when the node kept the defaults.
    pub activations: Option<(Vec<String>, Vec<f32>, Vec<f32>)>,
    /// How many outputs the node produces: Y, Y_h and (LSTM) Y_c.
    pub n_outputs: usize,
}

/// Input slots of the ONNX node.
const X: usize = 0;
const W: usize = 1;
const R: usize = 2;
const B: usize = 3;
const SEQUENCE_LENS: usize = 4;
const INITIAL_H: usize = 5;
const INITIAL_C: usize = 6;
const P: usize = 7;

/// How many activations one direction of `cell` takes.
fn activations_per_direction(cell: Cell) -> usize {
    match cell {
        Cell::Rnn => 1,
        Cell::Gru { .. } => 2,
        Cell::Lstm { .. } => 3,
    }
}

/// The spec's default activations of one direction, padded to three.
fn default_activations(cell: Cell) -> [GateActivation; 3] {
    use GateActivation::{Sigmoid, Tanh};
    match cell {
        Cell::Rnn => [Tanh, Tanh, Tanh],
        Cell::Gru { .. } | Cell::Lstm { .. } => [Sigmoid, Tanh, Tanh],
    }
}

/// An activation by its ONNX name (any case, as ONNX Runtime accepts them), taking its
/// `alpha` and `beta` from the iterators when it has them, or the defaults of the ONNX
/// operator of that name.
fn activation(
    name: &str,
    alphas: &mut impl Iterator<Item = f32>,
    betas: &mut impl Iterator<Item = f32>,
) -> Result<GateActivation, OpError> {
    let mut alpha = |default: f32| alphas.next().unwrap_or(default);
    Ok(match name.to_ascii_lowercase().as_str() {
        "relu" => GateActivation::Relu,
        "tanh" => GateActivation::Tanh,
        "sigmoid" => GateActivation::Sigmoid,
        "affine" => GateActivation::Affine {
            alpha: alpha(1.0),
            beta: betas.next().unwrap_or(0.0),
        },
        "leakyrelu" => GateActivation::LeakyRelu { alpha: alpha(0.01) },
        "thresholdedrelu" => GateActivation::ThresholdedRelu { alpha: alpha(1.0) },
        "scaledtanh" => GateActivation::ScaledTanh {
            alpha: alpha(1.0),
            beta: betas.next().unwrap_or(1.0),
        },
        "hardsigmoid" => GateActivation::HardSigmoid {
            alpha: alpha(0.2),
            beta: betas.next().unwrap_or(0.5),
        },
        "elu" => GateActivation::Elu { alpha: alpha(1.0) },
        "softsign" => GateActivation::Softsign,
        "softplus" => GateActivation::Softplus,
        _ => {
            return Err(OpError::attr(
                "activations",
                format!(
                    "`{name}` is not one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, \
                     ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus"
                ),
            ))
        }
    })
}

/// The `alpha` and `beta` an activation consumed, in the order the node lists them.
fn alpha_beta(a: GateActivation) -> (Option<f32>, Option<f32>) {
    match a {
        GateActivation::Affine { alpha, beta }
        | GateActivation::ScaledTanh { alpha, beta }
        | GateActivation::HardSigmoid { alpha, beta } => (Some(alpha), Some(beta)),
        GateActivation::LeakyRelu { alpha }
        | GateActivation::ThresholdedRelu { alpha }
        | GateActivation::Elu { alpha } => (Some(alpha), None),
        GateActivation::Relu
        | GateActivation::Tanh
        | GateActivation::Sigmoid
        | GateActivation::Softsign
        | GateActivation::Softplus => (None, None),
    }
}

/// The activations of both directions from the node's attributes, and what the IR text
/// prints for them (`None` for the defaults).
#[allow(clippy::type_complexity)]
fn parse_activations(
    ctx: &ParseCtx<'_>,
    cell: Cell,
    directions: usize,
) -> Result<
    (
        [[GateActivation; 3]; 2],
        Option<(Vec<String>, Vec<f32>, Vec<f32>)>,
    ),
    OpError,
> {
    let defaults = default_activations(cell);
    let floats = |name: &str| -> Result<Vec<f32>, OpError> {
        Ok(ctx
            .attr(name)
            .map(|a| a.as_floats(name))
            .transpose()?
            .unwrap_or_default())
    };
    // Alphas and betas without `activations` have nothing to apply to, and extra ones are
    // left over; ONNX Runtime ignores both, and so does zant.
    let Some(names) = ctx.strings("activations")? else {
        return Ok(([defaults; 2], None));
    };
    let per_direction = activations_per_direction(cell);
    if names.len() != per_direction * directions {
        return Err(OpError::attr(
            "activations",
            format!(
                "lists {} function(s); {} takes {per_direction} per direction, {} in all",
                names.len(),
                ctx.op_type,
                per_direction * directions
            ),
        ));
    }
    let (alphas, betas) = (floats("activation_alpha")?, floats("activation_beta")?);
    let (mut alpha_iter, mut beta_iter) = (alphas.into_iter(), betas.into_iter());
    let mut activations = [defaults; 2];
    let (mut used_alphas, mut used_betas) = (Vec::new(), Vec::new());
    for (k, name) in names.iter().enumerate() {
        let a = activation(name, &mut alpha_iter, &mut beta_iter)?;
        let (alpha, beta) = alpha_beta(a);
        used_alphas.extend(alpha);
        used_betas.extend(beta);
        activations[k / per_direction][k % per_direction] = a;
    }
    if directions == 1 {
        activations[1] = activations[0];
    }
    Ok((activations, Some((names, used_alphas, used_betas))))
}

impl Parse for Recurrent {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let cell = match ctx.op_type {
            "RNN" => Cell::Rnn,
            "GRU" => Cell::Gru {
                linear_before_reset: ctx.int("linear_before_reset", 0)? != 0,
            },
            "LSTM" => Cell::Lstm {
                input_forget: ctx.int("input_forget", 0)? != 0,
            },
            other => {
                return Err(OpError::unsupported(format!(
                    "`{other}` is not a recurrent op"
                )))
            }
        };
        let gates = cell.gates();
        let (x, w, r) = (ctx.input(X)?, ctx.input(W)?, ctx.input(R)?);
        let n_inputs = ctx.n_inputs();
        for i in (0..n_inputs).filter(|&i| i != SEQUENCE_LENS) {
            if let Some(t) = ctx.inputs[i].filter(|t| t.dtype != DType::F32) {
                return Err(OpError::unsupported(format!(
                    "implemented for f32, not input {i} {t}"
                )));
            }
        }
        if ctx.attr("layout").is_some() && ctx.opset < 14 {
            return Err(OpError::attr("layout", "arrives with opset 14"));
        }
        let batch_first = match ctx.int("layout", 0)? {
            0 => false,
            1 => true,
            other => return Err(OpError::attr("layout", format!("{other} is not 0 or 1"))),
        };
        let direction = match ctx.string("direction", "forward")?.as_str() {
            "forward" => Direction::Forward,
            "reverse" => Direction::Reverse,
            "bidirectional" => Direction::Bidirectional,
            other => {
                return Err(OpError::attr(
                    "direction",
                    format!("`{other}` is not forward, reverse or bidirectional"),
                ))
            }
        };
        let dirs = direction.count();
        if x.rank() != 3 {
            return Err(OpError::shape(format!("X {x} must be 3-D")));
        }
        let (seq_len, batch, input_size) = if batch_first {
            (x.shape[1], x.shape[0], x.shape[2])
        } else {
            (x.shape[0], x.shape[1], x.shape[2])
        };
        if r.rank() != 3 {
            return Err(OpError::shape(format!("R {r} must be 3-D")));
        }
        let hidden = r.shape[2];
        if let Some(attr) = ctx.attr("hidden_size") {
            let declared = attr.as_int("hidden_size")?;
            if declared != hidden as i64 {
                return Err(OpError::attr(
                    "hidden_size",
                    format!("{declared} disagrees with R {r}"),
                ));
            }
        }
        let width = gates * hidden;
        // `r_panels=1` is not ONNX: the IR text prints it for an `R` the `layout` pass
        // has put in the kernel's column panels (`rt::recurrent::pack_r`), and reads it
        // back.
        let r_panels = ctx.int("r_panels", 0)? != 0;
        // `w_panels=1` likewise, for a `W` in the panels of `rt::recurrent::pack_w`.
        let w_panels = ctx.int("w_panels", 0)? != 0;
        let expect = |name: &str, t: &TensorType, shape: &[usize]| {
            if t.shape == shape {
                Ok(())
            } else {
                Err(OpError::shape(format!(
                    "{name} {t} should be {shape:?} ({dirs} direction(s), {gates} gate(s) of hidden size {hidden}, input size {input_size}, batch {batch})"
                )))
            }
        };
        expect("W", w, &w_shape(cell, dirs, hidden, input_size, w_panels))?;
        expect("R", r, &r_shape(cell, dirs, hidden, r_panels))?;
        let state_shape = if batch_first {
            [batch, dirs, hidden]
        } else {
            [dirs, batch, hidden]
        };
        for (i, name, shape) in [
            (B, "B", vec![dirs, 2 * width]),
            (INITIAL_H, "initial_h", state_shape.to_vec()),
            (INITIAL_C, "initial_c", state_shape.to_vec()),
            (P, "P", vec![dirs, 3 * hidden]),
        ] {
            // The op table gives RNN and GRU six inputs at most, so only an LSTM has the
            // last two.
            if let Some(t) = ctx.inputs.get(i).copied().flatten() {
                expect(name, t, &shape)?;
            }
        }
        if ctx.has_input(SEQUENCE_LENS) {
            let lens = ctx.input(SEQUENCE_LENS)?;
            if lens.dtype != DType::I32 || lens.shape != [batch] {
                return Err(OpError::shape(format!(
                    "sequence_lens {lens} should be i32[{batch}]"
                )));
            }
            // A constant is checked now; one that keeps every sequence whole changes
            // nothing, so the node drops it.
            if let Some(t) = ctx.consts.get(SEQUENCE_LENS).copied().flatten() {
                let values = t.to_i64s();
                if let Some(bad) = values
                    .iter()
                    .find(|&&len| len < 0 || len as usize > seq_len)
                {
                    return Err(OpError::shape(format!(
                        "sequence_lens holds {bad}, outside 0..={seq_len}"
                    )));
                }
                if values.iter().all(|&len| len as usize == seq_len) {
                    ctx.absorb(SEQUENCE_LENS, "sequence_lens")?;
                }
            }
        }
        let clip = match ctx.attr("clip") {
            None => None,
            Some(_) => match ctx.float("clip", 0.0)? {
                c if c > 0.0 => Some(c),
                c => return Err(OpError::attr("clip", format!("must be positive, got {c}"))),
            },
        };
        let (activations, listed) = parse_activations(ctx, cell, dirs)?;
        let max_outputs = if matches!(cell, Cell::Lstm { .. }) {
            3
        } else {
            2
        };
        Ok(Self {
            params: zant_runtime::recurrent::Recurrent {
                cell,
                direction,
                seq_len,
                batch,
                input_size,
                hidden,
                batch_first,
                clip,
                activations,
                r_panels,
                w_panels,
            },
            activations: listed,
            n_outputs: ctx.n_outputs.clamp(1, max_outputs),
        })
    }
}

/// The shape of `R`: ONNX's `[directions, gates · hidden, hidden]`, or with `r_panels`
/// each gate's rows rounded up to whole panels of `rt::recurrent::PANEL`.
pub(crate) fn r_shape(cell: Cell, directions: usize, hidden: usize, r_panels: bool) -> Vec<usize> {
    let rows = if r_panels {
        packed_r_len(cell, hidden) / hidden.max(1)
    } else {
        cell.gates() * hidden
    };
    vec![directions, rows, hidden]
}

/// The shape of `W`: ONNX's `[directions, gates · hidden, input_size]`, or with
/// `w_panels` each gate's rows rounded up to whole panels of `rt::recurrent::PANEL`.
pub(crate) fn w_shape(
    cell: Cell,
    directions: usize,
    hidden: usize,
    input_size: usize,
    w_panels: bool,
) -> Vec<usize> {
    let rows = if w_panels {
        hidden.div_ceil(PANEL) * PANEL * cell.gates()
    } else {
        cell.gates() * hidden
    };
    vec![directions, rows, input_size]
}

impl Recurrent {
    /// The shape of `Y_h` and `Y_c`, and of the initial states.
    fn state_shape(&self) -> Vec<usize> {
        let p = &self.params;
        if p.batch_first {
            vec![p.batch, p.direction.count(), p.hidden]
        } else {
            vec![p.direction.count(), p.batch, p.hidden]
        }
    }
}

impl OpKind for Recurrent {
    /// Per time step, batch entry and direction: the input and the recurrent products of
    /// every gate, `gates · hidden · (input_size + hidden)`.
    fn macs(&self, _inputs: &[Option<&TensorType>]) -> u64 {
        let p = &self.params;
        super::dims::mac_count([
            p.seq_len,
            p.batch,
            p.direction.count(),
            p.cell.gates() * p.hidden,
            p.input_size + p.hidden,
        ])
    }

    fn attrs(&self, attrs: &mut Attrs) {
        let p = &self.params;
        attrs.int("hidden_size", p.hidden as i64);
        match p.direction {
            Direction::Forward => {}
            Direction::Reverse => {
                attrs.string("direction", "reverse");
            }
            Direction::Bidirectional => {
                attrs.string("direction", "bidirectional");
            }
        }
        if p.batch_first {
            attrs.int("layout", 1);
        }
        if let Some(clip) = p.clip {
            attrs.float("clip", clip);
        }
        match p.cell {
            Cell::Gru {
                linear_before_reset: true,
            } => {
                attrs.int("linear_before_reset", 1);
            }
            Cell::Lstm { input_forget: true } => {
                attrs.int("input_forget", 1);
            }
            _ => {}
        }
        if p.r_panels {
            attrs.int("r_panels", 1);
        }
        if p.w_panels {
            attrs.int("w_panels", 1);
        }
        if let Some((names, alphas, betas)) = &self.activations {
            attrs.push("activations", crate::ops::Attribute::Strings(names.clone()));
            if !alphas.is_empty() {
                attrs.floats("activation_alpha", alphas);
            }
            if !betas.is_empty() {
                attrs.floats("activation_beta", betas);
            }
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let p = &self.params;
        let x = required(inputs, X)?;
        let x_shape = if p.batch_first {
            [p.batch, p.seq_len, p.input_size]
        } else {
            [p.seq_len, p.batch, p.input_size]
        };
        if x.shape != x_shape {
            return Err(OpError::shape(format!(
                "X {x} no longer has the shape the node was built for"
            )));
        }
        let (dirs, width) = (p.direction.count(), p.cell.gates() * p.hidden);
        let state = self.state_shape();
        let expected: [(usize, Vec<usize>); 7] = [
            (W, w_shape(p.cell, dirs, p.hidden, p.input_size, p.w_panels)),
            (R, r_shape(p.cell, dirs, p.hidden, p.r_panels)),
            (B, vec![dirs, 2 * width]),
            (SEQUENCE_LENS, vec![p.batch]),
            (INITIAL_H, state.clone()),
            (INITIAL_C, state.clone()),
            (P, vec![dirs, 3 * p.hidden]),
        ];
        for (i, shape) in expected {
            if let Some(t) = inputs.get(i).copied().flatten() {
                if t.shape != shape {
                    return Err(OpError::shape(format!(
                        "input {i} {t} no longer has the shape the node was built for"
                    )));
                }
            }
        }
        required(inputs, W)?;
        required(inputs, R)?;
        let y = if p.batch_first {
            vec![p.batch, p.seq_len, dirs, p.hidden]
        } else {
            vec![p.seq_len, dirs, p.batch, p.hidden]
        };
        let outputs = [
            TensorType::new(DType::F32, y),
            TensorType::new(DType::F32, state.clone()),
            TensorType::new(DType::F32, state),
        ];
        Ok(outputs[..self.n_outputs].to_vec())
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, w, r) = (ctx.expr(X)?, ctx.expr(W)?, ctx.expr(R)?);
        let optional = |i: usize| match ctx.inputs.get(i).and_then(Option::as_ref) {
            Some(operand) => {
                let expr = &operand.expr;
                quote!(Some(#expr))
            }
            None => quote!(None),
        };
        let (b, lens, h0, c0, p) = (
            optional(B),
            optional(SEQUENCE_LENS),
            optional(INITIAL_H),
            optional(INITIAL_C),
            optional(P),
        );
        let output = |k: usize, name: TokenStream| {
            if k < self.n_outputs {
                quote!(Some(#name))
            } else {
                quote!(None)
            }
        };
        let (y, y_h, y_c) = (
            output(0, quote!(y)),
            output(1, quote!(y1)),
            output(2, quote!(y2)),
        );
        let params = &self.params;
        // Only an empty layer needs no scratch, and then the planner reserves none.
        let scratch = if params.scratch_len() > 0 {
            quote!(scratch)
        } else {
            quote!(&mut [])
        };
        let try_ = ctx.try_suffix();
        Ok(quote! {
            rt::recurrent::recurrent(
                &#params,
                rt::recurrent::Inputs {
                    x: #x,
                    w: #w,
                    r: #r,
                    b: #b,
                    sequence_lens: #lens,
                    initial_h: #h0,
                    initial_c: #c0,
                    p: #p,
                },
                rt::recurrent::Outputs { y: #y, y_h: #y_h, y_c: #y_c },
                #scratch,
            ) #try_;
        })
    }

    fn scratch_bytes(&self, _inputs: &[Option<&TensorType>], _kernels: KernelSet) -> usize {
        self.params.scratch_len() * 4
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::ops::Attribute;
    use crate::tensor::{Data, Tensor};

    fn strings(names: &[&str]) -> Attribute {
        Attribute::Strings(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn emits() {
        // The defaults: forward, Y_h only (Y unnamed but produced, as import keeps it).
        insta::assert_snapshot!(node("LSTM")
            .int("hidden_size", 3)
            .input("f32[5,1,2]")
            .input("f32[1,12,2]")
            .input("f32[1,12,3]")
            .outputs(2)
            .emit(), @r#"
        LSTM(f32[5,1,2], f32[1,12,2], f32[1,12,3]) hidden_size=3 -> f32[5,1,1,3], f32[1,1,3]
        rt::recurrent::recurrent(
                &rt::recurrent::Recurrent {
                    cell: rt::recurrent::Cell::Lstm {
                        input_forget: false,
                    },
                    direction: rt::recurrent::Direction::Forward,
                    seq_len: 5,
                    batch: 1,
                    input_size: 2,
                    hidden: 3,
                    batch_first: false,
                    clip: None,
                    activations: [
                        [
                            rt::recurrent::GateActivation::Sigmoid,
                            rt::recurrent::GateActivation::Tanh,
                            rt::recurrent::GateActivation::Tanh,
                        ],
                        [
                            rt::recurrent::GateActivation::Sigmoid,
                            rt::recurrent::GateActivation::Tanh,
                            rt::recurrent::GateActivation::Tanh,
                        ],
                    ],
                    r_panels: false,
                    w_panels: false,
                },
                rt::recurrent::Inputs {
                    x: x0,
                    w: x1,
                    r: x2,
                    b: None,
                    sequence_lens: None,
                    initial_h: None,
                    initial_c: None,
                    p: None,
                },
                rt::recurrent::Outputs {
                    y: Some(y),
                    y_h: Some(y1),
                    y_c: None,
                },
                scratch,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // A bidirectional GRU over a batch-first input, with a bias, an initial state and
        // runtime sequence lengths, and activations with their alphas and betas.
        insta::assert_snapshot!(node("GRU")
            .string("direction", "bidirectional")
            .int("layout", 1)
            .int("linear_before_reset", 1)
            .float("clip", 2.5)
            .attr("activations", strings(&["HardSigmoid", "Tanh", "Sigmoid", "LeakyRelu"]))
            .attr("activation_alpha", Attribute::Floats(vec![0.3, 0.2]))
            .input("f32[2,4,3]")
            .input("f32[2,15,3]")
            .input("f32[2,15,5]")
            .input("f32[2,30]")
            .input("i32[2]")
            .input("f32[2,2,5]")
            .emit(), @r#"
        GRU(f32[2,4,3], f32[2,15,3], f32[2,15,5], f32[2,30], i32[2], f32[2,2,5]) hidden_size=5 direction="bidirectional" layout=1 clip=2.5 linear_before_reset=1 activations=["HardSigmoid","Tanh","Sigmoid","LeakyRelu"] activation_alpha=[0.3,0.2] activation_beta=[0.5] -> f32[2,4,2,5]
        rt::recurrent::recurrent(
                &rt::recurrent::Recurrent {
                    cell: rt::recurrent::Cell::Gru {
                        linear_before_reset: true,
                    },
                    direction: rt::recurrent::Direction::Bidirectional,
                    seq_len: 4,
                    batch: 2,
                    input_size: 3,
                    hidden: 5,
                    batch_first: true,
                    clip: Some(2.5f32),
                    activations: [
                        [
                            rt::recurrent::GateActivation::HardSigmoid {
                                alpha: 0.3f32,
                                beta: 0.5f32,
                            },
                            rt::recurrent::GateActivation::Tanh,
                            rt::recurrent::GateActivation::Tanh,
                        ],
                        [
                            rt::recurrent::GateActivation::Sigmoid,
                            rt::recurrent::GateActivation::LeakyRelu {
                                alpha: 0.2f32,
                            },
                            rt::recurrent::GateActivation::Tanh,
                        ],
                    ],
                    r_panels: false,
                    w_panels: false,
                },
                rt::recurrent::Inputs {
                    x: x0,
                    w: x1,
                    r: x2,
                    b: Some(x3),
                    sequence_lens: Some(x4),
                    initial_h: Some(x5),
                    initial_c: None,
                    p: None,
                },
                rt::recurrent::Outputs {
                    y: Some(y),
                    y_h: None,
                    y_c: None,
                },
                scratch,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // A reverse RNN whose constant sequence lengths are all full: they are dropped.
        insta::assert_snapshot!(node("RNN")
            .string("direction", "reverse")
            .input("f32[3,2,4]")
            .input("f32[1,5,4]")
            .input("f32[1,5,5]")
            .omitted()
            .constant(Tensor::new(vec![2], Data::I32(vec![3, 3])))
            .outputs(2)
            .emit(), @r#"
        RNN(f32[3,2,4], f32[1,5,4], f32[1,5,5]) hidden_size=5 direction="reverse" -> f32[3,1,2,5], f32[1,2,5]
        rt::recurrent::recurrent(
                &rt::recurrent::Recurrent {
                    cell: rt::recurrent::Cell::Rnn,
                    direction: rt::recurrent::Direction::Reverse,
                    seq_len: 3,
                    batch: 2,
                    input_size: 4,
                    hidden: 5,
                    batch_first: false,
                    clip: None,
                    activations: [
                        [
                            rt::recurrent::GateActivation::Tanh,
                            rt::recurrent::GateActivation::Tanh,
                            rt::recurrent::GateActivation::Tanh,
                        ],
                        [
                            rt::recurrent::GateActivation::Tanh,
                            rt::recurrent::GateActivation::Tanh,
                            rt::recurrent::GateActivation::Tanh,
                        ],
                    ],
                    r_panels: false,
                    w_panels: false,
                },
                rt::recurrent::Inputs {
                    x: x0,
                    w: x1,
                    r: x2,
                    b: None,
                    sequence_lens: None,
                    initial_h: None,
                    initial_c: None,
                    p: None,
                },
                rt::recurrent::Outputs {
                    y: Some(y),
                    y_h: Some(y1),
                    y_c: None,
                },
                scratch,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // Peepholes, coupled gates and every output.
        insta::assert_snapshot!(node("LSTM")
            .int("input_forget", 1)
            .input("f32[2,1,3]")
            .input("f32[1,8,3]")
            .input("f32[1,8,2]")
            .input("f32[1,16]")
            .omitted()
            .input("f32[1,1,2]")
            .input("f32[1,1,2]")
            .input("f32[1,6]")
            .outputs(3)
            .emit(), @r#"
        LSTM(f32[2,1,3], f32[1,8,3], f32[1,8,2], f32[1,16], _, f32[1,1,2], f32[1,1,2], f32[1,6]) hidden_size=2 input_forget=1 -> f32[2,1,1,2], f32[1,1,2], f32[1,1,2]
        rt::recurrent::recurrent(
                &rt::recurrent::Recurrent {
                    cell: rt::recurrent::Cell::Lstm {
                        input_forget: true,
                    },
                    direction: rt::recurrent::Direction::Forward,
                    seq_len: 2,
                    batch: 1,
                    input_size: 3,
                    hidden: 2,
                    batch_first: false,
                    clip: None,
                    activations: [
                        [
                            rt::recurrent::GateActivation::Sigmoid,
                            rt::recurrent::GateActivation::Tanh,
                            rt::recurrent::GateActivation::Tanh,
                        ],
                        [
                            rt::recurrent::GateActivation::Sigmoid,
                            rt::recurrent::GateActivation::Tanh,
                            rt::recurrent::GateActivation::Tanh,
                        ],
                    ],
                    r_panels: false,
                    w_panels: false,
                },
                rt::recurrent::Inputs {
                    x: x0,
                    w: x1,
                    r: x2,
                    b: Some(x3),
                    sequence_lens: None,
                    initial_h: Some(x5),
                    initial_c: Some(x6),
                    p: Some(x7),
                },
                rt::recurrent::Outputs {
                    y: Some(y),
                    y_h: Some(y1),
                    y_c: Some(y2),
                },
                scratch,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
    }

    #[test]
    fn counts_gate_products_per_step() {
        // LSTM, 5 steps, batch 1, input 2, hidden 3: 4 gates of 3 units, each a dot product
        // over 2 inputs and 3 states, per step.
        let lstm = node("LSTM")
            .int("hidden_size", 3)
            .input("f32[5,1,2]")
            .input("f32[1,12,2]")
            .input("f32[1,12,3]")
            .outputs(2);
        assert_eq!(lstm.macs(), 5 * 4 * 3 * (2 + 3));
        // A bidirectional GRU, 3 gates, over 4 steps and a batch of 2.
        let gru = node("GRU")
            .int("hidden_size", 5)
            .string("direction", "bidirectional")
            .input("f32[4,2,3]")
            .input("f32[2,15,3]")
            .input("f32[2,15,5]")
            .outputs(2);
        assert_eq!(gru.macs(), 4 * 2 * 2 * 15 * (3 + 5));
    }

    #[test]
    fn refuses() {
        let rnn = || {
            node("RNN")
                .input("f32[3,1,2]")
                .input("f32[1,4,2]")
                .input("f32[1,4,4]")
        };
        insta::assert_snapshot!(rnn().int("hidden_size", 5).emit(), @"parse: attribute `hidden_size`: 5 disagrees with R f32[1,4,4]");
        insta::assert_snapshot!(rnn().string("direction", "sideways").emit(), @"parse: attribute `direction`: `sideways` is not forward, reverse or bidirectional");
        insta::assert_snapshot!(rnn().opset(13).int("layout", 1).emit(), @"parse: attribute `layout`: arrives with opset 14");
        insta::assert_snapshot!(rnn().attr("activations", strings(&["Tanh", "Tanh"])).emit(), @"parse: attribute `activations`: lists 2 function(s); RNN takes 1 per direction, 1 in all");
        insta::assert_snapshot!(rnn().attr("activations", strings(&["Gelu"])).emit(), @"parse: attribute `activations`: `Gelu` is not one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus");
        insta::assert_snapshot!(rnn().float("clip", 0.0).emit(), @"parse: attribute `clip`: must be positive, got 0");
        insta::assert_snapshot!(rnn()
            .omitted()
            .constant(Tensor::new(vec![1], Data::I32(vec![4])))
            .emit(), @"parse: sequence_lens holds 4, outside 0..=3");
        insta::assert_snapshot!(node("GRU")
            .input("f32[3,1,2]")
            .input("f32[1,4,2]")
            .input("f32[1,4,4]")
            .emit(), @"parse: W f32[1,4,2] should be [1, 12, 2] (1 direction(s), 3 gate(s) of hidden size 4, input size 2, batch 1)");
        insta::assert_snapshot!(node("LSTM")
            .input("f64[3,1,2]")
            .input("f64[1,16,2]")
            .input("f64[1,16,4]")
            .emit(), @"parse: implemented for f32, not input 0 f64[3,1,2]");
    }
}
