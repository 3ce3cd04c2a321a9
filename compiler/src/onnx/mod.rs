//! The front end: ONNX protobuf → [`Graph`]. The only module that touches protobuf types.
//!
//! Import decodes the model, checks every node against the op table (collecting *all*
//! unsupported ops into one error), orders the nodes, pins symbolic dims, and builds the
//! IR one node at a time with shape inference and constant propagation, so that the
//! `Shape → Gather → Concat → Reshape` chains exporters emit become constants as they are read.
//!
//! The protobuf structs are private: the rest of the compiler asks this module for IR
//! types only, through [`load`] (a model, with inputs bound to values ([`Binding`]), and
//! the files it read),
//! [`describe`] (a model's fed inputs and nodes) and [`read_tensor`] (test data files).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

mod attr;
mod bind;
mod control;
mod decompose;
#[cfg(test)]
mod differential;
mod edit;
mod import;
mod narrow;
mod proto;
mod tensor;
#[cfg(test)]
pub(crate) mod tests;

use crate::ir::{DType, Graph, GraphOutput, Tensor, TensorType, Value, ValueId};
use crate::limits::{
    fmt_bytes, MAX_MESSAGE_DEPTH, MAX_MODEL_BYTES, MAX_SUBGRAPH_DEPTH, MAX_WEIGHT_BYTES,
};
use crate::ops::{self, checked_elems, NodeError, OnnxOp, Op};
use proto::tensor_shape_proto::dimension;
use proto::type_proto;

pub use bind::{BindValue, Binding};
pub use edit::{ModelEdit, NodeDef, PortDef};

/// The newest `ai.onnx` opset zant knows.
pub const MAX_OPSET: i64 = 28;

/// An op the compiler cannot handle, as listed in [`ImportError::Unsupported`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedOp {
    pub node: String,
    pub op_type: String,
    pub domain: String,
    pub opset: i64,
    pub reason: String,
}

/// Why a model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not an ONNX model: {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("{}", UnsupportedList(.0))]
    Unsupported(Vec<UnsupportedOp>),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("node `{node}` ({op_type}) reads `{input}`, which no node, initializer or graph input produces")]
    Dangling {
        node: String,
        op_type: String,
        input: String,
    },
    #[error("node `{node}` ({op_type}) produces `{output}`, which another node or a graph input also produces")]
    ProducedTwice {
        node: String,
        op_type: String,
        output: String,
    },
    #[error("the graph has a cycle; these nodes can never run: {}", .0.join(", "))]
    Cycle(Vec<String>),
    #[error("initializer `{name}`: {message}")]
    Initializer { name: String, message: String },
    #[error("graph input `{name}`: {message}")]
    Input { name: String, message: String },
    #[error("graph output `{name}`: {message}")]
    Output { name: String, message: String },
    #[error("--input-shape {name}: {message}")]
    Pin { name: String, message: String },
    #[error("binding graph input `{name}` to a value: {message}")]
    Bind { name: String, message: String },
    #[error("`{path}`: {message}")]
    TensorFile { path: PathBuf, message: String },
    #[error("{0}")]
    Model(String),
}

struct UnsupportedList<'a>(&'a [UnsupportedOp]);

impl fmt::Display for UnsupportedList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the model uses {} unsupported op(s):", self.0.len())?;
        for (i, u) in self.0.iter().enumerate() {
            let domain = if u.domain.is_empty() {
                "ai.onnx"
            } else {
                &u.domain
            };
            write!(
                f,
                "  node `{}`: {} (domain {domain}, opset {}): {}",
                u.node, u.op_type, u.opset, u.reason
            )?;
            if i + 1 < self.0.len() {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

/// A user's pin for an input's shape (`--input-shape NAME=1,3,224,224`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputShape {
    pub name: String,
    pub dims: Vec<usize>,
}

impl std::str::FromStr for InputShape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, dims) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("`{s}` should look like NAME=1,3,224,224"))?;
        let dims = dims
            .split(',')
            .map(|d| {
                d.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("`{d}` in `{s}` is not a dimension"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            name: name.to_string(),
            dims,
        })
    }
}

/// Where a model comes from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    /// A model file; its initializers may keep their data in files of the same folder.
    File(&'a Path),
    /// A serialized model in memory; external data is refused, as there is no folder to
    /// read it from.
    Bytes(&'a [u8]),
}

impl Source<'_> {
    /// The model's name in error messages.
    fn path(&self) -> &Path {
        match self {
            Source::File(path) => path,
            Source::Bytes(_) => Path::new("<bytes>"),
        }
    }
}

impl<'a> From<&'a Path> for Source<'a> {
    fn from(path: &'a Path) -> Self {
        Source::File(path)
    }
}

impl<'a> From<&'a PathBuf> for Source<'a> {
    fn from(path: &'a PathBuf) -> Self {
        Source::File(path)
    }
}

impl<'a> From<&'a [u8]> for Source<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Source::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for Source<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Source::Bytes(bytes)
    }
}

/// An imported model and the files it was read from.
#[derive(Debug)]
pub struct Loaded {
    pub graph: Graph,
    /// The model file, then the external data files its initializers name (sorted); empty
    /// for a model read from bytes.
    pub files: Vec<PathBuf>,
    /// What the model declares that the compiler overrode, such as a graph output whose
    /// declared shape differs from the computed one. Compilation goes on; callers show them.
    pub warnings: Vec<String>,
}

/// What a model declares, read without importing it: for tools that pair a model with
/// test data, where the model is fed by position and errors name nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// The graph inputs a caller feeds (those without an initializer), in declaration
    /// order, which is the order of a test data set's `input_N.pb` files.
    pub inputs: Vec<String>,
    /// Whether each of [`ModelInfo::inputs`] is an optional, whose test data is an
    /// `OptionalProto` ([`read_optional`]).
    pub optional: Vec<bool>,
    /// The nodes in file order, each followed by those of its subgraphs.
    pub nodes: Vec<NodeInfo>,
}

/// One node of a [`ModelInfo`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The name import errors give the node: its own, or `op_type_index` when it has none.
    pub name: String,
    pub op_type: String,
    /// The names of the values the node reads, then, for a node with subgraphs, the names
    /// they output; empty for an omitted optional input.
    pub inputs: Vec<String>,
    /// The names of the values the node writes; empty for an omitted optional output.
    pub outputs: Vec<String>,
}

impl ModelInfo {
    /// The graph inputs (their positions in [`ModelInfo::inputs`]) that value `name` is
    /// computed from, itself included when it is one; sorted. `Shape` and `Size` read only
    /// their input's type: unless `through_shapes`, what reaches `name` only through them
    /// does not count. (A type can depend on an input's value, through an op whose output
    /// shape that value decides, which is when a caller asks again `through_shapes`.)
    pub fn input_ancestors(&self, name: &str, through_shapes: bool) -> Vec<usize> {
        let mut found = std::collections::BTreeSet::new();
        let mut seen = HashSet::new();
        let mut pending = vec![name];
        while let Some(v) = pending.pop() {
            if !seen.insert(v) {
                continue;
            }
            if let Some(k) = self.inputs.iter().position(|i| i == v) {
                found.insert(k);
            }
            let producer = self
                .nodes
                .iter()
                .find(|n| n.outputs.iter().any(|o| o == v))
                .filter(|n| through_shapes || !matches!(n.op_type.as_str(), "Shape" | "Size"));
            if let Some(producer) = producer {
                pending.extend(
                    producer
                        .inputs
                        .iter()
                        .filter(|i| !i.is_empty())
                        .map(String::as_str),
                );
            }
        }
        found.into_iter().collect()
    }

    /// The name of the value that node `node` reads as its input `input_idx`.
    pub fn node_input(&self, node: &str, input_idx: usize) -> Option<&str> {
        let input = self
            .nodes
            .iter()
            .find(|n| n.name == node)?
            .inputs
            .get(input_idx)?;
        (!input.is_empty()).then_some(input.as_str())
    }
}

/// Reads and decodes a model file.
fn read_model(path: &Path) -> Result<proto::ModelProto, ImportError> {
    // A file past protobuf's limit cannot decode: refuse it before reading gigabytes.
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() > MAX_MODEL_BYTES {
            return Err(ImportError::Decode {
                path: path.to_path_buf(),
                reason: format!(
                    "the file's {} are above protobuf's limit of {} for one message \
                     (limits::MAX_MODEL_BYTES); keep large weights in external data files",
                    fmt_bytes(meta.len()),
                    fmt_bytes(MAX_MODEL_BYTES)
                ),
            });
        }
    }
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode_model(&bytes, path)
}

/// Decodes model bytes; `path` is only used in messages.
fn decode_model(bytes: &[u8], path: &Path) -> Result<proto::ModelProto, ImportError> {
    let decode_err = |reason: String| ImportError::Decode {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(decode_err("the file is empty".into()));
    }
    let model = proto::decode_model(bytes).map_err(|e| {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).to_lowercase();
        if e.to_string().contains("recursion limit") {
            decode_err(format!(
                "its messages nest deeper than the decoder's limit of {MAX_MESSAGE_DEPTH} \
                 (limits::MAX_MESSAGE_DEPTH; about 30 levels of subgraphs, and zant takes \
                 {MAX_SUBGRAPH_DEPTH}, limits::MAX_SUBGRAPH_DEPTH)"
            ))
        } else if head.trim_start().starts_with('<') {
            decode_err(format!(
                "it looks like an HTML or XML page, not protobuf ({e})"
            ))
        } else {
            decode_err(format!("invalid protobuf, perhaps truncated ({e})"))
        }
    })?;
    if model.graph.is_none() {
        return Err(decode_err("it has no graph".into()));
    }
    Ok(model)
}

/// Loads a model into the IR: decodes it, binds graph inputs to the values of
/// `bindings`, pins symbolic dims from `pins` and imports it.
pub fn load(
    source: Source<'_>,
    pins: &[InputShape],
    bindings: &[Binding],
) -> Result<Loaded, ImportError> {
    let (mut model, base_dir) = match source {
        Source::File(path) => (read_model(path)?, Some(model_dir(path))),
        Source::Bytes(bytes) => (decode_model(bytes, source.path())?, None),
    };
    optional_inputs(&mut model, bindings)?;
    bind_inputs(&mut model, bindings)?;
    let (graph, warnings) = import(&model, base_dir, pins, bindings)?;
    let mut files = match source {
        Source::File(path) => model_files(&model, path),
        Source::Bytes(_) => Vec::new(),
    };
    // A build script reruns when a bound `.npy` file changes, as when the model does.
    files.extend(bindings.iter().filter_map(|b| match &b.value {
        BindValue::Npy(path) => Some(path.clone()),
        _ => None,
    }));
    Ok(Loaded {
        graph,
        files,
        warnings,
    })
}

/// Reads what a model file declares without importing it (see [`ModelInfo`]).
pub fn describe(path: &Path) -> Result<ModelInfo, ImportError> {
    let model = read_model(path)?;
    let g = model
        .graph
        .as_ref()
        .ok_or_else(|| ImportError::Model("the model has no graph".into()))?;
    let initializers: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let fed: Vec<&proto::ValueInfoProto> = g
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .collect();
    Ok(ModelInfo {
        inputs: fed.iter().map(|i| i.name.clone()).collect(),
        optional: fed.iter().copied().map(is_optional).collect(),
        nodes: {
            let mut nodes = Vec::new();
            describe_nodes(g, &mut nodes);
            nodes
        },
    })
}

/// The nodes of `g` and of its subgraphs, at any depth. A node with subgraphs (If, Loop,
/// Scan) also reads what its subgraphs output, so that a value computed in a branch from
/// an outer value leads back to it.
fn describe_nodes(g: &proto::GraphProto, out: &mut Vec<NodeInfo>) {
    for (idx, n) in g.node.iter().enumerate() {
        let subgraphs: Vec<&proto::GraphProto> = n
            .attribute
            .iter()
            .flat_map(|a| a.g.iter().chain(&a.graphs))
            .collect();
        let mut inputs = n.input.clone();
        for sub in &subgraphs {
            inputs.extend(sub.output.iter().map(|o| o.name.clone()));
        }
        out.push(NodeInfo {
            name: node_name(n, idx),
            op_type: n.op_type.clone(),
            inputs,
            outputs: n.output.clone(),
        });
        for sub in subgraphs {
            describe_nodes(sub, out);
        }
    }
}

/// Reads a serialized `TensorProto` file, such as a test data set's `input_N.pb` or
/// `output_N.pb`. External data is refused: such a file has no model folder around it.
pub fn read_tensor(path: &Path) -> Result<Tensor, ImportError> {
    let (bytes, file_err) = read_message(path)?;
    let proto =
        proto::decode_tensor(&bytes).map_err(|e| file_err(format!("not a TensorProto: {e}")))?;
    tensor::decode(&proto, None).map_err(file_err)
}

/// Reads a serialized `OptionalProto` file, a test data set's optional input: `None` when
/// the optional is empty. Only an optional of a tensor is read.
pub fn read_optional(path: &Path) -> Result<Option<Tensor>, ImportError> {
    let (bytes, file_err) = read_message(path)?;
    let proto = proto::decode_optional(&bytes)
        .map_err(|e| file_err(format!("not an OptionalProto: {e}")))?;
    // `OptionalProto.DataType`: 0 undefined, 1 tensor.
    if !matches!(proto.elem_type, 0 | 1) {
        return Err(file_err(format!(
            "an optional of element type {} (only optionals of tensors are read)",
            proto.elem_type
        )));
    }
    proto
        .tensor_value
        .map(|t| tensor::decode(&t, None).map_err(file_err))
        .transpose()
}

/// The bytes of a test data file, and the error for what is wrong in them.
fn read_message(
    path: &Path,
) -> Result<(Vec<u8>, impl Fn(String) -> ImportError + '_), ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file_err = move |message: String| ImportError::TensorFile {
        path: path.to_path_buf(),
        message,
    };
    Ok((bytes, file_err))
}

/// The folder a model file's external data must come from.
fn model_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The model file and the external data files its initializers name, so that a build
/// script reruns when any of them changes.
fn model_files(model: &proto::ModelProto, path: &Path) -> Vec<PathBuf> {
    let dir = model_dir(path);
    let mut data: Vec<PathBuf> = model
        .graph
        .iter()
        .flat_map(|g| &g.initializer)
        .flat_map(|t| &t.external_data)
        .filter(|e| e.key == "location")
        .map(|e| dir.join(&e.value))
        .collect();
    data.sort();
    data.dedup();
    std::iter::once(path.to_path_buf()).chain(data).collect()
}

/// Optional graph inputs. One bound to `none` ([`BindValue::Absent`]) leaves the graph and
/// every node that reads it sees that input omitted; any other optional of a tensor is
/// compiled as holding one, its tensor the input. Whether an optional holds a value is a
/// compile-time property, as shapes are.
fn optional_inputs(model: &mut proto::ModelProto, bindings: &[Binding]) -> Result<(), ImportError> {
    let Some(g) = model.graph.as_mut() else {
        return Ok(());
    };
    for b in bindings.iter().filter(|b| b.value == BindValue::Absent) {
        let err = |message: &str| ImportError::Bind {
            name: b.name.clone(),
            message: message.to_string(),
        };
        let pos = g
            .input
            .iter()
            .position(|i| i.name == b.name)
            .ok_or_else(|| err("the model has no input of that name"))?;
        if !is_optional(&g.input[pos]) {
            return Err(err("`none` binds an optional input; this input is not one"));
        }
        g.input.remove(pos);
        omit_uses(g, &b.name);
    }
    for input in &mut g.input {
        let elem = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::OptionalType(o)) => o.elem_type.as_deref().cloned(),
            _ => continue,
        };
        if let Some(elem) =
            elem.filter(|e| matches!(e.value, Some(type_proto::Value::TensorType(_))))
        {
            input.r#type = Some(elem);
        }
    }
    Ok(())
}

/// Clears every read of `name` in `g` and in the subgraphs that do not declare their own.
fn omit_uses(g: &mut proto::GraphProto, name: &str) {
    for n in &mut g.node {
        for i in &mut n.input {
            if i == name {
                i.clear();
            }
        }
        for a in &mut n.attribute {
            for sub in a.g.iter_mut().chain(a.graphs.iter_mut()) {
                if !sub.input.iter().any(|i| i.name == name) {
                    omit_uses(sub, name);
                }
            }
        }
    }
}

/// Whether a graph input is declared an optional.
fn is_optional(input: &proto::ValueInfoProto) -> bool {
    matches!(
        input.r#type.as_ref().and_then(|t| t.value.as_ref()),
        Some(type_proto::Value::OptionalType(_))
    )
}

/// Makes each bound graph input an initializer holding its value, after checking that
/// the input exists, has no initializer yet and admits the value (see [`bind`]).
fn bind_inputs(model: &mut proto::ModelProto, bindings: &[Binding]) -> Result<(), ImportError> {
    if bindings.is_empty() {
        return Ok(());
    }
    let g = model
        .graph
        .as_mut()
        .ok_or_else(|| ImportError::Model("the model has no graph".into()))?;
    for b in bindings.iter().filter(|b| b.value != BindValue::Absent) {
        let err = |message: String| ImportError::Bind {
            name: b.name.clone(),
            message,
        };
        let declared = g.input.iter().find(|i| i.name == b.name).ok_or_else(|| {
            let fed: Vec<&str> = g
                .input
                .iter()
                .map(|i| i.name.as_str())
                .filter(|n| !g.initializer.iter().any(|t| t.name == *n))
                .collect();
            err(format!(
                "the model has no input of that name (inputs: {})",
                fed.join(", ")
            ))
        })?;
        if g.initializer.iter().any(|t| t.name == b.name) {
            return Err(err(
                "the input already has a value (an initializer, or an earlier binding)".into(),
            ));
        }
        let declared = match declared.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(t)) => bind::Declared {
                dtype: DType::from_onnx(t.elem_type),
                dims: t.shape.as_ref().map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match d.value {
                            Some(dimension::Value::DimValue(v)) if v > 0 => Some(v as usize),
                            _ => None,
                        })
                        .collect()
                }),
            },
            Some(_) => return Err(err("only tensor inputs can be bound".into())),
            None => bind::Declared {
                dtype: None,
                dims: None,
            },
        };
        let value = bind::resolve(&b.value, &declared).map_err(err)?;
        g.initializer.push(tensor::encode(&value, &b.name));
    }
    Ok(())
}

/// Builds the IR from a decoded model. External data is read from `base_dir` only.
fn import(
    model: &proto::ModelProto,
    base_dir: Option<&Path>,
    pins: &[InputShape],
    bindings: &[Binding],
) -> Result<(Graph, Vec<String>), ImportError> {
    let g = model
        .graph
        .as_ref()
        .ok_or_else(|| ImportError::Model("the model has no graph".into()))?;
    let opsets = opsets(model)?;

    // Every node must be supported, those of subgraphs included; list all that are not
    // before failing.
    let mut unsupported = Vec::new();
    collect_unsupported(g, &opsets, &mut unsupported);
    if !unsupported.is_empty() {
        return Err(ImportError::Unsupported(unsupported));
    }

    // The weights on their declared shapes, before any external data is read.
    let mut declared = 0usize;
    for t in &g.initializer {
        let bytes = tensor::declared_bytes(t).unwrap_or(0);
        crate::limits::check_constant_bytes(bytes).map_err(|message| ImportError::Initializer {
            name: t.name.clone(),
            message,
        })?;
        declared = declared.saturating_add(bytes);
    }
    if declared > MAX_WEIGHT_BYTES {
        return Err(ImportError::Model(format!(
            "its initializers declare {}, past the limit of {} for all constants together \
             (limits::MAX_WEIGHT_BYTES)",
            fmt_bytes(declared as u64),
            fmt_bytes(MAX_WEIGHT_BYTES as u64)
        )));
    }

    let initializers: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    if let Some(pin) = pins.iter().find(|p| {
        !g.input
            .iter()
            .any(|i| i.name == p.name && !initializers.contains(i.name.as_str()))
    }) {
        let known: Vec<&str> = g
            .input
            .iter()
            .map(|i| i.name.as_str())
            .filter(|n| !initializers.contains(n))
            .collect();
        let message = if bindings.iter().any(|b| b.name == pin.name) {
            "the input is bound to a value (--bind), whose shape it takes".to_string()
        } else {
            format!(
                "the model has no input of that name (inputs: {})",
                known.join(", ")
            )
        };
        return Err(ImportError::Pin {
            name: pin.name.clone(),
            message,
        });
    }

    // Graph inputs that are not initializers, with pinned shapes; initializers become
    // constants on first use.
    let mut importer = import::Importer::new(opsets, base_dir);
    importer.push_scope(&g.initializer, None, "");
    let mut used_pins = HashSet::new();
    for vi in &g.input {
        if initializers.contains(vi.name.as_str()) {
            continue;
        }
        let ty = input_type(vi, pins, &mut used_pins)?;
        let graph = &mut importer.graph;
        let index = graph.inputs.len();
        let node = graph.add_node(
            vi.name.clone(),
            Op::Input(index),
            OnnxOp::INPUT,
            vec![],
            vec![Value {
                name: vi.name.clone(),
                ty,
            }],
        );
        graph.inputs.push(node);
        importer
            .define(&vi.name, ValueId { node, slot: 0 })
            .map_err(|_| ImportError::Input {
                name: vi.name.clone(),
                message: "declared twice".into(),
            })?;
    }
    importer.import_nodes(g)?;

    let mut warnings = Vec::new();
    let mut outputs = Vec::new();
    for vi in &g.output {
        let out_err = |message: String| ImportError::Output {
            name: vi.name.clone(),
            message,
        };
        let value = importer
            .lookup(&vi.name)?
            .ok_or_else(|| out_err("no node, initializer or input produces it".into()))?;
        if let Some(warning) = check_declared(vi, importer.graph.ty(value)).map_err(out_err)? {
            warnings.push(warning);
        }
        outputs.push(GraphOutput {
            name: vi.name.clone(),
            value,
        });
    }
    let mut graph = importer.graph;
    graph.outputs = outputs;
    if graph.outputs.is_empty() {
        return Err(ImportError::Model("the graph has no outputs".into()));
    }
    Ok((graph, warnings))
}

/// Lists the nodes of `g` and of its subgraphs that zant cannot compile.
fn collect_unsupported(
    g: &proto::GraphProto,
    opsets: &HashMap<&str, i64>,
    unsupported: &mut Vec<UnsupportedOp>,
) {
    for (idx, n) in g.node.iter().enumerate() {
        let domain = normalize_domain(&n.domain);
        let opset = opsets.get(domain).copied().unwrap_or(0);
        let reason = match ops::lookup(domain, &n.op_type) {
            _ if !opsets.contains_key(domain) => {
                Some(format!("the model imports no opset for domain `{domain}`"))
            }
            None => Some("no implementation".to_string()),
            Some(spec) if opset < spec.opsets.0 || opset > spec.opsets.1 => Some(format!(
                "implemented for opsets {}..={}",
                spec.opsets.0, spec.opsets.1
            )),
            Some(_) => None,
        };
        if let Some(reason) = reason {
            unsupported.push(UnsupportedOp {
                node: node_name(n, idx),
                op_type: n.op_type.clone(),
                domain: domain.to_string(),
                opset,
                reason,
            });
        }
        for sub in import::subgraphs(n) {
            collect_unsupported(sub, opsets, unsupported);
        }
    }
}

/// The opset version per domain (`""` for ai.onnx).
fn opsets(model: &proto::ModelProto) -> Result<HashMap<&str, i64>, ImportError> {
    let mut map = HashMap::new();
    for o in &model.opset_import {
        map.insert(normalize_domain(&o.domain), o.version);
    }
    match map.get("") {
        None if model.opset_import.is_empty() => {
            // IR version 2 models predate opset_import; they mean opset 1.
            map.insert("", 1);
        }
        Some(&v) if v > MAX_OPSET => {
            return Err(ImportError::Model(format!(
                "the model imports ai.onnx opset {v}; zant supports up to opset {MAX_OPSET}"
            )))
        }
        _ => {}
    }
    Ok(map)
}

fn normalize_domain(domain: &str) -> &str {
    if domain == "ai.onnx" {
        ""
    } else {
        domain
    }
}

/// The node's name, or `op_type_index` when it has none.
fn node_name(n: &proto::NodeProto, idx: usize) -> String {
    if n.name.is_empty() {
        format!("{}_{idx}", n.op_type)
    } else {
        n.name.clone()
    }
}

/// The static type of a graph input, with symbolic dims taken from the user's pins.
fn input_type(
    vi: &proto::ValueInfoProto,
    pins: &[InputShape],
    used_pins: &mut HashSet<String>,
) -> Result<TensorType, ImportError> {
    let err = |message: String| ImportError::Input {
        name: vi.name.clone(),
        message,
    };
    let tensor = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        Some(_) => {
            return Err(err(
                "only tensor inputs are supported (not sequences, maps or optionals)".into(),
            ))
        }
        None => return Err(err("the input has no type".into())),
    };
    let dtype = DType::from_onnx(tensor.elem_type).ok_or_else(|| {
        err(format!(
            "element type {} is not supported",
            DType::onnx_name(tensor.elem_type)
        ))
    })?;
    let pin = pins.iter().find(|p| p.name == vi.name);
    if let Some(p) = pin {
        used_pins.insert(p.name.clone());
    }
    let dims = match &tensor.shape {
        Some(s) => &s.dim[..],
        None => {
            return match pin {
                Some(p) => Ok(TensorType::new(dtype, p.dims.clone())),
                None => Err(err(format!(
                    "the input has no shape; pin one with --input-shape {}=...",
                    vi.name
                ))),
            }
        }
    };
    if let Some(p) = pin {
        if p.dims.len() != dims.len() {
            return Err(ImportError::Pin {
                name: vi.name.clone(),
                message: format!(
                    "the pin has rank {} but the input has rank {}",
                    p.dims.len(),
                    dims.len()
                ),
            });
        }
    }
    // A dim is fixed only by a positive `dim_value`. Exporters spell a dynamic dim as a
    // `dim_param`, as `dim_value: -1` or `0` (Paddle, TensorFlow), or leave it empty; all
    // of these are symbolic and take their size from the pin.
    let fixed: Vec<Option<usize>> = dims
        .iter()
        .map(|d| match d.value {
            Some(dimension::Value::DimValue(v)) if v > 0 => Some(v as usize),
            _ => None,
        })
        .collect();
    let Some(pin) = pin else {
        if fixed.iter().all(Option::is_some) {
            let shape: Vec<usize> = fixed.into_iter().flatten().collect();
            checked_elems(&shape).map_err(|e| err(e.to_string()))?;
            return Ok(TensorType::new(dtype, shape));
        }
        return Err(err(symbolic_message(&vi.name, dims, &fixed)));
    };
    let mut shape = Vec::with_capacity(dims.len());
    for (i, (&f, &p)) in fixed.iter().zip(&pin.dims).enumerate() {
        match f {
            Some(f) if f != p => {
                return Err(ImportError::Pin {
                    name: vi.name.clone(),
                    message: format!(
                        "dimension {i} is fixed at {f} in the model, the pin says {p}"
                    ),
                })
            }
            _ => shape.push(p),
        }
    }
    checked_elems(&shape).map_err(|e| err(e.to_string()))?;
    Ok(TensorType::new(dtype, shape))
}

/// The error for an input with symbolic dims and no pin: the declared shape, and the
/// `--input-shape` flag to pass, with the fixed dims filled in.
fn symbolic_message(
    name: &str,
    dims: &[proto::tensor_shape_proto::Dimension],
    fixed: &[Option<usize>],
) -> String {
    let declared: Vec<String> = dims
        .iter()
        .map(|d| match &d.value {
            Some(dimension::Value::DimValue(v)) => v.to_string(),
            Some(dimension::Value::DimParam(p)) if !p.is_empty() => p.clone(),
            _ => "?".to_string(),
        })
        .collect();
    let symbolic: Vec<String> = fixed
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_none())
        .map(|(i, _)| i.to_string())
        .collect();
    let example: Vec<String> = fixed
        .iter()
        .enumerate()
        .map(|(i, f)| f.map_or_else(|| format!("D{i}"), |v| v.to_string()))
        .collect();
    let (which, verb) = if symbolic.len() == 1 {
        ("dimension", "is")
    } else {
        ("dimensions", "are")
    };
    format!(
        "declared as [{}]: {which} {} {verb} symbolic; pin the shape with --input-shape {name}={} \
         (Builder::input_shape in a build script)",
        declared.join(", "),
        symbolic.join(", "),
        example.join(","),
    )
}

/// Checks a declared output type against the inferred one. A different element type is
/// an error (the caller's buffers would have the wrong type); a different shape is a
/// warning, returned as `Ok(Some(message))`: exporters often leave stale or placeholder
/// shapes on outputs, and the inferred shape is the one the generated code uses. Symbolic
/// dims (a `dim_param`, a `dim_value` of 0 or less, or an empty dim) match anything.
fn check_declared(
    vi: &proto::ValueInfoProto,
    inferred: &TensorType,
) -> Result<Option<String>, String> {
    let Some(type_proto::Value::TensorType(t)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Ok(None);
    };
    if t.elem_type != 0 && DType::from_onnx(t.elem_type) != Some(inferred.dtype) {
        return Err(format!(
            "declared as {} but computed as {}",
            DType::onnx_name(t.elem_type),
            inferred.dtype
        ));
    }
    let Some(shape) = &t.shape else {
        return Ok(None);
    };
    let declared: Vec<Option<i64>> = shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(dimension::Value::DimValue(v)) if v > 0 => Some(v),
            _ => None,
        })
        .collect();
    let agrees = declared.len() == inferred.rank()
        && declared
            .iter()
            .zip(&inferred.shape)
            .all(|(d, &s)| d.is_none_or(|d| d == s as i64));
    if agrees {
        return Ok(None);
    }
    let declared: Vec<String> = declared
        .iter()
        .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
        .collect();
    Ok(Some(format!(
        "graph output `{}` is declared with shape [{}] but computed as {inferred}; the generated code uses the computed shape",
        vi.name,
        declared.join(", ")
    )))
}
