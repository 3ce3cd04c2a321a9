//! `zantc`: the command-line front of the zant compiler.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use zant_compiler::bench::BenchError;
use zant_compiler::compress::calibrate::{Method, SampleFile};
use zant_compiler::compress::quantize::{self, QuantizeOptions};
use zant_compiler::compress::ternary::KeepFloat;
use zant_compiler::plan::RamBudget;
use zant_compiler::target::Target;
use zant_compiler::verify::{model_file, VerifyOptions};
use zant_compiler::{
    Binding, CrateOptions, InputShape, MaxLen, Options, PruneSpec, RuntimeDep, WeightFormat,
};

/// Compile ONNX models into standalone `#![no_std]`, allocation-free Rust crates.
#[derive(Parser)]
#[command(name = "zantc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command that reads a model.
#[derive(clap::Args)]
struct ModelArgs {
    /// The model: an .onnx file, or a folder holding model.onnx.
    model: PathBuf,
    /// Pin a symbolic input shape, e.g. `--input-shape input=1,3,224,224` (repeatable).
    #[arg(long = "input-shape", value_name = "NAME=DIMS")]
    input_shapes: Vec<InputShape>,
    /// Bind a graph input to a value at compile time, e.g. `--bind sample_rate=16000` or
    /// `--bind table=table.npy` (repeatable): it becomes a constant, what depends on it
    /// folds, and it leaves the generated API. Text values take the input's declared type
    /// and shape. With `verify`, `--bind NAME` alone takes the value from the test data.
    /// `--bind NAME=none` compiles an optional input as empty.
    #[arg(long = "bind", value_name = "NAME=VALUES|FILE.npy")]
    bindings: Vec<Binding>,
    /// Prune the model before compiling it: `magnitude:P%` zeroes the P % smallest weights
    /// of each Conv, Gemm and MatMul (the model keeps its shapes), `channels:P%` removes
    /// about P % of the compute: the share 1 − √(1 − P) of each layer's output channels
    /// (29 % at 50 %) by filter L1 norm, and shrinks what reads them.
    #[arg(long, value_name = "magnitude:P%|channels:P%")]
    prune: Option<PruneSpec>,
    /// Cap a data-dependent output (NonZero, Compress, Unique, NonMaxSuppression) at N
    /// entries along its data-dependent axis, e.g. `--max-len selected_indices=100`
    /// (repeatable). Without it the capacity is the most the input shapes allow; a run
    /// that produces more than the capacity returns an error.
    #[arg(long = "max-len", value_name = "NAME=N")]
    max_lens: Vec<MaxLen>,
    /// The most RAM the arena may take, e.g. `--ram-budget 256K` (K and KiB are 1,024
    /// bytes, M and MiB 1,048,576, kB and MB powers of ten): a model whose smallest arena
    /// is larger is an error that says the arena zant reaches and the node at its peak.
    #[arg(long = "ram-budget", value_name = "BYTES")]
    ram_budget: Option<RamBudget>,
    #[command(flatten)]
    weights: WeightArgs,
    #[command(flatten)]
    target: TargetArgs,
}

/// The target a command compiles for.
#[derive(clap::Args)]
struct TargetArgs {
    /// The target the crate is built for: a Rust target triple (`thumbv7em-none-eabihf`,
    /// `riscv32imc-unknown-none-elf`, `aarch64-unknown-linux-gnu`) or a core of zant's
    /// target table (`cortex-m4`, `cortex-m7`, `host`; `zantc targets` lists them).
    /// Scratch and weight layout follow its kernels. Without it the crate builds for
    /// any target, its scratch sized for every kernel family.
    #[arg(long, value_name = "TRIPLE|CORE")]
    target: Option<String>,
    /// With a triple, the `-C target-cpu` the crate is built with (`cortex-m7`).
    #[arg(long, value_name = "NAME", requires = "target")]
    cpu: Option<String>,
}

impl TargetArgs {
    /// The target asked for, or `None` for a crate that builds anywhere.
    fn target(&self) -> Result<Option<Target>, zant_compiler::target::TargetError> {
        let Some(name) = &self.target else {
            return Ok(None);
        };
        Target::parse(name, self.cpu.as_deref()).map(Some)
    }
}

/// How the weights of Conv, MatMul and Gemm layers are stored, for every command that
/// compiles a model.
#[derive(clap::Args)]
struct WeightArgs {
    /// `ternary`: store each Conv, MatMul and Gemm weight as one trit (−1, 0, +1) per
    /// weight, packed five to a byte, with one f32 scale per output channel (absmean), and
    /// compute with kernels that only add and subtract (docs/compression.md). `float`
    /// keeps the model's weights.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "float")]
    weights: Weights,
    /// With `--weights ternary`, keep the first and/or last weight layer (in schedule
    /// order) in float: `first`, `last` or `first,last`.
    #[arg(long = "keep-float", value_name = "LAYERS")]
    keep_float: Option<KeepFloat>,
}

/// The values of `--weights`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Weights {
    Float,
    Ternary,
}

impl WeightArgs {
    /// The weight format asked for; `--keep-float` without `--weights ternary` is a usage
    /// error, reported as clap reports its own.
    fn format(&self) -> WeightFormat {
        match (self.weights, self.keep_float) {
            (Weights::Float, None) => WeightFormat::Float,
            (Weights::Float, Some(_)) => Cli::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "`--keep-float` chooses layers to leave out of `--weights ternary`; add `--weights ternary`",
                )
                .exit(),
            (Weights::Ternary, keep_float) => WeightFormat::Ternary {
                keep_float: keep_float.unwrap_or_default(),
            },
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Compile a model into a crate folder.
    Compile {
        #[command(flatten)]
        model: ModelArgs,
        /// The folder to write the crate into.
        #[arg(short, long)]
        out: PathBuf,
        /// The crate name (default: the model's file or folder name).
        #[arg(long)]
        name: Option<String>,
        /// Path to zant-runtime for the generated Cargo.toml (default: this zantc's own runtime).
        #[arg(long, value_name = "PATH", conflicts_with = "runtime_version")]
        runtime_path: Option<String>,
        /// Depend on zant-runtime from crates.io with this version requirement instead.
        #[arg(long, value_name = "VERSION")]
        runtime_version: Option<String>,
        /// Do not make the crate its own workspace (for crates that join an existing workspace).
        #[arg(long)]
        workspace_member: bool,
    },
    /// Print the IR, the op histogram, the memory plan and its totals, or per-layer figures
    /// and a picture of the plan (--layers, --json, --svg; see docs/inspect.md).
    Inspect {
        #[command(flatten)]
        model: ModelArgs,
        /// Also print the IR as imported, before the passes.
        #[arg(long)]
        imported: bool,
        /// Print the totals line instead of the full report.
        #[arg(long)]
        totals: bool,
        /// Print one row per node in schedule order: op, output, MACs, weight bytes, bytes
        /// read and written, scratch, where the output lives, bytes live (peak marked).
        #[arg(long)]
        layers: bool,
        /// Write the per-layer rows and totals as JSON to FILE (`-` for standard output).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the memory plan as an SVG picture to FILE.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Compile, build and run the model on its test_data_set_* folders; exit 1 on a mismatch.
    Verify {
        #[command(flatten)]
        model: ModelArgs,
        /// The folder holding test_data_set_* (default: the model's folder).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Absolute tolerance.
        #[arg(long, default_value_t = 1e-4)]
        atol: f64,
        /// Relative tolerance.
        #[arg(long, default_value_t = 1e-3)]
        rtol: f64,
    },
    /// Prune a model and write the pruned ONNX model (ONNX Runtime loads it); print what
    /// was pruned and what was left unpruned, and why.
    Prune {
        /// The model: an .onnx file, or a folder holding model.onnx.
        model: PathBuf,
        /// `magnitude:P%` (unstructured: zero the P % smallest weights of each Conv, Gemm
        /// and MatMul) or `channels:P%` (structured: remove about P % of the compute, the
        /// share 1 − √(1 − P) of each layer's output channels by filter L1 norm, and shrink
        /// what reads them).
        #[arg(long, value_name = "magnitude:P%|channels:P%")]
        prune: PruneSpec,
        /// The pruned model to write (not the input itself).
        #[arg(short, long, value_name = "OUT.onnx")]
        out: PathBuf,
        /// Pin a symbolic input shape, e.g. `--input-shape input=1,3,224,224` (repeatable).
        #[arg(long = "input-shape", value_name = "NAME=DIMS")]
        input_shapes: Vec<InputShape>,
    },
    /// Quantize a float model to int8: a static QDQ model calibrated on sample inputs, or
    /// ONNX Runtime's dynamic format; or, with `--weights ternary`, write the float model
    /// that computes what `zantc compile --weights ternary` does (its weights dequantized),
    /// for ONNX Runtime to check (see docs/compression.md).
    Quantize {
        /// The float model: an .onnx file, or a folder holding model.onnx.
        model: PathBuf,
        /// Calibration samples: one .npy file per graph input, in graph order, stacking the
        /// samples on its first axis; `FILE.npy:START..END` takes rows START..END only.
        #[arg(long = "calibration", value_name = "FILE.npy[:START..END]")]
        calibration: Vec<SampleFile>,
        /// How activation ranges are chosen from the calibration statistics.
        #[arg(long, value_enum, default_value_t = MethodArg::Minmax)]
        method: MethodArg,
        /// The percentile of `--method percentile`.
        #[arg(long, default_value_t = 99.99)]
        percentile: f64,
        /// One weight scale per output channel (per tensor without).
        #[arg(long)]
        per_channel: bool,
        /// ONNX Runtime's dynamic quantization: int8 weights, activations quantized at run
        /// time (DynamicQuantizeLinear → MatMulInteger / ConvInteger); needs no calibration.
        #[arg(long)]
        dynamic: bool,
        /// Weights in 7 bits, ONNX Runtime's reduce_range: its int8 kernels on x86 CPUs
        /// without VNNI saturate with full-range weights (zant's never do).
        #[arg(long)]
        reduce_range: bool,
        /// Pin a symbolic input shape, e.g. `--input-shape input=1,3,224,224` (repeatable).
        #[arg(long = "input-shape", value_name = "NAME=DIMS")]
        input_shapes: Vec<InputShape>,
        /// The quantized model to write.
        #[arg(short, long)]
        out: PathBuf,
        #[command(flatten)]
        weights: WeightArgs,
    },
    /// Run every compression method on a model and measure each: the original, int8 static
    /// (minmax and entropy calibration), int8 dynamic, ternary weights, and unstructured and
    /// structured pruning at 30/50/70 %. Each variant is compiled by zant, scored on the
    /// evaluation rows through its generated runner (top-1 accuracy against `--labels`, or
    /// without labels top-1 agreement with the original and the largest output error), and
    /// benched (weights, arena, host time, Cortex-M7 instructions and flash). Writes the
    /// table as Markdown, JSON (with every variant's bench report, which `zantc compare`
    /// reads) and an SVG of quality against size.
    CompressReport {
        /// The float model: an .onnx file, or a folder holding model.onnx.
        model: PathBuf,
        /// The samples: one .npy file per graph input, samples stacked on the first axis.
        #[arg(long, required = true, value_name = "X.npy")]
        data: Vec<PathBuf>,
        /// Class labels of the samples (an integer .npy vector).
        #[arg(long, value_name = "Y.npy")]
        labels: Option<PathBuf>,
        /// The rows that calibrate the static quantizations.
        #[arg(long, value_name = "START..END", value_parser = parse_rows)]
        calibrate: std::ops::Range<usize>,
        /// The rows the quality is measured on.
        #[arg(long, value_name = "START..END", value_parser = parse_rows)]
        eval: std::ops::Range<usize>,
        /// Targets to bench on: host, cortex-m7.
        #[arg(long, value_delimiter = ',', default_value = "host,cortex-m7")]
        targets: Vec<zant_compiler::bench::Target>,
        /// The opt level of the harnesses.
        #[arg(long, default_value = "3")]
        opt_level: zant_compiler::bench::OptLevel,
        /// Write the report as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the table as Markdown (default: print it).
        #[arg(long, value_name = "FILE")]
        md: Option<PathBuf>,
        /// Write quality against weight bytes as SVG.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Milliseconds of repeated inferences per host timing, in five slices that
        /// alternate with the model's other opt levels.
        #[arg(long, default_value_t = 300)]
        time_budget_ms: u64,
        /// Where the variants, the harness crates and their cargo target folders go.
        #[arg(long, default_value = "target/zant-bench")]
        work_dir: PathBuf,
        /// No progress lines.
        #[arg(long, short)]
        quiet: bool,
    },
    /// List the supported ONNX ops as Markdown (the source of docs/ops.md).
    Ops,
    /// Build a harness around each model per opt level and target, and measure size, speed
    /// and heap; exit 1 when a figure is not sane (heap use, a mismatch, a failed run).
    Bench {
        /// Models: PATH, or PATH:NAME=DIMS[:NAME=DIMS...] to pin symbolic input dims.
        #[arg(required = true, value_name = "MODEL")]
        models: Vec<zant_compiler::bench::ModelSpec>,
        /// Opt levels to build the harnesses with (0, 1, 2, 3, s, z).
        #[arg(long, value_delimiter = ',', default_value = "3,z")]
        opt_levels: Vec<zant_compiler::bench::OptLevel>,
        /// Targets: host (x86_64), or cores of the target table run in QEMU: cortex-m0plus
        /// (thumbv6m, run by AN385's Cortex-M3), cortex-m3 (AN385), cortex-m4 (AN386),
        /// cortex-m7 (AN500), cortex-m33 (AN505), cortex-m55 (MPS3 AN547, Helium), riscv32
        /// (virt), aarch64 (qemu-aarch64 user mode: outputs and sizes, no counts). Each
        /// core's harness embeds the model compiled for its own
        /// kernels (docs/targets.md); its outputs are checked against the host's.
        #[arg(long, value_delimiter = ',', default_value = "host,cortex-m7")]
        targets: Vec<zant_compiler::bench::Target>,
        /// Pin a symbolic input shape for every model (repeatable).
        #[arg(long = "input-shape", value_name = "NAME=DIMS")]
        input_shapes: Vec<InputShape>,
        /// Prune every model before benching it (see `zantc compile --help`); the report
        /// names each model with the spec, and outputs are checked between targets only,
        /// since the test data's reference outputs belong to the unpruned model.
        #[arg(long, value_name = "magnitude:P%|channels:P%")]
        prune: Option<PruneSpec>,
        #[command(flatten)]
        weights: WeightArgs,
        /// Write the report as JSON (the input of `zantc compare`).
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Write the report as Markdown (default: print it).
        #[arg(long, value_name = "FILE")]
        md: Option<PathBuf>,
        /// Write the size/time chart as SVG (linked from the Markdown).
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Time peers on the same inputs: `ort` (ONNX Runtime), `tract`, `litert` (LiteRT
        /// with XNNPACK, on the `model.tflite` beside the model), or several (`ort,litert`);
        /// one thread each, from the venv of scripts/setup-ort.sh. A peer that cannot run is
        /// an error; one that cannot run a model (no `.tflite`) leaves a note in its cell.
        #[arg(long, value_delimiter = ',')]
        baseline: Vec<zant_compiler::bench::Baseline>,
        /// The `-C target-cpu` of the host harnesses (`generic` gives the baseline ISA).
        #[arg(long, default_value = "native")]
        target_cpu: String,
        /// Forbid AMX's int8 tiles in the host harnesses, so that they run the path of a
        /// host without AMX (AMD Zen 4 and 5, Intel before Sapphire Rapids); the report's
        /// machine table says so.
        #[arg(long)]
        no_amx: bool,
        /// Compile every model to fit this much arena (`compile --ram-budget`): a model
        /// over it layer by layer runs its first layers patch by patch, and the report
        /// shows what that costs.
        #[arg(long = "ram-budget", value_name = "BYTES")]
        ram_budget: Option<RamBudget>,
        /// Milliseconds of repeated inferences per host timing, in five slices that
        /// alternate with the model's other opt levels.
        #[arg(long, default_value_t = 1000)]
        time_budget_ms: u64,
        /// Where the harness crates and their cargo target folders go.
        #[arg(long, default_value = "target/zant-bench")]
        work_dir: PathBuf,
        /// No progress bar or log.
        #[arg(long, short)]
        quiet: bool,
        /// Also measure every layer: time per layer on the host, instructions per layer on
        /// the Cortex-M7, from a second harness build with the model's `profile` feature.
        /// The report gets a per-layer table per run; a sum of the layers more than 5 % off
        /// the whole inference is a problem (exit 1).
        #[arg(long)]
        per_layer: bool,
        /// Write a bar chart of the largest layers of each run as SVG (with --per-layer).
        #[arg(long, value_name = "FILE", requires = "per_layer")]
        layers_svg: Option<PathBuf>,
    },
    /// Compare two `zantc bench --json` reports (or `zantc compress-report --json` reports,
    /// by their variants' bench figures); exit 1 when a figure regressed beyond the threshold.
    Compare {
        old: PathBuf,
        new: PathBuf,
        /// Percent change that counts as a regression or an improvement.
        #[arg(long, default_value_t = 5.0)]
        threshold: f64,
        /// How many top regressions and improvements to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
}

/// A row range `START..END` of `zantc compress-report`.
fn parse_rows(s: &str) -> Result<std::ops::Range<usize>, String> {
    let (start, end) = s
        .split_once("..")
        .ok_or_else(|| format!("`{s}` is not a row range such as 0..1400"))?;
    let number = |t: &str| {
        t.parse::<usize>()
            .map_err(|_| format!("`{t}` in `{s}` is not a row number"))
    };
    let (start, end) = (number(start)?, number(end)?);
    if start >= end {
        return Err(format!("`{s}` holds no rows"));
    }
    Ok(start..end)
}

/// The calibration methods of `zantc quantize --method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum MethodArg {
    Minmax,
    Percentile,
    Entropy,
}

fn options(model: &ModelArgs) -> Options {
    let target = model.target.target().unwrap_or_else(|e| {
        Cli::command()
            .error(clap::error::ErrorKind::InvalidValue, e.to_string())
            .exit()
    });
    Options {
        input_shapes: model.input_shapes.clone(),
        bindings: model.bindings.clone(),
        prune: model.prune,
        weights: model.weights.format(),
        target,
        max_lens: model.max_lens.clone(),
        ram_budget: model.ram_budget,
    }
}

/// Compiles a model to a crate in memory with the given crate settings.
fn compile(
    model: &ModelArgs,
    krate: &CrateOptions,
) -> Result<zant_compiler::Compiled, zant_compiler::Error> {
    zant_compiler::compile(&model_file(&model.model), &options(model), krate)
}

fn run(cli: Cli) -> Result<bool, zant_compiler::Error> {
    match cli.command {
        Command::Compile {
            model,
            out,
            name,
            runtime_path,
            runtime_version,
            workspace_member,
        } => {
            let mut krate = CrateOptions {
                crate_name: name,
                standalone: !workspace_member,
                ..CrateOptions::default()
            };
            if let Some(p) = runtime_path {
                krate.runtime = RuntimeDep::Path(p);
            }
            if let Some(v) = runtime_version {
                krate.runtime = RuntimeDep::Version(v);
            }
            let compiled = compile(&model, &krate)?;
            print_warnings(&compiled.lowered.warnings);
            print_pruning(&compiled.lowered.pruning);
            zant_compiler::write_files(&out, &compiled.files)?;
            println!("wrote crate `{}` to {}", compiled.crate_name, out.display());
            for f in &compiled.files {
                println!("  {:<20} {:>10} bytes", f.path.display(), f.contents.len());
            }
            println!("{}", zant_compiler::report::totals(&compiled.lowered));
            Ok(true)
        }
        Command::Inspect {
            model,
            imported,
            totals,
            layers,
            json,
            svg,
        } => {
            let stdout_json = json.as_ref().is_some_and(|p| p.as_os_str() == "-");
            if stdout_json && (layers || totals) {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        "`--json -` writes to standard output, which --layers and --totals also use",
                    )
                    .exit();
            }
            let compiled = compile(&model, &CrateOptions::default())?;
            let lowered = &compiled.lowered;
            print_warnings(&lowered.warnings);
            print_pruning(&lowered.pruning);
            if let Some(path) = &svg {
                let title = model_title(&model.model);
                write_file(path, zant_compiler::report::plan_svg(lowered, &title))?;
            }
            if let Some(path) = &json {
                let rows = zant_compiler::report::layers(lowered);
                let text =
                    serde_json::to_string_pretty(&rows).map_err(|e| zant_compiler::Error::Io {
                        context: "cannot write the layers as JSON".into(),
                        source: e.into(),
                    })? + "\n";
                if stdout_json {
                    print!("{text}");
                } else {
                    write_file(path, text)?;
                }
            }
            if layers {
                print!("{}", zant_compiler::report::layers(lowered).table());
            }
            if totals {
                println!("{}", zant_compiler::report::totals(lowered));
            }
            // The full report is the default view, when no other was asked for.
            if !(layers || totals || json.is_some() || svg.is_some()) {
                print!("{}", zant_compiler::report::inspect(lowered, imported));
            }
            Ok(true)
        }
        Command::Verify {
            model,
            data,
            atol,
            rtol,
        } => {
            let vopts = VerifyOptions {
                data_dir: data,
                atol,
                rtol,
                ..VerifyOptions::default()
            };
            let verification =
                zant_compiler::verify::check(&model.model, &options(&model), &vopts)?;
            print_warnings(&verification.warnings);
            print_pruning(&verification.pruning);
            let mut ok = true;
            for c in &verification.checks {
                let lsb = c.lsb.as_ref().map(|l| format!(" {l}")).unwrap_or_default();
                println!(
                    "{} {:<24} {:<30} max_abs={:.3e} max_rel={:.3e} mismatches={}/{}{lsb}",
                    if c.passed() { "PASS" } else { "FAIL" },
                    c.data_set,
                    c.output,
                    c.max_abs,
                    c.max_rel,
                    c.mismatches,
                    c.n_elems
                );
                ok &= c.passed();
            }
            println!(
                "verify: {}",
                if ok { "all outputs match" } else { "MISMATCH" }
            );
            Ok(ok)
        }
        Command::Prune {
            model,
            prune,
            out,
            input_shapes,
        } => {
            let input = model_file(&model);
            if same_file(&input, &out) {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!(
                            "-o {} is the input model: write the pruned model to another file",
                            out.display()
                        ),
                    )
                    .exit();
            }
            let mut edit = zant_compiler::onnx::ModelEdit::open(&input)
                .map_err(zant_compiler::compress::prune::PruneError::from)?;
            let summary =
                zant_compiler::compress::prune::prune(&mut edit, &prune, &input_shapes, &[])?;
            edit.set_producer("zantc prune", env!("CARGO_PKG_VERSION"));
            write_file(&out, edit.to_bytes())?;
            print!("{summary}");
            println!("wrote {}", out.display());
            Ok(true)
        }
        Command::Quantize {
            model,
            calibration,
            method,
            percentile,
            per_channel,
            dynamic,
            reduce_range,
            input_shapes,
            out,
            weights,
        } => {
            let input = model_file(&model);
            if same_file(&input, &out) {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!(
                            "-o {} is the model itself; write the quantized model elsewhere",
                            out.display()
                        ),
                    )
                    .exit();
            }
            if let Some(keep) = weights.format().ternary() {
                if dynamic || !calibration.is_empty() {
                    Cli::command()
                        .error(
                            clap::error::ErrorKind::ArgumentConflict,
                            "`--weights ternary` writes the float copy of a ternary compile; \
                             it takes no --calibration and no --dynamic",
                        )
                        .exit();
                }
                let mut edit = zant_compiler::onnx::ModelEdit::open(&input)?;
                let layers =
                    zant_compiler::compress::ternary_model::dequantize_ternary(&mut edit, keep)
                        .map_err(|e| BenchError::Compression {
                            method: "ternary".into(),
                            message: e.to_string(),
                        })?;
                edit.set_producer(
                    "zantc quantize --weights ternary",
                    env!("CARGO_PKG_VERSION"),
                );
                write_file(&out, edit.to_bytes())?;
                println!(
                    "ternary weights, dequantized, in {} layers: {}",
                    layers.len(),
                    layers.join(", ")
                );
                println!("wrote {}", out.display());
                return Ok(true);
            }
            let opts = QuantizeOptions {
                method: match method {
                    MethodArg::Minmax => Method::MinMax,
                    MethodArg::Percentile => Method::Percentile(percentile),
                    MethodArg::Entropy => Method::Entropy,
                },
                per_channel,
                dynamic,
                reduce_range,
                input_shapes,
            };
            if dynamic && !calibration.is_empty() {
                eprintln!(
                    "note: --dynamic quantizes activations at run time; --calibration is not used"
                );
            }
            let calibration = if dynamic { Vec::new() } else { calibration };
            let quantized = quantize::quantize(&input, &calibration, &opts)?;
            print!("{}", quantized.report);
            write_file(&out, &quantized.model)?;
            println!("wrote {} ({} bytes)", out.display(), quantized.model.len());
            Ok(true)
        }
        Command::CompressReport {
            model,
            data,
            labels,
            calibrate,
            eval,
            targets,
            opt_level,
            json,
            md,
            svg,
            time_budget_ms,
            work_dir,
            quiet,
        } => {
            let opts = zant_compiler::bench::compress_report::StudyOptions {
                data,
                labels,
                calibrate,
                eval,
                targets,
                opt_level,
                work_dir,
                time_budget: std::time::Duration::from_millis(time_budget_ms),
                progress: !quiet,
            };
            let report = zant_compiler::bench::compress_report::study(&model, &opts)?;
            if let Some(path) = &json {
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|e| BenchError::Json(e.to_string()))?;
                write_file(path, text + "\n")?;
            }
            if let Some(path) = &svg {
                write_file(
                    path,
                    zant_compiler::bench::compression::svg(std::slice::from_ref(&report))?,
                )?;
            }
            match &md {
                Some(path) => write_file(path, report.markdown())?,
                None => print!("{}", report.markdown()),
            }
            let failed = report.rows.iter().filter(|r| r.error.is_some()).count();
            if failed > 0 {
                eprintln!("compress-report: {failed} method(s) could not be measured");
            }
            Ok(failed == 0)
        }
        Command::Ops => {
            print!("{}", zant_compiler::ops::markdown_table());
            Ok(true)
        }
        Command::Bench {
            models,
            opt_levels,
            targets,
            input_shapes,
            prune,
            weights,
            json,
            md,
            svg,
            baseline,
            target_cpu,
            no_amx,
            ram_budget,
            time_budget_ms,
            work_dir,
            quiet,
            per_layer,
            layers_svg,
        } => {
            let opts = zant_compiler::bench::BenchOptions {
                opt_levels,
                targets,
                input_shapes,
                prune,
                weights: weights.format(),
                work_dir,
                time_budget: std::time::Duration::from_millis(time_budget_ms),
                baselines: baseline,
                host_target_cpu: target_cpu,
                host_amx: !no_amx,
                ram_budget,
                progress: !quiet,
                per_layer,
                ..Default::default()
            };
            let command = std::iter::once("zantc".to_string())
                .chain(std::env::args().skip(1))
                .collect::<Vec<_>>()
                .join(" ");
            let report = zant_compiler::bench::run(&models, &opts, command)?;
            bench_outputs(&report, json, md, svg, layers_svg)?;
            let problems = report.problems();
            for w in report.warnings() {
                eprintln!("bench: warning: {w}");
            }
            for p in &problems {
                eprintln!("bench: {p}");
            }
            if problems.is_empty() {
                eprintln!("bench: {} runs, all figures sane", report.runs.len());
            }
            Ok(problems.is_empty())
        }
        Command::Compare {
            old,
            new,
            threshold,
            top,
        } => {
            let (old, new) = (read_report(&old)?, read_report(&new)?);
            let comparison = zant_compiler::bench::compare(&old, &new, threshold);
            print!("{}", comparison.render(top));
            Ok(comparison.verdict() != zant_compiler::bench::Verdict::Regressed)
        }
    }
}

/// Prints what the compiler overrode in the model (on standard error, so that `--json -`
/// stays clean).
fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// Prints what `--prune` did (on standard error, like the warnings).
fn print_pruning(summary: &Option<zant_compiler::PruneSummary>) {
    if let Some(summary) = summary {
        eprint!("{summary}");
    }
}

/// Writes a bench report's JSON, Markdown (printed without `--md`) and SVG.
fn bench_outputs(
    report: &zant_compiler::bench::Report,
    json: Option<PathBuf>,
    md: Option<PathBuf>,
    svg: Option<PathBuf>,
    layers_svg: Option<PathBuf>,
) -> Result<(), zant_compiler::Error> {
    if let Some(path) = &json {
        let text =
            serde_json::to_string_pretty(report).map_err(|e| BenchError::Json(e.to_string()))?;
        write_file(path, text + "\n")?;
    }
    if let Some(path) = &svg {
        write_file(path, zant_compiler::bench::svg(report)?)?;
    }
    let mut layers_chart = None;
    if let (Some(path), Some(chart)) = (&layers_svg, zant_compiler::bench::layers_svg(report)) {
        write_file(path, chart)?;
        layers_chart = Some(path);
    }
    // A chart's path as the Markdown file sees it.
    let relative = |svg: &PathBuf| match (md.as_ref().and_then(|m| m.parent()), svg.parent()) {
        (Some(a), Some(b)) if a == b => svg
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        _ => svg.display().to_string(),
    };
    let chart = svg.as_ref().map(relative);
    let mut text = zant_compiler::bench::markdown(report, chart.as_deref());
    text.push_str(&zant_compiler::bench::layers_markdown(
        report,
        layers_chart.map(relative).as_deref(),
    ));
    match &md {
        Some(path) => write_file(path, text),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The model's name for titles: the file's stem, or the folder's name.
fn model_title(model: &std::path::Path) -> String {
    let name = if model.is_dir() {
        model.file_name()
    } else {
        model.file_stem()
    };
    name.unwrap_or(model.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// Writes `contents` to `path`, naming the path in the error. The bytes go to a temporary
/// file beside `path` that is then renamed over it, so a failure never leaves a partial
/// file where the output should be.
fn write_file(
    path: &std::path::Path,
    contents: impl AsRef<[u8]>,
) -> Result<(), zant_compiler::Error> {
    let io = |source| zant_compiler::Error::Io {
        context: format!("cannot write {}", path.display()),
        source,
    };
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    if let Err(e) =
        std::fs::write(&partial, contents).and_then(|()| std::fs::rename(&partial, path))
    {
        let _ = std::fs::remove_file(&partial);
        return Err(io(e));
    }
    Ok(())
}

/// Whether two paths name the same file (the second need not exist yet).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    let canonical = |p: &std::path::Path| {
        p.canonicalize().ok().or_else(|| {
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = parent
                .unwrap_or(std::path::Path::new("."))
                .canonicalize()
                .ok()?;
            Some(dir.join(p.file_name()?))
        })
    };
    a == b || matches!((canonical(a), canonical(b)), (Some(x), Some(y)) if x == y)
}

fn read_report(path: &PathBuf) -> Result<zant_compiler::bench::Report, zant_compiler::Error> {
    let text = std::fs::read_to_string(path).map_err(|source| zant_compiler::Error::Io {
        context: format!("cannot read {}", path.display()),
        source,
    })?;
    // A `zantc compress-report --json` file carries the bench report of its variants.
    if let Ok(compression) =
        serde_json::from_str::<zant_compiler::bench::compression::CompressionReport>(&text)
    {
        return Ok(compression.bench);
    }
    serde_json::from_str(&text).map_err(|e| {
        BenchError::NotAReport {
            path: path.clone(),
            message: e.to_string(),
        }
        .into()
    })
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
