//! `zantc verify`: compile a model to a temporary crate, build its runner, run every
//! `test_data_set_*` beside the model and compare with the reference outputs.
//!
//! A value matches when `|got - want| <= atol + rtol·|want|` (defaults atol 1e-4, rtol 1e-3,
//! the tolerance of `../shared/models`); integers and booleans must be equal. NaN matches NaN.
//!
//! Quantized outputs are compared in steps of their quantization (LSBs), the tolerance of
//! `../shared/models` for int8 paths: an 8-bit integer output must be within 1 LSB with at
//! least 99 % of its elements identical, and a float output that a per-tensor
//! DequantizeLinear produces within one step of its scale. Their checks carry an LSB
//! histogram.
//!
//! The runner runs on this machine, or, for a target of another architecture whose row
//! in the target table runs in QEMU's user mode (AArch64 Linux), is built for that target
//! with Debian's Rust and run under QEMU ([`user_mode`]); other targets are refused.

pub mod user_mode;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ir::{DType, Data, Tensor, TensorType};
use crate::onnx::read_tensor;
use crate::onnx::BindValue;
use crate::target::{arch_of, Target};
use crate::{CrateOptions, Error, Options};
use user_mode::UserMode;

/// Why a compiled model could not be checked against its test data.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no test_data_set_* folder in {}", .0.display())]
    NoDataSet(PathBuf),
    /// `verify` builds and runs the model on this machine, which cannot run a crate
    /// generated for another kernel family.
    #[error(
        "zantc verify runs the model on this machine, which cannot run code generated \
         for {0}; check it there with `zantc bench --targets CORE` (outputs compared \
         with this machine's)"
    )]
    ForeignTarget(String),
    /// A target run in QEMU's user mode whose tools are not all installed.
    #[error(
        "zantc verify runs code for {target} under {qemu}, built with Debian's Rust; \
         missing: {missing}. Install them with scripts/setup-targets.sh"
    )]
    Toolchain {
        target: String,
        qemu: &'static str,
        missing: String,
    },
    #[error("{data_set}/input_{index}.pb is {data} but the model's input {index} is {model}")]
    InputType {
        data_set: String,
        index: usize,
        data: TensorType,
        model: TensorType,
    },
    #[error("{data_set}: output `{output}` has {got} elements, the reference {want}")]
    OutputSize {
        data_set: String,
        output: String,
        got: usize,
        want: usize,
    },
    #[error("building the generated crate failed:\n{0}")]
    Build(String),
    #[error("the runner failed on {data_set}: {stderr}")]
    Runner { data_set: String, stderr: String },
    #[error("{} holds {len} values, expected {ty}", .path.display())]
    NpySize {
        path: PathBuf,
        len: usize,
        ty: TensorType,
    },
    #[error("--bind {name}: {message}")]
    Bind { name: String, message: String },
}

/// Verification settings.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Folder holding `test_data_set_*` (default: the model's folder).
    pub data_dir: Option<PathBuf>,
    pub atol: f64,
    pub rtol: f64,
    /// The cargo target folder for the runner builds (shared so the runtime builds once).
    pub target_dir: PathBuf,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            atol: 1e-4,
            rtol: 1e-3,
            target_dir: std::env::var_os("ZANT_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("zant-target")),
        }
    }
}

/// The comparison of one output of one data set.
#[derive(Clone, Debug)]
pub struct OutputCheck {
    pub data_set: String,
    pub output: String,
    pub n_elems: usize,
    pub max_abs: f64,
    pub max_rel: f64,
    /// Elements outside the tolerance.
    pub mismatches: usize,
    /// For a quantized output, the differences in quantization steps.
    pub lsb: Option<Lsb>,
}

impl OutputCheck {
    pub fn passed(&self) -> bool {
        self.mismatches == 0 && self.lsb.as_ref().is_none_or(|l| l.identical_enough())
    }
}

/// The differences of a quantized output in quantization steps (LSBs).
#[derive(Clone, Debug, PartialEq)]
pub struct Lsb {
    /// The size of one step: the output's scale, or 1 for an integer output.
    pub step: f64,
    /// Elements that differ by 0, 1, 2 and 3 or more steps.
    pub counts: [usize; 4],
    /// The largest difference in steps.
    pub max: u64,
    /// Whether at least 99 % of the elements must be identical (integer outputs).
    pub require_identical: bool,
}

impl Lsb {
    fn identical_enough(&self) -> bool {
        let n: usize = self.counts.iter().sum();
        !self.require_identical || self.counts[0] * 100 >= n * 99
    }
}

impl std::fmt::Display for Lsb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [zero, one, two, more] = self.counts;
        write!(
            f,
            "lsb(step {:.3e}) 0:{zero} 1:{one} 2:{two} 3+:{more} max={}",
            self.step, self.max
        )
    }
}

/// The quantization step of each graph output: 1 for an 8-bit integer output, the scale
/// of the per-tensor DequantizeLinear that produces a float output, `None` otherwise.
pub fn output_steps(graph: &crate::ir::Graph) -> Vec<Option<f64>> {
    use crate::ops::Op;
    use zant_runtime::quant::QuantLayout;
    graph
        .outputs
        .iter()
        .map(|o| {
            if matches!(graph.ty(o.value).dtype, DType::I8 | DType::U8) {
                return Some(1.0);
            }
            let node = graph.node(o.value.node);
            match &node.op {
                Op::Quant(q) if !q.quantize && q.layout == QuantLayout::PerTensor => {
                    let scale = node.inputs.get(1).copied().flatten()?;
                    let value = graph.const_value(scale)?.data.to_f64_vec();
                    value.first().copied().filter(|s| *s > 0.0)
                }
                _ => None,
            }
        })
        .collect()
}

pub use crate::model_file;

/// The `test_data_set_*` folders in `dir`, sorted.
fn data_sets(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            context: format!("cannot list {}", dir.display()),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("test_data_set_"))
        })
        .collect();
    sets.sort();
    if sets.is_empty() {
        return Err(CheckError::NoDataSet(dir.to_path_buf()).into());
    }
    Ok(sets)
}

/// Pins every input the user did not pin or bind to the shape of its test data, so that
/// symbolic dims (`batch_size`) take the shape the reference outputs were made with. A pin
/// that contradicts a fixed dim of the model still fails in import.
pub fn pin_from_data(model: &Path, opts: &Options, set: &Path) -> Result<Options, Error> {
    let info = crate::onnx::describe(model)?;
    let mut opts = opts.clone();
    for (i, name) in info.inputs.iter().enumerate() {
        if opts.input_shapes.iter().any(|p| &p.name == name)
            || opts.bindings.iter().any(|b| &b.name == name)
        {
            continue;
        }
        let path = set.join(format!("input_{i}.pb"));
        if let Ok(t) = read_tensor(&path) {
            opts.input_shapes.push(crate::InputShape {
                name: name.clone(),
                dims: t.shape.clone(),
            });
        }
    }
    Ok(opts)
}

/// Resolves every binding that asks for the test data's value (`--bind NAME` alone,
/// [`BindValue::TestData`]): graph input `NAME` is bound to its `input_K.pb`, which must
/// hold the same value in every data set, since the compiled model has one value for it.
/// The conformance harness binds shape-deciding inputs through this function too.
pub fn bind_test_data(model: &Path, opts: &Options, sets: &[PathBuf]) -> Result<Options, Error> {
    let info = crate::onnx::describe(model)?;
    let mut opts = opts.clone();
    for binding in &mut opts.bindings {
        if binding.value != BindValue::TestData {
            continue;
        }
        // An input the model does not feed is left for import to name with the inputs
        // it has.
        let Some(k) = info.inputs.iter().position(|i| *i == binding.name) else {
            continue;
        };
        let err = |message: String| CheckError::Bind {
            name: binding.name.clone(),
            message,
        };
        let mut value: Option<Tensor> = None;
        for set in sets {
            let t = read_tensor(&set.join(format!("input_{k}.pb")))?;
            match &value {
                Some(v) if *v != t => {
                    return Err(err(format!(
                        "{} holds another value than the data sets before it; a bound input \
                         has one value, so the data sets must agree",
                        set.display()
                    ))
                    .into())
                }
                _ => value = Some(t),
            }
        }
        let value = value.ok_or_else(|| err("there is no data set to read it from".into()))?;
        binding.value = BindValue::Tensor(value);
    }
    Ok(opts)
}

/// The outcome of [`check`]: the comparisons, and what the compiler warned about.
#[derive(Clone, Debug)]
pub struct Verification {
    pub checks: Vec<OutputCheck>,
    /// The compiler's warnings on the model ([`crate::pipeline::Lowered::warnings`]).
    pub warnings: Vec<String>,
    /// What `--prune` did ([`crate::pipeline::Lowered::pruning`]): the outputs are then
    /// those of the pruned model, compared with the unpruned model's reference data.
    pub pruning: Option<crate::PruneSummary>,
    /// What the generated crate computed: each data set's outputs, in order.
    pub outputs: Vec<Vec<Tensor>>,
}

/// Builds the runner for `model` and checks it on every data set.
pub fn verify(
    model: &Path,
    opts: &Options,
    vopts: &VerifyOptions,
) -> Result<Vec<OutputCheck>, Error> {
    Ok(check(model, opts, vopts)?.checks)
}

/// [`verify`], with the compiler's warnings.
pub fn check(model: &Path, opts: &Options, vopts: &VerifyOptions) -> Result<Verification, Error> {
    let model = model_file(model);
    let run_on = run_on(opts.target.as_ref())?;
    let data_dir = vopts
        .data_dir
        .clone()
        .unwrap_or_else(|| model.parent().unwrap_or(Path::new(".")).to_path_buf());
    let sets = data_sets(&data_dir)?;
    let opts = bind_test_data(&model, opts, &sets)?;
    let opts = pin_from_data(&model, &opts, &sets[0])?;
    let compiled = crate::compile(&model, &opts, &CrateOptions::default())?;
    // The runner takes the inputs that are not bound, in graph input order; each reads
    // the data set's file of its position among all the inputs the model feeds.
    let fed = crate::onnx::describe(&model)?.inputs;
    let work = tempfile::tempdir().map_err(|source| Error::Io {
        context: "cannot create a temporary folder".into(),
        source,
    })?;
    let crate_dir = work.path().join(&compiled.crate_name);
    crate::write_files(&crate_dir, &compiled.files)?;
    let runner = match run_on {
        RunOn::Host => build_runner(&crate_dir, &vopts.target_dir)?,
        RunOn::User(user) => build_user_mode_runner(&user, &crate_dir, &vopts.target_dir)?,
    };

    let graph = &compiled.lowered.graph;
    let input_types: Vec<(String, TensorType)> = graph
        .inputs
        .iter()
        .map(|&id| {
            let v = &graph.node(id).outputs[0];
            (v.name.clone(), v.ty.clone())
        })
        .collect();
    let output_types: Vec<(String, TensorType)> = graph
        .outputs
        .iter()
        .map(|o| (o.name.clone(), graph.ty(o.value).clone()))
        .collect();
    let steps = output_steps(graph);
    // The data-dependent axis of each output whose length a run decides.
    let bounded: Vec<Option<usize>> = graph
        .outputs
        .iter()
        .map(|o| graph.bound_of(o.value).map(|b| b.axis))
        .collect();
    let mut checks = Vec::new();
    let mut outputs = Vec::new();
    for set in &sets {
        let set_name = set
            .file_name()
            .expect("a folder")
            .to_string_lossy()
            .into_owned();
        let npy_dir = work.path().join(&set_name);
        std::fs::create_dir_all(&npy_dir).map_err(|source| Error::Io {
            context: format!("cannot create {}", npy_dir.display()),
            source,
        })?;
        let mut args = Vec::new();
        for (i, (name, ty)) in input_types.iter().enumerate() {
            let k = fed.iter().position(|f| f == name).unwrap_or(i);
            let t = read_tensor(&set.join(format!("input_{k}.pb")))?;
            if t.ty() != *ty {
                return Err(CheckError::InputType {
                    data_set: set_name,
                    index: k,
                    data: t.ty(),
                    model: ty.clone(),
                }
                .into());
            }
            let path = npy_dir.join(format!("input_{i}.npy"));
            write_npy(&path, &t)?;
            args.push(path);
        }
        let out_dir = npy_dir.join("out");
        let mut got_all = Vec::new();
        let mut command = match run_on {
            RunOn::Host => Command::new(&runner),
            RunOn::User(user) => user.run(&runner),
        };
        let status = command
            .args(&args)
            .arg("-o")
            .arg(&out_dir)
            .output()
            .map_err(|source| Error::Io {
                context: format!("cannot run {}", runner.display()),
                source,
            })?;
        if !status.status.success() {
            return Err(CheckError::Runner {
                data_set: set_name,
                stderr: String::from_utf8_lossy(&status.stderr).trim().to_string(),
            }
            .into());
        }
        for (k, (name, ty)) in output_types.iter().enumerate() {
            let want = read_tensor(&set.join(format!("output_{k}.pb")))?;
            // A data-dependent output is read at the reference's length when it fits the
            // capacity; a run that produced another length fails to read at it.
            let ty = match bounded[k] {
                Some(axis) if fits(ty, &want.shape, axis) => {
                    TensorType::new(ty.dtype, want.shape.clone())
                }
                _ => ty.clone(),
            };
            let got = read_npy(&out_dir.join(format!("output_{k}.npy")), &ty)?;
            if want.n_elems() != got.n_elems() {
                return Err(CheckError::OutputSize {
                    data_set: set_name,
                    output: name.clone(),
                    got: got.n_elems(),
                    want: want.n_elems(),
                }
                .into());
            }
            let check = match steps[k] {
                Some(step) => compare_quantized(&set_name, name, &got, &want, step),
                None => compare(&set_name, name, &got, &want, vopts.atol, vopts.rtol),
            };
            checks.push(check);
            got_all.push(got);
        }
        outputs.push(got_all);
    }
    Ok(Verification {
        checks,
        outputs,
        warnings: compiled.lowered.warnings.clone(),
        pruning: compiled.lowered.pruning.clone(),
    })
}

/// Whether `shape` is `capacity`'s shape but along `axis`, where it is no longer.
fn fits(capacity: &TensorType, shape: &[usize], axis: usize) -> bool {
    shape.len() == capacity.shape.len()
        && shape
            .iter()
            .zip(&capacity.shape)
            .enumerate()
            .all(|(a, (&s, &c))| if a == axis { s <= c } else { s == c })
}

/// Where `verify` runs a target's runner.
#[derive(Clone, Copy, Debug)]
enum RunOn {
    /// On this machine: no target, or one of this machine's architecture.
    Host,
    /// Under QEMU's user mode, built with Debian's Rust for the target.
    User(UserMode),
}

/// Where the runner for `target` runs, or why it cannot run: a target of another
/// architecture runs only where its row of the target table has a user-mode emulator,
/// and then only with that emulator's tools installed. Which architecture this machine
/// has is asked, never assumed: on an AArch64 Linux machine the AArch64 row runs natively.
fn run_on(target: Option<&Target>) -> Result<RunOn, CheckError> {
    let Some(target) = target else {
        return Ok(RunOn::Host);
    };
    if arch_of(&target.triple) == std::env::consts::ARCH {
        return Ok(RunOn::Host);
    }
    let user = UserMode::of(target).ok_or_else(|| CheckError::ForeignTarget(target.name()))?;
    let missing = user.missing();
    if !missing.is_empty() {
        return Err(CheckError::Toolchain {
            target: target.name(),
            qemu: user.qemu,
            missing: missing.join(", "),
        });
    }
    Ok(RunOn::User(user))
}

/// Builds the generated crate's runner for a user-mode target with Debian's Rust (in a
/// folder of `target_dir` of its own, apart from the host builds of another compiler)
/// and returns its path.
fn build_user_mode_runner(
    user: &UserMode,
    crate_dir: &Path,
    target_dir: &Path,
) -> Result<PathBuf, Error> {
    let target_dir = target_dir.join("user-mode");
    let out = user
        .cargo_build(crate_dir, &target_dir)
        .args(["--release", "--features", "runner", "--bin", "runner"])
        .output()
        .map_err(|source| Error::Io {
            context: format!("cannot run {}", user_mode::CARGO),
            source,
        })?;
    if !out.status.success() {
        return Err(CheckError::Build(String::from_utf8_lossy(&out.stderr).into_owned()).into());
    }
    Ok(user.binary(&target_dir, "release", "runner"))
}

/// Builds the generated crate's runner binary in release mode and returns its path.
pub fn build_runner(crate_dir: &Path, target_dir: &Path) -> Result<PathBuf, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--features",
            "runner",
            "--bin",
            "runner",
        ])
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .map_err(|source| Error::Io {
            context: "cannot run cargo".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(CheckError::Build(String::from_utf8_lossy(&out.stderr).into_owned()).into());
    }
    Ok(target_dir
        .join("release")
        .join(format!("runner{}", std::env::consts::EXE_SUFFIX)))
}

/// Writes a tensor as `.npy`, as numpy would (booleans as `|b1`).
pub fn write_npy(path: &Path, t: &Tensor) -> Result<(), Error> {
    use npyz::WriterBuilder;
    let io = |source| Error::Io {
        context: format!("cannot write {}", path.display()),
        source,
    };
    if raw_npy_type(t.dtype()) {
        return std::fs::write(path, raw_npy(t)).map_err(io);
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    macro_rules! write {
        ($v:expr) => {{
            let mut w = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&shape)
                .writer(file)
                .begin_nd()
                .map_err(io)?;
            w.extend($v.iter().copied()).map_err(io)?;
            w.finish().map_err(io)?;
        }};
    }
    match &t.data {
        Data::Bool(v) => {
            let bools: Vec<bool> = v.iter().map(|&b| b != 0).collect();
            write!(bools)
        }
        data => crate::with_data!(data, v => write!(v)),
    }
    Ok(())
}

/// Whether `.npy` files of `dtype` are read and written as raw bytes here: the narrow
/// types, which npyz does not know, and booleans (`|b1`), which it reads only as `bool`.
fn raw_npy_type(dtype: DType) -> bool {
    dtype == DType::Bool || dtype.narrow().is_some()
}

/// A boolean or narrow tensor as `.npy`: its storage units, one element each (a packed
/// type's codes one a byte), under [`DType::npy_descr`]: what numpy (`|b1`, `<f2`) or
/// `ml_dtypes` (raw `V` bytes) write for these types.
pub fn raw_npy(t: &Tensor) -> Vec<u8> {
    let (bytes, _) = t.data.element_bytes();
    let dims: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        t.dtype().npy_descr()
    );
    // The magic, version and length take 10 bytes; the header ends in a newline and pads
    // the data to a multiple of 64 bytes.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(bytes);
    out
}

/// Reads a boolean or narrow tensor written as [`raw_npy`] writes it (any type string
/// whose item has the storage unit's size: `<f2`, `<u2` or `<V2` for the 16-bit types,
/// `|b1`, `|u1`, `|i1` or `|V1` for the others).
fn read_raw_npy(file: &mut impl std::io::Read, ty: &TensorType) -> std::io::Result<Tensor> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let header = npyz::NpyHeader::from_reader(&mut *file)?;
    let descr = header.dtype().descr();
    let unit = if ty.dtype.size() == 2 { 2 } else { 1 };
    let item_size = descr
        .trim_matches('\'')
        .get(2..)
        .and_then(|s| s.parse::<usize>().ok());
    if item_size != Some(unit) || descr.contains('f') && ty.dtype != DType::F16 {
        return Err(invalid(format!(
            "type {descr} does not hold {} (one {unit}-byte unit an element)",
            ty.dtype
        )));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let n = ty.n_elems();
    if bytes.len() != n * unit {
        return Err(invalid(format!(
            "{} bytes of data; {ty} needs {}",
            bytes.len(),
            n * unit
        )));
    }
    let Some(format) = ty.dtype.narrow() else {
        let bools = bytes.iter().map(|&b| u8::from(b != 0)).collect();
        return Ok(Tensor::new(ty.shape.clone(), Data::Bool(bools)));
    };
    let mask = if format.bits() >= 8 {
        u32::MAX
    } else {
        (1 << format.bits()) - 1
    };
    let codes: Vec<u32> = bytes
        .chunks_exact(unit)
        .map(|c| c.iter().rev().fold(0, |acc, &b| (acc << 8) | u32::from(b)) & mask)
        .collect();
    Ok(Tensor::new(
        ty.shape.clone(),
        Data::from_codes(ty.dtype, &codes),
    ))
}

/// Reads a `.npy` file of the given type.
pub fn read_npy(path: &Path, ty: &TensorType) -> Result<Tensor, Error> {
    let err = |e: std::io::Error| Error::Io {
        context: format!("cannot read {}", path.display()),
        source: e,
    };
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(err)?);
    if raw_npy_type(ty.dtype) {
        return read_raw_npy(&mut file, ty).map_err(err);
    }
    let npy = npyz::NpyFile::new(file).map_err(err)?;
    let data = match ty.dtype {
        DType::F32 => Data::F32(npy.into_vec().map_err(err)?),
        DType::F64 => Data::F64(npy.into_vec().map_err(err)?),
        DType::I8 => Data::I8(npy.into_vec().map_err(err)?),
        DType::U8 => Data::U8(npy.into_vec().map_err(err)?),
        DType::I16 => Data::I16(npy.into_vec().map_err(err)?),
        DType::U16 => Data::U16(npy.into_vec().map_err(err)?),
        DType::I32 => Data::I32(npy.into_vec().map_err(err)?),
        DType::U32 => Data::U32(npy.into_vec().map_err(err)?),
        DType::I64 => Data::I64(npy.into_vec().map_err(err)?),
        DType::U64 => Data::U64(npy.into_vec().map_err(err)?),
        _ => unreachable!("booleans and narrow types are read above"),
    };
    if data.len() != ty.n_elems() {
        return Err(CheckError::NpySize {
            path: path.to_path_buf(),
            len: data.len(),
            ty: ty.clone(),
        }
        .into());
    }
    Ok(Tensor::new(ty.shape.clone(), data))
}

/// Compares two tensors element by element.
pub fn compare(
    data_set: &str,
    output: &str,
    got: &Tensor,
    want: &Tensor,
    atol: f64,
    rtol: f64,
) -> OutputCheck {
    let (g, w) = (got.data.to_f64_vec(), want.data.to_f64_vec());
    let exact = !want.dtype().is_float();
    let mut check = OutputCheck {
        data_set: data_set.into(),
        output: output.into(),
        n_elems: w.len(),
        max_abs: 0.0,
        max_rel: 0.0,
        mismatches: 0,
        lsb: None,
    };
    for (&a, &b) in g.iter().zip(&w) {
        if a.is_nan() && b.is_nan() {
            continue;
        }
        let diff = (a - b).abs();
        let ok = if exact {
            a == b
        } else {
            diff <= atol + rtol * b.abs() || a == b
        };
        if !ok {
            check.mismatches += 1;
        }
        if diff.is_finite() {
            check.max_abs = check.max_abs.max(diff);
            if b != 0.0 {
                check.max_rel = check.max_rel.max(diff / b.abs());
            }
        } else if !ok {
            check.max_abs = f64::INFINITY;
        }
    }
    check
}

/// Compares a quantized output in steps of `step`: every element must be within one step
/// (and, for an integer output, 99 % of them identical).
pub fn compare_quantized(
    data_set: &str,
    output: &str,
    got: &Tensor,
    want: &Tensor,
    step: f64,
) -> OutputCheck {
    let mut check = compare(data_set, output, got, want, 0.0, 0.0);
    let mut lsb = Lsb {
        step,
        counts: [0; 4],
        max: 0,
        require_identical: !want.dtype().is_float(),
    };
    check.mismatches = 0;
    let (g, w) = (got.data.to_f64_vec(), want.data.to_f64_vec());
    for (&a, &b) in g.iter().zip(&w) {
        // Dequantized values are whole steps apart up to float rounding, so the
        // difference rounds to its step count; NaN or infinity counts as far off.
        let steps = ((a - b).abs() / step).round();
        let steps = if steps.is_finite() {
            steps as u64
        } else {
            u64::MAX
        };
        lsb.counts[steps.min(3) as usize] += 1;
        lsb.max = lsb.max.max(steps);
        if steps > 1 {
            check.mismatches += 1;
        }
    }
    check.lsb = Some(lsb);
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &[u8]) -> Tensor {
        Tensor::new(vec![v.len()], Data::U8(v.to_vec()))
    }

    #[test]
    fn foreign_targets_run_in_user_mode_or_are_refused() {
        assert!(matches!(run_on(None), Ok(RunOn::Host)));
        let m4 = Target::core("cortex-m4").unwrap();
        let err = run_on(Some(&m4)).unwrap_err().to_string();
        assert!(
            err.contains("cannot run code generated for cortex-m4"),
            "{err}"
        );
        let aarch64 = Target::core("aarch64").unwrap();
        match (std::env::consts::ARCH, run_on(Some(&aarch64))) {
            ("aarch64", Ok(RunOn::Host)) => {}
            (_, Ok(RunOn::User(user))) => assert_eq!(user.qemu, "qemu-aarch64"),
            // Without the tools the error names them and the script that installs them.
            (_, Err(e @ CheckError::Toolchain { .. })) => {
                let message = e.to_string();
                assert!(message.contains("scripts/setup-targets.sh"), "{message}");
            }
            (arch, other) => panic!("aarch64 on {arch}: {other:?}"),
        }
    }

    #[test]
    fn quantized_outputs_are_compared_in_steps() {
        let want = bytes(&[10; 100]);
        let mut one_off = [10u8; 100];
        one_off[0] = 11;
        let check = compare_quantized("set", "y", &bytes(&one_off), &want, 1.0);
        assert!(check.passed());
        assert_eq!(check.lsb.as_ref().unwrap().counts, [99, 1, 0, 0]);
        // Two steps off fails, and so do 1-step differences in more than 1 % of elements.
        one_off[1] = 12;
        assert!(!compare_quantized("set", "y", &bytes(&one_off), &want, 1.0).passed());
        let many = bytes(&[11; 100]);
        let check = compare_quantized("set", "y", &many, &want, 1.0);
        assert_eq!((check.mismatches, check.passed()), (0, false));
        // A dequantized float output may be one scale step off everywhere.
        let floats = |v: &[f32]| Tensor::new(vec![v.len()], Data::F32(v.to_vec()));
        let got = floats(&[0.5, 0.75, 1.0]);
        let check = compare_quantized("set", "y", &got, &floats(&[0.25, 0.75, 1.5]), 0.25);
        assert_eq!(check.lsb.as_ref().unwrap().counts, [1, 1, 1, 0]);
        assert_eq!(check.mismatches, 1);
    }
}
