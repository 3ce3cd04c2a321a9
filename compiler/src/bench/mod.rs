//! `zantc bench` and `zantc compare`: the size, speed and heap of generated crates, per opt
//! level, on the host (x86_64) and on a Cortex-M7 in QEMU, and run-to-run comparisons.
//!
//! For every model the bench compiles the model once, writes a small harness crate per
//! target around the generated module ([`harness`]), builds it once per opt level (release,
//! `lto`, `codegen-units = 1`, `panic = "abort"`) and measures it ([`host`], [`cortex_m7`]).
//! The results form a [`Report`], which [`report`] renders as Markdown, JSON and an SVG chart
//! and [`compare()`] sets against an earlier one. CLI tooling only: the module is compiled
//! with the `cli` feature.

mod attribution;
mod chart;
mod compare;
pub mod compress_report;
pub mod compression;
pub mod eval;
mod harness;
mod host;
mod layers;
mod machine;
mod mcu;
mod report;
mod user_mode;

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::compress::prune;
use crate::ir::{DType, Data, Tensor, TensorType};
use crate::onnx::Source;
use crate::pipeline::{self, Lowered};
use crate::{Error, InputShape, Options, PruneSpec, WeightFormat};

pub use attribution::Attribution;
pub use compare::{compare, Change, Comparison, Status, Verdict};
pub use layers::{markdown as layers_markdown, svg as layers_svg, Layer, Layers};
pub use report::{markdown, svg};

/// Why a bench step failed: a tool that did not run as it should, or printed what the
/// bench cannot read.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// cargo could not build a harness (`harness` is `host` or `Cortex-M7`).
    #[error("building the {harness} harness failed:\n{stderr}")]
    Build {
        harness: &'static str,
        stderr: String,
    },
    #[error("{} is not an ELF file: {message}", .path.display())]
    Elf { path: PathBuf, message: String },
    #[error("code attribution: {0}")]
    Attribution(String),
    #[error("callgrind failed:\n{0}")]
    Callgrind(String),
    #[error("callgrind printed no total:\n{0}")]
    CallgrindTotal(String),
    #[error("the harness failed ({status}): {stderr}")]
    Harness { status: String, stderr: String },
    #[error("the harness printed a bad line `{0}`")]
    HarnessLine(String),
    #[error("bad hex in `{0}`")]
    HarnessHex(String),
    #[error("the harness printed {len} bytes for output {output} ({ty})")]
    HarnessOutput {
        output: usize,
        len: usize,
        ty: TensorType,
    },
    #[error("the harness printed no `{key}`:\n{text}")]
    HarnessValue { key: String, text: String },
    /// A requested peer cannot run at all (checked before any model is built).
    #[error("the {peer} baseline cannot run: {reason}")]
    PeerUnavailable { peer: Baseline, reason: String },
    /// A peer's timing script failed on one model.
    #[error("{script} failed: {stderr}")]
    Peer {
        script: &'static str,
        stderr: String,
    },
    #[error("QEMU did not finish in {0} s")]
    QemuTimeout(u64),
    #[error("the Cortex-M7 harness failed in QEMU ({status}):\n{output}")]
    Qemu { status: String, output: String },
    /// A core run in QEMU's user mode whose tools are not all installed.
    #[error("the {target} harness needs {missing}: install them with scripts/setup-targets.sh")]
    UserModeTools {
        target: &'static str,
        missing: String,
    },
    #[error("the model does not fit the board: {0}")]
    DoesNotFit(String),
    #[error("the profiled harness printed {got} layers, the model has {want}")]
    LayerCount { got: usize, want: usize },
    #[error("cannot draw the chart: {0}")]
    Chart(String),
    #[error("cannot write the report as JSON: {0}")]
    Json(String),
    #[error("{}: not a bench report: {message}", .path.display())]
    NotAReport { path: PathBuf, message: String },
    /// A compression method of `zantc compress-report` could not make its variant.
    #[error("{method}: {message}")]
    Compression { method: String, message: String },
}

/// An optimisation level of the harness build (`opt-level` in a cargo profile): `LEVEL`
/// for the whole build, or `LEVEL/RUNTIME` for the build at `LEVEL` with `zant-runtime` at
/// `RUNTIME` (a `[profile.*.package.zant-runtime]` override): `z` is "smallest", `z/3`
/// "small but fast" (docs/build-rs.md).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OptLevel(String);

impl OptLevel {
    /// The cargo profile the harnesses define for this level (`opt-3`, `opt-z`,
    /// `opt-z-runtime-3`).
    fn profile(&self) -> String {
        match self.0.split_once('/') {
            Some((level, runtime)) => format!("opt-{level}-runtime-{runtime}"),
            None => format!("opt-{}", self.0),
        }
    }

    /// The value of `opt-level` in `Cargo.toml`: a number or a quoted letter.
    fn toml_value(&self) -> String {
        toml_level(self.0.split('/').next().unwrap_or_default())
    }

    /// The `opt-level` of `zant-runtime`'s profile override, if the level has one.
    fn runtime_toml_value(&self) -> Option<String> {
        self.0
            .split_once('/')
            .map(|(_, runtime)| toml_level(runtime))
    }
}

fn toml_level(level: &str) -> String {
    match level {
        "s" | "z" => format!("{level:?}"),
        n => n.to_string(),
    }
}

impl FromStr for OptLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let valid = |level: &str| matches!(level, "0" | "1" | "2" | "3" | "s" | "z");
        let ok = match s.split_once('/') {
            Some((level, runtime)) => valid(level) && valid(runtime),
            None => valid(s),
        };
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "`{s}` is not an opt level (0, 1, 2, 3, s or z, or LEVEL/RUNTIME such as z/3 \
                 for zant-runtime at RUNTIME)"
            ))
        }
    }
}

impl fmt::Display for OptLevel {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a harness runs: the host, or a core of the target table
/// ([`crate::target::CORES`]) in QEMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Target {
    /// The machine zantc runs on (x86_64 Linux).
    #[serde(rename = "host")]
    Host,
    /// `thumbv6m-none-eabi`, run by the Cortex-M3 of QEMU's `mps2-an385`.
    #[serde(rename = "cortex-m0plus")]
    CortexM0plus,
    /// `thumbv7m-none-eabi` in QEMU's `mps2-an385`.
    #[serde(rename = "cortex-m3")]
    CortexM3,
    /// `thumbv7em-none-eabihf`, `cortex-m4`, in QEMU's `mps2-an386`.
    #[serde(rename = "cortex-m4")]
    CortexM4,
    /// `thumbv7em-none-eabihf`, `cortex-m7`, in QEMU's `mps2-an500`.
    #[serde(rename = "cortex-m7")]
    CortexM7,
    /// `thumbv8m.main-none-eabihf`, `cortex-m33`, in QEMU's `mps2-an505`.
    #[serde(rename = "cortex-m33")]
    CortexM33,
    /// `thumbv8m.main-none-eabihf` with Armv8.1-M and Helium (MVE), in QEMU's
    /// `mps3-an547`.
    #[serde(rename = "cortex-m55")]
    CortexM55,
    /// `riscv32imc-unknown-none-elf` in QEMU's `virt`.
    #[serde(rename = "riscv32")]
    Riscv32,
    /// `aarch64-unknown-linux-gnu` under `qemu-aarch64` (user mode; sizes and outputs,
    /// not timed).
    #[serde(rename = "aarch64")]
    Aarch64,
}

impl Target {
    /// Every target, in the order reports list them.
    pub const ALL: [Target; 9] = [
        Target::Host,
        Target::CortexM0plus,
        Target::CortexM3,
        Target::CortexM4,
        Target::CortexM7,
        Target::CortexM33,
        Target::CortexM55,
        Target::Riscv32,
        Target::Aarch64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::CortexM0plus => "cortex-m0plus",
            Self::CortexM3 => "cortex-m3",
            Self::CortexM4 => "cortex-m4",
            Self::CortexM7 => "cortex-m7",
            Self::CortexM33 => "cortex-m33",
            Self::CortexM55 => "cortex-m55",
            Self::Riscv32 => "riscv32",
            Self::Aarch64 => "aarch64",
        }
    }

    /// The target's row of the target table.
    pub fn core(self) -> &'static crate::target::Core {
        crate::target::CORES
            .iter()
            .find(|c| c.name == self.name())
            .expect("every bench target has a row in the target table")
    }

    /// The QEMU board of an emulated microcontroller; `None` for the host.
    pub fn board(self) -> Option<crate::target::Board> {
        match self.core().emulator {
            crate::target::Emulator::ArmSystem(board)
            | crate::target::Emulator::Riscv32Virt(board) => Some(board),
            _ => None,
        }
    }

    /// Whether the target is a RISC-V core (its harness, linker and counter differ).
    pub fn is_riscv(self) -> bool {
        matches!(
            self.core().emulator,
            crate::target::Emulator::Riscv32Virt(_)
        )
    }

    /// Whether the target is an emulated microcontroller (instructions, flash and RAM).
    pub fn is_mcu(self) -> bool {
        self.board().is_some()
    }

    /// The name reports show (`Cortex-M4`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::CortexM0plus => "Cortex-M0+",
            Self::CortexM3 => "Cortex-M3",
            Self::CortexM4 => "Cortex-M4F",
            Self::CortexM7 => "Cortex-M7",
            Self::CortexM33 => "Cortex-M33",
            Self::CortexM55 => "Cortex-M55",
            Self::Riscv32 => "RV32IMC",
            Self::Aarch64 => "AArch64",
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Target::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
                format!("`{s}` is not a target ({})", names.join(", "))
            })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model to bench: `PATH` or `PATH:NAME=DIMS[:NAME=DIMS…]`, with pins for its symbolic
/// input dims (`../shared/models/wakeword:mfcc=1,1,40,32`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    pub path: PathBuf,
    pub pins: Vec<InputShape>,
}

impl FromStr for ModelSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(':');
        let path = parts.next().unwrap_or_default();
        let pins = parts.map(InputShape::from_str).collect::<Result<_, _>>();
        match pins {
            Ok(pins) => Ok(Self {
                path: path.into(),
                pins,
            }),
            // A path that holds a colon of its own.
            Err(_) if !s.contains('=') => Ok(Self {
                path: s.into(),
                pins: Vec::new(),
            }),
            Err(e) => Err(e),
        }
    }
}

/// A peer to time against, on the same inputs. All run from the peer venv that
/// `scripts/setup-ort.sh` creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// ONNX Runtime, one thread (`scripts/ort_bench.py`).
    Ort,
    /// tract, the Rust inference engine, from its Python package (`scripts/tract_bench.py`).
    Tract,
    /// LiteRT (TensorFlow Lite with XNNPACK), one thread, on the `model.tflite` beside the
    /// ONNX model (`scripts/litert_bench.py`); a model without one is not timed, and its
    /// cell says why.
    Litert,
}

impl Baseline {
    /// Every peer, in the report's column order.
    pub const ALL: [Baseline; 3] = [Self::Ort, Self::Tract, Self::Litert];

    /// The Python module the peer is, which the venv must import.
    fn module(self) -> &'static str {
        match self {
            Self::Ort => "onnxruntime",
            Self::Tract => "tract",
            Self::Litert => "ai_edge_litert",
        }
    }

    /// The Python expression that gives its version.
    fn version_expression(self) -> &'static str {
        match self {
            Self::Ort => "onnxruntime.__version__",
            Self::Tract => "tract.version()",
            Self::Litert => "ai_edge_litert.__version__",
        }
    }

    /// The script that times it, under `scripts/`.
    fn script(self) -> &'static str {
        match self {
            Self::Ort => "ort_bench.py",
            Self::Tract => "tract_bench.py",
            Self::Litert => "litert_bench.py",
        }
    }

    /// The peer's name in the report's column heads.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ort => "ORT",
            Self::Tract => "tract",
            Self::Litert => "LiteRT",
        }
    }
}

impl FromStr for Baseline {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ort" => Ok(Self::Ort),
            "tract" => Ok(Self::Tract),
            "litert" => Ok(Self::Litert),
            _ => Err(format!("`{s}` is not a baseline (ort, tract, litert)")),
        }
    }
}

impl fmt::Display for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Self::Ort => "ort",
            Self::Tract => "tract",
            Self::Litert => "litert",
        })
    }
}

/// How to bench.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub opt_levels: Vec<OptLevel>,
    pub targets: Vec<Target>,
    /// Pins applied to every model (model specs add their own).
    pub input_shapes: Vec<InputShape>,
    /// Prune every model before it is compiled (`--prune`). A pruned model is named
    /// `model [spec]` in the report, its outputs are compared between targets only (the
    /// test data's reference outputs belong to the unpruned model), and the peers time
    /// the pruned model.
    pub prune: Option<PruneSpec>,
    /// The weight format every model is compiled with (`--weights`, `--keep-float`).
    pub weights: WeightFormat,
    /// Where the harness crates and their shared cargo target folders go.
    pub work_dir: PathBuf,
    /// Wall time spent timing one harness on the host (at least 5 inferences are timed).
    pub time_budget: Duration,
    /// The peers to time; each must be able to run, or the bench fails before it starts.
    pub baselines: Vec<Baseline>,
    /// The `-C target-cpu` of the host harness builds: `native` by default, because ONNX
    /// Runtime picks its instruction set at run time too; `generic` gives the baseline ISA.
    pub host_target_cpu: String,
    /// Whether the host harnesses may use AMX's int8 tiles where the CPU has them (the
    /// default); `false` (`--no-amx`) runs the path of a host without AMX (AMD Zen 4 and 5,
    /// Intel before Sapphire Rapids), and the report's machine table says so.
    pub host_amx: bool,
    /// The Python of the peer venv, which runs the baselines.
    pub peer_python: PathBuf,
    /// QEMU runs longer than this are killed.
    pub qemu_timeout: Duration,
    /// Draw a progress bar (on a terminal) or log steps (elsewhere).
    pub progress: bool,
    /// Also measure every layer, from a second harness build with the model's probe.
    pub per_layer: bool,
    /// The RAM budget every model is compiled under (`--ram-budget`), if any.
    pub ram_budget: Option<crate::plan::RamBudget>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            opt_levels: vec![OptLevel("3".into()), OptLevel("z".into())],
            targets: vec![Target::Host, Target::CortexM7],
            input_shapes: Vec::new(),
            prune: None,
            weights: WeightFormat::Float,
            work_dir: PathBuf::from("target").join("zant-bench"),
            time_budget: Duration::from_secs(1),
            baselines: Vec::new(),
            host_target_cpu: "native".into(),
            host_amx: true,
            peer_python: repo_root().join("target/venv-ort/bin/python"),
            qemu_timeout: Duration::from_secs(900),
            progress: true,
            per_layer: false,
            ram_budget: None,
        }
    }
}

/// Everything one `zantc bench` measured, and where. This is the JSON format.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub zantc_version: String,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub date: String,
    /// The command line, for the record.
    pub command: String,
    pub machine: Machine,
    pub models: Vec<ModelInfo>,
    pub runs: Vec<Run>,
}

/// The machine a report was measured on.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub os: String,
    pub kernel: String,
    /// `rustc -V` of the host builds.
    pub rustc_host: String,
    /// `rustc -V` of the Cortex-M7 builds (Debian's, with `-Zbuild-std`).
    pub rustc_cortex_m7: Option<String>,
    pub valgrind: Option<String>,
    pub qemu: Option<String>,
    pub onnxruntime: Option<String>,
    /// The tract version of `--baseline tract` (absent in older reports).
    #[serde(default)]
    pub tract: Option<String>,
    /// The LiteRT version of `--baseline litert` (absent in older reports).
    #[serde(default)]
    pub litert: Option<String>,
    /// Whether the host harnesses ran AMX's tiles: the CPU's flag and `--no-amx` (absent
    /// in older reports and where there is no host target).
    #[serde(default)]
    pub host_amx: Option<String>,
    /// `/proc/loadavg` when the bench started: wall times are only as quiet as the machine.
    #[serde(default)]
    pub load_average: Option<String>,
    /// The `-C target-cpu` the host harnesses were built with (absent in older reports).
    #[serde(default)]
    pub host_target_cpu: Option<String>,
}

/// One model as benched.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub path: String,
    /// The input shapes after pinning, `name: f32[1,1,28,28]`.
    pub inputs: Vec<String>,
    /// `test_data_set_0` or `deterministic`.
    pub input_source: String,
    pub arena_bytes: u64,
    pub weight_bytes: u64,
    /// Why the model could not be benched at all (it did not compile).
    pub error: Option<String>,
    /// Why a requested peer could not time this model (`tract: …`), one line per peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_errors: Vec<String>,
}

/// One model, opt level and target.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    pub model: String,
    pub opt_level: OptLevel,
    pub target: Target,
    pub outcome: Outcome,
    /// Per-layer figures (`--per-layer`): µs on the host, instructions on the Cortex-M7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Layers>,
    /// Why the per-layer run failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers_error: Option<String>,
}

/// What one run gave.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Host(HostFigures),
    /// An emulated microcontroller's figures (named `cortex_m7` in reports, as when it was
    /// the only one).
    #[serde(rename = "cortex_m7")]
    Mcu(McuFigures),
    /// A core run in QEMU's user mode (AArch64 Linux): sizes, heap and outputs, no time.
    UserMode(UserModeFigures),
    /// The model does not fit the board's memories; the reason has the numbers.
    DoesNotFit {
        reason: String,
    },
    Failed {
        error: String,
    },
}

/// The host figures of one harness build.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostFigures {
    /// The stripped executable.
    pub exe_bytes: u64,
    pub text_bytes: u64,
    pub rodata_bytes: u64,
    pub data_bytes: u64,
    pub bss_bytes: u64,
    pub arena_bytes: u64,
    pub weight_bytes: u64,
    /// Instructions per inference (callgrind; `None` without valgrind).
    pub instructions: Option<u64>,
    /// Median wall time per inference.
    pub time_us: f64,
    /// How many inferences the median is over.
    pub time_runs: u64,
    /// Heap use of the inferences, through a counting global allocator.
    pub heap_allocs: u64,
    pub heap_bytes: u64,
    pub heap_peak_bytes: u64,
    pub heap_leaked_bytes: u64,
    /// The process's peak resident set (`VmHWM`).
    pub peak_rss_bytes: u64,
    /// The outputs against `test_data_set_0` (atol 1e-4, rtol 1e-3), when the model has it.
    pub matches_reference: Option<bool>,
    /// ONNX Runtime's median time per inference on the same inputs (`--baseline ort`).
    pub ort_time_us: Option<f64>,
    /// tract's median time per inference on the same inputs (`--baseline tract`).
    #[serde(default)]
    pub tract_time_us: Option<f64>,
    /// LiteRT's median time per inference on the model's `.tflite` (`--baseline litert`).
    #[serde(default)]
    pub litert_time_us: Option<f64>,
    /// The executable's loaded image split by owner (absent in older reports).
    #[serde(default)]
    pub attribution: Option<Attribution>,
}

impl HostFigures {
    /// The median time per inference of `peer`, when it was timed.
    pub fn peer_time_us(&self, peer: Baseline) -> Option<f64> {
        match peer {
            Baseline::Ort => self.ort_time_us,
            Baseline::Tract => self.tract_time_us,
            Baseline::Litert => self.litert_time_us,
        }
    }
}

/// The Cortex-M7 figures of one harness build.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct McuFigures {
    /// Bytes of the image in flash: `.vector_table`, `.text`, `.rodata` and `.data`'s load image.
    pub flash_bytes: u64,
    /// Static RAM: `.data`, `.bss` and `.uninit` (the model, hence its arena, is a static).
    pub ram_bytes: u64,
    /// Bytes in the board's PSRAM, when the weights or the arena did not fit flash or RAM.
    pub psram_bytes: u64,
    /// The stack's high-water mark during the inference (painted, then read back).
    pub stack_bytes: u64,
    /// Instructions per inference (SysTick under `qemu -icount shift=0`: 40 per tick).
    pub instructions: u64,
    /// The outputs against the host harness's at the same opt level (or the reference data).
    pub matches_host: Option<bool>,
    pub weights_in: Region,
    pub arena_in: Region,
    /// The image split by owner (absent in older reports).
    #[serde(default)]
    pub attribution: Option<Attribution>,
}

/// The figures of a harness run in QEMU's user mode. User mode neither times nor counts
/// the core's instructions, so there are none: sizes, heap use and the outputs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserModeFigures {
    /// The stripped executable.
    pub exe_bytes: u64,
    pub text_bytes: u64,
    pub rodata_bytes: u64,
    pub data_bytes: u64,
    pub bss_bytes: u64,
    /// The plan's arena and weights, the same on every core of the kernel family.
    pub arena_bytes: u64,
    pub weight_bytes: u64,
    /// Heap use of one inference, through the harness's counting global allocator.
    pub heap_allocs: u64,
    pub heap_bytes: u64,
    pub heap_leaked_bytes: u64,
    /// The outputs against the host harness's at the same opt level (or the reference data).
    pub matches_host: Option<bool>,
}

/// A memory of the mps2-an500 board.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    Flash,
    Ram,
    Psram,
}

impl Report {
    /// Figures that are not sane: a failed run, any heap use, a zero size or count, an
    /// output that does not match. An empty list means the run is fit to publish.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .models
            .iter()
            .filter_map(|m| m.error.as_ref().map(|e| format!("{}: {e}", m.name)))
            .collect();
        for run in &self.runs {
            let at = format!("{} opt-level={} {}", run.model, run.opt_level, run.target);
            let mut check = |ok: bool, what: &str| {
                if !ok {
                    problems.push(format!("{at}: {what}"));
                }
            };
            match &run.outcome {
                Outcome::Host(h) => {
                    check(h.heap_allocs == 0, "the inference allocated");
                    check(h.heap_bytes == 0, "the inference allocated bytes");
                    check(h.heap_leaked_bytes == 0, "the inference leaked");
                    check(h.exe_bytes > 0 && h.text_bytes > 0, "zero size");
                    check(
                        h.instructions.is_some_and(|n| n > 0),
                        "no instruction count (is valgrind installed?)",
                    );
                    check(h.time_us > 0.0, "no time");
                    check(h.peak_rss_bytes > 0, "no peak RSS");
                    check(
                        h.matches_reference != Some(false),
                        "outputs differ from test_data_set_0",
                    );
                }
                Outcome::Mcu(m) => {
                    check(m.flash_bytes > 0 && m.ram_bytes > 0, "zero size");
                    check(m.stack_bytes > 0, "no stack high-water mark");
                    check(m.instructions > 0, "no instruction count");
                    check(m.matches_host == Some(true), "outputs do not match");
                }
                Outcome::UserMode(u) => {
                    check(u.exe_bytes > 0 && u.text_bytes > 0, "zero size");
                    check(u.heap_allocs == 0, "the inference allocated");
                    check(u.heap_bytes == 0, "the inference allocated bytes");
                    check(u.heap_leaked_bytes == 0, "the inference leaked");
                    check(u.matches_host == Some(true), "outputs do not match");
                }
                Outcome::DoesNotFit { .. } => {}
                Outcome::Failed { error } => check(false, error),
            }
            if let Some(e) = &run.layers_error {
                check(false, &format!("per-layer run failed: {e}"));
            }
            // Instruction counts are exact, so a Cortex-M7 sum off the whole means the
            // probe missed code. Host times are not: a host sum off the whole is a warning.
            if let (Some(l), Target::CortexM7) = (&run.layers, run.target) {
                check(l.consistent(), &layers_off(l));
            }
        }
        problems
    }

    /// Figures that are suspect but carry no verdict: host runs whose layers do not sum to
    /// the whole inference within [`layers::TOLERANCE`]. Both sides are wall times, and
    /// on a loaded machine they can part by more than that without anything being wrong,
    /// so they are reported rather than failing the bench.
    pub fn warnings(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter(|run| run.target == Target::Host)
            .filter_map(|run| {
                let l = run.layers.as_ref().filter(|l| !l.consistent())?;
                Some(format!(
                    "{} opt-level={} {}: {}",
                    run.model,
                    run.opt_level,
                    run.target,
                    layers_off(l)
                ))
            })
            .collect()
    }
}

/// What a run whose layers do not sum to the whole inference is told.
fn layers_off(l: &layers::Layers) -> String {
    format!(
        "the layers sum to {:.1} % of the whole inference (allowed: 100 ± {:.0} %)",
        l.ratio() * 100.0,
        layers::TOLERANCE * 100.0
    )
}

/// The repository this zantc was built from (for `scripts/` and the ORT venv).
pub fn repo_root() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    dir.canonicalize().unwrap_or(dir)
}

/// A compiled model with the inputs it is benched on.
struct Prepared {
    info: ModelInfo,
    /// The model's name as a crate name (`mobilenet-v2`): the harness's folder and package.
    name: String,
    model_file: PathBuf,
    /// The model the peers time: `model_file`, or the pruned model written beside the
    /// harnesses.
    peer_model: PathBuf,
    compiled: Lowered,
    inputs: Vec<Tensor>,
    output_types: Vec<TensorType>,
    /// `test_data_set_0/output_N.pb`, when present and of the right types.
    reference: Option<Vec<Tensor>>,
}

/// Compiles every model and measures it at every opt level on every target.
pub fn run(specs: &[ModelSpec], opts: &BenchOptions, command: String) -> Result<Report, Error> {
    let work_dir = absolute(&opts.work_dir)?;
    let mut machine = machine::detect(opts);
    // A requested peer that cannot run fails the bench now, before anything is built,
    // rather than leaving its column out of the report.
    for &peer in &opts.baselines {
        let version = host::peer_version(opts, peer)?;
        match peer {
            Baseline::Ort => machine.onnxruntime = Some(version),
            Baseline::Tract => machine.tract = Some(version),
            Baseline::Litert => machine.litert = Some(version),
        }
    }
    let steps =
        specs.len() * (1 + opts.opt_levels.len() * opts.targets.len() + opts.baselines.len());
    let progress = Progress::new(steps as u64, opts.progress);
    let mut models = Vec::new();
    let mut runs = Vec::new();
    for spec in specs {
        let label = spec.path.display().to_string();
        progress.step(&format!("{label}: compiling"));
        let prepared = match prepare(spec, opts, crate::target::Target::core("host")?) {
            Ok(p) => p,
            Err(e) => {
                // The whole error is among the problems printed at the end.
                let message = e.to_string();
                let first = message.lines().next().unwrap_or_default();
                progress.log(&format!("{label}: does not compile: {first}"));
                models.push(ModelInfo {
                    name: display_name(&crate::model_file(&spec.path)),
                    path: label,
                    inputs: Vec::new(),
                    input_source: String::new(),
                    arena_bytes: 0,
                    weight_bytes: 0,
                    error: Some(message),
                    peer_errors: Vec::new(),
                });
                progress.skip(
                    (opts.opt_levels.len() * opts.targets.len() + opts.baselines.len()) as u64,
                );
                continue;
            }
        };
        let name = prepared.info.name.clone();
        // The microcontrollers run the model compiled for their own kernels, its scratch
        // sized for them (`--target`); the host the one compiled for its vector kernels.
        // One compile per weight layout the cores take: paired integer weights, or
        // ONNX's order for a core with Helium (`Target::pairs_weights`).
        let mut scalar: Vec<(bool, Result<Prepared, Error>)> = Vec::new();
        for target in opts.targets.iter().filter(|t| t.is_mcu()) {
            let core = crate::target::Target::core(target.name())?;
            let pairs = core.pairs_weights();
            if !scalar.iter().any(|(p, _)| *p == pairs) {
                scalar.push((pairs, prepare(spec, opts, core)));
            }
        }
        let scalar_for = |target: Target| -> Option<&Result<Prepared, Error>> {
            let pairs = crate::target::Target::core(target.name())
                .ok()?
                .pairs_weights();
            scalar.iter().find(|(p, _)| *p == pairs).map(|(_, r)| r)
        };
        // The host harnesses built for this model (index in `runs`), timed together below.
        let mut host_exes = Vec::new();
        for opt in &opts.opt_levels {
            let mut host_outputs = None;
            for &target in &opts.targets {
                progress.step(&format!("{name}: opt-level={opt} {target}"));
                let outcome = match target {
                    // A user-mode core runs the vector kernels, as the host does: the
                    // compile depends on the target only through its kernel family
                    // (`pipeline.rs`), so the host's compile is the core's.
                    t if t.user_mode().is_some() => {
                        let expected = host_outputs.as_deref().or(prepared.reference.as_deref());
                        user_mode::run(&work_dir, &prepared, t, opt, opts, expected).unwrap_or_else(
                            |e| Outcome::Failed {
                                error: e.to_string(),
                            },
                        )
                    }
                    Target::Host => match host::run(&work_dir, &prepared, opt, opts) {
                        Ok(run) => {
                            host_outputs = Some(run.outputs);
                            host_exes.push((runs.len(), run.exe));
                            Outcome::Host(run.figures)
                        }
                        Err(e) => Outcome::Failed {
                            error: e.to_string(),
                        },
                    },
                    _ => {
                        let expected = host_outputs.as_deref().or(prepared.reference.as_deref());
                        match scalar_for(target) {
                            Some(Ok(mcu_prepared)) => {
                                mcu::run(&work_dir, mcu_prepared, target, opt, opts, expected)
                                    .unwrap_or_else(|e| Outcome::Failed {
                                        error: e.to_string(),
                                    })
                            }
                            Some(Err(e)) => Outcome::Failed {
                                error: e.to_string(),
                            },
                            None => Outcome::Failed {
                                error: "the model was not compiled for this target".into(),
                            },
                        }
                    }
                };
                progress.log(&format!(
                    "{name}: opt-level={opt} {target}: {}",
                    summary(&outcome)
                ));
                let whole = match &outcome {
                    Outcome::Host(h) => Some(h.time_us),
                    Outcome::Mcu(m) => Some(m.instructions as f64),
                    _ => None,
                };
                let (mut layers, mut layers_error) = (None, None);
                if let (true, Some(whole)) = (opts.per_layer, whole) {
                    progress.log(&format!("{name}: opt-level={opt} {target}: per layer"));
                    let for_target = match (scalar_for(target), target) {
                        (Some(Ok(mcu_prepared)), t) if t.is_mcu() => mcu_prepared,
                        _ => &prepared,
                    };
                    match layers::measure(&work_dir, for_target, opt, opts, target, whole) {
                        Ok(l) => {
                            progress.log(&format!(
                                "{name}: opt-level={opt} {target}: {} layers, sum {:.1} % of the whole",
                                l.rows.len(),
                                l.ratio() * 100.0
                            ));
                            layers = Some(l);
                        }
                        Err(e) => layers_error = Some(e.to_string()),
                    }
                }
                runs.push(Run {
                    model: name.clone(),
                    opt_level: opt.clone(),
                    target,
                    outcome,
                    layers,
                    layers_error,
                });
            }
        }
        // The host harnesses and the peers take turns (host::time_interleaved).
        let mut info = prepared.info.clone();
        let mut timed: Vec<host::Timed> = host_exes
            .iter()
            .map(|(_, exe)| host::Timed::Harness(exe.clone()))
            .collect();
        let mut peers = Vec::new();
        for &peer in &opts.baselines {
            progress.step(&format!("{name}: {peer}"));
            match host::PeerServer::start(&work_dir, &prepared, opts, peer) {
                Ok(server) => {
                    peers.push((peer, timed.len()));
                    timed.push(host::Timed::Peer(server));
                }
                // The peer runs but not on this model (tract rejects some): the report's
                // cell says so and a note gives the reason.
                Err(e) => {
                    progress.log(&format!("{name}: {peer} failed: {e}"));
                    info.peer_errors.push(format!("{peer}: {e}"));
                }
            }
        }
        if !timed.is_empty() {
            progress.log(&format!(
                "{name}: timing the host harnesses and peers in turn"
            ));
        }
        let times = host::time_interleaved(&mut timed, opts);
        drop(timed);
        for (k, (index, _)) in host_exes.iter().enumerate() {
            let run = &mut runs[*index];
            match &times[k] {
                Ok((time_us, time_runs)) => {
                    if let Outcome::Host(h) = &mut run.outcome {
                        (h.time_us, h.time_runs) = (*time_us, *time_runs);
                        progress.log(&format!(
                            "{name}: opt-level={} host: {} µs over {} inferences",
                            run.opt_level,
                            report::fmt_time(h.time_us),
                            h.time_runs
                        ));
                    }
                }
                Err(e) => {
                    run.outcome = Outcome::Failed {
                        error: e.to_string(),
                    }
                }
            }
        }
        for (peer, k) in peers {
            match &times[k] {
                Ok((time_us, _)) => {
                    for run in runs.iter_mut().filter(|r| r.model == name) {
                        if let Outcome::Host(h) = &mut run.outcome {
                            match peer {
                                Baseline::Ort => h.ort_time_us = Some(*time_us),
                                Baseline::Tract => h.tract_time_us = Some(*time_us),
                                Baseline::Litert => h.litert_time_us = Some(*time_us),
                            }
                        }
                    }
                    progress.log(&format!("{name}: {peer} {time_us:.1} µs"));
                }
                Err(e) => {
                    progress.log(&format!("{name}: {peer} failed: {e}"));
                    info.peer_errors.push(format!("{peer}: {e}"));
                }
            }
        }
        models.push(info);
    }
    progress.finish();
    Ok(Report {
        zantc_version: env!("CARGO_PKG_VERSION").to_string(),
        date: machine::utc_now(),
        command,
        machine,
        models,
        runs,
    })
}

/// One line about a run, for the log.
fn summary(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Host(h) => format!(
            "{} µs, {} instructions, {} heap allocations",
            report::fmt_time(h.time_us),
            h.instructions
                .map_or("?".into(), |n| report::fmt_count(n as f64)),
            h.heap_allocs
        ),
        Outcome::Mcu(m) => format!(
            "{} instructions, flash {}, RAM {}, stack {}, output {}",
            report::fmt_count(m.instructions as f64),
            report::fmt_bytes(m.flash_bytes as f64),
            report::fmt_bytes(m.ram_bytes as f64),
            report::fmt_bytes(m.stack_bytes as f64),
            match m.matches_host {
                Some(true) => "matches",
                Some(false) => "DIFFERS",
                None => "unchecked",
            }
        ),
        Outcome::UserMode(u) => format!(
            "not timed (user-mode QEMU), executable {}, arena {}, {} heap allocations, output {}",
            report::fmt_bytes(u.exe_bytes as f64),
            report::fmt_bytes(u.arena_bytes as f64),
            u.heap_allocs,
            match u.matches_host {
                Some(true) => "matches",
                Some(false) => "DIFFERS",
                None => "unchecked",
            }
        ),
        Outcome::DoesNotFit { reason } => format!("does not fit: {reason}"),
        Outcome::Failed { error } => format!("FAILED: {error}"),
    }
}

/// Compiles the model (pins: the bench's, the spec's, then the test data's shapes) and
/// picks its inputs: `test_data_set_0/input_N.pb` when present, else deterministic values.
fn prepare(
    spec: &ModelSpec,
    opts: &BenchOptions,
    target: crate::target::Target,
) -> Result<Prepared, Error> {
    let model_file = crate::model_file(&spec.path);
    let mut options = Options {
        input_shapes: spec.pins.clone(),
        weights: opts.weights,
        target: Some(target),
        ram_budget: opts.ram_budget,
        ..Options::default()
    };
    for pin in &opts.input_shapes {
        if !options.input_shapes.iter().any(|p| p.name == pin.name) {
            options.input_shapes.push(pin.clone());
        }
    }
    let data_set = model_file
        .parent()
        .unwrap_or(Path::new("."))
        .join("test_data_set_0");
    let has_data = data_set.is_dir();
    if has_data {
        options = crate::verify::pin_from_data(&model_file, &options, &data_set)?;
    }
    let name = crate::default_crate_name(&model_file);
    let (compiled, peer_model) = match &opts.prune {
        Some(spec) => {
            // The pruned model is compiled from the same bytes the peers read.
            let (bytes, summary) = prune::prune_source(
                Source::File(&model_file),
                spec,
                &options.input_shapes,
                &options.bindings,
            )?;
            let dir = absolute(&opts.work_dir)?.join("pruned");
            std::fs::create_dir_all(&dir)
                .map_err(io_error(format!("cannot create {}", dir.display())))?;
            let path = dir.join(format!("{name}.onnx"));
            std::fs::write(&path, &bytes)
                .map_err(io_error(format!("cannot write {}", path.display())))?;
            let mut compiled = pipeline::compile_graph(&bytes, &options)?;
            compiled.pruning = Some(summary);
            (compiled, path)
        }
        None => (
            pipeline::compile_graph(&model_file, &options)?,
            model_file.clone(),
        ),
    };
    let graph = &compiled.graph;
    let input_types: Vec<TensorType> = graph
        .inputs
        .iter()
        .map(|&id| graph.node(id).outputs[0].ty.clone())
        .collect();
    let output_types: Vec<TensorType> = graph
        .outputs
        .iter()
        .map(|o| graph.ty(o.value).clone())
        .collect();
    let read_set = |prefix: &str, types: &[TensorType]| -> Option<Vec<Tensor>> {
        types
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                let t =
                    crate::onnx::read_tensor(&data_set.join(format!("{prefix}_{i}.pb"))).ok()?;
                (t.ty() == *ty).then_some(t)
            })
            .collect()
    };
    let data_inputs = if has_data {
        read_set("input", &input_types)
    } else {
        None
    };
    let (inputs, input_source) = match data_inputs {
        Some(inputs) => (inputs, "test_data_set_0"),
        None => (
            input_types.iter().map(deterministic_input).collect(),
            "deterministic",
        ),
    };
    let reference = match opts.weights {
        // The test data's outputs are the float model's, and ternary weights compute
        // something else: the reference is the compiler's own evaluation of the compiled
        // graph, constant folding through the runtime's kernels.
        WeightFormat::Ternary { .. } => crate::passes::fold::evaluate(graph, &inputs)?,
        // The reference outputs are the unpruned model's.
        WeightFormat::Float if input_source == "test_data_set_0" && opts.prune.is_none() => {
            read_set("output", &output_types)
        }
        WeightFormat::Float => None,
    };
    let names = crate::emit::port_names(graph);
    let info = ModelInfo {
        name: variant_name(&display_name(&model_file), opts),
        path: spec.path.display().to_string(),
        inputs: names
            .inputs
            .iter()
            .zip(&input_types)
            .map(|(n, ty)| format!("{n}: {ty}"))
            .collect(),
        input_source: input_source.into(),
        arena_bytes: compiled.plan.arena_bytes as u64,
        weight_bytes: compiled.plan.weight_bytes as u64,
        error: None,
        peer_errors: Vec::new(),
    };
    Ok(Prepared {
        info,
        name,
        model_file,
        peer_model,
        compiled,
        inputs,
        output_types,
        reference,
    })
}

/// The name of a model in the report: its own, then the compression it was compiled with
/// (`digits-cnn [channels:50%]`, `digits-mlp [ternary]`), so variants of one model stay
/// apart.
fn variant_name(model: &str, opts: &BenchOptions) -> String {
    let mut name = model.to_string();
    if let Some(spec) = &opts.prune {
        name = format!("{name} [{spec}]");
    }
    match opts.weights {
        WeightFormat::Float => {}
        WeightFormat::Ternary { keep_float } if keep_float == Default::default() => {
            name.push_str(" [ternary]");
        }
        WeightFormat::Ternary { keep_float } => {
            name = format!("{name} [ternary, keep-float {keep_float}]");
        }
    }
    name
}

/// The model's name as its user knows it: the file's stem, or its folder's name for a
/// `model.onnx` (`../shared/models/mobilenet_v2` → `mobilenet_v2`).
fn display_name(model_file: &Path) -> String {
    let stem = model_file.file_stem().unwrap_or_default();
    let name = match model_file.parent().and_then(|p| p.file_name()) {
        Some(folder) if stem == "model" => folder,
        _ => stem,
    };
    name.to_string_lossy().into_owned()
}

/// Deterministic input values: floats in [-1, 1) from a fixed linear congruential
/// sequence, integers and booleans zero (a valid index for any Gather).
fn deterministic_input(ty: &TensorType) -> Tensor {
    let n = ty.n_elems();
    if !ty.dtype.is_float() {
        return Tensor::new(ty.shape.clone(), Data::zeros(ty.dtype, n));
    }
    let mut state: u32 = 0x2545_f491;
    let values: Vec<f64> = (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f64::from(state >> 8) / f64::from(1u32 << 23) - 1.0
        })
        .collect();
    let data = match ty.dtype {
        DType::F64 => Data::F64(values),
        _ => Data::from_f64(ty.dtype, &values),
    };
    Tensor::new(ty.shape.clone(), data)
}

/// Whether every output is within verify's tolerance (atol 1e-4, rtol 1e-3) of `want`.
fn outputs_match(got: &[Tensor], want: &[Tensor]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            g.n_elems() == w.n_elems() && crate::verify::compare("", "", g, w, 1e-4, 1e-3).passed()
        })
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        context: format!("cannot create {}", path.display()),
        source,
    })?;
    path.canonicalize().map_err(|source| Error::Io {
        context: format!("cannot resolve {}", path.display()),
        source,
    })
}

/// A progress bar on a terminal; one log line per step elsewhere (CI logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    log: bool,
    /// A step is under way: the bar counts it when the next one starts.
    running: std::cell::Cell<bool>,
}

impl Progress {
    fn new(steps: u64, enabled: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (enabled && terminal).then(|| {
            let bar = indicatif::ProgressBar::new(steps);
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
            )
            .expect("a valid template");
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            log: enabled && !terminal,
            running: std::cell::Cell::new(false),
        }
    }

    /// Ends the step under way, if any, and starts the next.
    fn step(&self, message: &str) {
        if let Some(bar) = &self.bar {
            if self.running.replace(true) {
                bar.inc(1);
            }
            bar.set_message(message.to_string());
        }
    }

    /// Ends the step under way and counts `steps` that will not run.
    fn skip(&self, steps: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(steps + u64::from(self.running.replace(false)));
        }
    }

    /// A finished step's result, above the bar.
    fn log(&self, line: &str) {
        if let Some(bar) = &self.bar {
            bar.println(line);
        } else if self.log {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &str, path: &str, pins: &[&str]) {
        let parsed: ModelSpec = spec.parse().unwrap();
        assert_eq!(parsed.path, PathBuf::from(path));
        let pins: Vec<InputShape> = pins.iter().map(|p| p.parse().unwrap()).collect();
        assert_eq!(parsed.pins, pins);
    }

    #[test]
    fn model_specs() {
        check("../shared/models/mnist-8", "../shared/models/mnist-8", &[]);
        check(
            "../shared/models/wakeword:mfcc=1,1,40,32",
            "../shared/models/wakeword",
            &["mfcc=1,1,40,32"],
        );
        check("m.onnx:a=1,2:b=3", "m.onnx", &["a=1,2", "b=3"]);
        check("odd:name/model.onnx", "odd:name/model.onnx", &[]);
        assert!("m.onnx:a=x".parse::<ModelSpec>().is_err());
    }

    #[test]
    fn opt_levels() {
        assert_eq!("z".parse::<OptLevel>().unwrap().toml_value(), "\"z\"");
        assert_eq!("3".parse::<OptLevel>().unwrap().profile(), "opt-3");
        assert_eq!("z".parse::<OptLevel>().unwrap().runtime_toml_value(), None);
        let fast: OptLevel = "z/3".parse().unwrap();
        assert_eq!(fast.profile(), "opt-z-runtime-3");
        assert_eq!(fast.toml_value(), "\"z\"");
        assert_eq!(fast.runtime_toml_value().as_deref(), Some("3"));
        assert!("4".parse::<OptLevel>().is_err());
        assert!("z/4".parse::<OptLevel>().is_err());
        assert!("z/".parse::<OptLevel>().is_err());
    }

    #[test]
    fn deterministic_inputs_are_in_range_and_repeatable() {
        let ty = TensorType::new(DType::F32, vec![1, 64]);
        let a = deterministic_input(&ty);
        assert!(a.data.to_f64_vec().iter().all(|v| (-1.0..1.0).contains(v)));
        assert!(a == deterministic_input(&ty));
        let ints = deterministic_input(&TensorType::new(DType::I64, vec![3]));
        assert_eq!(ints.data.to_i64_vec(), vec![0, 0, 0]);
    }
}
