//! Calibration: the model run on sample inputs through the compiler's own code, recording
//! the range of every float tensor.
//!
//! The model is imported into the IR without the optimizing passes, so every IR value keeps
//! the name of the ONNX tensor it computes, and each node is evaluated by its op's constant
//! folding (`Op::fold`), which calls the same runtime kernels as the generated code. What a
//! quantizer needs from a tensor is its minimum and maximum over all samples and, for the
//! percentile and entropy methods, a histogram of its magnitudes ([`Histogram`]), filled in
//! a second pass once the first has found the largest magnitude.
//!
//! Samples come from `.npy` files ([`SampleFile`]), one per graph input, each a stack of
//! samples on its first axis, optionally restricted to a row range (`FILE.npy:0..1400`).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::ir::{DType, Data, Graph, NodeId, Tensor, ValueId};
use crate::onnx::PortDef;
use crate::ops::{FoldCtx, NodeError, Op, OpError};

/// The number of histogram bins, as ONNX Runtime's and TensorRT's calibrators use.
pub const HISTOGRAM_BINS: usize = 2048;

/// Why calibration samples could not be read or the model could not be run on them.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("{}: {message}", .path.display())]
    File { path: PathBuf, message: String },
    #[error(
        "the model has {n_inputs} input(s) ({names}), but {n_files} calibration file(s) were \
         given: pass one --calibration file per graph input, in graph order"
    )]
    FileCount {
        n_inputs: usize,
        n_files: usize,
        names: String,
    },
    #[error("{}: holds {found} samples, but input `{input}` is {expected}", .path.display())]
    DType {
        path: PathBuf,
        input: String,
        found: DType,
        expected: String,
    },
    #[error(
        "{}: shape {shape:?} is not a stack of samples of input `{input}` {dims}: expected \
         [N, …] with each sample shaped like the input (its leading batch dim of 1 may be left out)",
        .path.display()
    )]
    Shape {
        path: PathBuf,
        input: String,
        shape: Vec<usize>,
        dims: String,
    },
    #[error("{}: {message}", .path.display())]
    Rows { path: PathBuf, message: String },
    #[error("the calibration files hold different numbers of samples ({counts}); each file must give one row per sample")]
    RowCounts { counts: String },
    #[error("no calibration sample: a static quantization needs at least one")]
    NoSamples,
    #[error("cannot evaluate the model for calibration: {0}")]
    Node(#[from] NodeError),
    #[error("cannot evaluate the model for calibration: {0}")]
    Graph(String),
}

/// One `--calibration` argument: a `.npy` file holding samples stacked on the first axis,
/// and the rows to use (`FILE.npy:START..END`; `START..` and `..END` too), all rows without.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleFile {
    pub path: PathBuf,
    pub rows: Option<Range<usize>>,
}

impl SampleFile {
    /// The whole file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            rows: None,
        }
    }

    /// Rows `rows` of the file.
    pub fn rows(path: impl Into<PathBuf>, rows: Range<usize>) -> Self {
        Self {
            path: path.into(),
            rows: Some(rows),
        }
    }

    /// Reads the file and keeps the selected rows.
    pub fn read(&self) -> Result<Tensor, CalibrationError> {
        let bytes = std::fs::read(&self.path).map_err(|e| CalibrationError::File {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        let stack =
            crate::tensor::npy::decode(&bytes).map_err(|message| CalibrationError::File {
                path: self.path.clone(),
                message,
            })?;
        select_rows(&self.path, stack, self.rows.clone())
    }
}

impl FromStr for SampleFile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        // The range follows the last colon, so a path may hold colons of its own.
        if let Some((path, range)) = s.rsplit_once(':') {
            if let Some((start, end)) = range.split_once("..") {
                let bound = |text: &str| -> Result<Option<usize>, String> {
                    if text.is_empty() {
                        return Ok(None);
                    }
                    text.parse().map(Some).map_err(|_| {
                        format!("`{text}` in `{range}` is not a row number (FILE.npy:START..END)")
                    })
                };
                let start = bound(start)?.unwrap_or(0);
                let end = bound(end)?.unwrap_or(usize::MAX);
                return Ok(Self::rows(path, start..end));
            }
        }
        Ok(Self::new(s))
    }
}

/// Keeps rows `rows` of a stack (all when `None`; an open end runs to the last row).
fn select_rows(
    path: &Path,
    stack: Tensor,
    rows: Option<Range<usize>>,
) -> Result<Tensor, CalibrationError> {
    let err = |message: String| CalibrationError::Rows {
        path: path.to_path_buf(),
        message,
    };
    let Some(&n_rows) = stack.shape.first() else {
        return Err(err("a scalar is not a stack of samples".into()));
    };
    let Some(rows) = rows else {
        return Ok(stack);
    };
    let end = rows.end.min(n_rows);
    if rows.end != usize::MAX && rows.end > n_rows {
        return Err(err(format!(
            "rows {}..{} do not fit the {n_rows} samples the file holds",
            rows.start, rows.end
        )));
    }
    if rows.start >= end {
        return Err(err(format!(
            "the row range {}..{end} is empty (the file holds {n_rows} samples)",
            rows.start
        )));
    }
    let row_elems: usize = stack.shape[1..].iter().product();
    let mut shape = stack.shape.clone();
    shape[0] = end - rows.start;
    let data =
        slice_data(&stack.data, rows.start * row_elems..end * row_elems).ok_or_else(|| {
            err(format!(
                "{} elements cannot be split into rows",
                stack.dtype()
            ))
        })?;
    Ok(Tensor::new(shape, data))
}

/// Elements `range` of `data`; `None` for the packed narrow types.
fn slice_data(data: &Data, range: Range<usize>) -> Option<Data> {
    let dtype = data.dtype();
    if dtype.narrow().is_some() {
        return None;
    }
    let size = dtype.size();
    let bytes = data.to_le_bytes();
    Data::from_le_bytes(dtype, &bytes[range.start * size..range.end * size])
}

/// Reads one file per graph input and splits them into samples: `samples[i][k]` is sample
/// `i` of input `k`, shaped like the input. Checks the count of files, each file's element
/// type and shape against its input, and that every file gives the same number of samples.
pub fn load_samples(
    files: &[SampleFile],
    inputs: &[PortDef],
) -> Result<Vec<Vec<Tensor>>, CalibrationError> {
    if files.len() != inputs.len() {
        return Err(CalibrationError::FileCount {
            n_inputs: inputs.len(),
            n_files: files.len(),
            names: inputs
                .iter()
                .map(|i| format!("`{}`", i.name))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut stacks = Vec::new();
    for (file, port) in files.iter().zip(inputs) {
        let stack = file.read()?;
        stacks.push(split_stack(&file.path, &stack, port)?);
    }
    let counts: Vec<usize> = stacks.iter().map(Vec::len).collect();
    if counts.windows(2).any(|w| w[0] != w[1]) {
        return Err(CalibrationError::RowCounts {
            counts: counts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let n_samples = counts.first().copied().unwrap_or(0);
    let mut samples = vec![Vec::with_capacity(inputs.len()); n_samples];
    for stack in stacks {
        for (sample, t) in samples.iter_mut().zip(stack) {
            sample.push(t);
        }
    }
    Ok(samples)
}

/// The rows of `stack` as tensors shaped like input `port`.
fn split_stack(
    path: &Path,
    stack: &Tensor,
    port: &PortDef,
) -> Result<Vec<Tensor>, CalibrationError> {
    let dims_text = format!(
        "[{}]",
        port.dims
            .iter()
            .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    match port.dtype {
        Some(dtype) if dtype == stack.dtype() => {}
        expected => {
            return Err(CalibrationError::DType {
                path: path.to_path_buf(),
                input: port.name.clone(),
                found: stack.dtype(),
                expected: expected.map_or_else(|| "of no tensor type".into(), |d| d.to_string()),
            })
        }
    }
    let shape_err = || CalibrationError::Shape {
        path: path.to_path_buf(),
        input: port.name.clone(),
        shape: stack.shape.clone(),
        dims: dims_text.clone(),
    };
    let row: &[usize] = stack.shape.get(1..).ok_or_else(shape_err)?;
    let fits = |dims: &[Option<i64>]| {
        dims.len() == row.len()
            && dims
                .iter()
                .zip(row)
                .all(|(d, &r)| d.is_none_or(|d| d as usize == r))
    };
    let sample_shape = if fits(&port.dims) {
        row.to_vec()
    } else if port.dims.first().is_some_and(|d| d.is_none_or(|d| d == 1)) && fits(&port.dims[1..]) {
        std::iter::once(1).chain(row.iter().copied()).collect()
    } else {
        return Err(shape_err());
    };
    let row_elems: usize = row.iter().product();
    (0..stack.shape[0])
        .map(|i| {
            slice_data(&stack.data, i * row_elems..(i + 1) * row_elems)
                .map(|data| Tensor::new(sample_shape.clone(), data))
                .ok_or_else(shape_err)
        })
        .collect()
}

/// How a tensor's quantization range is chosen from its calibration statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The smallest and largest value seen.
    MinMax,
    /// Clip magnitudes at this percentile (in percent, e.g. 99.99) of all values seen.
    Percentile(f64),
    /// Clip magnitudes at the threshold whose 8-bit quantization loses the least
    /// information: the smallest KL divergence between the histogram and its quantized
    /// copy (the method of TensorRT's int8 calibrator).
    Entropy,
}

impl Method {
    /// Whether the method reads histograms (a second pass over the samples).
    pub fn needs_histogram(self) -> bool {
        !matches!(self, Method::MinMax)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::MinMax => write!(f, "minmax"),
            Method::Percentile(p) => write!(f, "percentile {p}"),
            Method::Entropy => write!(f, "entropy"),
        }
    }
}

/// A histogram of magnitudes `|x|` over `[0, abs_max]` in equal bins.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub abs_max: f32,
    pub bins: Vec<u64>,
    /// How many of the values in the first bin are exactly zero.
    pub zeros: u64,
}

impl Histogram {
    fn new(abs_max: f32, n_bins: usize) -> Self {
        Self {
            abs_max,
            bins: vec![0; n_bins],
            zeros: 0,
        }
    }

    fn bin_width(&self) -> f64 {
        f64::from(self.abs_max) / self.bins.len() as f64
    }

    fn add(&mut self, values: &[f32]) {
        let n = self.bins.len();
        let scale = if self.abs_max > 0.0 {
            n as f32 / self.abs_max
        } else {
            0.0
        };
        for &v in values {
            if v.is_nan() {
                continue;
            }
            let bin = ((v.abs() * scale) as usize).min(n - 1);
            self.bins[bin] += 1;
            self.zeros += u64::from(v == 0.0);
        }
    }

    /// The magnitude below which `percent` % of the values lie: the upper edge of the bin
    /// where the cumulative count reaches that share.
    pub fn percentile(&self, percent: f64) -> f32 {
        let total: u64 = self.bins.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let target = (percent / 100.0).clamp(0.0, 1.0) * total as f64;
        let mut seen = 0u64;
        for (i, &count) in self.bins.iter().enumerate() {
            seen += count;
            if seen as f64 >= target {
                return ((i + 1) as f64 * self.bin_width()) as f32;
            }
        }
        self.abs_max
    }

    /// The clipping threshold that minimizes the KL divergence between the histogram
    /// clipped there (outliers added to the last bin) and its quantization to `levels`
    /// levels, each spread evenly over the non-empty bins it covers. Candidates are the
    /// bin edges from `levels` bins up.
    ///
    /// Exact zeros are left out: every range holds 0 exactly, so they cost nothing at any
    /// threshold, and a Relu's output, often zero for half its values, would otherwise
    /// make the first bin a spike that the divergence spends itself on.
    pub fn entropy_threshold(&self, levels: usize) -> f32 {
        let n = self.bins.len();
        if levels == 0 || n <= levels {
            return self.abs_max;
        }
        let mut bins: Vec<f64> = self.bins.iter().map(|&c| c as f64).collect();
        bins[0] -= self.zeros.min(self.bins[0]) as f64;
        let total: f64 = bins.iter().sum();
        if total == 0.0 {
            return self.abs_max;
        }
        // Suffix sums give each candidate's outlier count in constant time.
        let mut beyond = vec![0.0; n + 1];
        for i in (0..n).rev() {
            beyond[i] = beyond[i + 1] + bins[i];
        }
        let mut best = (f64::INFINITY, n);
        let mut p = vec![0.0; n];
        let mut q = vec![0.0; n];
        for kept in levels..=n {
            let kept_bins = &bins[..kept];
            p[..kept].copy_from_slice(kept_bins);
            p[kept - 1] += beyond[kept];
            // Each level covers `kept / levels` bins; the last one takes the remainder.
            let per_level = kept / levels;
            for level in 0..levels {
                let start = level * per_level;
                let end = if level + 1 == levels {
                    kept
                } else {
                    start + per_level
                };
                let chunk = &kept_bins[start..end];
                let sum: f64 = chunk.iter().sum();
                let nonzero = chunk.iter().filter(|&&c| c > 0.0).count();
                for (j, &c) in chunk.iter().enumerate() {
                    q[start + j] = if c > 0.0 { sum / nonzero as f64 } else { 0.0 };
                }
            }
            let kl = kl_divergence(&p[..kept], &q[..kept]);
            if kl < best.0 {
                best = (kl, kept);
            }
        }
        (best.1 as f64 * self.bin_width()) as f32
    }
}

/// `KL(p ‖ q)` of two unnormalized distributions; a bin that `p` has and `q` lacks costs
/// as if `q` held a small share there, so every candidate gets a finite score.
fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    const EPS: f64 = 1e-4;
    let (p_sum, q_sum): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if p_sum == 0.0 || q_sum == 0.0 {
        return f64::INFINITY;
    }
    p.iter()
        .zip(q)
        .filter(|(&pv, _)| pv > 0.0)
        .map(|(&pv, &qv)| {
            let pn = pv / p_sum;
            let qn = if qv > 0.0 { qv / q_sum } else { EPS / q_sum };
            pn * (pn / qn).ln()
        })
        .sum()
}

/// What calibration saw of one float tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorStats {
    pub min: f32,
    pub max: f32,
    /// Magnitudes, when the method asked for them.
    pub histogram: Option<Histogram>,
}

impl TensorStats {
    fn new() -> Self {
        Self {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            histogram: None,
        }
    }

    fn add(&mut self, values: &[f32]) {
        for &v in values {
            if !v.is_nan() {
                self.min = self.min.min(v);
                self.max = self.max.max(v);
            }
        }
    }

    /// The range `[lo, hi]` to quantize over by `method`. Percentile and entropy choose a
    /// magnitude threshold `t` and clip both ends to it, `[max(min, -t), min(max, t)]`, so
    /// a tensor that is never negative (a Relu's output) keeps its lower end at 0. The
    /// entropy method quantizes such a tensor to 255 steps and a signed one to 128 a side.
    pub fn range(&self, method: Method) -> (f32, f32) {
        let (lo, hi) = (self.min, self.max);
        if !(lo.is_finite() && hi.is_finite()) {
            return (0.0, 0.0);
        }
        let threshold = match (method, &self.histogram) {
            (Method::MinMax, _) | (_, None) => return (lo, hi),
            (Method::Percentile(p), Some(h)) => h.percentile(p),
            (Method::Entropy, Some(h)) => h.entropy_threshold(if lo >= 0.0 { 255 } else { 128 }),
        };
        (lo.max(-threshold), hi.min(threshold))
    }
}

/// The statistics of every float tensor the model computes, by ONNX tensor name (graph
/// inputs included).
#[derive(Clone, Debug, Default)]
pub struct Calibration {
    pub tensors: BTreeMap<String, TensorStats>,
    pub n_samples: usize,
}

/// Runs `graph` on every sample and records the statistics of its float values; with
/// `histograms`, a second pass fills a histogram of each tensor's magnitudes over
/// `[0, max |x|]`.
pub fn calibrate(
    graph: &Graph,
    samples: &[Vec<Tensor>],
    histograms: bool,
) -> Result<Calibration, CalibrationError> {
    if samples.is_empty() {
        return Err(CalibrationError::NoSamples);
    }
    let interpreter = Interpreter::new(graph)?;
    let mut stats: HashMap<ValueId, TensorStats> = HashMap::new();
    for sample in samples {
        interpreter.run(sample, |v, t| {
            if let Some(values) = t.as_f32() {
                stats.entry(v).or_insert_with(TensorStats::new).add(values);
            }
        })?;
    }
    if histograms {
        for s in stats.values_mut() {
            let abs_max = s.min.abs().max(s.max.abs());
            let abs_max = if abs_max.is_finite() { abs_max } else { 0.0 };
            s.histogram = Some(Histogram::new(abs_max, HISTOGRAM_BINS));
        }
        for sample in samples {
            interpreter.run(sample, |v, t| {
                if let (Some(values), Some(h)) = (
                    t.as_f32(),
                    stats.get_mut(&v).and_then(|s| s.histogram.as_mut()),
                ) {
                    h.add(values);
                }
            })?;
        }
    }
    Ok(Calibration {
        tensors: stats
            .into_iter()
            .map(|(v, s)| (graph.value(v).name.clone(), s))
            .collect(),
        n_samples: samples.len(),
    })
}

/// Runs `graph` on one sample (one tensor per graph input, in order) and returns its
/// outputs, in graph output order.
pub fn run(graph: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, CalibrationError> {
    Interpreter::new(graph)?.run(inputs, |_, _| {})
}

/// Evaluates a graph node by node through constant folding.
struct Interpreter<'g> {
    graph: &'g Graph,
    order: Vec<NodeId>,
    /// How many node inputs read each value, so a value is dropped after its last read.
    reads: HashMap<ValueId, usize>,
}

impl<'g> Interpreter<'g> {
    fn new(graph: &'g Graph) -> Result<Self, CalibrationError> {
        let order = graph
            .schedule()
            .map_err(|_| CalibrationError::Graph("the graph has a cycle".into()))?;
        let mut reads = HashMap::new();
        for &id in &order {
            for v in graph.node(id).inputs.iter().flatten() {
                *reads.entry(*v).or_insert(0) += 1;
            }
        }
        Ok(Self {
            graph,
            order,
            reads,
        })
    }

    /// Runs the graph on `inputs`, calling `visit` with every value a node computes (graph
    /// inputs included, constants not).
    fn run(
        &self,
        inputs: &[Tensor],
        mut visit: impl FnMut(ValueId, &Tensor),
    ) -> Result<Vec<Tensor>, CalibrationError> {
        let graph = self.graph;
        if inputs.len() != graph.inputs.len() {
            return Err(CalibrationError::Graph(format!(
                "the model takes {} inputs, the sample has {}",
                graph.inputs.len(),
                inputs.len()
            )));
        }
        let mut values: HashMap<ValueId, Tensor> = HashMap::new();
        let mut left = self.reads.clone();
        let outputs: Vec<ValueId> = graph.outputs.iter().map(|o| o.value).collect();
        for &id in &self.order {
            let node = graph.node(id);
            let computed = match &node.op {
                Op::Const(_) => continue,
                Op::Input(_) => {
                    let k = graph.inputs.iter().position(|&i| i == id).unwrap_or(0);
                    let t = &inputs[k];
                    let want = &node.outputs[0].ty;
                    if t.ty() != *want {
                        return Err(CalibrationError::Graph(format!(
                            "input `{}` is {want}, the sample is {}",
                            node.outputs[0].name,
                            t.ty()
                        )));
                    }
                    vec![t.clone()]
                }
                op => {
                    let operands: Vec<Option<&Tensor>> = node
                        .inputs
                        .iter()
                        .map(|v| v.and_then(|v| graph.const_value(v).or_else(|| values.get(&v))))
                        .collect();
                    let ctx = FoldCtx {
                        inputs: node.inputs.iter().map(|v| v.map(|v| graph.ty(v))).collect(),
                        consts: operands,
                        outputs: &node
                            .outputs
                            .iter()
                            .map(|v| v.ty.clone())
                            .collect::<Vec<_>>(),
                    };
                    let node_err = |source: OpError| NodeError {
                        node: node.name.clone(),
                        op: node.onnx,
                        source,
                    };
                    op.fold(&ctx).map_err(node_err)?.ok_or_else(|| {
                        node_err(OpError::unsupported(
                            "the op has no host evaluation for these input types, so the model \
                             cannot be calibrated",
                        ))
                    })?
                }
            };
            for (slot, t) in computed.into_iter().enumerate() {
                let v = ValueId {
                    node: id,
                    slot: slot as u32,
                };
                visit(v, &t);
                values.insert(v, t);
            }
            for v in node.inputs.iter().flatten() {
                if let Some(n) = left.get_mut(v) {
                    *n -= 1;
                    if *n == 0 && !outputs.contains(v) {
                        values.remove(v);
                    }
                }
            }
        }
        outputs
            .iter()
            .map(|v| {
                graph
                    .const_value(*v)
                    .or_else(|| values.get(v))
                    .cloned()
                    .ok_or_else(|| {
                        CalibrationError::Graph(format!(
                            "output `{}` was not computed",
                            graph.value(*v).name
                        ))
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(bins: &[u64], abs_max: f32) -> Histogram {
        Histogram {
            abs_max,
            bins: bins.to_vec(),
            zeros: 0,
        }
    }

    #[test]
    fn sample_files_parse_row_ranges() {
        let check = |text: &str, want: SampleFile| assert_eq!(text.parse(), Ok(want));
        check("x.npy", SampleFile::new("x.npy"));
        check("x.npy:0..1400", SampleFile::rows("x.npy", 0..1400));
        check("x.npy:1400..", SampleFile::rows("x.npy", 1400..usize::MAX));
        check("/a:b/x.npy:..10", SampleFile::rows("/a:b/x.npy", 0..10));
        let err = "x.npy:a..3".parse::<SampleFile>().unwrap_err();
        assert!(err.contains("`a`"), "{err}");
    }

    #[test]
    fn rows_are_selected_and_checked() {
        let stack = Tensor::new(vec![4, 2], Data::F32((0..8).map(|v| v as f32).collect()));
        let path = Path::new("s.npy");
        let got = select_rows(path, stack.clone(), Some(1..3)).unwrap();
        assert_eq!(
            got,
            Tensor::new(vec![2, 2], Data::F32(vec![2., 3., 4., 5.]))
        );
        let open = select_rows(path, stack.clone(), Some(3..usize::MAX)).unwrap();
        assert_eq!(open.shape, vec![1, 2]);
        let empty = select_rows(path, stack.clone(), Some(2..2)).unwrap_err();
        assert!(empty.to_string().contains("range 2..2 is empty"), "{empty}");
        let beyond = select_rows(path, stack, Some(0..9)).unwrap_err();
        assert!(
            beyond.to_string().contains("do not fit the 4 samples"),
            "{beyond}"
        );
    }

    #[test]
    fn stacks_split_into_samples_shaped_like_the_input() {
        let port = PortDef {
            name: "x".into(),
            dtype: Some(DType::F32),
            dims: vec![Some(1), Some(2), None],
        };
        let path = Path::new("s.npy");
        let stack = Tensor::new(
            vec![3, 2, 2],
            Data::F32((0..12).map(|v| v as f32).collect()),
        );
        let rows = split_stack(path, &stack, &port).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[2],
            Tensor::new(vec![1, 2, 2], Data::F32(vec![8., 9., 10., 11.]))
        );
        let wrong = Tensor::new(vec![3, 4], Data::F32(vec![0.0; 12]));
        let err = split_stack(path, &wrong, &port).unwrap_err();
        assert!(err.to_string().contains("shape [3, 4]"), "{err}");
        let doubles = Tensor::new(vec![3, 2, 2], Data::F64(vec![0.0; 12]));
        let err = split_stack(path, &doubles, &port).unwrap_err();
        assert!(err.to_string().contains("holds f64 samples"), "{err}");
    }

    #[test]
    fn percentiles_come_from_bin_edges() {
        // 90 values in the first bin, 9 in the fifth, 1 in the last of ten over [0, 10].
        let mut bins = vec![0; 10];
        bins[0] = 90;
        bins[4] = 9;
        bins[9] = 1;
        let h = hist(&bins, 10.0);
        assert_eq!(h.percentile(90.0), 1.0);
        assert_eq!(h.percentile(99.0), 5.0);
        assert_eq!(h.percentile(100.0), 10.0);
    }

    #[test]
    fn entropy_clips_a_long_tail() {
        // A dense bulk over the first 64 bins and a single far outlier: quantizing the
        // whole range to 16 levels would merge the bulk into a few levels, so the
        // threshold lands near the bulk's end.
        let mut bins = vec![0u64; 512];
        for (i, b) in bins.iter_mut().enumerate().take(64) {
            *b = 1000 + (i as u64 * 37) % 200;
        }
        bins[511] = 1;
        let h = hist(&bins, 512.0);
        let t = h.entropy_threshold(16);
        assert!((64.0..=80.0).contains(&t), "threshold {t}");
        // Without a tail the whole range is kept.
        let flat = hist(&[10; 64], 64.0);
        assert_eq!(flat.entropy_threshold(16), 64.0);
    }

    #[test]
    fn ranges_by_method() {
        let mut bins = vec![0u64; HISTOGRAM_BINS];
        bins[0] = 9_999;
        bins[HISTOGRAM_BINS - 1] = 1;
        let stats = TensorStats {
            min: 0.0,
            max: 8.0,
            histogram: Some(hist(&bins, 8.0)),
        };
        assert_eq!(stats.range(Method::MinMax), (0.0, 8.0));
        let (lo, hi) = stats.range(Method::Percentile(99.9));
        assert_eq!(lo, 0.0);
        assert!(hi < 0.01, "{hi}");
    }
}
