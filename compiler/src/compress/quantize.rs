//! `zantc quantize`: post-training int8 quantization of a float ONNX model.
//!
//! **Static** (the default) writes a standard QDQ model, the format ONNX Runtime's
//! `quantize_static` writes and `passes::qdq` turns into integer ops:
//! - weights of Conv and of a MatMul by a constant matrix are int8, symmetric (zero point 0,
//!   codes in `[-127, 127]`, scale `max |w| / 127`), per output channel with `per_channel`
//!   (Conv axis 0, MatMul axis 1) and per tensor otherwise;
//! - biases (a Conv's third input, a MatMul's bias Add) are int32 at scale
//!   `x_scale · w_scale`, zero point 0, so the integer op adds them to its accumulator;
//! - activations are int8, asymmetric, per tensor: a range `[lo, hi]` from calibration
//!   ([`Method`]), widened to hold 0, gives `scale = (hi - lo) / 255` and the zero point
//!   that maps `lo` to -128. int8 rather than uint8 because ONNX Runtime's x86 kernels
//!   multiply int8 by int8 without the 16-bit saturation its uint8 × int8 path has on
//!   AVX2 machines, so its outputs are exact and zant's match them; zant's kernels take
//!   both, and int8 is also what CMSIS-NN runs on Cortex-M;
//! - each quantized activation gets `QuantizeLinear → DequantizeLinear` after its producer
//!   (every reader reads the DequantizeLinear); the ops quantized are Conv, MatMul (+ its
//!   bias Add), Gemm (rewritten as MatMul + Add), Add, Relu and Clip, max and average
//!   pooling, Concat, Reshape / Flatten / Squeeze / Unsqueeze / Transpose / Identity and
//!   Softmax;
//! - a Relu or Clip right after a Conv, MatMul or Add is quantized at its output only (no
//!   QDQ between the two), as ONNX Runtime does, so the integer op absorbs it;
//! - max pooling and the views share their input's scale and zero point, so they move int8
//!   data unchanged; Softmax's output takes the fixed scale 1/256 and zero point -128 of
//!   its `[0, 1]` range.
//!
//! **Dynamic** (`dynamic`) writes ONNX Runtime's dynamic format: int8 weights (uint8 with
//! zero point 128 for ConvInteger, whose ONNX Runtime kernel takes uint8 weights only),
//! and each MatMul or Conv input quantized at run time by `DynamicQuantizeLinear`, then
//! `MatMulInteger` / `ConvInteger`, a Cast to float and a Mul by `x_scale · w_scale`; the
//! bias stays a float Add.
//!
//! Before quantizing, the model is put in a canonical form: `Constant` nodes become
//! initializers, weights stored as DequantizeLinear of integers become float, every node
//! whose outputs import folds to constants becomes an initializer, a Conv followed by the
//! Add of a per-channel constant takes it as its bias, a Gemm without transposed `A`
//! becomes MatMul + Add, and a model below opset 13 (the first with per-axis
//! DequantizeLinear) is moved to opset 13. Everything else is left as it was read.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::calibrate::{self, Calibration, CalibrationError, Method, SampleFile};
use crate::ir::{DType, Data, Graph, Tensor, TensorType};
use crate::onnx::{self, ImportError, InputShape, ModelEdit, NodeDef, Source};

/// The opset quantized models are written at: the first with per-axis DequantizeLinear.
pub const MIN_OPSET: i64 = 13;

/// The fixed quantization of a Softmax output: `[0, 1]` in 256 steps of int8.
const SOFTMAX_SCALE: f32 = 1.0 / 256.0;
const SOFTMAX_ZERO: i8 = -128;

/// How to quantize.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeOptions {
    /// How activation ranges are chosen from calibration (static only).
    pub method: Method,
    /// One weight scale per output channel rather than per tensor.
    pub per_channel: bool,
    /// ONNX Runtime's dynamic format instead of a static QDQ model.
    pub dynamic: bool,
    /// Weights in 7 bits (codes in `[-63, 63]`), ONNX Runtime's `reduce_range`: its int8
    /// kernels on x86 CPUs without VNNI add pairs of 8-bit products in 16 bits, which
    /// saturate with full-range weights, so only 7-bit weights give outputs that do not
    /// depend on the machine ONNX Runtime runs on. zant's kernels never saturate.
    pub reduce_range: bool,
    /// Pins for symbolic input dims; an input left symbolic takes its calibration shape.
    pub input_shapes: Vec<InputShape>,
}

impl QuantizeOptions {
    /// The largest weight code.
    fn max_weight_code(&self) -> f32 {
        if self.reduce_range {
            63.0
        } else {
            127.0
        }
    }
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        Self {
            method: Method::MinMax,
            per_channel: false,
            dynamic: false,
            reduce_range: false,
            input_shapes: Vec::new(),
        }
    }
}

/// Why a model could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Calibration(#[from] CalibrationError),
    /// A node of an old opset that means something else at opset 13.
    #[error("node `{node}`: {op_type} (opset {opset}): {reason}; re-export the model at opset {MIN_OPSET} or later")]
    Opset {
        node: String,
        op_type: String,
        opset: i64,
        reason: String,
    },
    #[error(
        "tensor `{0}` has no calibration statistics: the model's IR has no value of that name"
    )]
    NoStats(String),
    #[error("a static quantization needs calibration samples: pass --calibration FILE.npy per graph input")]
    NoCalibration,
}

/// A quantized model and what was done to it.
#[derive(Clone, Debug)]
pub struct Quantized {
    /// The ONNX model, serialized.
    pub model: Vec<u8>,
    pub report: Report,
}

/// What quantization did, node by node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The nodes that now read int8 (or, dynamic, run on integers), as `(node, op type)`.
    pub quantized: Vec<(String, String)>,
    /// The nodes left in float and why, as `(node, op type, reason)`.
    pub float: Vec<(String, String, String)>,
    /// Activations given a QuantizeLinear → DequantizeLinear pair (static) or a
    /// DynamicQuantizeLinear (dynamic).
    pub activations: usize,
    /// Weight tensors stored as integers.
    pub weights: usize,
    /// Calibration samples run.
    pub n_samples: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for (_, op) in &self.quantized {
            match counts.iter_mut().find(|(o, _)| o == op) {
                Some((_, n)) => *n += 1,
                None => counts.push((op.clone(), 1)),
            }
        }
        let ops: Vec<String> = counts.iter().map(|(op, n)| format!("{op} {n}")).collect();
        writeln!(
            f,
            "quantized {} nodes ({}), {} weight tensors, {} activations",
            self.quantized.len(),
            ops.join(", "),
            self.weights,
            self.activations
        )?;
        for (node, op, reason) in &self.float {
            writeln!(f, "  float: {op} `{node}`: {reason}")?;
        }
        Ok(())
    }
}

/// Quantizes the model at `path`, calibrating a static quantization on the samples of
/// `calibration` (one file per graph input; a dynamic quantization needs none).
pub fn quantize(
    path: &Path,
    calibration: &[SampleFile],
    opts: &QuantizeOptions,
) -> Result<Quantized, QuantizeError> {
    let edit = ModelEdit::open(path)?;
    let samples = if calibration.is_empty() {
        Vec::new()
    } else {
        calibrate::load_samples(calibration, &edit.inputs())?
    };
    quantize_model(edit, &samples, opts)
}

/// Quantizes an opened model on in-memory samples (`samples[i][k]`: sample `i` of graph
/// input `k`).
pub fn quantize_model(
    mut edit: ModelEdit,
    samples: &[Vec<Tensor>],
    opts: &QuantizeOptions,
) -> Result<Quantized, QuantizeError> {
    if !opts.dynamic && samples.is_empty() {
        return Err(QuantizeError::NoCalibration);
    }
    let pins = pins(&edit, samples, &opts.input_shapes);
    let graph = prepare(&mut edit, &pins)?;
    let net = Net::new(&edit, &graph)?;
    let mut report = if opts.dynamic {
        dynamic(&mut edit, &net, opts)
    } else {
        let calibration = calibrate::calibrate(&graph, samples, opts.method.needs_histogram())?;
        static_qdq(&mut edit, &net, &calibration, opts)?
    };
    report.n_samples = if opts.dynamic { 0 } else { samples.len() };
    let opset = edit.opset("").unwrap_or(MIN_OPSET).max(MIN_OPSET);
    edit.set_opset("", opset);
    edit.remove_unused_initializers();
    edit.clear_value_info();
    edit.set_producer("zant", env!("CARGO_PKG_VERSION"));
    Ok(Quantized {
        model: edit.to_bytes(),
        report,
    })
}

/// The user's pins, and for every other input with a symbolic dim, the shape of its
/// first sample.
fn pins(edit: &ModelEdit, samples: &[Vec<Tensor>], user: &[InputShape]) -> Vec<InputShape> {
    let mut pins = user.to_vec();
    for (k, port) in edit.inputs().iter().enumerate() {
        let symbolic = port.dims.iter().any(Option::is_none);
        if !symbolic || pins.iter().any(|p| p.name == port.name) {
            continue;
        }
        if let Some(t) = samples.first().and_then(|s| s.get(k)) {
            pins.push(InputShape {
                name: port.name.clone(),
                dims: t.shape.clone(),
            });
        }
    }
    pins
}

/// Imports the model as it stands, without the optimizing passes.
fn import(edit: &ModelEdit, pins: &[InputShape]) -> Result<Graph, QuantizeError> {
    let bytes = edit.to_bytes();
    Ok(onnx::load(Source::Bytes(&bytes), pins, &[])?.graph)
}

/// Puts the model in the form the rewriting expects (see the module comment) and returns
/// its IR, whose value names are the ONNX tensor names.
fn prepare(edit: &mut ModelEdit, pins: &[InputShape]) -> Result<Graph, QuantizeError> {
    edit.constants_to_initializers()?;
    edit.fold_weight_dequantize()?;
    let graph = import(edit, pins)?;
    fold_constant_nodes(edit, &graph);
    upgrade_opset(edit, &graph)?;
    fuse_conv_bias(edit)?;
    gemm_to_matmul(edit)?;
    edit.remove_unused_initializers();
    edit.clear_value_info();
    import(edit, pins)
}

/// The IR values by ONNX name.
fn values_by_name(graph: &Graph) -> HashMap<String, crate::ir::ValueId> {
    let mut map = HashMap::new();
    for id in graph.node_ids() {
        for (slot, v) in graph.node(id).outputs.iter().enumerate() {
            map.insert(
                v.name.clone(),
                crate::ir::ValueId {
                    node: id,
                    slot: slot as u32,
                },
            );
        }
    }
    map
}

/// Replaces every node whose outputs import folded to constants (shape arithmetic, a
/// Reshape of a weight) by initializers holding those constants.
fn fold_constant_nodes(edit: &mut ModelEdit, graph: &Graph) {
    let values = values_by_name(graph);
    let outputs: HashSet<String> = edit.outputs().into_iter().map(|o| o.name).collect();
    let mut kept = Vec::new();
    let mut folded = Vec::new();
    for node in edit.nodes() {
        let names: Vec<&String> = node.outputs.iter().filter(|o| !o.is_empty()).collect();
        let consts: Option<Vec<Tensor>> = names
            .iter()
            .map(|o| {
                values
                    .get(o.as_str())
                    .and_then(|&v| graph.const_value(v))
                    .cloned()
            })
            .collect();
        match consts {
            Some(ts) if !names.is_empty() && names.iter().all(|o| !outputs.contains(*o)) => {
                folded.extend(names.into_iter().cloned().zip(ts));
            }
            _ => kept.push(node),
        }
    }
    for (name, t) in &folded {
        edit.set_initializer(name, t);
    }
    edit.set_nodes(kept);
}

/// Moves a model below opset 13 to opset 13: the ops whose attributes became inputs get
/// them as initializers, the ops whose meaning changed are checked, and the rest (whose
/// later versions only add types) are left as they are. Only the `ai.onnx` domain moves.
fn upgrade_opset(edit: &mut ModelEdit, graph: &Graph) -> Result<(), QuantizeError> {
    let opset = edit.opset("").unwrap_or(1);
    if opset >= MIN_OPSET {
        return Ok(());
    }
    let values = values_by_name(graph);
    let rank = |name: &str| values.get(name).map(|&v| graph.ty(v).rank());
    let mut names = Names::new(edit);
    let mut new_inits = Vec::new();
    let mut nodes = edit.nodes();
    for node in &mut nodes {
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            continue;
        }
        let refuse = |reason: &str| QuantizeError::Opset {
            node: node.name.clone(),
            op_type: node.op_type.clone(),
            opset,
            reason: reason.to_string(),
        };
        if node
            .attr_names()
            .iter()
            .any(|a| *a == "consumed_inputs" || *a == "broadcast")
        {
            return Err(refuse(
                "its legacy attributes (consumed_inputs, broadcast) have no opset 13 form",
            ));
        }
        let first_out = node.outputs.first().cloned().unwrap_or_default();
        // An attribute that became input `index`.
        let mut to_input = |node: &mut NodeDef, attr: &str, index: usize, tensor: Tensor| {
            let name = names.fresh(&format!("{first_out}_{attr}"));
            node.remove_attr(attr);
            while node.inputs.len() < index {
                node.inputs.push(String::new());
            }
            node.inputs.insert(index, name.clone());
            new_inits.push((name, tensor));
        };
        match node.op_type.as_str() {
            "Squeeze" | "Unsqueeze" | "ReduceSum" => {
                if let Some(axes) = node.ints("axes").map(<[i64]>::to_vec) {
                    let t = Tensor::new(vec![axes.len()], Data::I64(axes));
                    to_input(node, "axes", 1, t);
                }
            }
            "Split" => {
                if let Some(split) = node.ints("split").map(<[i64]>::to_vec) {
                    let t = Tensor::new(vec![split.len()], Data::I64(split));
                    to_input(node, "split", 1, t);
                }
            }
            "Clip" if opset < 11 => {
                let (min, max) = (node.float("min"), node.float("max"));
                node.remove_attr("min");
                node.remove_attr("max");
                node.inputs.truncate(1);
                for (k, bound) in [(1, min), (2, max)] {
                    if let Some(b) = bound {
                        to_input(
                            node,
                            if k == 1 { "min" } else { "max" },
                            k,
                            Tensor::scalar_f32(b),
                        );
                    }
                }
            }
            "Softmax" | "LogSoftmax" | "Hardmax" => {
                // Before opset 13 these flatten the input to 2-D at `axis`; from 13 on they
                // normalize along `axis` alone. The two agree when `axis` is the last.
                let axis = node.int("axis").unwrap_or(1);
                let r = node.inputs.first().and_then(|i| rank(i)).unwrap_or(0) as i64;
                let last = if axis < 0 { axis + r } else { axis } == r - 1;
                if !last {
                    return Err(refuse(&format!(
                        "axis {axis} of a rank-{r} input means another normalization at opset 13"
                    )));
                }
                node.set_int("axis", -1);
            }
            "Dropout" if opset < 12 => {
                node.remove_attr("ratio");
                node.remove_attr("is_test");
            }
            "BatchNormalization" if opset < 9 => {
                if node.int("spatial").unwrap_or(1) != 1 {
                    return Err(refuse("spatial=0 has no opset 13 form"));
                }
                node.remove_attr("spatial");
                node.remove_attr("is_test");
            }
            "Upsample" => return Err(refuse("Upsample was removed from ONNX")),
            "Slice" | "TopK" if opset < 10 => {
                return Err(refuse("its attributes became inputs at opset 10"))
            }
            "Pad" | "Resize" if opset < 11 => {
                return Err(refuse("its attributes changed at opset 11"))
            }
            "Scan" if opset < 9 => return Err(refuse("opset 9 redefined Scan")),
            _ => {}
        }
    }
    for (name, t) in &new_inits {
        edit.set_initializer(name, t);
    }
    edit.set_nodes(nodes);
    edit.set_opset("", MIN_OPSET);
    Ok(())
}

/// `Conv(x, w) → Add(c)` where `c` is constant and adds one value per output channel
/// becomes `Conv(x, w, bias)`, as exporters that spell the bias out (mnist-8) mean.
fn fuse_conv_bias(edit: &mut ModelEdit) -> Result<(), QuantizeError> {
    let mut nodes = edit.nodes();
    let outputs: HashSet<String> = edit.outputs().into_iter().map(|o| o.name).collect();
    let readers = readers(&nodes);
    let mut names = Names::new(edit);
    let mut gone = HashSet::new();
    let mut biases = Vec::new();
    for i in 0..nodes.len() {
        let conv = &nodes[i];
        if conv.op_type != "Conv" || !is_default_domain(conv) || conv.inputs.len() > 2 {
            continue;
        }
        let Some(w) = conv
            .inputs
            .get(1)
            .map(|w| edit.initializer(w))
            .transpose()?
            .flatten()
        else {
            continue;
        };
        let out = conv.outputs[0].clone();
        let Some(&[add_idx]) = readers.get(&out).map(Vec::as_slice) else {
            continue;
        };
        let add = &nodes[add_idx];
        if add.op_type != "Add" || !is_default_domain(add) || outputs.contains(&out) {
            continue;
        }
        let Some(other) = add.inputs.iter().find(|n| **n != out) else {
            continue;
        };
        let Some(c) = edit.initializer(other)? else {
            continue;
        };
        let m = w.shape[0];
        let mut padded = vec![1; w.shape.len().saturating_sub(c.shape.len())];
        padded.extend(&c.shape);
        let per_channel = padded.len() == w.shape.len()
            && padded[1] == m
            && padded.iter().enumerate().all(|(k, &d)| k == 1 || d == 1);
        if !per_channel || c.dtype() != DType::F32 || w.dtype() != DType::F32 {
            continue;
        }
        let bias = names.fresh(&format!("{other}_bias"));
        biases.push((bias.clone(), Tensor::new(vec![m], c.data.clone())));
        let add_out = add.outputs[0].clone();
        let conv = &mut nodes[i];
        conv.inputs.push(bias);
        conv.outputs[0] = add_out;
        gone.insert(add_idx);
    }
    for (name, t) in &biases {
        edit.set_initializer(name, t);
    }
    let kept = nodes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !gone.contains(i))
        .map(|(_, n)| n)
        .collect();
    edit.set_nodes(kept);
    Ok(())
}

/// `Gemm(a, b, c)` with `transA = 0`, `alpha = 1`, a constant `b` and a constant row bias
/// `c` (`beta = 1`) becomes `MatMul(a, b or bᵀ) → Add(c)`, the form whose QDQ groups
/// become QGemm; any other Gemm stays and runs in float.
fn gemm_to_matmul(edit: &mut ModelEdit) -> Result<(), QuantizeError> {
    let mut names = Names::new(edit);
    let mut nodes = Vec::new();
    for node in edit.nodes() {
        if node.op_type != "Gemm" || !is_default_domain(&node) {
            nodes.push(node);
            continue;
        }
        let plain = node.int("transA").unwrap_or(0) == 0
            && node.float("alpha").unwrap_or(1.0) == 1.0
            && node.float("beta").unwrap_or(1.0) == 1.0;
        let b = node
            .inputs
            .get(1)
            .map(|b| edit.initializer(b))
            .transpose()?
            .flatten();
        let c_name = node.inputs.get(2).filter(|c| !c.is_empty()).cloned();
        let c = c_name
            .as_ref()
            .map(|c| edit.initializer(c))
            .transpose()?
            .flatten();
        let Some(b) = b.filter(|b| plain && b.shape.len() == 2 && b.dtype() == DType::F32) else {
            nodes.push(node);
            continue;
        };
        let trans_b = node.int("transB").unwrap_or(0) != 0;
        let n = if trans_b { b.shape[0] } else { b.shape[1] };
        let row_bias = |c: &Tensor| c.shape == [n] || c.shape == [1, n];
        if c_name.is_some() && !c.as_ref().is_some_and(row_bias) {
            nodes.push(node);
            continue;
        }
        let b_name = if trans_b {
            let name = names.fresh(&format!("{}_transposed", node.inputs[1]));
            edit.set_initializer(&name, &transpose_2d(&b));
            name
        } else {
            node.inputs[1].clone()
        };
        let y = node.outputs[0].clone();
        let product = if c_name.is_some() {
            names.fresh(&format!("{y}_MatMul"))
        } else {
            y.clone()
        };
        nodes.push(NodeDef::new(
            "MatMul",
            names.fresh(&format!("{}_MatMul", node.name)),
            vec![node.inputs[0].clone(), b_name],
            vec![product.clone()],
        ));
        if let Some(c) = c_name {
            nodes.push(NodeDef::new(
                "Add",
                names.fresh(&format!("{}_Add", node.name)),
                vec![product, c],
                vec![y],
            ));
        }
    }
    edit.set_nodes(nodes);
    Ok(())
}

fn transpose_2d(t: &Tensor) -> Tensor {
    let (rows, cols) = (t.shape[0], t.shape[1]);
    let v = t.as_f32().unwrap_or(&[]);
    let data = (0..cols * rows)
        .map(|i| v[(i % rows) * cols + i / rows])
        .collect();
    Tensor::new(vec![cols, rows], Data::F32(data))
}

fn is_default_domain(node: &NodeDef) -> bool {
    node.domain.is_empty() || node.domain == "ai.onnx"
}

/// The nodes reading each tensor, by index.
fn readers(nodes: &[NodeDef]) -> HashMap<String, Vec<usize>> {
    let mut map: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        for input in n.inputs.iter().filter(|s| !s.is_empty()) {
            let readers = map.entry(input.clone()).or_default();
            if readers.last() != Some(&i) {
                readers.push(i);
            }
        }
    }
    map
}

/// Fresh tensor and node names, unique in the model.
struct Names {
    used: HashSet<String>,
}

impl Names {
    fn new(edit: &ModelEdit) -> Self {
        let mut used: HashSet<String> = edit.initializer_names().into_iter().collect();
        for n in edit.nodes() {
            used.insert(n.name.clone());
            used.extend(n.inputs.iter().cloned());
            used.extend(n.outputs.iter().cloned());
        }
        used.extend(edit.inputs().into_iter().map(|p| p.name));
        used.extend(edit.outputs().into_iter().map(|p| p.name));
        Self { used }
    }

    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

/// The prepared model as the rewriting reads it.
struct Net {
    nodes: Vec<NodeDef>,
    /// Float initializers, decoded.
    weights: HashMap<String, Tensor>,
    /// Every tensor that is an initializer.
    inits: HashSet<String>,
    /// The type of every value import computed, by ONNX name.
    types: HashMap<String, TensorType>,
    producer: HashMap<String, usize>,
    readers: HashMap<String, Vec<usize>>,
    inputs: Vec<String>,
    outputs: HashSet<String>,
}

impl Net {
    fn new(edit: &ModelEdit, graph: &Graph) -> Result<Self, QuantizeError> {
        let nodes = edit.nodes();
        let mut weights = HashMap::new();
        let inits: HashSet<String> = edit.initializer_names().into_iter().collect();
        for name in &inits {
            if let Some(t) = edit.initializer(name)? {
                if t.dtype() == DType::F32 {
                    weights.insert(name.clone(), t);
                }
            }
        }
        let types = values_by_name(graph)
            .into_iter()
            .map(|(name, v)| (name, graph.ty(v).clone()))
            .collect();
        let mut producer = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            for o in n.outputs.iter().filter(|o| !o.is_empty()) {
                producer.insert(o.clone(), i);
            }
        }
        Ok(Self {
            readers: readers(&nodes),
            nodes,
            weights,
            inits,
            types,
            producer,
            inputs: edit.inputs().into_iter().map(|p| p.name).collect(),
            outputs: edit.outputs().into_iter().map(|p| p.name).collect(),
        })
    }

    /// A float tensor computed at run time (a graph input or a node's output).
    fn is_activation(&self, name: &str) -> bool {
        !name.is_empty()
            && !self.inits.contains(name)
            && self.types.get(name).is_some_and(|t| t.dtype == DType::F32)
    }

    /// A float initializer of rank `rank` (any rank for `None`).
    fn weight(&self, name: &str, rank: Option<usize>) -> Option<&Tensor> {
        self.weights
            .get(name)
            .filter(|t| rank.is_none_or(|r| t.shape.len() == r))
    }

    fn sole_reader(&self, name: &str) -> Option<usize> {
        match self.readers.get(name).map(Vec::as_slice) {
            Some(&[r]) if !self.outputs.contains(name) => Some(r),
            _ => None,
        }
    }

    fn input(&self, node: usize, k: usize) -> &str {
        self.nodes[node].inputs.get(k).map_or("", String::as_str)
    }
}

/// What a node becomes in a static quantization.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    /// Input 0 quantized, weight 1 int8, bias 2 int32.
    Conv,
    /// Input 0 quantized, constant matrix 1 int8.
    MatMul,
    /// The bias Add after a [`Role::MatMul`] (`matmul`), its constant `bias` input int32.
    BiasAdd {
        matmul: usize,
        bias: usize,
    },
    /// Every float input quantized (constant ones per tensor, like activations).
    Add,
    /// Relu or Clip.
    Activation,
    /// Max pooling and the views: the output shares the input's quantization.
    SameScale,
    /// Average pooling.
    Pool,
    Concat,
    Softmax,
}

impl Role {
    /// Whether a Relu or Clip right after it is absorbed (quantized at its output only).
    fn absorbs_activation(self) -> bool {
        matches!(
            self,
            Role::Conv | Role::MatMul | Role::BiasAdd { .. } | Role::Add
        )
    }
}

/// The role of node `i`, or why it stays float.
fn classify(net: &Net, roles: &[Option<Role>], i: usize) -> Result<Role, String> {
    let node = &net.nodes[i];
    if !is_default_domain(node) {
        return Err(format!("ops of domain {} are not quantized", node.domain));
    }
    let x = net.input(i, 0);
    let float_input = |name: &str| -> Result<(), String> {
        if net.is_activation(name) {
            Ok(())
        } else {
            Err(format!(
                "its input `{name}` is not a float tensor computed at run time"
            ))
        }
    };
    match node.op_type.as_str() {
        "Conv" => {
            float_input(x)?;
            let w = net
                .weight(net.input(i, 1), None)
                .filter(|w| w.shape.len() >= 3)
                .ok_or("its weight is not a float initializer")?;
            let bias = net.input(i, 2);
            if !bias.is_empty()
                && net
                    .weight(bias, Some(1))
                    .is_none_or(|b| b.shape[0] != w.shape[0])
            {
                return Err(
                    "its bias is not a float initializer with one value per channel".into(),
                );
            }
            Ok(Role::Conv)
        }
        "MatMul" => {
            float_input(x)?;
            if net.types.get(x).is_none_or(|t| t.rank() < 2) {
                return Err("its input is a vector, not a matrix".into());
            }
            net.weight(net.input(i, 1), Some(2))
                .ok_or("only a product by a constant float matrix is quantized")?;
            Ok(Role::MatMul)
        }
        "Add" => {
            let (a, b) = (net.input(i, 0), net.input(i, 1));
            for (mm_side, bias) in [(a, 1), (b, 0)] {
                let Some(&m) = net.producer.get(mm_side) else {
                    continue;
                };
                if roles[m] != Some(Role::MatMul) || net.sole_reader(mm_side) != Some(i) {
                    continue;
                }
                let w = &net.weights[net.input(m, 1)];
                let n = w.shape[1];
                let row = net.input(i, bias);
                let a_rank = net.types.get(net.input(m, 0)).map_or(0, TensorType::rank);
                if a_rank == 2
                    && net
                        .weight(row, None)
                        .is_some_and(|c| c.shape == [n] || c.shape == [1, n])
                {
                    return Ok(Role::BiasAdd { matmul: m, bias });
                }
            }
            let operands = [a, b];
            if operands.iter().any(|o| net.is_activation(o))
                && operands
                    .iter()
                    .all(|o| net.is_activation(o) || net.weight(o, None).is_some())
            {
                Ok(Role::Add)
            } else {
                Err("its operands are not float tensors".into())
            }
        }
        "Relu" => float_input(x).map(|_| Role::Activation),
        "Clip" => {
            float_input(x)?;
            for k in [1, 2] {
                let bound = net.input(i, k);
                if !bound.is_empty() && net.weight(bound, None).is_none() {
                    return Err("its bounds are not constants".into());
                }
            }
            Ok(Role::Activation)
        }
        "MaxPool" => {
            float_input(x)?;
            if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
                return Err("its indices output is used".into());
            }
            Ok(Role::SameScale)
        }
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" | "Transpose" | "Identity" => {
            float_input(x).map(|_| Role::SameScale)
        }
        "AveragePool" | "GlobalAveragePool" => float_input(x).map(|_| Role::Pool),
        "Concat" => {
            let ok = node.inputs.iter().any(|n| net.is_activation(n))
                && node
                    .inputs
                    .iter()
                    .all(|n| net.is_activation(n) || net.weight(n, None).is_some());
            if ok {
                Ok(Role::Concat)
            } else {
                Err("its inputs are not float tensors".into())
            }
        }
        "Softmax" => float_input(x).map(|_| Role::Softmax),
        op => Err(format!("ONNX Runtime's QDQ format has no integer {op}")),
    }
}

/// A quantization of an 8-bit tensor: scale and zero point.
#[derive(Clone, Copy, Debug, PartialEq)]
struct QParams {
    scale: f32,
    zero: i8,
}

/// The int8 quantization of `[lo, hi]`, widened to hold 0 so that zero (padding, a
/// Relu's floor) is exact: 255 steps from `lo` at -128. A range of one point gets scale 1.
fn activation_params(lo: f32, hi: f32) -> QParams {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = (hi - lo) / 255.0;
    if !(scale > 0.0 && scale.is_finite()) {
        return QParams {
            scale: 1.0,
            zero: -128,
        };
    }
    let zero = (-128.0 - lo / scale).round_ties_even().clamp(-128.0, 127.0) as i8;
    QParams { scale, zero }
}

/// The largest bias code: zant folds the input zero point's share into the `i32` bias
/// (`bias - x_zero · Σ w`, at most 2^30 for any layer of up to 64 K weights a channel), so
/// the bias keeps half of the `i32` range.
const MAX_BIAS_CODE: f64 = (1u32 << 30) as f64;

/// The symmetric weight scales of `w`: one per slice of `axis`, or one for the tensor,
/// `max |w| / max_code` (1 for an all-zero slice). With a `bias` and its input's scale, a
/// scale is widened where the bias would not fit [`MAX_BIAS_CODE`] at `x_scale · w_scale`
/// (a tiny input range and a large bias), trading weight precision for a bias that fits.
fn weight_scales(
    w: &Tensor,
    axis: Option<usize>,
    max_code: f32,
    bias: Option<(&Tensor, f32)>,
) -> Vec<f32> {
    let values = w.as_f32().unwrap_or(&[]);
    let (channels, inner) = slices(w, axis);
    let mut abs_max = vec![0f32; channels];
    for (i, &v) in values.iter().enumerate() {
        let c = (i / inner) % channels;
        abs_max[c] = abs_max[c].max(v.abs());
    }
    let mut scales: Vec<f32> = abs_max
        .iter()
        .map(|&m| {
            if m > 0.0 && m.is_finite() {
                m / max_code
            } else {
                1.0
            }
        })
        .collect();
    if let Some((b, x_scale)) = bias {
        for (i, &v) in b.as_f32().unwrap_or(&[]).iter().enumerate() {
            let c = if channels == 1 { 0 } else { i % channels };
            let needed = (f64::from(v.abs()) / (f64::from(x_scale) * MAX_BIAS_CODE)) as f32;
            if needed.is_finite() && needed > scales[c] {
                scales[c] = needed;
            }
        }
    }
    scales
}

/// The number of slices of `axis` (1 without) and the elements of each contiguous run.
fn slices(w: &Tensor, axis: Option<usize>) -> (usize, usize) {
    match axis {
        Some(a) => (w.shape[a], w.shape[a + 1..].iter().product::<usize>()),
        None => (1, w.n_elems().max(1)),
    }
}

/// Symmetric int8 codes of `w` at `scales` (from [`weight_scales`]), in
/// `[-max_code, max_code]`.
fn quantize_weight(w: &Tensor, axis: Option<usize>, scales: &[f32], max_code: f32) -> Vec<i8> {
    let (channels, inner) = slices(w, axis);
    w.as_f32()
        .unwrap_or(&[])
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            (v / scales[(i / inner) % channels])
                .round_ties_even()
                .clamp(-max_code, max_code) as i8
        })
        .collect()
}

/// The int32 codes of a bias at scale `x_scale · w_scale` per channel (of its last axis).
fn quantize_bias(b: &Tensor, x_scale: f32, w_scales: &[f32]) -> (Vec<i32>, Vec<f32>) {
    let values = b.as_f32().unwrap_or(&[]);
    let scales: Vec<f32> = w_scales.iter().map(|&w| x_scale * w).collect();
    let codes = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let s = scales[if scales.len() == 1 {
                0
            } else {
                i % scales.len()
            }];
            (f64::from(v) / f64::from(s))
                .round_ties_even()
                .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
        })
        .collect();
    (codes, scales)
}

/// A scale or zero-point tensor: a scalar for one value, else a vector.
fn params_tensor(data: Data) -> Tensor {
    let shape = if data.len() == 1 {
        vec![]
    } else {
        vec![data.len()]
    };
    Tensor::new(shape, data)
}

/// Writes the static QDQ model.
fn static_qdq(
    edit: &mut ModelEdit,
    net: &Net,
    calibration: &Calibration,
    opts: &QuantizeOptions,
) -> Result<Report, QuantizeError> {
    let n = net.nodes.len();
    let mut roles: Vec<Option<Role>> = vec![None; n];
    let mut report = Report::default();
    for i in 0..n {
        match classify(net, &roles, i) {
            Ok(role) => roles[i] = Some(role),
            Err(reason) => {
                let node = &net.nodes[i];
                report
                    .float
                    .push((node.name.clone(), node.op_type.clone(), reason));
            }
        }
    }
    // Values inside a group that the integer op computes in one go: a Conv's or MatMul's
    // output read only by its Relu, a MatMul's output read only by its bias Add.
    let mut fused: HashSet<&str> = HashSet::new();
    for i in 0..n {
        match roles[i] {
            Some(Role::Activation) => {
                let x = net.input(i, 0);
                let absorbing = net
                    .producer
                    .get(x)
                    .and_then(|&p| roles[p])
                    .is_some_and(Role::absorbs_activation);
                if absorbing && net.sole_reader(x) == Some(i) {
                    fused.insert(x);
                }
            }
            Some(Role::BiasAdd { matmul, .. }) => {
                fused.insert(net.nodes[matmul].outputs[0].as_str());
            }
            _ => {}
        }
    }
    // The activations to quantize, in the order they appear.
    let mut quantized: Vec<&str> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut push = |name: &str| {
        if !name.is_empty() && !fused.contains(name) && net.is_activation(name) {
            if let Some(name) = net.types.get_key_value(name).map(|(k, _)| k.as_str()) {
                if seen.insert(name) {
                    quantized.push(name);
                }
            }
        }
    };
    for (i, role) in roles.iter().enumerate() {
        let Some(role) = *role else { continue };
        let node = &net.nodes[i];
        match role {
            Role::BiasAdd { .. } => {}
            Role::Add | Role::Concat => node.inputs.iter().for_each(|x| push(x)),
            _ => push(net.input(i, 0)),
        }
        push(&node.outputs[0]);
    }
    let in_set: HashSet<&str> = quantized.iter().copied().collect();

    // Scales and zero points, producers first so shared ones are known.
    let mut params: HashMap<&str, QParams> = HashMap::new();
    let from_stats = |name: &str| -> Result<QParams, QuantizeError> {
        let stats = calibration
            .tensors
            .get(name)
            .ok_or_else(|| QuantizeError::NoStats(name.to_string()))?;
        let (lo, hi) = stats.range(opts.method);
        Ok(activation_params(lo, hi))
    };
    for name in &net.inputs {
        if let Some(&t) = in_set.get(name.as_str()) {
            params.insert(t, from_stats(t)?);
        }
    }
    for (i, role) in roles.iter().enumerate() {
        for out in &net.nodes[i].outputs {
            let Some(&t) = in_set.get(out.as_str()) else {
                continue;
            };
            let p = match role {
                Some(Role::SameScale) => match params.get(net.input(i, 0)) {
                    Some(&p) => p,
                    None => from_stats(t)?,
                },
                Some(Role::Softmax) => QParams {
                    scale: SOFTMAX_SCALE,
                    zero: SOFTMAX_ZERO,
                },
                _ => from_stats(t)?,
            };
            params.insert(t, p);
        }
    }

    let mut names = Names::new(edit);
    let mut inits: Vec<(String, Tensor)> = Vec::new();
    // Where readers of a quantized activation read its DequantizeLinear.
    let mut reads: HashMap<String, String> = HashMap::new();
    // Graph outputs keep their name on the DequantizeLinear; their producer writes this.
    let mut renamed_outputs: HashMap<String, String> = HashMap::new();
    let mut qdq_nodes: HashMap<&str, Vec<NodeDef>> = HashMap::new();
    for &t in &quantized {
        let p = params[t];
        let scale = names.fresh(&format!("{t}_scale"));
        let zero = names.fresh(&format!("{t}_zero_point"));
        inits.push((scale.clone(), Tensor::scalar_f32(p.scale)));
        inits.push((zero.clone(), Tensor::new(vec![], Data::I8(vec![p.zero]))));
        let q_out = names.fresh(&format!("{t}_QuantizeLinear_Output"));
        let (q_in, dq_out) = if net.outputs.contains(t) {
            let pre = names.fresh(&format!("{t}_QuantizeLinear_Input"));
            renamed_outputs.insert(t.to_string(), pre.clone());
            (pre, t.to_string())
        } else {
            let dq_out = names.fresh(&format!("{t}_DequantizeLinear_Output"));
            reads.insert(t.to_string(), dq_out.clone());
            (t.to_string(), dq_out)
        };
        let q = NodeDef::new(
            "QuantizeLinear",
            names.fresh(&format!("{t}_QuantizeLinear")),
            vec![q_in, scale.clone(), zero.clone()],
            vec![q_out.clone()],
        );
        let dq = NodeDef::new(
            "DequantizeLinear",
            names.fresh(&format!("{t}_DequantizeLinear")),
            vec![q_out, scale, zero],
            vec![dq_out],
        );
        qdq_nodes.insert(t, vec![q, dq]);
    }
    report.activations = quantized.len();

    let mut out_nodes: Vec<NodeDef> = Vec::new();
    for name in &net.inputs {
        if let Some(nodes) = qdq_nodes.remove(name.as_str()) {
            out_nodes.extend(nodes);
        }
    }
    let max_code = opts.max_weight_code();
    // The float bias a Conv or MatMul gets: its third input, or its bias Add's constant.
    let layer_bias = |i: usize| -> Option<&Tensor> {
        match roles[i]? {
            Role::Conv => net.weight(net.input(i, 2), Some(1)),
            Role::MatMul => roles.iter().enumerate().find_map(|(j, r)| match r {
                Some(Role::BiasAdd { matmul, bias }) if *matmul == i => {
                    net.weight(net.input(j, *bias), None)
                }
                _ => None,
            }),
            _ => None,
        }
    };
    for i in 0..n {
        let mut node = net.nodes[i].clone();
        // The integer forms of this node's constant inputs, as (input index, DQ node).
        let mut constant_dqs: Vec<(usize, NodeDef)> = Vec::new();
        match roles[i] {
            Some(Role::Conv) | Some(Role::MatMul) => {
                let conv = roles[i] == Some(Role::Conv);
                let w = &net.weights[net.input(i, 1)];
                let axis = opts.per_channel.then_some(if conv { 0 } else { 1 });
                let x_scale = params[net.input(i, 0)].scale;
                let w_scales =
                    weight_scales(w, axis, max_code, layer_bias(i).map(|b| (b, x_scale)));
                let codes = quantize_weight(w, axis, &w_scales, max_code);
                let dq = constant_dq(
                    &mut names,
                    &mut inits,
                    net.input(i, 1),
                    Tensor::new(w.shape.clone(), Data::I8(codes)),
                    w_scales.clone(),
                    Data::I8(vec![0; w_scales.len()]),
                    axis.filter(|_| w_scales.len() > 1),
                );
                constant_dqs.push((1, dq));
                report.weights += 1;
                let bias = net.input(i, 2);
                if conv && !bias.is_empty() {
                    let b = &net.weights[bias];
                    let (codes, b_scales) = quantize_bias(b, x_scale, &w_scales);
                    let axis = (b_scales.len() > 1).then_some(0);
                    let dq = constant_dq(
                        &mut names,
                        &mut inits,
                        bias,
                        Tensor::new(b.shape.clone(), Data::I32(codes)),
                        b_scales.clone(),
                        Data::I32(vec![0; b_scales.len()]),
                        axis,
                    );
                    constant_dqs.push((2, dq));
                    report.weights += 1;
                }
            }
            Some(Role::BiasAdd { matmul, bias }) => {
                // The MatMul's scales, as its own arm computed them.
                let x_scale = params[net.input(matmul, 0)].scale;
                let w = &net.weights[net.input(matmul, 1)];
                let axis = opts.per_channel.then_some(1);
                let b = &net.weights[net.input(i, bias)];
                let w_scales = weight_scales(w, axis, max_code, Some((b, x_scale)));
                let (codes, b_scales) = quantize_bias(b, x_scale, &w_scales);
                let axis = (b_scales.len() > 1).then_some(b.shape.len() - 1);
                let dq = constant_dq(
                    &mut names,
                    &mut inits,
                    net.input(i, bias),
                    Tensor::new(b.shape.clone(), Data::I32(codes)),
                    b_scales.clone(),
                    Data::I32(vec![0; b_scales.len()]),
                    axis,
                );
                constant_dqs.push((bias, dq));
                report.weights += 1;
            }
            Some(Role::Add) | Some(Role::Concat) => {
                for (k, input) in node.inputs.iter().enumerate() {
                    let Some(c) = net.weight(input, None) else {
                        continue;
                    };
                    let values = c.as_f32().unwrap_or(&[]);
                    let lo = values.iter().copied().fold(f32::INFINITY, f32::min);
                    let hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let p = activation_params(lo, hi);
                    let codes = values
                        .iter()
                        .map(|&v| {
                            ((v / p.scale).round_ties_even() + f32::from(p.zero))
                                .clamp(-128.0, 127.0) as i8
                        })
                        .collect();
                    // An asymmetric constant, quantized like an activation over its own range.
                    let dq = constant_dq(
                        &mut names,
                        &mut inits,
                        input,
                        Tensor::new(c.shape.clone(), Data::I8(codes)),
                        vec![p.scale],
                        Data::I8(vec![p.zero]),
                        None,
                    );
                    constant_dqs.push((k, dq));
                    report.weights += 1;
                }
            }
            _ => {}
        }
        for input in node.inputs.iter_mut() {
            if let Some(dq_out) = reads.get(input.as_str()) {
                *input = dq_out.clone();
            }
        }
        for (k, dq) in constant_dqs {
            node.inputs[k] = dq.outputs[0].clone();
            out_nodes.push(dq);
        }
        for out in node.outputs.iter_mut() {
            if let Some(pre) = renamed_outputs.get(out.as_str()) {
                *out = pre.clone();
            }
        }
        if let Some(role) = roles[i] {
            let op = match role {
                Role::BiasAdd { .. } => "Add (MatMul bias)".to_string(),
                _ => node.op_type.clone(),
            };
            report.quantized.push((node.name.clone(), op));
        }
        out_nodes.push(node);
        for out in &net.nodes[i].outputs {
            if let Some(nodes) = qdq_nodes.remove(out.as_str()) {
                out_nodes.extend(nodes);
            }
        }
    }
    for (name, t) in &inits {
        edit.set_initializer(name, t);
    }
    edit.set_nodes(out_nodes);
    Ok(report)
}

/// Adds the initializers of a constant stored as integers (`codes`, with `scales` and
/// `zeros` per tensor or along `axis`) and returns the DequantizeLinear that reads them.
#[allow(clippy::too_many_arguments)]
fn constant_dq(
    names: &mut Names,
    inits: &mut Vec<(String, Tensor)>,
    source: &str,
    codes: Tensor,
    scales: Vec<f32>,
    zeros: Data,
    axis: Option<usize>,
) -> NodeDef {
    let q_name = names.fresh(&format!("{source}_quantized"));
    let s_name = names.fresh(&format!("{source}_quantized_scale"));
    let z_name = names.fresh(&format!("{source}_quantized_zero_point"));
    inits.push((q_name.clone(), codes));
    inits.push((s_name.clone(), params_tensor(Data::F32(scales))));
    inits.push((z_name.clone(), params_tensor(zeros)));
    let mut dq = NodeDef::new(
        "DequantizeLinear",
        names.fresh(&format!("{source}_DequantizeLinear")),
        vec![q_name, s_name, z_name],
        vec![names.fresh(&format!("{source}_DequantizeLinear_Output"))],
    );
    if let Some(a) = axis {
        dq.set_int("axis", a as i64);
    }
    dq
}

/// Writes ONNX Runtime's dynamic format.
fn dynamic(edit: &mut ModelEdit, net: &Net, opts: &QuantizeOptions) -> Report {
    let mut names = Names::new(edit);
    let mut report = Report::default();
    let mut inits: Vec<(String, Tensor)> = Vec::new();
    let mut out_nodes = Vec::new();
    // The DynamicQuantizeLinear outputs (data, scale, zero point) of each input quantized.
    let mut quantized_inputs: HashMap<String, [String; 3]> = HashMap::new();
    for (i, node) in net.nodes.iter().enumerate() {
        let x = net.input(i, 0);
        let conv = node.op_type == "Conv"
            && is_default_domain(node)
            && net.is_activation(x)
            && net
                .weight(net.input(i, 1), None)
                .is_some_and(|w| w.shape.len() >= 3);
        let matmul = node.op_type == "MatMul"
            && is_default_domain(node)
            && net.is_activation(x)
            && net.types.get(x).is_some_and(|t| t.rank() >= 2)
            && net.weight(net.input(i, 1), Some(2)).is_some();
        if !(conv || matmul) {
            if is_default_domain(node) && matches!(node.op_type.as_str(), "Conv" | "MatMul") {
                report.float.push((
                    node.name.clone(),
                    node.op_type.clone(),
                    "only a product by a constant float weight is quantized".into(),
                ));
            }
            out_nodes.push(node.clone());
            continue;
        }
        let [xq, x_scale, x_zero] = quantized_inputs
            .entry(x.to_string())
            .or_insert_with(|| {
                let outs = [
                    names.fresh(&format!("{x}_quantized")),
                    names.fresh(&format!("{x}_scale")),
                    names.fresh(&format!("{x}_zero_point")),
                ];
                out_nodes.push(NodeDef::new(
                    "DynamicQuantizeLinear",
                    names.fresh(&format!("{x}_DynamicQuantizeLinear")),
                    vec![x.to_string()],
                    outs.to_vec(),
                ));
                report.activations += 1;
                outs
            })
            .clone();
        let w_name = net.input(i, 1);
        let w = &net.weights[w_name];
        let axis = opts.per_channel.then_some(if conv { 0 } else { 1 });
        let max_code = opts.max_weight_code();
        let scales = weight_scales(w, axis, max_code, None);
        let codes = quantize_weight(w, axis, &scales, max_code);
        // ONNX Runtime's ConvInteger takes uint8 weights only: the int8 codes move up by
        // 128, with zero point 128.
        let (data, zero) = if conv {
            let codes = codes.iter().map(|&c| (i16::from(c) + 128) as u8).collect();
            (Data::U8(codes), Data::U8(vec![128]))
        } else {
            let zeros = vec![0; scales.len()];
            (Data::I8(codes), params_tensor(Data::I8(zeros)).data)
        };
        let wq = names.fresh(&format!("{w_name}_quantized"));
        let wz = names.fresh(&format!("{w_name}_zero_point"));
        let ws = names.fresh(&format!("{w_name}_scale"));
        let zero_shape = if zero.len() == 1 {
            vec![]
        } else {
            vec![zero.len()]
        };
        // The scale multiplies the product's output: per channel, a column of the matrix
        // product or axis 1 of the convolution's `[N, C, …]` output.
        let scale_shape = match (scales.len(), conv) {
            (1, _) => vec![],
            (c, true) => std::iter::once(c)
                .chain(std::iter::repeat_n(1, w.shape.len() - 2))
                .collect(),
            (c, false) => vec![c],
        };
        inits.push((wq.clone(), Tensor::new(w.shape.clone(), data)));
        inits.push((wz.clone(), Tensor::new(zero_shape, zero)));
        inits.push((ws.clone(), Tensor::new(scale_shape, Data::F32(scales))));
        report.weights += 1;
        let y = node.outputs[0].clone();
        let integer_op = if conv { "ConvInteger" } else { "MatMulInteger" };
        let acc = names.fresh(&format!("{y}_{integer_op}_Output"));
        let mut integer = NodeDef::new(
            integer_op,
            names.fresh(&format!("{}_quant", node.name)),
            vec![xq, wq, x_zero, wz],
            vec![acc.clone()],
        );
        if conv {
            for attr in [
                "auto_pad",
                "dilations",
                "group",
                "kernel_shape",
                "pads",
                "strides",
            ] {
                copy_attr(node, &mut integer, attr);
            }
        }
        out_nodes.push(integer);
        let cast_out = names.fresh(&format!("{y}_cast_output"));
        let mut cast = NodeDef::new(
            "Cast",
            names.fresh(&format!("{}_cast", node.name)),
            vec![acc],
            vec![cast_out.clone()],
        );
        cast.set_int("to", i64::from(DType::F32.onnx_code()));
        out_nodes.push(cast);
        let scale_out = names.fresh(&format!("{y}_scales_mul_output"));
        out_nodes.push(NodeDef::new(
            "Mul",
            names.fresh(&format!("{}_scales_mul", node.name)),
            vec![x_scale, ws],
            vec![scale_out.clone()],
        ));
        let bias = net.input(i, 2);
        let scaled = if conv && !bias.is_empty() {
            names.fresh(&format!("{y}_scaled"))
        } else {
            y.clone()
        };
        out_nodes.push(NodeDef::new(
            "Mul",
            names.fresh(&format!("{}_output_scale_mul", node.name)),
            vec![cast_out, scale_out],
            vec![scaled.clone()],
        ));
        if conv && !bias.is_empty() {
            // The float bias, shaped to add along the output's channel axis.
            let b = &net.weights[bias];
            let shape: Vec<usize> = std::iter::once(b.n_elems())
                .chain(std::iter::repeat_n(1, w.shape.len() - 2))
                .collect();
            let b_name = names.fresh(&format!("{bias}_reshaped"));
            inits.push((b_name.clone(), Tensor::new(shape, b.data.clone())));
            out_nodes.push(NodeDef::new(
                "Add",
                names.fresh(&format!("{}_bias_add", node.name)),
                vec![scaled, b_name],
                vec![y],
            ));
        }
        report
            .quantized
            .push((node.name.clone(), integer_op.to_string()));
    }
    for (name, t) in &inits {
        edit.set_initializer(name, t);
    }
    edit.set_nodes(out_nodes);
    report
}

/// Copies attribute `name` of `from` onto `to`, when `from` has it.
fn copy_attr(from: &NodeDef, to: &mut NodeDef, name: &str) {
    if let Some(v) = from.ints(name) {
        to.set_ints(name, v);
    } else if let Some(v) = from.int(name) {
        to.set_int(name, v);
    } else if let Some(v) = from.string(name) {
        to.set_string(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_ranges_hold_zero_and_map_lo_to_the_minimum() {
        let p = activation_params(0.0, 2.55);
        assert_eq!(p.zero, -128);
        assert!((p.scale - 0.01).abs() < 1e-7);
        // A range above zero is widened down to it.
        assert_eq!(activation_params(1.0, 2.55), p);
        // A symmetric range puts zero in the middle (-0.5 in f32, which rounds to -1).
        let s = activation_params(-1.0, 1.0);
        assert_eq!(s.zero, -1);
        assert_eq!(
            activation_params(0.0, 0.0),
            QParams {
                scale: 1.0,
                zero: -128
            }
        );
    }

    #[test]
    fn weights_are_symmetric_per_channel() {
        let w = Tensor::new(vec![2, 3], Data::F32(vec![1.0, -0.5, 0.25, 0.0, 0.0, 0.0]));
        let scales = weight_scales(&w, Some(0), 127.0, None);
        assert_eq!(scales, vec![1.0 / 127.0, 1.0]);
        assert_eq!(
            quantize_weight(&w, Some(0), &scales, 127.0),
            vec![127, -64, 32, 0, 0, 0]
        );
        assert_eq!(weight_scales(&w, None, 127.0, None), vec![1.0 / 127.0]);
        // Per column of a [K, N] matrix, and in 7 bits.
        let m = Tensor::new(vec![2, 2], Data::F32(vec![1.0, 0.05, -4.0, 0.2]));
        let scales = weight_scales(&m, Some(1), 127.0, None);
        assert_eq!(scales, vec![4.0 / 127.0, 0.2 / 127.0]);
        assert_eq!(
            quantize_weight(&m, Some(1), &scales, 127.0),
            vec![32, 32, -127, 127]
        );
        let narrow = weight_scales(&m, Some(1), 63.0, None);
        assert_eq!(
            quantize_weight(&m, Some(1), &narrow, 63.0),
            vec![16, 16, -63, 63]
        );
    }

    #[test]
    fn a_bias_too_large_for_its_scale_widens_the_weight_scale() {
        // A bias of 1e4 over an input scale of 1e-6 and weights of 1e-2 would need a code
        // of 1e4 / (1e-6 · 1e-2 / 127) ≈ 1.3e14: the second channel's scale grows until
        // it fits in 2^30, and its weights lose precision rather than the bias wrapping.
        let w = Tensor::new(vec![2, 1], Data::F32(vec![0.5, 0.01]));
        let b = Tensor::new(vec![2], Data::F32(vec![0.0, 1e4]));
        let scales = weight_scales(&w, Some(0), 127.0, Some((&b, 1e-6)));
        assert_eq!(scales[0], 0.5 / 127.0);
        let (codes, _) = quantize_bias(&b, 1e-6, &scales);
        assert!(
            f64::from(codes[1]) <= MAX_BIAS_CODE && codes[1] > (1 << 29),
            "{codes:?}"
        );
        assert_eq!(quantize_weight(&w, Some(0), &scales, 127.0), vec![127, 0]);
    }

    #[test]
    fn biases_use_the_product_of_scales() {
        let b = Tensor::new(vec![2], Data::F32(vec![1.0, -1.0]));
        let (codes, scales) = quantize_bias(&b, 0.5, &[0.01, 0.02]);
        assert_eq!(scales, vec![0.005, 0.01]);
        assert_eq!(codes, vec![200, -100]);
    }

    #[test]
    fn gemm_weights_transpose() {
        let t = Tensor::new(vec![2, 3], Data::F32(vec![1., 2., 3., 4., 5., 6.]));
        assert_eq!(
            transpose_2d(&t),
            Tensor::new(vec![3, 2], Data::F32(vec![1., 4., 2., 5., 3., 6.]))
        );
    }
}
