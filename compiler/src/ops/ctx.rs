//! What an op sees at each stage: [`ParseCtx`] when it is read from a node, [`FoldCtx`]
//! when its inputs are constant, [`EmitCtx`] when it becomes a kernel call.

use crate::limits::MAX_ABSORBED_ELEMS;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::quote;

use zant_runtime::Activation;

use super::{Attribute, OpError};
use crate::tensor::{Tensor, TensorType};

/// Tables an op built from its attributes: the input index of the first, then each
/// table's name and value ([`ParseCtx::tables`]).
pub type Attached = (usize, Vec<(&'static str, Tensor)>);

/// What an op's parser sees: the ONNX node's attributes, opset and inputs.
pub struct ParseCtx<'a> {
    pub op_type: &'a str,
    pub opset: i64,
    pub attrs: &'a BTreeMap<String, Attribute>,
    /// Types of the inputs (`None` for omitted optional inputs).
    pub inputs: Vec<Option<&'a TensorType>>,
    /// Values of the inputs that are constant.
    pub consts: Vec<Option<&'a Tensor>>,
    /// How many outputs the node names, up to its last non-empty name; an op with
    /// optional outputs produces that many.
    pub n_outputs: usize,
    absorbed: Cell<u64>,
    /// Tables the op built from its attributes, for import to add as constant inputs
    /// ([`ParseCtx::tables`]): the index of the first, then each table's name and value.
    attached: RefCell<Option<Attached>>,
    /// Reading the IR text: an absorbed input that is gone from the node is read back
    /// from the attribute of its ONNX name, where the text printed it. Empty otherwise.
    printed_inputs: Vec<OnceCell<Tensor>>,
}

impl<'a> ParseCtx<'a> {
    pub fn new(
        op_type: &'a str,
        opset: i64,
        attrs: &'a BTreeMap<String, Attribute>,
        inputs: Vec<Option<&'a TensorType>>,
        consts: Vec<Option<&'a Tensor>>,
    ) -> Self {
        Self {
            op_type,
            opset,
            attrs,
            inputs,
            consts,
            absorbed: Cell::new(0),
            attached: RefCell::new(None),
            n_outputs: 1,
            printed_inputs: Vec::new(),
        }
    }

    /// Reads a node of the IR text, where inputs the op absorbed are printed as
    /// attributes under their ONNX input names (`Reshape(%x) shape=[1,-1]`): when such an
    /// input is missing, [`ParseCtx::absorb`] takes the attribute instead.
    pub fn reading_text(mut self) -> Self {
        self.printed_inputs = (0..64).map(|_| OnceCell::new()).collect();
        self
    }

    /// The attribute `name` as the value of an absorbed input, when reading the IR text.
    fn printed_input(&self, i: usize, name: &str) -> Option<&Tensor> {
        let cell = self.printed_inputs.get(i)?;
        let attr = self.attrs.get(name)?;
        if cell.get().is_none() {
            let _ = cell.set(attr.to_tensor()?);
        }
        cell.get()
    }

    /// Sets [`ParseCtx::n_outputs`].
    pub fn with_outputs(mut self, n_outputs: usize) -> Self {
        self.n_outputs = n_outputs;
        self
    }

    pub fn attr(&self, name: &str) -> Option<&'a Attribute> {
        self.attrs.get(name)
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, OpError> {
        match self.attr(name) {
            None => Ok(default),
            Some(a) => a.as_int(name),
        }
    }

    /// A non-negative integer attribute (`default` when absent), as a `usize`.
    pub fn count(&self, name: &str, default: i64) -> Result<usize, OpError> {
        let v = self.int(name, default)?;
        usize::try_from(v).map_err(|_| OpError::attr(name, format!("{v} is negative")))
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32, OpError> {
        match self.attr(name) {
            None => Ok(default),
            Some(a) => a.as_float(name),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>, OpError> {
        self.attr(name).map(|a| a.as_ints(name)).transpose()
    }

    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, OpError> {
        self.attr(name).map(|a| a.as_strings(name)).transpose()
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String, OpError> {
        match self.attr(name) {
            None => Ok(default.to_string()),
            Some(a) => a.as_string(name),
        }
    }

    /// The activation a fusion pass put into the op, as the IR text shows it
    /// ([`super::Attrs::activation`]); ONNX nodes carry none.
    pub fn activation(&self) -> Result<Activation, OpError> {
        Ok(match self.string("activation", "")?.as_str() {
            "" => Activation::None,
            "Relu" => Activation::Relu,
            "Clip" => Activation::Clip {
                min: self.float("activation_min", f32::NEG_INFINITY)?,
                max: self.float("activation_max", f32::INFINITY)?,
            },
            "Sigmoid" => Activation::Sigmoid,
            "Swish" => Activation::Swish {
                alpha: self.float("activation_alpha", 1.0)?,
            },
            other => {
                return Err(OpError::attr(
                    "activation",
                    format!("`{other}` is not Relu, Clip, Sigmoid or Swish"),
                ))
            }
        })
    }

    pub fn n_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// The type of input `i`, or an error naming it when it is missing.
    pub fn input(&self, i: usize) -> Result<&'a TensorType, OpError> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or(OpError::MissingInput { input: i })
    }

    pub fn has_input(&self, i: usize) -> bool {
        matches!(self.inputs.get(i), Some(Some(_)))
    }

    /// The value of constant input `i`, which the op needs at compile time; the input is
    /// then dropped from the node, since the op keeps what it needs in its attributes.
    /// `what` is the input's ONNX name.
    pub fn absorb(&self, i: usize, what: &'static str) -> Result<&Tensor, OpError> {
        match self.consts.get(i).copied().flatten() {
            Some(t) if t.n_elems() > MAX_ABSORBED_ELEMS => Err(OpError::unsupported(format!(
                "input {i} ({what}) has {} elements, past the limit of {MAX_ABSORBED_ELEMS} \
                 for a constant read at compile time (limits::MAX_ABSORBED_ELEMS)",
                t.n_elems()
            ))),
            Some(t) => {
                let bit = u32::try_from(i).ok().and_then(|i| 1u64.checked_shl(i));
                let Some(bit) = bit else {
                    return Err(OpError::unsupported(format!(
                        "input {i} ({what}) is past the 64 inputs whose constants an op \
                         can read at compile time"
                    )));
                };
                self.absorbed.set(self.absorbed.get() | bit);
                Ok(t)
            }
            None if self.has_input(i) => Err(OpError::NeedsConstant { input: i, what }),
            None => self
                .printed_input(i, what)
                .ok_or(OpError::MissingInput { input: i }),
        }
    }

    /// Like [`ParseCtx::absorb`] for an optional input: `Ok(None)` when it is omitted.
    pub fn absorb_optional(
        &self,
        i: usize,
        what: &'static str,
    ) -> Result<Option<&Tensor>, OpError> {
        if self.has_input(i) {
            self.absorb(i, what).map(Some)
        } else {
            Ok(self.printed_input(i, what))
        }
    }

    /// A bitmask of the inputs the op absorbed.
    pub fn absorbed(&self) -> u64 {
        self.absorbed.get()
    }

    /// The tables an op reads at run time but ONNX gives as attributes (a tree ensemble's
    /// nodes, a linear model's coefficients), as constant inputs `first..first + names.len()`,
    /// the reverse of [`ParseCtx::absorb`]: they then live in the weight blob like any
    /// weight, and the emitter reads them as operands.
    ///
    /// A node from ONNX has no such inputs: `build` makes the tables from the attributes and
    /// import adds them to the node ([`ParseCtx::attached`]). A node that already has them
    /// (the IR text, which prints them as constants) takes them from there.
    pub fn tables(
        &self,
        first: usize,
        names: &[&'static str],
        build: impl FnOnce() -> Result<Vec<Tensor>, OpError>,
    ) -> Result<Vec<Tensor>, OpError> {
        if self.n_inputs() > first {
            return names
                .iter()
                .enumerate()
                .map(|(k, &what)| {
                    self.consts
                        .get(first + k)
                        .copied()
                        .flatten()
                        .cloned()
                        .ok_or(OpError::NeedsConstant {
                            input: first + k,
                            what,
                        })
                })
                .collect();
        }
        let tables = build()?;
        if tables.len() != names.len() {
            return Err(OpError::shape(format!(
                "built {} tables for the {} inputs {names:?}",
                tables.len(),
                names.len()
            )));
        }
        *self.attached.borrow_mut() = Some((
            first,
            names.iter().copied().zip(tables.iter().cloned()).collect(),
        ));
        Ok(tables)
    }

    /// The tables [`ParseCtx::tables`] built, for the caller to add as constant inputs
    /// from index `.0` on, each under its name.
    pub fn attached(&self) -> Option<Attached> {
        self.attached.borrow_mut().take()
    }
}

/// What constant folding sees: input types and the constant inputs.
pub struct FoldCtx<'a> {
    pub inputs: Vec<Option<&'a TensorType>>,
    pub consts: Vec<Option<&'a Tensor>>,
    pub outputs: &'a [TensorType],
}

impl<'a> FoldCtx<'a> {
    /// Constant input `i`; folding is only attempted when it is present.
    pub fn get(&self, i: usize) -> Result<&'a Tensor, OpError> {
        self.consts
            .get(i)
            .copied()
            .flatten()
            .ok_or(OpError::MissingInput { input: i })
    }

    /// Constant input `i` as f32, for ops whose parser made sure of the type.
    pub fn f32(&self, i: usize) -> Result<&'a [f32], OpError> {
        let t = self.get(i)?;
        t.as_f32()
            .ok_or_else(|| OpError::shape(format!("input {i} is {}, not f32", t.dtype())))
    }
}

/// One operand of a node in generated code.
#[derive(Clone)]
pub struct Operand<'a> {
    /// An expression of type `&[T]`.
    pub expr: TokenStream,
    pub ty: &'a TensorType,
    /// The value when it is a compile-time constant (weights).
    pub value: Option<&'a Tensor>,
}

/// What an op's emitter sees. In scope of the emitted tokens: `rt` (the runtime crate),
/// and `y`, the output as `&mut [T]`. When the node works in place (`in_place` is
/// `Some(i)`), `y` already holds input `i` and that input's expression must not be used.
pub struct EmitCtx<'a> {
    pub node_name: &'a str,
    pub inputs: Vec<Option<Operand<'a>>>,
    pub outputs: Vec<&'a TensorType>,
    pub in_place: Option<usize>,
    /// With `in_place`, the bytes by which the output leads the input it overwrites, as
    /// the planner chose it (at least [`super::OpKind::in_place_shift`]); `None` when the
    /// output takes over the input's buffer as it is.
    pub lead: Option<usize>,
    /// The kernel families the crate is generated for: what the planner sized the
    /// node's scratch for ([`super::OpKind::scratch_bytes`]).
    pub kernels: zant_runtime::target::KernelSet,
}

impl<'a> EmitCtx<'a> {
    pub fn input(&self, i: usize) -> Result<&Operand<'a>, OpError> {
        self.inputs
            .get(i)
            .and_then(|o| o.as_ref())
            .ok_or(OpError::MissingInput { input: i })
    }

    /// The `&[T]` expression of input `i`.
    pub fn expr(&self, i: usize) -> Result<TokenStream, OpError> {
        Ok(self.input(i)?.expr.clone())
    }

    pub fn out_ty(&self) -> &'a TensorType {
        self.outputs[0]
    }

    /// The inputs' types as [`super::OpKind::infer`] sees them, for an emitter that
    /// derives its geometry the way `infer` checked it.
    pub fn input_types(&self) -> Vec<Option<&'a TensorType>> {
        self.inputs
            .iter()
            .map(|o| o.as_ref().map(|o| o.ty))
            .collect()
    }

    /// `Some(expr)` of optional input `i` when the node names it, `None` otherwise: an
    /// `Option<&[T]>` argument of a kernel.
    pub fn optional_expr(&self, i: usize) -> TokenStream {
        match self.inputs.get(i).and_then(|o| o.as_ref()) {
            Some(o) => {
                let e = &o.expr;
                quote! { Some(#e) }
            }
            None => quote! { None },
        }
    }

    /// `.map_err(...)?` that attaches this node's name to a kernel error.
    pub fn try_suffix(&self) -> TokenStream {
        let name = self.node_name;
        quote! { .map_err(|e| rt::Error::at(#name, e))? }
    }
}

/// Input `i` of an op's inputs in `infer`, or an error naming it.
pub fn required<'a>(
    inputs: &[Option<&'a TensorType>],
    i: usize,
) -> Result<&'a TensorType, OpError> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or(OpError::MissingInput { input: i })
}
