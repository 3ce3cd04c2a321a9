//! The import proper: ONNX nodes become IR nodes one at a time, typed and folded as they
//! are read, looking names up through a stack of scopes.
//!
//! The model's graph is the outermost scope. A subgraph (a branch of an `If`, the body of
//! a `Loop` or a `Scan`) is imported in a scope of its own that sees the names around it,
//! as ONNX scoping says; `onnx::control` opens one per branch and one per unrolled
//! iteration. A scope may belong to a branch that runs only when a condition holds: then
//! it has a gate (`ops::control::Gate`) through which every outer value the branch reads
//! passes, and the nodes of the branch get the gate as their guard.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use super::proto::{self, attribute_type};
use super::{attr, narrow, node_name, normalize_domain, tensor, ImportError};
use crate::ir::{DType, Graph, NodeId, Tensor, TensorType, Value, ValueId};
use crate::ops::{self, checked_elems, NodeError, OnnxOp, Op, OpError, OpSpec, ParseCtx};
use crate::passes::fold::try_fold;

use crate::limits::{fmt_bytes, MAX_NODES, MAX_SUBGRAPH_DEPTH, MAX_WEIGHT_BYTES};

/// Builds the IR of one model.
pub(super) struct Importer<'m> {
    pub(super) graph: Graph,
    opsets: HashMap<&'m str, i64>,
    base_dir: Option<&'m Path>,
    scopes: Vec<Scope<'m>>,
    /// The constant of each initializer read so far, so that the copies of an unrolled
    /// body share one weight.
    initializer_consts: HashMap<*const proto::TensorProto, ValueId>,
    /// Nodes read so far, unrolled copies included (see [`MAX_NODES`]).
    n_nodes: usize,
    /// Bytes of the constants read and folded so far (see [`MAX_WEIGHT_BYTES`]).
    constant_bytes: usize,
    /// The f32 copies of narrow weights made so far, shared by the nodes that compute on
    /// them.
    widened: super::narrow::Widened,
}

/// One level of names: the model's graph, or a subgraph being imported.
struct Scope<'m> {
    names: HashMap<String, ValueId>,
    initializers: BTreeMap<&'m str, &'m proto::TensorProto>,
    gate: Option<GateScope>,
    /// Put before the names of the nodes and values made in this scope, so that the copies
    /// of an unrolled body have names of their own (`loop[3]/add`).
    prefix: String,
}

/// The gate of a branch scope: the node, and the view it gives of each outer value.
pub(super) struct GateScope {
    pub(super) node: NodeId,
    pub(super) views: HashMap<ValueId, ValueId>,
}

impl<'m> Importer<'m> {
    pub(super) fn new(opsets: HashMap<&'m str, i64>, base_dir: Option<&'m Path>) -> Self {
        Self {
            graph: Graph::new(),
            opsets,
            base_dir,
            scopes: Vec::new(),
            initializer_consts: HashMap::new(),
            widened: super::narrow::Widened::new(),
            n_nodes: 0,
            constant_bytes: 0,
        }
    }

    /// The ai.onnx opset of the model.
    pub(super) fn onnx_opset(&self) -> i64 {
        self.opsets.get("").copied().unwrap_or(1)
    }

    /// Opens a scope holding `initializers`, inside a branch when `gate` is given, whose
    /// names get `prefix` after the prefix of the scope around it.
    pub(super) fn push_scope(
        &mut self,
        initializers: &'m [proto::TensorProto],
        gate: Option<GateScope>,
        prefix: &str,
    ) {
        let outer = self.scopes.last().map_or("", |s| s.prefix.as_str());
        self.scopes.push(Scope {
            names: HashMap::new(),
            initializers: initializers.iter().map(|t| (t.name.as_str(), t)).collect(),
            gate,
            prefix: format!("{outer}{prefix}"),
        });
    }

    pub(super) fn pop_scope(&mut self) {
        self.scopes.pop();
    }

    /// `name` with the prefix of the innermost scope.
    pub(super) fn prefixed(&self, name: &str) -> String {
        match self.scopes.last() {
            Some(s) => format!("{}{name}", s.prefix),
            None => name.to_string(),
        }
    }

    /// Names `v` in the innermost scope; `Err` when the scope already has the name.
    pub(super) fn define(&mut self, name: &str, v: ValueId) -> Result<(), String> {
        let scope = self.scopes.last_mut().expect("a scope is open");
        if scope.initializers.contains_key(name) || scope.names.insert(name.into(), v).is_some() {
            return Err(format!("output `{name}` is produced twice"));
        }
        Ok(())
    }

    /// Whether `name` is visible from the innermost scope.
    pub(super) fn is_known(&self, name: &str) -> bool {
        self.scopes
            .iter()
            .any(|s| s.names.contains_key(name) || s.initializers.contains_key(name))
    }

    /// The value `name` stands for in the innermost scope, seen through the gates of the
    /// branches between its scope and this one; an initializer becomes a constant on first
    /// use, so unused ones cost nothing. `Ok(None)` when no scope has the name.
    pub(super) fn lookup(&mut self, name: &str) -> Result<Option<ValueId>, ImportError> {
        for s in (0..self.scopes.len()).rev() {
            let found = match self.scopes[s].names.get(name) {
                Some(&v) => Some(v),
                None => match self.scopes[s].initializers.get(name) {
                    Some(&t) => Some(self.initializer(t)?),
                    None => None,
                },
            };
            if let Some(mut v) = found {
                for scope in &self.scopes[s + 1..] {
                    if let Some(&view) = scope.gate.as_ref().and_then(|g| g.views.get(&v)) {
                        v = view;
                    }
                }
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The constant of an initializer, made once.
    fn initializer(&mut self, t: &proto::TensorProto) -> Result<ValueId, ImportError> {
        let key = t as *const proto::TensorProto;
        if let Some(&v) = self.initializer_consts.get(&key) {
            return Ok(v);
        }
        let err = |message| ImportError::Initializer {
            name: t.name.clone(),
            message,
        };
        // Counted on the declared shape, before external data is read.
        let declared = tensor::declared_bytes(t).unwrap_or(0);
        crate::limits::check_constant_bytes(declared).map_err(err)?;
        self.count_constant_bytes(declared).map_err(err)?;
        let tensor = tensor::decode(t, self.base_dir).map_err(err)?;
        let v = self.graph.add_const(t.name.clone(), tensor);
        self.initializer_consts.insert(key, v);
        Ok(v)
    }

    /// Decodes a tensor of the model (an attribute's value).
    pub(super) fn decode_tensor(&self, t: &proto::TensorProto) -> Result<Tensor, String> {
        tensor::decode(t, self.base_dir)
    }

    /// The gate of the innermost branch around the current scope.
    fn current_gate(&self) -> Option<NodeId> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.gate.as_ref().map(|g| g.node))
    }

    /// The guard of a node reading `inputs` in the current scope: the innermost gate, when
    /// the node reads a value of its branch. A node that reads only constants needs none:
    /// it cannot depend on the condition, and it is folded, or runs every time.
    fn guard_for(&self, inputs: &[Option<ValueId>]) -> Option<NodeId> {
        let gated = inputs.iter().flatten().any(|v| {
            let node = self.graph.node(v.node);
            matches!(node.op, Op::Gate(_)) || node.guard.is_some()
        });
        gated.then(|| self.current_gate()).flatten()
    }

    /// Adds an op node in the current scope, guarded by the branch it belongs to.
    pub(super) fn add_node(
        &mut self,
        name: String,
        op: Op,
        onnx: OnnxOp,
        inputs: Vec<Option<ValueId>>,
        outputs: Vec<Value>,
    ) -> NodeId {
        let guard = self.guard_for(&inputs);
        let id = self.graph.add_node(name, op, onnx, inputs, outputs);
        self.graph.node_mut(id).guard = guard;
        id
    }

    /// Counts `n` more nodes against [`MAX_NODES`].
    pub(super) fn count_nodes(&mut self, n: usize) -> Result<(), OpError> {
        self.n_nodes += n;
        if self.n_nodes > MAX_NODES {
            return Err(OpError::unsupported(format!(
                "the model grows past {MAX_NODES} nodes (limits::MAX_NODES) as zant unrolls \
                 its loops at compile time; a trip count that large is not supported"
            )));
        }
        Ok(())
    }

    /// Counts `bytes` more of constants against [`MAX_WEIGHT_BYTES`].
    fn count_constant_bytes(&mut self, bytes: usize) -> Result<(), String> {
        self.constant_bytes = self.constant_bytes.saturating_add(bytes);
        if self.constant_bytes > MAX_WEIGHT_BYTES {
            return Err(format!(
                "the model's constants pass the limit of {} for all of them together \
                 (limits::MAX_WEIGHT_BYTES)",
                fmt_bytes(MAX_WEIGHT_BYTES as u64)
            ));
        }
        Ok(())
    }

    /// How deep the current scope nests in subgraphs: 0 in the model's graph.
    pub(super) fn subgraph_depth(&self) -> usize {
        self.scopes.len().saturating_sub(1)
    }

    /// Refuses a subgraph one level deeper than the current scope when that passes
    /// [`MAX_SUBGRAPH_DEPTH`].
    pub(super) fn check_subgraph_depth(&self) -> Result<(), OpError> {
        if self.subgraph_depth() >= MAX_SUBGRAPH_DEPTH {
            return Err(OpError::unsupported(format!(
                "its subgraph would nest {} levels deep, past the limit of \
                 {MAX_SUBGRAPH_DEPTH} (limits::MAX_SUBGRAPH_DEPTH)",
                self.subgraph_depth() + 1
            )));
        }
        Ok(())
    }

    /// Imports the nodes of `g` into the current scope, producers before consumers
    /// (keeping file order where possible).
    pub(super) fn import_nodes(&mut self, g: &'m proto::GraphProto) -> Result<(), ImportError> {
        let order = topological_order(g, |name| self.is_known(name))?;
        for idx in order {
            self.import_node(&g.node[idx], idx)?;
        }
        Ok(())
    }

    /// Imports one node of the model: control flow through `onnx::control`, every other
    /// op through its line of the op table.
    fn import_node(&mut self, n: &'m proto::NodeProto, idx: usize) -> Result<(), ImportError> {
        let name = self.prefixed(&node_name(n, idx));
        let domain = normalize_domain(&n.domain);
        let opset = self.opsets.get(domain).copied().unwrap_or(0);
        let spec = ops::lookup(domain, &n.op_type).ok_or_else(|| {
            ImportError::Unsupported(vec![super::UnsupportedOp {
                node: name.clone(),
                op_type: n.op_type.clone(),
                domain: domain.to_string(),
                opset,
                reason: "no implementation".into(),
            }])
        })?;
        let onnx_op = OnnxOp::new(spec, opset);
        let node_err = |source: OpError| {
            ImportError::Node(NodeError {
                node: name.clone(),
                op: onnx_op,
                source,
            })
        };
        self.count_nodes(1).map_err(node_err)?;
        check_arity(n, spec).map_err(node_err)?;
        if domain.is_empty() && matches!(n.op_type.as_str(), "If" | "Loop" | "Scan") {
            return super::control::import(self, n, &name, onnx_op);
        }
        if domain == "ai.onnx.preview" && n.op_type == "FlexAttention" {
            return super::decompose::import_flex_attention(self, n, &name, onnx_op);
        }
        self.import_op(n, name, spec, onnx_op)
    }

    /// A node the importer makes itself, to slice or stack the steps of an unrolled loop:
    /// `op_type` of the default domain on `inputs`, named `name` in the current scope, read
    /// through the op table like a node of the model. Returns its output.
    pub(super) fn synthesize(
        &mut self,
        op_type: &str,
        inputs: &[ValueId],
        attributes: Vec<proto::AttributeProto>,
        name: &str,
    ) -> Result<ValueId, ImportError> {
        let spec = ops::lookup("", op_type).expect("the importer makes only known ops");
        let onnx_op = OnnxOp::new(spec, self.onnx_opset());
        self.push_scope(&[], None, "");
        let input_names: Vec<String> = (0..inputs.len()).map(|i| format!("in{i}")).collect();
        for (input_name, &v) in input_names.iter().zip(inputs) {
            self.define(input_name, v).expect("fresh scope");
        }
        let node = proto::NodeProto {
            input: input_names,
            output: vec![name.to_string()],
            name: name.to_string(),
            op_type: op_type.to_string(),
            attribute: attributes,
            ..Default::default()
        };
        let result = self
            .import_op(&node, self.prefixed(name), spec, onnx_op)
            .and_then(|()| Ok(self.lookup(name)?.expect("just defined")));
        self.pop_scope();
        result
    }

    /// Imports a node through its op table line: resolves its inputs, decodes its
    /// attributes, parses, types and folds it, and names its outputs in the current scope.
    fn import_op(
        &mut self,
        n: &proto::NodeProto,
        name: String,
        spec: &OpSpec,
        onnx_op: OnnxOp,
    ) -> Result<(), ImportError> {
        let node_err = |source: OpError| {
            ImportError::Node(NodeError {
                node: name.clone(),
                op: onnx_op,
                source,
            })
        };
        let n_inputs = n_inputs(n);
        let mut inputs: Vec<Option<ValueId>> = Vec::with_capacity(n_inputs);
        for input in &n.input[..n_inputs] {
            if input.is_empty() {
                inputs.push(None);
                continue;
            }
            let v = self.lookup(input)?.ok_or_else(|| ImportError::Dangling {
                node: name.clone(),
                op_type: n.op_type.clone(),
                input: input.clone(),
            })?;
            inputs.push(Some(v));
        }

        let mut attrs = BTreeMap::new();
        for a in &n.attribute {
            let value = attr::decode(a, |t| self.decode_tensor(t))
                .map_err(|reason| node_err(OpError::attr(&a.name, reason)))?;
            attrs.insert(a.name.clone(), value);
        }
        let graph = &self.graph;
        let types: Vec<Option<&TensorType>> =
            inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
        let consts: Vec<Option<&Tensor>> = inputs
            .iter()
            .map(|v| v.and_then(|v| graph.const_value(v)))
            .collect();
        let n_named_outputs = n
            .output
            .iter()
            .rposition(|s| !s.is_empty())
            .map_or(0, |p| p + 1);
        let parse = |types: Vec<Option<&TensorType>>, consts: Vec<Option<&Tensor>>| {
            let ctx = ParseCtx::new(&n.op_type, onnx_op.opset, &attrs, types, consts)
                .with_outputs(n_named_outputs);
            (spec.parse)(&ctx).map(|op| (op, ctx.absorbed(), ctx.attached()))
        };
        let parsed = parse(types.clone(), consts.clone());
        // An op that computes on narrow floats (float16, bfloat16, float8) computes in
        // f32: it is parsed again seeing those inputs as f32, and import casts around it.
        let computing = narrow::computing_inputs(parsed.as_ref().ok().map(|(op, _, _)| op), &types);
        // Its f32 outputs go back to the type of its first float input that computes, the
        // `T` of almost every ONNX signature: Pow's exponent does not decide its output,
        // nor does DequantizeLinear's float8 data, which the op reads as it is.
        let narrow_back_to = types
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (i, t.dtype)))
            .find(|&(i, d)| matches!(d, DType::F32 | DType::F64) || computing.contains(&i))
            .map(|(_, d)| d)
            .filter(|d| d.is_narrow_float());
        let (op, absorbed, attached) = if computing.is_empty() {
            parsed.map_err(node_err)?
        } else {
            let (wide_types, wide_consts) = narrow::widened_view(&types, &consts, &computing);
            parse(
                wide_types.iter().map(Option::as_ref).collect(),
                wide_consts.iter().map(Option::as_ref).collect(),
            )
            .map_err(node_err)?
        };
        for (i, input) in inputs.iter_mut().enumerate() {
            // A node may have more inputs than the mask has bits (a Concat of 70); those
            // past it were not absorbed.
            let bit = u32::try_from(i).ok().and_then(|i| absorbed.checked_shr(i));
            if bit.is_some_and(|b| b & 1 != 0) {
                *input = None;
            }
        }
        while inputs.last() == Some(&None) {
            inputs.pop();
        }
        // Tables the op built from its attributes become constants of their own, named
        // after the node, so that they sit in the weight blob.
        if let Some((first, tables)) = attached {
            inputs.resize(inputs.len().max(first), None);
            for (what, tensor) in tables {
                let mut value_name = format!("{name}_{what}");
                while self.is_known(&value_name) {
                    value_name.push('_');
                }
                let v = self.graph.add_const(value_name.clone(), tensor);
                self.define(&value_name, v)
                    .map_err(|m| node_err(OpError::shape(m)))?;
                inputs.push(Some(v));
            }
        }
        narrow::check_inputs(&self.graph, &op, &computing, &inputs).map_err(node_err)?;
        narrow::widen_inputs(
            &mut self.graph,
            &mut self.widened,
            onnx_op,
            &computing,
            &mut inputs,
        );
        let graph = &self.graph;
        let types: Vec<Option<&TensorType>> =
            inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect();
        let out_types = op.infer(&types).map_err(node_err)?;
        narrow::check_outputs(&op, &out_types).map_err(node_err)?;
        for t in &out_types {
            checked_elems(&t.shape).map_err(node_err)?;
        }
        let out_names: Vec<&String> = n.output.iter().collect();
        if out_types.len() < out_names.iter().filter(|s| !s.is_empty()).count() {
            return Err(node_err(OpError::unsupported(format!(
                "zant produces {} output(s) for this op; the extra outputs are not supported",
                out_types.len()
            ))));
        }

        // Fold right away when the inputs are known, so that later nodes see constants.
        // A DequantizeLinear of a constant is the exception: it is how a QDQ model spells
        // an 8-bit weight or an `i32` bias, and `passes::qdq` needs it as written to keep
        // the weight integer. The `fold` pass evaluates the ones `qdq` leaves in float.
        let folded = if is_weight_dequantize(graph, &op, &inputs) {
            None
        } else {
            try_fold(graph, &op, &inputs, &out_types).map_err(node_err)?
        };
        if let Some(tensors) = &folded {
            for t in tensors {
                self.count_constant_bytes(t.ty().n_bytes())
                    .map_err(|m| node_err(OpError::unsupported(m)))?;
            }
        }
        let values: Vec<ValueId> = match folded {
            Some(tensors) => out_names
                .iter()
                .zip(tensors)
                .map(|(out, t)| self.graph.add_const(self.prefixed(out), t))
                .collect(),
            None => {
                let outputs = out_types
                    .iter()
                    .zip(&out_names)
                    .enumerate()
                    .map(|(slot, (ty, out))| Value {
                        name: if out.is_empty() {
                            format!("{name}_unused_{slot}")
                        } else {
                            self.prefixed(out)
                        },
                        ty: ty.clone(),
                    })
                    .collect();
                let node = self.add_node(name.clone(), op, onnx_op, inputs, outputs);
                (0..out_types.len())
                    .map(|slot| ValueId {
                        node,
                        slot: slot as u32,
                    })
                    .collect()
            }
        };
        let values = match narrow_back_to {
            Some(to) => narrow::narrow_outputs(&mut self.graph, onnx_op, values, to),
            None => values,
        };
        for (out, v) in out_names.iter().zip(values) {
            if !out.is_empty() {
                self.define(out, v)
                    .map_err(|m| node_err(OpError::shape(m)))?;
            }
        }
        Ok(())
    }
}

/// The node's inputs up to its last named one: trailing empty names are omitted optional
/// inputs.
pub(super) fn n_inputs(n: &proto::NodeProto) -> usize {
    n.input
        .iter()
        .rposition(|s| !s.is_empty())
        .map_or(0, |p| p + 1)
}

/// Checks a node's input and output counts against its op table line.
fn check_arity(n: &proto::NodeProto, spec: &OpSpec) -> Result<(), OpError> {
    let n_inputs = n_inputs(n);
    let n_outputs = n.output.len();
    if n_inputs < spec.inputs.0 || n_inputs > spec.inputs.1 {
        return Err(OpError::shape(arity_message(
            "inputs",
            n_inputs,
            spec.inputs,
        )));
    }
    if n_outputs < spec.outputs.0 || n_outputs > spec.outputs.1 {
        return Err(OpError::shape(arity_message(
            "outputs",
            n_outputs,
            spec.outputs,
        )));
    }
    Ok(())
}

/// Whether `op` dequantizes a constant 8-bit or `i32` tensor: a QDQ model's weight or
/// bias, which import leaves unfolded for `passes::qdq`.
fn is_weight_dequantize(graph: &Graph, op: &Op, inputs: &[Option<ValueId>]) -> bool {
    let Op::Quant(q) = op else {
        return false;
    };
    let weight = inputs
        .first()
        .copied()
        .flatten()
        .and_then(|v| graph.const_value(v));
    !q.quantize && weight.is_some_and(|t| matches!(t.dtype(), DType::I8 | DType::U8 | DType::I32))
}

fn arity_message(what: &str, n: usize, (lo, hi): (usize, usize)) -> String {
    if hi == usize::MAX {
        format!("has {n} {what}; the op takes at least {lo}")
    } else if lo == hi {
        format!("has {n} {what}; the op takes {lo}")
    } else {
        format!("has {n} {what}; the op takes {lo} to {hi}")
    }
}

/// The subgraphs a node carries in its attributes (an `If`'s branches, a loop's body).
pub(super) fn subgraphs(n: &proto::NodeProto) -> impl Iterator<Item = &proto::GraphProto> {
    n.attribute.iter().flat_map(|a| {
        let one = (a.r#type == attribute_type::GRAPH)
            .then_some(a.g.as_ref())
            .flatten();
        let many = if a.r#type == attribute_type::GRAPHS {
            &a.graphs[..]
        } else {
            &[]
        };
        one.into_iter().chain(many)
    })
}

/// The names a graph reads from the scopes around it: what its nodes (and their
/// subgraphs) read that it does not define itself, sorted.
pub(super) fn free_names(g: &proto::GraphProto) -> BTreeSet<&str> {
    let mut defined: BTreeSet<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
    defined.extend(g.initializer.iter().map(|t| t.name.as_str()));
    defined.extend(
        g.node
            .iter()
            .flat_map(|n| n.output.iter().map(String::as_str)),
    );
    g.node
        .iter()
        .flat_map(node_reads)
        .filter(|name| !name.is_empty() && !defined.contains(name))
        .collect()
}

/// The names a node depends on: its inputs, and what its subgraphs read from outside.
fn node_reads(n: &proto::NodeProto) -> Vec<&str> {
    let mut names: Vec<&str> = n
        .input
        .iter()
        .filter(|s| !s.is_empty())
        .map(String::as_str)
        .collect();
    for g in subgraphs(n) {
        names.extend(free_names(g));
    }
    names
}

/// Orders the nodes of `g` so each comes after its producers, keeping file order where
/// possible; `known` says which names the scopes around (and the graph's inputs and
/// initializers) provide. Reports dangling inputs and cycles.
pub(super) fn topological_order(
    g: &proto::GraphProto,
    known: impl Fn(&str) -> bool,
) -> Result<Vec<usize>, ImportError> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (idx, n) in g.node.iter().enumerate() {
        for out in n.output.iter().filter(|o| !o.is_empty()) {
            let is_input = g.input.iter().any(|i| i.name == *out)
                && !g.initializer.iter().any(|t| t.name == *out);
            if producer.insert(out, idx).is_some() || is_input {
                return Err(ImportError::ProducedTwice {
                    node: node_name(n, idx),
                    op_type: n.op_type.clone(),
                    output: out.clone(),
                });
            }
        }
    }
    let mut deps: Vec<Vec<usize>> = vec![Vec::new(); g.node.len()];
    let mut n_pending = vec![0usize; g.node.len()];
    for (idx, n) in g.node.iter().enumerate() {
        for input in node_reads(n) {
            if let Some(&p) = producer.get(input) {
                deps[p].push(idx);
                n_pending[idx] += 1;
            } else if !known(input)
                && !g.input.iter().any(|i| i.name == input)
                && !g.initializer.iter().any(|t| t.name == input)
            {
                return Err(ImportError::Dangling {
                    node: node_name(n, idx),
                    op_type: n.op_type.clone(),
                    input: input.to_string(),
                });
            }
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..g.node.len())
        .filter(|&i| n_pending[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(g.node.len());
    while let Some(std::cmp::Reverse(idx)) = ready.pop() {
        order.push(idx);
        for &d in &deps[idx] {
            n_pending[d] -= 1;
            if n_pending[d] == 0 {
                ready.push(std::cmp::Reverse(d));
            }
        }
    }
    if order.len() < g.node.len() {
        let stuck = (0..g.node.len())
            .filter(|&i| n_pending[i] > 0)
            .map(|i| node_name(&g.node[i], i))
            .collect();
        return Err(ImportError::Cycle(stuck));
    }
    Ok(order)
}
