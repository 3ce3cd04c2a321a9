//! A small node builder for the per-op snapshot tests: one ONNX node, parsed through the
//! op table like an imported node, typed, and emitted as formatted Rust.
//!
//! ```ignore
//! let text = node("Conv").ints("kernel_shape", &[3, 3]).input("f32[1,1,5,5]")
//!     .constant(Tensor::new(vec![2, 1, 3, 3], Data::F32(vec![0.5; 18]))).emit();
//! ```
//!
//! The text shows the node as the IR prints it (op type, operand types, attributes,
//! output types), then the kernel call with the operands named `x0`, `x1`, … and the
//! output `y` (`y1`, … for more outputs).

#![allow(dead_code)] // Each op file's tests use a different part of the builder.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{lookup, unsuffix, Attribute, EmitCtx, FoldCtx, Operand, ParseCtx};
use crate::tensor::{DType, Tensor, TensorType};

/// Why the node was refused, as the snapshot shows it: `parse: …`, `infer: …`.
struct Refusal(String);

impl From<String> for Refusal {
    fn from(message: String) -> Self {
        Self(message)
    }
}

/// A node under construction: `node("Relu").input("f32[2,3]").emit()`.
#[derive(Clone)]
pub struct NodeBuilder {
    op_type: String,
    domain: String,
    opset: i64,
    attrs: BTreeMap<String, Attribute>,
    inputs: Vec<Option<TensorType>>,
    consts: Vec<Option<Tensor>>,
    n_outputs: usize,
    in_place: bool,
}

/// A constant `i64` tensor of `values` (shapes, axes, pads), for `.constant(..)`.
pub fn i64s(values: &[i64]) -> Tensor {
    Tensor::from_i64s(values.to_vec())
}

/// Starts a node of `op_type` in the default domain, at the newest opset the table
/// supports for it.
pub fn node(op_type: &str) -> NodeBuilder {
    NodeBuilder::in_domain("", op_type)
}

impl NodeBuilder {
    pub fn in_domain(domain: &str, op_type: &str) -> Self {
        let opset = lookup(domain, op_type).map_or(1, |spec| spec.opsets.1);
        Self {
            op_type: op_type.to_string(),
            domain: domain.to_string(),
            opset,
            attrs: BTreeMap::new(),
            inputs: Vec::new(),
            consts: Vec::new(),
            n_outputs: 1,
            in_place: false,
        }
    }

    pub fn opset(mut self, opset: i64) -> Self {
        self.opset = opset;
        self
    }

    pub fn attr(mut self, name: &str, value: Attribute) -> Self {
        self.attrs.insert(name.to_string(), value);
        self
    }

    pub fn int(self, name: &str, value: i64) -> Self {
        self.attr(name, Attribute::Int(value))
    }

    pub fn ints(self, name: &str, values: &[i64]) -> Self {
        self.attr(name, Attribute::Ints(values.to_vec()))
    }

    pub fn float(self, name: &str, value: f32) -> Self {
        self.attr(name, Attribute::Float(value))
    }

    pub fn floats(self, name: &str, values: &[f32]) -> Self {
        self.attr(name, Attribute::Floats(values.to_vec()))
    }

    pub fn string(self, name: &str, value: &str) -> Self {
        self.attr(name, Attribute::String(value.to_string()))
    }

    /// A runtime input of type `ty`, written as the IR prints types: `f32[1,3,8,8]`.
    pub fn input(mut self, ty: &str) -> Self {
        self.inputs.push(Some(parse_type(ty)));
        self.consts.push(None);
        self
    }

    /// A constant input (weights, or a shape the op absorbs).
    pub fn constant(mut self, value: Tensor) -> Self {
        self.inputs.push(Some(value.ty()));
        self.consts.push(Some(value));
        self
    }

    /// An omitted optional input.
    pub fn omitted(mut self) -> Self {
        self.inputs.push(None);
        self.consts.push(None);
        self
    }

    /// How many outputs the node names.
    pub fn outputs(mut self, n: usize) -> Self {
        self.n_outputs = n;
        self
    }

    /// Emits as the planner would when the output takes over input 0's buffer.
    pub fn in_place(mut self) -> Self {
        self.in_place = true;
        self
    }

    /// Parses, infers and emits the node; any error comes back as its message, so a
    /// snapshot can show a refusal too.
    pub fn emit(&self) -> String {
        match self.with_tables().and_then(|node| node.try_emit()) {
            Ok(text) | Err(Refusal(text)) => text,
        }
    }

    /// The MACs the parsed node counts ([`super::OpKind::macs`]) for the input types it
    /// keeps; panics when the node does not parse, as a test wants.
    pub fn macs(&self) -> u64 {
        let node = self
            .with_tables()
            .unwrap_or_else(|Refusal(e)| panic!("the node does not parse: {e}"));
        let (op, kept) = node
            .parse()
            .unwrap_or_else(|Refusal(e)| panic!("the node does not parse: {e}"));
        let types: Vec<Option<&TensorType>> = kept
            .iter()
            .map(|i| i.and_then(|i| node.inputs[i].as_ref()))
            .collect();
        op.macs(&types)
    }

    /// The node as import leaves it: with the tables the op builds from its attributes
    /// ([`ParseCtx::tables`]) added as constant inputs, which the op then reads back, and
    /// its attributes as the op prints them.
    fn with_tables(&self) -> Result<NodeBuilder, Refusal> {
        let spec = lookup(&self.domain, &self.op_type)
            .ok_or_else(|| format!("`{}` is not in the op table", self.op_type))?;
        let types: Vec<Option<&TensorType>> = self.inputs.iter().map(Option::as_ref).collect();
        let consts: Vec<Option<&Tensor>> = self.consts.iter().map(Option::as_ref).collect();
        let ctx = ParseCtx::new(&self.op_type, self.opset, &self.attrs, types, consts)
            .with_outputs(self.n_outputs);
        let mut node = self.clone();
        if let Ok(op) = (spec.parse)(&ctx) {
            if let Some((first, tables)) = ctx.attached() {
                // As in the IR text, the op then reads what it printed, not ONNX's form.
                node.attrs = op
                    .attrs()
                    .to_map()
                    .map_err(|e| format!("the printed attributes do not parse: {e}"))?;
                while node.inputs.len() < first {
                    node = node.omitted();
                }
                for (_, table) in tables {
                    node = node.constant(table);
                }
            }
        }
        Ok(node)
    }

    /// Parses the node through its op-table line, checks that its printed attributes
    /// read back, and returns the op with the builder's input index of each input the
    /// node keeps.
    fn parse(&self) -> Result<(super::Op, Vec<Option<usize>>), Refusal> {
        let spec = lookup(&self.domain, &self.op_type)
            .ok_or_else(|| format!("`{}` is not in the op table", self.op_type))?;
        let types: Vec<Option<&TensorType>> = self.inputs.iter().map(Option::as_ref).collect();
        let consts: Vec<Option<&Tensor>> = self.consts.iter().map(Option::as_ref).collect();
        let ctx = ParseCtx::new(&self.op_type, self.opset, &self.attrs, types, consts)
            .with_outputs(self.n_outputs);
        let op = (spec.parse)(&ctx).map_err(|e| format!("parse: {e}"))?;
        let absorbed = ctx.absorbed();
        self.check_round_trip(spec, &op);
        // As import does: an absorbed input leaves an empty slot, and trailing empty
        // slots are dropped.
        let mut kept: Vec<Option<usize>> = (0..self.inputs.len())
            .map(|i| (absorbed & (1 << i) == 0 && self.inputs[i].is_some()).then_some(i))
            .collect();
        while kept.last() == Some(&None) {
            kept.pop();
        }
        Ok((op, kept))
    }

    fn try_emit(&self) -> Result<String, Refusal> {
        let (op, kept) = self.parse()?;
        let read_back_from_text = || {
            let spec = lookup(&self.domain, &self.op_type).expect("parsed through the table");
            self.check_text_round_trip(spec, &op);
        };
        let types: Vec<Option<&TensorType>> = kept
            .iter()
            .map(|i| i.and_then(|i| self.inputs[i].as_ref()))
            .collect();
        let out_types = op.infer(&types).map_err(|e| format!("infer: {e}"))?;

        let all_const = kept.iter().flatten().all(|&i| self.consts[i].is_some());
        if all_const || op.folds_from_types() {
            let fold = FoldCtx {
                inputs: types.clone(),
                consts: kept
                    .iter()
                    .map(|i| i.and_then(|i| self.consts[i].as_ref()))
                    .collect(),
                outputs: &out_types,
            };
            if let Some(values) = op.fold(&fold).map_err(|e| format!("fold: {e}"))? {
                let shown: Vec<String> = values.iter().map(|t| format!("{t:?}")).collect();
                return Ok(format!(
                    "{}\nfolds to {}",
                    self.line(&op, &types, &out_types),
                    shown.join(", ")
                ));
            }
        }

        let inputs = kept
            .iter()
            .map(|i| {
                i.and_then(|i| {
                    self.inputs[i].as_ref().map(|ty| Operand {
                        expr: {
                            let name = format_ident!("x{}", i);
                            quote!(#name)
                        },
                        ty,
                        value: self.consts[i].as_ref(),
                    })
                })
            })
            .collect();
        // Only a node that is not folded away shows in the IR text.
        read_back_from_text();
        let overwrites = op.in_place_inputs().contains(&0) || op.in_place_shift(&types).is_some();
        let in_place = (self.in_place && overwrites).then_some(0);
        let lead = in_place.and_then(|_| op.in_place_shift(&types));
        let ctx = EmitCtx {
            node_name: "node",
            inputs,
            outputs: out_types.iter().collect(),
            in_place,
            lead,
            kernels: zant_runtime::target::KernelSet::ANY,
        };
        let call = op.emit(&ctx).map_err(|e| format!("emit: {e}"))?;
        Ok(format!(
            "{}\n{}",
            self.line(&op, &types, &out_types),
            format_block(&call)
        ))
    }

    /// The IR text shows `op.attrs()`; parsing the node again from those attributes (and
    /// the same inputs) must give the same op, or the text would lose what the op reads.
    fn check_round_trip(&self, spec: &super::OpSpec, op: &super::Op) {
        let printed = op.attrs();
        let attrs = printed
            .to_map()
            .unwrap_or_else(|e| panic!("the printed attributes `{printed}` do not parse: {e}"));
        let types: Vec<Option<&TensorType>> = self.inputs.iter().map(Option::as_ref).collect();
        let consts: Vec<Option<&Tensor>> = self.consts.iter().map(Option::as_ref).collect();
        let ctx = ParseCtx::new(&self.op_type, self.opset, &attrs, types, consts)
            .with_outputs(self.n_outputs);
        let again = (spec.parse)(&ctx)
            .unwrap_or_else(|e| panic!("`{printed}` parses back with an error: {e}"));
        assert_eq!(
            format!("{op:?}"),
            format!("{again:?}"),
            "`{} {printed}` reads back as a different op",
            self.op_type
        );
    }

    /// As the IR text reads a node: the inputs the op absorbed are gone from the node and
    /// come back from the printed attributes.
    fn check_text_round_trip(&self, spec: &super::OpSpec, op: &super::Op) {
        let printed = op.attrs();
        let attrs = printed.to_map().expect("checked by check_round_trip");
        let absorbed = ctx_absorbed(spec, self, &attrs);
        let types: Vec<Option<&TensorType>> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if absorbed & (1 << i) != 0 {
                    None
                } else {
                    t.as_ref()
                }
            })
            .collect();
        let consts: Vec<Option<&Tensor>> = self
            .consts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if absorbed & (1 << i) != 0 {
                    None
                } else {
                    t.as_ref()
                }
            })
            .collect();
        let ctx = ParseCtx::new(&self.op_type, self.opset, &attrs, types, consts)
            .with_outputs(self.n_outputs)
            .reading_text();
        let from_text = (spec.parse)(&ctx).unwrap_or_else(|e| {
            panic!(
                "`{} {printed}` without its absorbed inputs does not parse: {e}",
                self.op_type
            )
        });
        assert_eq!(
            format!("{op:?}"),
            format!("{from_text:?}"),
            "`{} {printed}` reads back from the IR text as a different op",
            self.op_type
        );
    }

    /// The node as one line: `Conv(f32[1,1,5,5], f32[2,1,3,3]) kernel_shape=[3,3] -> f32[1,2,3,3]`.
    fn line(
        &self,
        op: &super::Op,
        inputs: &[Option<&TensorType>],
        outputs: &[TensorType],
    ) -> String {
        let ins: Vec<String> = inputs
            .iter()
            .map(|t| t.map_or("_".to_string(), |t| t.to_string()))
            .collect();
        let outs: Vec<String> = outputs.iter().map(|t| t.to_string()).collect();
        let attrs = op.attrs();
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" {attrs}")
        };
        format!(
            "{}({}){attrs} -> {}",
            self.op_type,
            ins.join(", "),
            outs.join(", ")
        )
    }
}

/// Which inputs the op absorbs when parsed from `attrs` with all of the builder's inputs.
fn ctx_absorbed(
    spec: &super::OpSpec,
    node: &NodeBuilder,
    attrs: &BTreeMap<String, Attribute>,
) -> u64 {
    let types: Vec<Option<&TensorType>> = node.inputs.iter().map(Option::as_ref).collect();
    let consts: Vec<Option<&Tensor>> = node.consts.iter().map(Option::as_ref).collect();
    let ctx =
        ParseCtx::new(&node.op_type, node.opset, attrs, types, consts).with_outputs(node.n_outputs);
    let _ = (spec.parse)(&ctx);
    ctx.absorbed()
}

/// `f32[1,3,8,8]` (or `i64[]` for a scalar) as a type.
pub fn parse_type(text: &str) -> TensorType {
    let (dtype, dims) = text
        .trim()
        .strip_suffix(']')
        .and_then(|t| t.split_once('['))
        .unwrap_or_else(|| panic!("`{text}` is not a type like f32[1,3]"));
    let dtype = DType::from_name(dtype).unwrap_or_else(|| panic!("unknown dtype `{dtype}`"));
    let shape = dims
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim().parse().unwrap_or_else(|_| panic!("bad dim `{d}`")))
        .collect();
    TensorType::new(dtype, shape)
}

/// Formats a kernel call the way generated code reads, inside `{ let y = …; }`.
fn format_block(call: &TokenStream) -> String {
    let file: syn::File = syn::parse2(unsuffix(quote! { fn node() { #call } }))
        .expect("emitted tokens parse as statements");
    let text = prettyplease::unparse(&file);
    let body = text
        .trim()
        .strip_prefix("fn node() {")
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(&text);
    body.lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}
