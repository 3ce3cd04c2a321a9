//! Pruning, ONNX → ONNX (`--prune SPEC`, `zantc prune`, `Builder::prune`).
//!
//! - `magnitude:P%` (unstructured) zeroes, in each weight tensor of a Conv, ConvTranspose,
//!   Gemm or MatMul, the P % of its elements with the smallest magnitude (ties go to the
//!   earlier element, so the count is exact). Biases are never touched. The model keeps its
//!   shapes and stays dense: zant stores and runs the zeroed weights like any others
//!   (docs/compression.md has the measurements behind that choice).
//! - `channels:P%` (structured) removes about P % of the compute: from each Conv, and from
//!   each Gemm or MatMul with a constant weight, the share `1 − √(1 − P)` of its output
//!   channels (features) with the smallest filter L1 norm (29.3 % at 50 %, since a layer
//!   between two pruned ones loses that share of its inputs too), then shrinks everything
//!   that reads them, so the model is truly smaller and dense.
//!
//! Both start by normalizing the model: `Constant` nodes, weights stored as
//! `DequantizeLinear` of integers, and every value zant's import folds to a constant (a
//! weight's `Reshape`, a `Shape → Gather → Concat` chain that feeds a `Reshape`) become
//! float initializers, so a weight is always an initializer.
//!
//! Structured pruning follows each producer's channels forward, value by value, through
//! what it understands: activations, Clip and pooling pass them through; the bias,
//! BatchNormalization and InstanceNormalization parameters, per-channel constants of
//! element-wise ops and per-channel quantization parameters are sliced; a depthwise Conv
//! (group = channels) keeps the channels of its input and is sliced with them; Flatten,
//! Reshape, Squeeze, Unsqueeze and Transpose move the channel axis (after a flatten,
//! channel `c` covers elements `c·H·W..(c+1)·H·W`); Concat shifts channels by its
//! offsets. The walk ends where the channels are consumed: the input channels of the
//! next Conv or ConvTranspose, or the rows of a Gemm's or MatMul's constant weight.
//!
//! The operands of an element-wise op must carry the same channels, so a residual `Add`
//! ties the producers of all its operands into one group: the group is pruned together,
//! its channels ranked by the sum of their L1 norms over the group's producers. A group is
//! left unpruned, and the summary says why, when any of its channels reaches a graph
//! output, an op whose channel semantics this module does not know (Softmax over the
//! channels, a Split, a grouped Conv, …), or an operand it cannot slice (a graph input
//! added to them, say).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use crate::ir::{Data, Tensor, TensorType};
use crate::onnx::{self, Binding, ImportError, InputShape, ModelEdit, NodeDef, Source};

/// What to prune and how much: `magnitude:50%` or `channels:30%`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PruneSpec {
    pub method: PruneMethod,
    /// The share to prune, at least 0 and below 100.
    pub percent: f64,
}

/// How to prune.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PruneMethod {
    /// Unstructured: zero the weights of smallest magnitude in each weight tensor.
    Magnitude,
    /// Structured: remove the output channels of smallest filter L1 norm, and shrink what
    /// reads them.
    Channels,
}

/// A pruning failure.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// A spec built in code with a share outside `[0, 100)`.
    #[error("--prune {spec}: {message}")]
    Spec { spec: String, message: String },
    /// The model does not open, or zant's import (which infers the shapes pruning needs)
    /// rejects it.
    #[error("pruning: {0}")]
    Import(#[from] ImportError),
    /// A node whose weights cannot be pruned as they are.
    #[error("pruning: node `{node}` ({op}): {message}")]
    Node {
        node: String,
        op: String,
        message: String,
    },
    /// The pruned model no longer imports: a bug of this module, reported rather than
    /// handed on.
    #[error("internal error: the model pruned with {spec} does not import: {source}")]
    Verify {
        spec: String,
        /// Boxed: the error type stays as small as the importer's.
        #[source]
        source: Box<ImportError>,
    },
}

/// What pruning did, for the command line to print.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneSummary {
    pub spec: PruneSpec,
    /// Elements of the model's float initializers, before and after (after normalization:
    /// integer weights behind a DequantizeLinear count as the floats they become).
    pub params_before: usize,
    pub params_after: usize,
    /// Elements of the Conv, ConvTranspose, Gemm and MatMul weights after pruning, and how
    /// many of them are zero.
    pub weight_elems: usize,
    pub weight_zeros: usize,
    /// One line per weight (magnitude) or per channel group (channels).
    pub lines: Vec<SummaryLine>,
}

/// One weight or one channel group.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryLine {
    /// The nodes concerned, `Op name`; several for a group tied by a residual op.
    pub nodes: Vec<String>,
    /// Nonzero weight elements (magnitude) or channels (channels), before and after; equal
    /// when the line was left unpruned.
    pub before: usize,
    pub after: usize,
    /// Why it was left unpruned.
    pub unpruned: Option<String>,
}

impl PruneSpec {
    /// Magnitude pruning of `percent` % of each weight tensor.
    pub fn magnitude(percent: f64) -> Result<Self, String> {
        Self::checked(PruneMethod::Magnitude, percent)
    }

    /// Channel pruning that removes about `percent` % of the compute (see `share_of`).
    pub fn channels(percent: f64) -> Result<Self, String> {
        Self::checked(PruneMethod::Channels, percent)
    }

    fn checked(method: PruneMethod, percent: f64) -> Result<Self, String> {
        if (0.0..100.0).contains(&percent) {
            Ok(Self { method, percent })
        } else {
            Err(format!(
                "{percent}% is out of range: the share to prune must be at least 0 % and below 100 %"
            ))
        }
    }

    /// How many of `count` elements (magnitude) or channels (channels) to remove, rounded
    /// to the nearest integer. Magnitude removes `percent` % of the elements. Channels
    /// aims at `percent` % of the compute: a layer between two pruned layers loses a share
    /// `p` of its input and of its output channels, so it keeps `(1 − p)²` of its weights
    /// and MACs, and `p = 1 − √(1 − percent / 100)` makes that `1 − percent / 100`
    /// (29.3 % of the channels at 50 %). The first and the last layer, whose input or
    /// output cannot shrink, keep `1 − p`.
    fn share_of(&self, count: usize) -> usize {
        let share = match self.method {
            PruneMethod::Magnitude => self.percent / 100.0,
            PruneMethod::Channels => 1.0 - (1.0 - self.percent / 100.0).sqrt(),
        };
        ((count as f64) * share).round() as usize
    }
}

impl FromStr for PruneSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (method, share) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` should look like magnitude:50% or channels:30%"))?;
        let method = match method.trim() {
            "magnitude" => PruneMethod::Magnitude,
            "channels" => PruneMethod::Channels,
            other => {
                return Err(format!(
                    "unknown pruning method `{other}`: use magnitude (unstructured: the smallest weights) or channels (structured: whole output channels)"
                ))
            }
        };
        let number = share.trim();
        let number = number.strip_suffix('%').unwrap_or(number).trim();
        let percent: f64 = number
            .parse()
            .map_err(|_| format!("`{share}` is not a percentage such as 30%"))?;
        Self::checked(method, percent)
    }
}

impl fmt::Display for PruneMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PruneMethod::Magnitude => "magnitude",
            PruneMethod::Channels => "channels",
        })
    }
}

impl fmt::Display for PruneSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}%", self.method, self.percent)
    }
}

impl fmt::Display for PruneSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pruned = self.lines.iter().filter(|l| l.unpruned.is_none()).count();
        let zeros = 100.0 * self.weight_zeros as f64 / self.weight_elems.max(1) as f64;
        match self.spec.method {
            PruneMethod::Magnitude => writeln!(
                f,
                "pruned {}: {pruned} of {} weights, {zeros:.1} % of {} weight elements now zero; {} parameters, stored dense",
                self.spec,
                self.lines.len(),
                thousands(self.weight_elems),
                thousands(self.params_after),
            )?,
            PruneMethod::Channels => writeln!(
                f,
                "pruned {}: {pruned} of {} channel groups; parameters {} -> {} ({:.1} %)",
                self.spec,
                self.lines.len(),
                thousands(self.params_before),
                thousands(self.params_after),
                100.0 * self.params_after as f64 / self.params_before.max(1) as f64,
            )?,
        }
        let unit = match self.spec.method {
            PruneMethod::Magnitude => "nonzero",
            PruneMethod::Channels => "channels",
        };
        for line in &self.lines {
            let nodes = line
                .nodes
                .iter()
                .map(|n| short(n))
                .collect::<Vec<_>>()
                .join(" + ");
            match &line.unpruned {
                None => writeln!(
                    f,
                    "  {nodes}: {} -> {} {unit}",
                    thousands(line.before),
                    thousands(line.after)
                )?,
                Some(why) => writeln!(
                    f,
                    "  {nodes}: {} {unit}, left unpruned: {why}",
                    thousands(line.before)
                )?,
            }
        }
        Ok(())
    }
}

/// Opens a model (a path, or bytes), prunes it and returns the pruned model's bytes, which
/// stand alone (external data is written inline). `pins` and `bindings` are the compile
/// options, which the shape inference pruning runs needs.
pub fn prune_source(
    source: Source<'_>,
    spec: &PruneSpec,
    pins: &[InputShape],
    bindings: &[Binding],
) -> Result<(Vec<u8>, PruneSummary), PruneError> {
    let mut edit = match source {
        Source::File(path) => ModelEdit::open(path)?,
        Source::Bytes(bytes) => ModelEdit::from_bytes(bytes, std::path::Path::new("<bytes>"))?,
    };
    let summary = prune(&mut edit, spec, pins, bindings)?;
    Ok((edit.to_bytes(), summary))
}

/// Prunes `edit` in place (see the module documentation). `pins` and `bindings` are the
/// compile options, which the shape inference pruning runs needs. The pruned model is
/// imported once more before this returns, so its shapes are known to be consistent.
pub fn prune(
    edit: &mut ModelEdit,
    spec: &PruneSpec,
    pins: &[InputShape],
    bindings: &[Binding],
) -> Result<PruneSummary, PruneError> {
    PruneSpec::checked(spec.method, spec.percent).map_err(|message| PruneError::Spec {
        spec: spec.to_string(),
        message,
    })?;
    let types = normalize(edit, pins, bindings)?;
    let params_before = float_params(edit)?;
    let lines = match spec.method {
        PruneMethod::Magnitude => magnitude(edit, spec)?,
        PruneMethod::Channels => Channels::new(edit, &types)?.run(edit, spec)?,
    };
    edit.remove_unused_initializers();
    edit.clear_value_info();
    edit.sync_initializer_inputs();
    // The result must import: shapes that no longer fit would otherwise surface later as
    // a confusing error about a model the user never wrote.
    onnx::load(Source::Bytes(&edit.to_bytes()), pins, bindings).map_err(|source| {
        PruneError::Verify {
            spec: spec.to_string(),
            source: Box::new(source),
        }
    })?;
    let (weight_elems, weight_zeros) = weight_zeros(edit)?;
    Ok(PruneSummary {
        spec: *spec,
        params_before,
        params_after: float_params(edit)?,
        weight_elems,
        weight_zeros,
        lines,
    })
}

/// The ops whose weights pruning considers, and the input slots that may hold them (a
/// Gemm's or MatMul's constant operand may be either).
fn weight_slots(node: &NodeDef) -> &'static [usize] {
    if !node.domain.is_empty() {
        return &[];
    }
    match node.op_type.as_str() {
        "Conv" | "ConvTranspose" => &[1],
        "Gemm" | "MatMul" => &[0, 1],
        _ => &[],
    }
}

/// Makes every weight an initializer: `Constant` nodes, weights stored as
/// `DequantizeLinear` of integers, and every node that zant's import folds to a constant
/// (a weight's `Reshape`, a `Shape` chain) become initializers. Returns the type of every
/// value, as zant's import inferred it.
pub(crate) fn normalize(
    edit: &mut ModelEdit,
    pins: &[InputShape],
    bindings: &[Binding],
) -> Result<HashMap<String, TensorType>, PruneError> {
    edit.inline_external_data()?;
    edit.constants_to_initializers()?;
    edit.fold_weight_dequantize()?;
    let loaded = onnx::load(Source::Bytes(&edit.to_bytes()), pins, bindings)?;
    let graph = &loaded.graph;
    let mut types = HashMap::new();
    let mut consts = HashMap::new();
    for id in graph.node_ids() {
        let node = graph.node(id);
        for (slot, value) in node.outputs.iter().enumerate() {
            types.insert(value.name.clone(), value.ty.clone());
            let id = crate::ir::ValueId {
                node: id,
                slot: slot as u32,
            };
            if let Some(t) = graph.const_value(id) {
                consts.insert(value.name.clone(), t.clone());
            }
        }
    }
    // A node all of whose outputs folded is replaced by initializers of its outputs.
    // Inputs bound at compile time are not nodes of the file, so they stay inputs.
    let mut kept = Vec::new();
    for node in edit.nodes() {
        let outputs: Vec<&String> = node.outputs.iter().filter(|o| !o.is_empty()).collect();
        let folded = !outputs.is_empty() && outputs.iter().all(|o| consts.contains_key(*o));
        if folded {
            for out in outputs {
                edit.set_initializer(out, &consts[out]);
            }
        } else {
            kept.push(node);
        }
    }
    edit.set_nodes(remove_dead_nodes(kept, &edit.outputs()));
    edit.remove_unused_initializers();
    Ok(types)
}

/// The nodes that contribute to a graph output, in their order.
fn remove_dead_nodes(nodes: Vec<NodeDef>, outputs: &[onnx::PortDef]) -> Vec<NodeDef> {
    let mut live: HashSet<String> = outputs.iter().map(|o| o.name.clone()).collect();
    let mut keep = vec![false; nodes.len()];
    // Reverse file order visits consumers before producers in a sorted graph; the loop
    // repeats until nothing changes, so an unsorted file is handled too.
    loop {
        let mut changed = false;
        for (i, node) in nodes.iter().enumerate().rev() {
            if !keep[i] && node.outputs.iter().any(|o| live.contains(o)) {
                keep[i] = true;
                changed = true;
                live.extend(node.inputs.iter().filter(|n| !n.is_empty()).cloned());
            }
        }
        if !changed {
            break;
        }
    }
    nodes
        .into_iter()
        .zip(keep)
        .filter_map(|(n, k)| k.then_some(n))
        .collect()
}

/// Elements of the float initializers.
fn float_params(edit: &ModelEdit) -> Result<usize, PruneError> {
    let mut total = 0;
    for name in edit.initializer_names() {
        if let Some(t) = edit.initializer(&name)? {
            if t.dtype().is_float() {
                total += t.n_elems();
            }
        }
    }
    Ok(total)
}

/// Elements of the weights and how many are zero.
fn weight_zeros(edit: &ModelEdit) -> Result<(usize, usize), PruneError> {
    let mut seen = HashSet::new();
    let (mut elems, mut zeros) = (0, 0);
    for node in edit.nodes() {
        for &slot in weight_slots(&node) {
            let Some(name) = node.inputs.get(slot) else {
                continue;
            };
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(t) = edit.initializer(name)? {
                if t.dtype().is_float() {
                    elems += t.n_elems();
                    zeros += t.data.to_f64_vec().iter().filter(|&&v| v == 0.0).count();
                }
            }
        }
    }
    Ok((elems, zeros))
}

/// Unstructured pruning: zeroes the smallest `percent` % of each weight tensor.
fn magnitude(edit: &mut ModelEdit, spec: &PruneSpec) -> Result<Vec<SummaryLine>, PruneError> {
    let mut nodes = edit.nodes();
    let inits: HashSet<String> = edit.initializer_names().into_iter().collect();
    // Each weight once, however many nodes read it, in file order.
    let mut order: Vec<String> = Vec::new();
    let mut readers: HashMap<String, Vec<(usize, usize)>> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for &slot in weight_slots(node) {
            match node.inputs.get(slot) {
                Some(name) if inits.contains(name) => {
                    let entry = readers.entry(name.clone()).or_default();
                    if entry.is_empty() {
                        order.push(name.clone());
                    }
                    entry.push((i, slot));
                }
                _ => {}
            }
        }
    }
    let uses = use_counts(&nodes, edit);
    let mut names = NameSource::new(&nodes, edit);
    let mut lines = Vec::new();
    for name in order {
        let slots = &readers[&name];
        let labels = slots.iter().map(|&(i, _)| label(&nodes[i])).collect();
        let Some(weight) = edit.initializer(&name)? else {
            continue;
        };
        let nonzero = weight
            .data
            .to_f64_vec()
            .iter()
            .filter(|&&v| v != 0.0)
            .count();
        if !weight.dtype().is_float() {
            lines.push(SummaryLine {
                nodes: labels,
                before: nonzero,
                after: nonzero,
                unpruned: Some(format!(
                    "`{name}` is {}, not a float weight",
                    weight.dtype()
                )),
            });
            continue;
        }
        let pruned = zero_smallest(&weight, spec.share_of(weight.n_elems()));
        let after = pruned
            .data
            .to_f64_vec()
            .iter()
            .filter(|&&v| v != 0.0)
            .count();
        // A weight that something else also reads (a graph output, an Add) is copied, so
        // only the weight slots see the zeros.
        if uses.get(&name).copied().unwrap_or(0) == slots.len() {
            edit.set_initializer(&name, &pruned);
        } else {
            let fresh = names.fresh(&name);
            edit.set_initializer(&fresh, &pruned);
            for &(i, slot) in slots {
                nodes[i].inputs[slot] = fresh.clone();
            }
        }
        lines.push(SummaryLine {
            nodes: labels,
            before: nonzero,
            after,
            unpruned: None,
        });
    }
    edit.set_nodes(nodes);
    Ok(lines)
}

/// `weight` with its `count` elements of smallest magnitude set to zero; among equal
/// magnitudes the earlier element goes first, so exactly `count` elements are chosen.
pub fn zero_smallest(weight: &Tensor, count: usize) -> Tensor {
    let mut values = weight.data.to_f64_vec();
    let mut order: Vec<usize> = (0..values.len()).collect();
    // A stable sort keeps ties in element order.
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()));
    for &i in order.iter().take(count) {
        values[i] = 0.0;
    }
    Tensor::new(
        weight.shape.clone(),
        Data::from_f64(weight.dtype(), &values),
    )
}

/// How many (node, slot) pairs read each value, graph outputs counting as one more.
fn use_counts(nodes: &[NodeDef], edit: &ModelEdit) -> HashMap<String, usize> {
    let mut uses: HashMap<String, usize> = HashMap::new();
    for node in nodes {
        for input in node.inputs.iter().filter(|n| !n.is_empty()) {
            *uses.entry(input.clone()).or_default() += 1;
        }
    }
    for out in edit.outputs() {
        *uses.entry(out.name).or_default() += 1;
    }
    uses
}

/// New initializer names that clash with nothing in the model.
struct NameSource {
    taken: HashSet<String>,
}

impl NameSource {
    fn new(nodes: &[NodeDef], edit: &ModelEdit) -> Self {
        let mut taken: HashSet<String> = edit.initializer_names().into_iter().collect();
        for node in nodes {
            taken.extend(node.inputs.iter().cloned());
            taken.extend(node.outputs.iter().cloned());
        }
        taken.extend(edit.inputs().into_iter().map(|p| p.name));
        Self { taken }
    }

    fn fresh(&mut self, base: &str) -> String {
        let mut k = 0;
        loop {
            let name = format!("{base}.pruned{k}");
            if self.taken.insert(name.clone()) {
                return name;
            }
            k += 1;
        }
    }
}

/// `Op name`, as the summary names a node.
fn label(node: &NodeDef) -> String {
    format!("{} `{}`", node.op_type, node.name)
}

/// A label (`Op `name``) whose name is long, as TensorFlow's run to hundreds of
/// characters, with the name cut to its end.
fn short(label: &str) -> String {
    const MAX_NAME: usize = 48;
    let Some((op, name)) = label.split_once(" `") else {
        return label.to_string();
    };
    let name = name.strip_suffix('`').unwrap_or(name);
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= MAX_NAME {
        return label.to_string();
    }
    let tail: String = chars[chars.len() - (MAX_NAME - 1)..].iter().collect();
    format!("{op} `…{tail}`")
}

/// `1234567` → `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where a value's channels lie: along `axis`, the segments of the producers whose
/// channels the value carries (one for a layer's output, several after a Concat).
#[derive(Clone, Debug, PartialEq)]
struct Layout {
    axis: usize,
    segments: Vec<Segment>,
}

/// Channels of one producer along a value's channel axis: channel `c` covers the indices
/// `start + c·inner .. start + (c+1)·inner` (`inner` > 1 after a flatten).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Segment {
    producer: usize,
    start: usize,
    inner: usize,
    channels: usize,
}

/// A layer whose output channels can be pruned.
#[derive(Clone, Debug)]
struct Producer {
    node: usize,
    kind: ProducerKind,
    channels: usize,
}

#[derive(Clone, Copy, Debug)]
enum ProducerKind {
    /// A Conv with group 1: weight `[M, C, k…]`, bias `[M]`.
    Conv,
    /// A Gemm with a constant `B` (`[K, N]`, or `[N, K]` when transposed) and its `C`.
    Gemm { trans_b: bool },
    /// A MatMul with a constant 2-D right operand `[K, N]`.
    MatMul,
}

/// A change to a reader of pruned channels, applied once the pruned channels are known.
#[derive(Clone, Debug)]
enum Action {
    /// Remove indices of the tensor in input `slot` of `node` along `axis`, those the
    /// layout's pruned channels cover: a Conv's input channels, a Gemm's or MatMul's rows,
    /// a per-channel constant.
    Slice {
        node: usize,
        slot: usize,
        axis: usize,
        layout: Layout,
    },
    /// A depthwise Conv: its weight and bias lose the channels, and `group` shrinks.
    Depthwise { node: usize, layout: Layout },
    /// A Reshape whose target shape names the size of the channel axis `axis` of its
    /// output; `keep_zero` when a 0 there copies the input's (equally pruned) dim.
    Reshape {
        node: usize,
        axis: usize,
        keep_zero: bool,
        layout: Layout,
    },
}

/// Ops that pass every channel through unchanged, element by element.
const PASS_THROUGH: &[&str] = &[
    "Abs",
    "Cast",
    "Ceil",
    "Celu",
    "Clip",
    "Cos",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LeakyRelu",
    "Log",
    "Mish",
    "Neg",
    "Reciprocal",
    "Relu",
    "Round",
    "Selu",
    "Sigmoid",
    "Sign",
    "Sin",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Tanh",
    "ThresholdedRelu",
];

/// Pooling over the spatial axes, channel by channel.
const POOLS: &[&str] = &[
    "AveragePool",
    "GlobalAveragePool",
    "GlobalLpPool",
    "GlobalMaxPool",
    "LpPool",
    "MaxPool",
];

/// Broadcasting element-wise ops, whose operands must agree channel by channel.
const ELEMENTWISE: &[&str] = &[
    "Add", "Div", "Max", "Mean", "Min", "Mul", "PRelu", "Pow", "Sub", "Sum",
];

/// The channels to prune (ascending) of each group that is pruned, by its root producer.
type Chosen = HashMap<usize, Vec<usize>>;

/// Structured pruning: the model's graph as the channel walk sees it.
struct Channels {
    nodes: Vec<NodeDef>,
    types: HashMap<String, TensorType>,
    inits: HashMap<String, Tensor>,
    graph_outputs: Vec<String>,
    producers: Vec<Producer>,
    /// Union-find over producers: those tied by an element-wise op share channels.
    parent: Vec<usize>,
    /// Why a producer must keep its channels, when it must.
    frozen: Vec<Option<String>>,
    layouts: HashMap<String, Layout>,
    actions: Vec<Action>,
}

impl Channels {
    fn new(edit: &ModelEdit, types: &HashMap<String, TensorType>) -> Result<Self, PruneError> {
        let mut inits = HashMap::new();
        for name in edit.initializer_names() {
            if let Some(t) = edit.initializer(&name)? {
                inits.insert(name, t);
            }
        }
        Ok(Self {
            nodes: edit.nodes(),
            types: types.clone(),
            inits,
            graph_outputs: edit.outputs().into_iter().map(|p| p.name).collect(),
            producers: Vec::new(),
            parent: Vec::new(),
            frozen: Vec::new(),
            layouts: HashMap::new(),
            actions: Vec::new(),
        })
    }

    fn run(
        mut self,
        edit: &mut ModelEdit,
        spec: &PruneSpec,
    ) -> Result<Vec<SummaryLine>, PruneError> {
        let control_flow = self
            .nodes
            .iter()
            .find(|n| matches!(n.op_type.as_str(), "If" | "Loop" | "Scan"))
            .map(label);
        for i in topological_order(&self.nodes) {
            self.visit(i);
        }
        for out in self.graph_outputs.clone() {
            if let Some(layout) = self.layouts.get(&out).cloned() {
                self.freeze(&layout, &format!("it reaches graph output `{out}`"));
            }
        }
        if let Some(node) = control_flow {
            // A subgraph may read any value of the outer graph without naming it as an
            // input, so no channel is known to be unread.
            for p in 0..self.producers.len() {
                self.frozen[p].get_or_insert_with(|| {
                    format!("the model has control flow ({node}), whose subgraphs may read it")
                });
            }
        }
        let (pruned, lines) = self.choose(spec)?;
        self.apply(edit, &pruned)?;
        Ok(lines)
    }

    fn ty(&self, name: &str) -> Option<&TensorType> {
        self.types.get(name)
    }

    fn init(&self, name: &str) -> Option<&Tensor> {
        self.inits.get(name)
    }

    fn find(&mut self, p: usize) -> usize {
        let mut root = p;
        while self.parent[root] != root {
            root = self.parent[root];
        }
        self.parent[p] = root;
        root
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[rb.max(ra)] = ra.min(rb);
        }
    }

    fn freeze(&mut self, layout: &Layout, why: &str) {
        for seg in &layout.segments {
            self.frozen[seg.producer].get_or_insert_with(|| why.to_string());
        }
    }

    /// Freezes the channels any input of `node` carries, because of `why`.
    fn freeze_inputs(&mut self, node: usize, why: &str) {
        for input in self.nodes[node].inputs.clone() {
            if let Some(layout) = self.layouts.get(&input).cloned() {
                self.freeze(&layout, why);
            }
        }
    }

    /// The layout input `slot` of `node` carries.
    fn carried(&self, node: usize, slot: usize) -> Option<Layout> {
        self.nodes[node]
            .inputs
            .get(slot)
            .and_then(|name| self.layouts.get(name))
            .cloned()
    }

    fn carries_beyond(&self, node: usize, first: usize) -> bool {
        self.nodes[node]
            .inputs
            .iter()
            .skip(first)
            .any(|name| self.layouts.contains_key(name))
    }

    fn set_output(&mut self, node: usize, slot: usize, layout: Layout) {
        if let Some(name) = self.nodes[node].outputs.get(slot) {
            if !name.is_empty() {
                self.layouts.insert(name.clone(), layout);
            }
        }
    }

    fn add_producer(&mut self, node: usize, kind: ProducerKind, channels: usize, axis: usize) {
        let id = self.producers.len();
        self.producers.push(Producer {
            node,
            kind,
            channels,
        });
        self.parent.push(id);
        self.frozen.push(None);
        self.set_output(
            node,
            0,
            Layout {
                axis,
                segments: vec![Segment {
                    producer: id,
                    start: 0,
                    inner: 1,
                    channels,
                }],
            },
        );
    }

    /// Follows the channels through one node: records what must change in it, gives its
    /// outputs their layouts, and registers it as a producer when it is one.
    fn visit(&mut self, i: usize) {
        let node = self.nodes[i].clone();
        let op = if node.domain.is_empty() {
            node.op_type.as_str()
        } else {
            ""
        };
        let reads_any = node.inputs.iter().any(|n| self.layouts.contains_key(n));
        let unknown = format!("{} reads it", label(&node));
        match op {
            "Conv" => self.conv(i),
            "ConvTranspose" => match (self.carried(i, 0), self.weight(i, 1)) {
                (Some(layout), Some(w))
                    if node.int("group").unwrap_or(1) == 1
                        && w.shape.len() >= 3
                        && !self.carries_beyond(i, 1) =>
                {
                    self.actions.push(Action::Slice {
                        node: i,
                        slot: 1,
                        axis: 0,
                        layout,
                    });
                }
                _ if reads_any => self.freeze_inputs(i, &unknown),
                _ => {}
            },
            "Gemm" => self.gemm(i),
            "MatMul" => self.matmul(i),
            _ if !reads_any => {}
            op if PASS_THROUGH.contains(&op) => match self.carried(i, 0) {
                Some(layout) if !self.carries_beyond(i, 1) => {
                    for slot in 0..node.outputs.len() {
                        self.set_output(i, slot, layout.clone());
                    }
                }
                _ => self.freeze_inputs(i, &unknown),
            },
            op if POOLS.contains(&op) => {
                let indices_used = node.outputs.get(1).is_some_and(|o| !o.is_empty());
                match self.carried(i, 0) {
                    Some(layout) if layout.axis == 1 && !indices_used => {
                        self.set_output(i, 0, layout)
                    }
                    _ => self.freeze_inputs(i, &unknown),
                }
            }
            op if ELEMENTWISE.contains(&op) => self.elementwise(i),
            "BatchNormalization" | "InstanceNormalization" => {
                let params = if op == "BatchNormalization" {
                    1..5
                } else {
                    1..3
                };
                let extra_outputs = node.outputs.iter().skip(1).any(|o| !o.is_empty());
                match self.carried(i, 0) {
                    Some(layout)
                        if layout.axis == 1
                            && !extra_outputs
                            && params.clone().all(|s| self.per_channel(i, s, &layout)) =>
                    {
                        for slot in params {
                            self.actions.push(Action::Slice {
                                node: i,
                                slot,
                                axis: 0,
                                layout: layout.clone(),
                            });
                        }
                        self.set_output(i, 0, layout);
                    }
                    _ => self.freeze_inputs(i, &unknown),
                }
            }
            "QuantizeLinear" | "DequantizeLinear" => self.quantization(i),
            "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => self.reshape(i),
            "Transpose" => match (
                self.carried(i, 0),
                node.outputs.first().and_then(|o| self.ty(o)),
            ) {
                (Some(layout), Some(out)) => {
                    let rank = out.rank() as i64;
                    let perm: Vec<i64> = node
                        .ints("perm")
                        .map(<[i64]>::to_vec)
                        .unwrap_or_else(|| (0..rank).rev().collect());
                    match perm.iter().position(|&p| p == layout.axis as i64) {
                        Some(axis) => self.set_output(i, 0, Layout { axis, ..layout }),
                        None => self.freeze_inputs(i, &unknown),
                    }
                }
                _ => self.freeze_inputs(i, &unknown),
            },
            "Concat" => self.concat(i),
            _ => self.freeze_inputs(i, &unknown),
        }
    }

    /// The float initializer in input `slot` of `node`.
    fn weight(&self, node: usize, slot: usize) -> Option<&Tensor> {
        let name = self.nodes[node].inputs.get(slot)?;
        self.init(name).filter(|t| t.dtype().is_float())
    }

    /// Whether input `slot` of `node` is a 1-D initializer with one entry per index of
    /// the channel axis of the node's data input (or is omitted).
    fn per_channel(&self, node: usize, slot: usize, layout: &Layout) -> bool {
        let Some(name) = self.nodes[node].inputs.get(slot) else {
            return true;
        };
        if name.is_empty() {
            return true;
        }
        let len = self.channel_dim(node, layout);
        self.init(name)
            .is_some_and(|t| t.shape.len() == 1 && Some(t.shape[0]) == len)
    }

    /// The size of the channel axis of the data input (input 0) of `node`.
    fn channel_dim(&self, node: usize, layout: &Layout) -> Option<usize> {
        let data = self.nodes[node].inputs.first()?;
        self.ty(data)?.shape.get(layout.axis).copied()
    }

    fn conv(&mut self, i: usize) {
        let node = self.nodes[i].clone();
        let group = node.int("group").unwrap_or(1);
        let weight = self.weight(i, 1).cloned();
        let bias_ok = match node.inputs.get(2) {
            None => true,
            Some(b) if b.is_empty() => true,
            Some(b) => self.init(b).is_some(),
        };
        let unknown = format!("{} reads it", label(&node));
        if self.carries_beyond(i, 1) {
            self.freeze_inputs(i, &unknown);
        }
        let Some(w) = weight.filter(|w| w.shape.len() >= 3) else {
            self.freeze_inputs(i, &unknown);
            return;
        };
        let in_channels = self
            .ty(&node.inputs[0])
            .and_then(|t| t.shape.get(1).copied());
        let depthwise = group > 1
            && w.shape[1] == 1
            && in_channels == Some(w.shape[0])
            && w.shape[0] as i64 == group;
        if let Some(layout) = self.carried(i, 0) {
            if layout.axis != 1 {
                self.freeze(&layout, &unknown);
            } else if group == 1 {
                self.actions.push(Action::Slice {
                    node: i,
                    slot: 1,
                    axis: 1,
                    layout,
                });
            } else if depthwise && bias_ok {
                self.actions.push(Action::Depthwise {
                    node: i,
                    layout: layout.clone(),
                });
                self.set_output(i, 0, layout);
                return;
            } else {
                self.freeze(
                    &layout,
                    &format!("{} is a grouped convolution (group {group})", label(&node)),
                );
            }
        }
        if group == 1 && bias_ok {
            self.add_producer(i, ProducerKind::Conv, w.shape[0], 1);
        }
    }

    fn gemm(&mut self, i: usize) {
        let node = self.nodes[i].clone();
        let unknown = format!("{} reads it", label(&node));
        let trans_a = node.int("transA").unwrap_or(0) != 0;
        let trans_b = node.int("transB").unwrap_or(0) != 0;
        let b = self.weight(i, 1).filter(|b| b.shape.len() == 2).cloned();
        let c_ok = match node.inputs.get(2) {
            None => true,
            Some(c) if c.is_empty() => true,
            Some(c) => self.init(c).is_some(),
        };
        if self.carries_beyond(i, 1) {
            self.freeze_inputs(i, &unknown);
        }
        if let Some(layout) = self.carried(i, 0) {
            match &b {
                Some(_) if !trans_a && layout.axis == 1 => self.actions.push(Action::Slice {
                    node: i,
                    slot: 1,
                    axis: usize::from(trans_b),
                    layout,
                }),
                _ => self.freeze(&layout, &unknown),
            }
        }
        if let (Some(b), true) = (b, c_ok) {
            let n = if trans_b { b.shape[0] } else { b.shape[1] };
            self.add_producer(i, ProducerKind::Gemm { trans_b }, n, 1);
        }
    }

    fn matmul(&mut self, i: usize) {
        let node = self.nodes[i].clone();
        let unknown = format!("{} reads it", label(&node));
        let b = self.weight(i, 1).filter(|b| b.shape.len() == 2).cloned();
        if self.carries_beyond(i, 1) {
            self.freeze_inputs(i, &unknown);
        }
        let a_rank = node
            .inputs
            .first()
            .and_then(|x| self.ty(x))
            .map(|t| t.rank());
        if let Some(layout) = self.carried(i, 0) {
            match (&b, a_rank) {
                (Some(_), Some(rank)) if rank >= 2 && layout.axis == rank - 1 => {
                    self.actions.push(Action::Slice {
                        node: i,
                        slot: 1,
                        axis: 0,
                        layout,
                    })
                }
                _ => self.freeze(&layout, &unknown),
            }
        }
        let out_rank = node
            .outputs
            .first()
            .and_then(|o| self.ty(o))
            .map(|t| t.rank());
        if let (Some(b), Some(rank)) = (b, out_rank) {
            if rank >= 1 && node.inputs.first().and_then(|x| self.init(x)).is_none() {
                self.add_producer(i, ProducerKind::MatMul, b.shape[1], rank - 1);
            }
        }
    }

    /// A broadcasting element-wise op: the operands that carry channels must carry the
    /// same ones at the same place (their producers are tied into one group), constants
    /// with one entry per channel are sliced, and anything else must broadcast along the
    /// channel axis.
    fn elementwise(&mut self, i: usize) {
        let node = self.nodes[i].clone();
        let unknown = format!("{} reads it", label(&node));
        let Some(out_ty) = node.outputs.first().and_then(|o| self.ty(o)).cloned() else {
            self.freeze_inputs(i, &unknown);
            return;
        };
        let rank = out_ty.rank();
        let mut merged: Option<Layout> = None;
        let mut fine = true;
        for name in node.inputs.iter().filter(|n| !n.is_empty()) {
            let (Some(layout), Some(ty)) = (self.layouts.get(name), self.ty(name)) else {
                continue;
            };
            let Some(axis) = (layout.axis + rank).checked_sub(ty.rank()) else {
                fine = false;
                continue;
            };
            let aligned = Layout {
                axis,
                segments: layout.segments.clone(),
            };
            if ty.shape.get(layout.axis) != out_ty.shape.get(aligned.axis) {
                fine = false;
            }
            match &merged {
                None => merged = Some(aligned),
                Some(m) => {
                    let same_shape = m.axis == aligned.axis
                        && m.segments.len() == aligned.segments.len()
                        && m.segments.iter().zip(&aligned.segments).all(|(a, b)| {
                            (a.start, a.inner, a.channels) == (b.start, b.inner, b.channels)
                        });
                    if same_shape {
                        let pairs: Vec<(usize, usize)> = m
                            .segments
                            .iter()
                            .zip(&aligned.segments)
                            .map(|(a, b)| (a.producer, b.producer))
                            .collect();
                        for (a, b) in pairs {
                            self.union(a, b);
                        }
                    } else {
                        fine = false;
                    }
                }
            }
        }
        let Some(layout) = merged else {
            if !fine {
                self.freeze_inputs(i, &unknown);
            }
            return;
        };
        if !fine {
            self.freeze_inputs(
                i,
                &format!("{} joins channels laid out differently", label(&node)),
            );
            return;
        }
        let channel_len = out_ty.shape[layout.axis];
        let mut slices = Vec::new();
        for (slot, name) in node.inputs.iter().enumerate() {
            if name.is_empty() || self.layouts.contains_key(name) {
                continue;
            }
            let Some(ty) = self.ty(name) else {
                fine = false;
                continue;
            };
            // The operand's dim under the channel axis, if it reaches that far.
            let Some(axis) = (layout.axis + ty.rank()).checked_sub(rank) else {
                continue;
            };
            match ty.shape[axis] {
                1 => {}
                len if len == channel_len && self.init(name).is_some() => {
                    slices.push(Action::Slice {
                        node: i,
                        slot,
                        axis,
                        layout: layout.clone(),
                    })
                }
                _ => fine = false,
            }
        }
        if !fine {
            let why = format!(
                "{} adds an operand it cannot slice along the channels",
                label(&node)
            );
            self.freeze(&layout, &why);
            return;
        }
        self.actions.extend(slices);
        self.set_output(i, 0, layout);
    }

    /// QuantizeLinear and DequantizeLinear of activations: a per-tensor scale passes the
    /// channels through, a per-axis one along the channels is sliced with them.
    fn quantization(&mut self, i: usize) {
        let node = self.nodes[i].clone();
        let unknown = format!("{} reads it", label(&node));
        let Some(layout) = self.carried(i, 0).filter(|_| !self.carries_beyond(i, 1)) else {
            self.freeze_inputs(i, &unknown);
            return;
        };
        let Some(rank) = node
            .inputs
            .first()
            .and_then(|x| self.ty(x))
            .map(|t| t.rank() as i64)
        else {
            self.freeze_inputs(i, &unknown);
            return;
        };
        let scale = node.inputs.get(1).and_then(|s| self.init(s));
        match scale {
            Some(s) if s.n_elems() == 1 => self.set_output(i, 0, layout),
            Some(s) if s.shape.len() == 1 => {
                let axis = node.int("axis").unwrap_or(1);
                let axis = if axis < 0 { axis + rank } else { axis };
                if axis == layout.axis as i64
                    && Some(s.shape[0]) == self.channel_dim(i, &layout)
                    && self.per_channel(i, 2, &layout)
                {
                    for slot in [1, 2] {
                        if node.inputs.get(slot).is_some_and(|n| !n.is_empty()) {
                            self.actions.push(Action::Slice {
                                node: i,
                                slot,
                                axis: 0,
                                layout: layout.clone(),
                            });
                        }
                    }
                    self.set_output(i, 0, layout);
                } else {
                    self.freeze(&layout, &unknown);
                }
            }
            _ => self.freeze(&layout, &unknown),
        }
    }

    /// Reshape, Flatten, Squeeze and Unsqueeze: the channel axis moves to the output axis
    /// whose leading dims hold the same elements, and each channel covers `f` times as
    /// many indices there, `f` being how many trailing elements merged into that axis.
    fn reshape(&mut self, i: usize) {
        let node = self.nodes[i].clone();
        let unknown = format!("{} reads it", label(&node));
        let layout = self.carried(i, 0).filter(|_| !self.carries_beyond(i, 1));
        let in_shape = node
            .inputs
            .first()
            .and_then(|x| self.ty(x))
            .map(|t| t.shape.clone());
        let out_shape = node
            .outputs
            .first()
            .and_then(|o| self.ty(o))
            .map(|t| t.shape.clone());
        let (Some(layout), Some(in_shape), Some(out_shape)) = (layout, in_shape, out_shape) else {
            self.freeze_inputs(i, &unknown);
            return;
        };
        let Some((axis, factor)) = moved_axis(&in_shape, layout.axis, &out_shape) else {
            self.freeze(&layout, &unknown);
            return;
        };
        let out_layout = Layout {
            axis,
            segments: layout
                .segments
                .iter()
                .map(|s| Segment {
                    start: s.start * factor,
                    inner: s.inner * factor,
                    ..*s
                })
                .collect(),
        };
        if node.op_type == "Reshape" {
            let target = node.inputs.get(1).and_then(|s| self.init(s));
            match target {
                Some(t) if t.n_elems() == out_shape.len() => self.actions.push(Action::Reshape {
                    node: i,
                    axis,
                    keep_zero: axis == layout.axis && factor == 1,
                    layout: out_layout.clone(),
                }),
                _ => {
                    self.freeze(
                        &layout,
                        &format!("{}'s target shape is not a constant", label(&node)),
                    );
                    return;
                }
            }
        }
        self.set_output(i, 0, out_layout);
    }

    /// Concat along the channel axis shifts each operand's channels by its offset; along
    /// any other axis the channels are not known to line up.
    fn concat(&mut self, i: usize) {
        let node = self.nodes[i].clone();
        let unknown = format!("{} reads it", label(&node));
        let Some(rank) = node
            .outputs
            .first()
            .and_then(|o| self.ty(o))
            .map(|t| t.rank() as i64)
        else {
            self.freeze_inputs(i, &unknown);
            return;
        };
        let axis = node.int("axis").unwrap_or(0);
        let axis = if axis < 0 { axis + rank } else { axis } as usize;
        let mut offset = 0;
        let mut segments = Vec::new();
        for name in node.inputs.clone() {
            let len = self.ty(&name).and_then(|t| t.shape.get(axis).copied());
            let Some(len) = len else {
                self.freeze_inputs(i, &unknown);
                return;
            };
            if let Some(layout) = self.layouts.get(&name).cloned() {
                if layout.axis == axis {
                    segments.extend(layout.segments.iter().map(|s| Segment {
                        start: s.start + offset,
                        ..*s
                    }));
                } else {
                    self.freeze(&layout, &unknown);
                }
            }
            offset += len;
        }
        if !segments.is_empty() {
            self.set_output(i, 0, Layout { axis, segments });
        }
    }

    /// Picks the channels to prune in each group that may be pruned, and describes every
    /// group for the summary.
    fn choose(&mut self, spec: &PruneSpec) -> Result<(Chosen, Vec<SummaryLine>), PruneError> {
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for p in 0..self.producers.len() {
            let root = self.find(p);
            groups.entry(root).or_default().push(p);
        }
        let mut pruned = HashMap::new();
        let mut lines = Vec::new();
        for (root, members) in groups {
            let nodes: Vec<String> = members
                .iter()
                .map(|&p| label(&self.nodes[self.producers[p].node]))
                .collect();
            let channels = self.producers[members[0]].channels;
            let mut why = members.iter().find_map(|&p| self.frozen[p].clone());
            if why.is_none()
                && members
                    .iter()
                    .any(|&p| self.producers[p].channels != channels)
            {
                why = Some("its producers have different channel counts".into());
            }
            // One channel always stays: a layer of none is no layer.
            let count = spec.share_of(channels).min(channels.saturating_sub(1));
            if why.is_none() && count == 0 {
                why = Some(format!("{} % of {channels} channels is none", spec.percent));
            }
            if let Some(why) = why {
                lines.push(SummaryLine {
                    nodes,
                    before: channels,
                    after: channels,
                    unpruned: Some(why),
                });
                continue;
            }
            let mut scores = vec![0.0f64; channels];
            for &p in &members {
                for (c, s) in self.filter_norms(p)?.into_iter().enumerate() {
                    scores[c] += s;
                }
            }
            let mut order: Vec<usize> = (0..channels).collect();
            order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
            let mut chosen: Vec<usize> = order[..count].to_vec();
            chosen.sort_unstable();
            lines.push(SummaryLine {
                nodes,
                before: channels,
                after: channels - count,
                unpruned: None,
            });
            pruned.insert(root, chosen);
        }
        Ok((pruned, lines))
    }

    /// The L1 norm of each output channel's filter of producer `p`.
    fn filter_norms(&self, p: usize) -> Result<Vec<f64>, PruneError> {
        let producer = &self.producers[p];
        let node = &self.nodes[producer.node];
        let w = self
            .weight(producer.node, 1)
            .ok_or_else(|| PruneError::Node {
                node: node.name.clone(),
                op: node.op_type.clone(),
                message: "its weight is no longer a float initializer".into(),
            })?;
        let values = w.data.to_f64_vec();
        let c = producer.channels;
        let mut norms = vec![0.0; c];
        let per_row = values.len() / w.shape[0].max(1);
        for (i, v) in values.iter().enumerate() {
            let channel = match producer.kind {
                ProducerKind::Conv | ProducerKind::Gemm { trans_b: true } => i / per_row,
                ProducerKind::Gemm { trans_b: false } | ProducerKind::MatMul => i % c,
            };
            norms[channel] += v.abs();
        }
        Ok(norms)
    }

    /// The indices along a layout's axis that its pruned channels cover, ascending.
    fn removed(&mut self, layout: &Layout, pruned: &Chosen) -> Vec<usize> {
        let mut out = Vec::new();
        for seg in &layout.segments {
            let root = self.find(seg.producer);
            if let Some(channels) = pruned.get(&root) {
                for &c in channels {
                    out.extend((0..seg.inner).map(|j| seg.start + c * seg.inner + j));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Rewrites the producers of pruned groups and every reader of their channels.
    fn apply(&mut self, edit: &mut ModelEdit, pruned: &Chosen) -> Result<(), PruneError> {
        let mut tensors: BTreeMap<(usize, usize), Tensor> = BTreeMap::new();
        let mut slices: Vec<(usize, usize, usize, Vec<usize>)> = Vec::new();
        for p in 0..self.producers.len() {
            let root = self.find(p);
            let Some(channels) = pruned.get(&root) else {
                continue;
            };
            let producer = self.producers[p].clone();
            let node = producer.node;
            let bias = self.nodes[node]
                .inputs
                .get(2)
                .filter(|b| !b.is_empty())
                .and_then(|b| self.init(b));
            match producer.kind {
                ProducerKind::Conv => {
                    slices.push((node, 1, 0, channels.clone()));
                    if bias.is_some() {
                        slices.push((node, 2, 0, channels.clone()));
                    }
                }
                ProducerKind::Gemm { trans_b } => {
                    slices.push((node, 1, usize::from(!trans_b), channels.clone()));
                    // C broadcasts over the output: it is sliced where it has one entry
                    // per output feature, along its last axis, and left alone where it
                    // broadcasts there.
                    let last = bias.and_then(|c| {
                        let last = c.shape.len().checked_sub(1)?;
                        (c.shape[last] == producer.channels).then_some(last)
                    });
                    if let Some(axis) = last {
                        slices.push((node, 2, axis, channels.clone()));
                    }
                }
                ProducerKind::MatMul => slices.push((node, 1, 1, channels.clone())),
            }
        }
        for action in self.actions.clone() {
            match action {
                Action::Slice {
                    node,
                    slot,
                    axis,
                    layout,
                } => {
                    let removed = self.removed(&layout, pruned);
                    slices.push((node, slot, axis, removed));
                }
                Action::Depthwise { node, layout } => {
                    let removed = self.removed(&layout, pruned);
                    if removed.is_empty() {
                        continue;
                    }
                    let group = self.nodes[node].int("group").unwrap_or(1);
                    self.nodes[node].set_int("group", group - removed.len() as i64);
                    slices.push((node, 1, 0, removed.clone()));
                    if self.nodes[node]
                        .inputs
                        .get(2)
                        .is_some_and(|b| !b.is_empty())
                    {
                        slices.push((node, 2, 0, removed));
                    }
                }
                Action::Reshape {
                    node,
                    axis,
                    keep_zero,
                    layout,
                } => {
                    let removed = self.removed(&layout, pruned);
                    if removed.is_empty() {
                        continue;
                    }
                    let out = self.nodes[node].outputs[0].clone();
                    let Some(target) = self.slot_tensor(&tensors, node, 1) else {
                        continue;
                    };
                    let mut dims = target.to_i64s();
                    let full = self.ty(&out).map_or(0, |t| t.shape[axis]) as i64;
                    let keep = dims[axis] == -1 || (dims[axis] == 0 && keep_zero);
                    if !keep {
                        dims[axis] = full - removed.len() as i64;
                    }
                    let data = Data::from_i64(target.dtype(), &dims);
                    tensors.insert((node, 1), Tensor::new(target.shape.clone(), data));
                }
            }
        }
        for (node, slot, axis, removed) in slices {
            if removed.is_empty() {
                continue;
            }
            let label_of = |n: &NodeDef| (n.name.clone(), n.op_type.clone());
            let Some(t) = self.slot_tensor(&tensors, node, slot) else {
                let (node, op) = label_of(&self.nodes[node]);
                return Err(PruneError::Node {
                    node,
                    op,
                    message: format!("input {slot} is not a constant"),
                });
            };
            let sliced = remove_along(&t, axis, &removed).ok_or_else(|| {
                let (node, op) = label_of(&self.nodes[node]);
                PruneError::Node {
                    node,
                    op,
                    message: format!(
                        "input {slot} ({}) has no axis {axis} holding indices up to {}",
                        t.ty(),
                        removed.last().copied().unwrap_or(0)
                    ),
                }
            })?;
            tensors.insert((node, slot), sliced);
        }
        // Write back: a constant only these slots read is replaced, one that others read
        // too is copied under a new name.
        let uses = use_counts(&self.nodes, edit);
        let mut names = NameSource::new(&self.nodes, edit);
        let mut per_name: BTreeMap<String, Vec<(usize, usize)>> = BTreeMap::new();
        for &(node, slot) in tensors.keys() {
            per_name
                .entry(self.nodes[node].inputs[slot].clone())
                .or_default()
                .push((node, slot));
        }
        for (name, slots) in per_name {
            let shared = uses.get(&name).copied().unwrap_or(0) > 1;
            for (node, slot) in slots {
                let t = &tensors[&(node, slot)];
                if shared {
                    let fresh = names.fresh(&name);
                    edit.set_initializer(&fresh, t);
                    self.nodes[node].inputs[slot] = fresh;
                } else {
                    edit.set_initializer(&name, t);
                }
            }
        }
        edit.set_nodes(self.nodes.clone());
        Ok(())
    }

    /// The tensor in input `slot` of `node` as pruning has left it so far.
    fn slot_tensor(
        &self,
        tensors: &BTreeMap<(usize, usize), Tensor>,
        node: usize,
        slot: usize,
    ) -> Option<Tensor> {
        tensors.get(&(node, slot)).cloned().or_else(|| {
            let name = self.nodes[node].inputs.get(slot)?;
            self.init(name).cloned()
        })
    }
}

/// Where the channel axis `axis` of a value of shape `input` lands in a reshape to
/// `output`, and by what factor each index there spreads: the output axis whose leading
/// dims hold as many elements as those before `axis`, and whose size is `input[axis]`
/// times the trailing elements that merged into it. `None` when the channels are split
/// across axes.
fn moved_axis(input: &[usize], axis: usize, output: &[usize]) -> Option<(usize, usize)> {
    let len = *input.get(axis)?;
    let outer: usize = input[..axis].iter().product();
    let tail: usize = input[axis + 1..].iter().product();
    (0..output.len()).find_map(|b| {
        let before: usize = output[..b].iter().product();
        let after: usize = output[b + 1..].iter().product();
        let fits = before == outer
            && after > 0
            && tail.is_multiple_of(after)
            && output[b] == len * (tail / after);
        fits.then_some((b, tail / after))
    })
}

/// `t` without the indices `removed` (ascending) along `axis`; `None` when `t` has no
/// such axis or an index is out of range.
fn remove_along(t: &Tensor, axis: usize, removed: &[usize]) -> Option<Tensor> {
    let len = *t.shape.get(axis)?;
    if removed.last().is_some_and(|&r| r >= len) {
        return None;
    }
    let (bytes, size) = t.data.element_bytes();
    let outer: usize = t.shape[..axis].iter().product();
    let inner: usize = t.shape[axis + 1..].iter().product();
    let keep: Vec<usize> = (0..len)
        .filter(|i| removed.binary_search(i).is_err())
        .collect();
    let mut out = Vec::with_capacity(outer * keep.len() * inner * size);
    for o in 0..outer {
        for &i in &keep {
            let start = (o * len + i) * inner * size;
            out.extend_from_slice(&bytes[start..start + inner * size]);
        }
    }
    let mut shape = t.shape.clone();
    shape[axis] = keep.len();
    let data = Data::from_element_bytes(t.dtype(), &out)?;
    Some(Tensor::new(shape, data))
}

/// The nodes in an order that puts producers first (file order where it allows); a
/// cycle's nodes come last, in file order, where the walk treats them without their
/// producers' layouts.
fn topological_order(nodes: &[NodeDef]) -> Vec<usize> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for out in &node.outputs {
            producer.insert(out.as_str(), i);
        }
    }
    let mut pending: Vec<usize> = nodes
        .iter()
        .map(|n| {
            n.inputs
                .iter()
                .filter(|x| producer.contains_key(x.as_str()))
                .count()
        })
        .collect();
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        for x in &node.inputs {
            if let Some(&p) = producer.get(x.as_str()) {
                consumers[p].push(i);
            }
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..nodes.len()).filter(|&i| pending[i] == 0).collect();
    let mut order = Vec::new();
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &c in &consumers[i] {
            pending[c] -= 1;
            if pending[c] == 0 {
                ready.insert(c);
            }
        }
    }
    let placed: HashSet<usize> = order.iter().copied().collect();
    order.extend((0..nodes.len()).filter(|i| !placed.contains(i)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` and compares the spec, or the error, with `expect`.
    fn check(text: &str, expect: Result<(PruneMethod, f64), &str>) {
        let got = text.parse::<PruneSpec>();
        match expect {
            Ok((method, percent)) => {
                let spec = got.unwrap_or_else(|e| panic!("`{text}`: {e}"));
                assert_eq!((spec.method, spec.percent), (method, percent), "`{text}`");
                // The display form parses back to the same spec.
                assert_eq!(spec.to_string().parse::<PruneSpec>(), Ok(spec));
            }
            Err(message) => {
                let err = got.expect_err(text);
                assert!(err.contains(message), "`{text}`: {err}");
            }
        }
    }

    #[test]
    fn channel_shares_aim_at_the_compute() {
        let channels = |p: f64| PruneSpec::channels(p).unwrap();
        // A layer between two pruned ones keeps (1 − p)² of its MACs: 71 of 100 channels
        // on both sides keep 50.4 %.
        assert_eq!(channels(50.0).share_of(100), 29);
        assert_eq!(channels(75.0).share_of(8), 4);
        assert_eq!(channels(30.0).share_of(16), 3);
        assert_eq!(channels(0.0).share_of(16), 0);
        assert_eq!(PruneSpec::magnitude(50.0).unwrap().share_of(8), 4);
        assert_eq!(PruneSpec::magnitude(30.0).unwrap().share_of(10), 3);
    }

    #[test]
    fn specs_parse() {
        check("magnitude:50%", Ok((PruneMethod::Magnitude, 50.0)));
        check("channels:30%", Ok((PruneMethod::Channels, 30.0)));
        check("channels:12.5", Ok((PruneMethod::Channels, 12.5)));
        check("magnitude: 0 %", Ok((PruneMethod::Magnitude, 0.0)));
        check("magnitude:120%", Err("120% is out of range"));
        check("channels:100%", Err("100% is out of range"));
        check("channels:-5%", Err("-5% is out of range"));
        check("channels:NaN%", Err("NaN% is out of range"));
        check("chanels:20%", Err("unknown pruning method `chanels`"));
        check(
            "channels",
            Err("should look like magnitude:50% or channels:30%"),
        );
        check("channels:abc", Err("`abc` is not a percentage"));
        assert_eq!(
            PruneSpec::channels(30.0).unwrap().to_string(),
            "channels:30%"
        );
        assert!(PruneSpec::magnitude(100.0).is_err());
    }

    #[test]
    fn magnitude_zeroes_an_exact_count() {
        let w = Tensor::new(
            vec![2, 5],
            Data::F32(vec![0.5, -0.1, 0.9, 0.3, -0.7, 0.2, 1.0, -0.4, 0.8, 0.6]),
        );
        let pruned = zero_smallest(&w, 3);
        assert_eq!(
            pruned.as_f32(),
            Some(&[0.5, 0.0, 0.9, 0.0, -0.7, 0.0, 1.0, -0.4, 0.8, 0.6][..])
        );
        assert_eq!(pruned.shape, w.shape);
        // Spec shares round to the nearest element: 30 % of 10 is 3, 25 % of 10 is 3.
        let spec = PruneSpec::magnitude(30.0).unwrap();
        assert_eq!(spec.share_of(10), 3);
        assert_eq!(PruneSpec::magnitude(25.0).unwrap().share_of(10), 3);
        assert_eq!(PruneSpec::magnitude(0.0).unwrap().share_of(10), 0);
    }

    #[test]
    fn magnitude_breaks_ties_by_position() {
        // Three elements of magnitude 1 for two places: the first two go.
        let w = Tensor::new(vec![4], Data::F32(vec![1.0, -1.0, 1.0, 2.0]));
        assert_eq!(
            zero_smallest(&w, 2).as_f32(),
            Some(&[0.0, 0.0, 1.0, 2.0][..])
        );
        // Zeros already there are the smallest, so they count among the pruned.
        let w = Tensor::new(vec![4], Data::F32(vec![3.0, 0.0, -2.0, 1.0]));
        assert_eq!(
            zero_smallest(&w, 2).as_f32(),
            Some(&[3.0, 0.0, -2.0, 0.0][..])
        );
    }

    #[test]
    fn reshapes_move_the_channel_axis() {
        // Flatten of [1, 16, 4, 4]: channel c covers 16 indices of axis 1.
        assert_eq!(moved_axis(&[1, 16, 4, 4], 1, &[1, 256]), Some((1, 16)));
        // Squeeze after a global pool: the channels stay one index each.
        assert_eq!(moved_axis(&[1, 64, 1, 1], 1, &[1, 64]), Some((1, 1)));
        assert_eq!(moved_axis(&[1, 64], 1, &[1, 64, 1, 1]), Some((1, 1)));
        // A leading 1 inserted before the channels.
        assert_eq!(moved_axis(&[1, 8, 3], 1, &[1, 1, 24]), Some((2, 3)));
        // Channels split over two axes have no single place.
        assert_eq!(moved_axis(&[1, 8, 2, 2], 1, &[1, 2, 16]), None);
        assert_eq!(moved_axis(&[1, 8, 2, 2], 1, &[4, 8]), None);
    }

    #[test]
    fn slicing_keeps_the_other_indices_in_order() {
        let t = Tensor::new(vec![2, 3], Data::I64(vec![0, 1, 2, 3, 4, 5]));
        assert_eq!(
            remove_along(&t, 1, &[0, 2]),
            Some(Tensor::new(vec![2, 1], Data::I64(vec![1, 4])))
        );
        assert_eq!(
            remove_along(&t, 0, &[1]),
            Some(Tensor::new(vec![1, 3], Data::I64(vec![0, 1, 2])))
        );
        assert_eq!(remove_along(&t, 1, &[3]), None);
        assert_eq!(remove_along(&t, 2, &[0]), None);
    }

    #[test]
    fn numbers_and_names_print_short() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let long = format!("Conv `{}`", "x".repeat(100));
        let shown = short(&long);
        assert!(
            shown.starts_with("Conv `…x") && shown.ends_with("x`"),
            "{shown}"
        );
        assert!(shown.chars().count() <= 60, "{shown}");
    }
}
