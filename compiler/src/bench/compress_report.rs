//! `zantc compress-report`: every compression method on one model, each variant compiled
//! by zant, evaluated on held-out rows through its generated runner, and measured by
//! `zantc bench` on the host and the Cortex-M7; the rows of [`super::compression`].
//!
//! The methods: the original; int8 static with minmax and with entropy calibration; int8
//! dynamic; ternary weights; magnitude pruning at 30/50/70 %; channel pruning at 30/50/70 %.
//! Each variant is an ONNX file written under the work folder (the quantized and pruned
//! models are the files `zantc quantize` and `zantc prune` would write; the ternary variant
//! is the original compiled with `--weights ternary`), so any row can be rebuilt by hand.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::compression::{CompressionReport, Quality, Row};
use super::eval::{self, Runner};
use super::{BenchError, BenchOptions, ModelSpec, OptLevel, Outcome, Report, Target};
use crate::compress::calibrate::{Method as Calibration, SampleFile};
use crate::compress::prune::{self, PruneSpec};
use crate::compress::quantize::{self, QuantizeOptions};
use crate::compress::ternary_model::dequantize_ternary;
use crate::onnx::{ModelEdit, Source};
use crate::pipeline::WeightFormat;
use crate::tensor::ternary::KeepFloat;
use crate::{Error, Options};

/// What `zantc compress-report` was asked.
#[derive(Clone, Debug)]
pub struct StudyOptions {
    /// One `.npy` stack per graph input, samples on the first axis.
    pub data: Vec<PathBuf>,
    /// Class labels of the same rows; without, quality is agreement with the original.
    pub labels: Option<PathBuf>,
    /// Rows that calibrate the static quantizations.
    pub calibrate: Range<usize>,
    /// Rows the quality is measured on.
    pub eval: Range<usize>,
    pub targets: Vec<Target>,
    /// The opt level of the harnesses.
    pub opt_level: OptLevel,
    pub work_dir: PathBuf,
    pub time_budget: std::time::Duration,
    pub progress: bool,
}

/// One compression method.
#[derive(Clone, Debug, PartialEq)]
pub enum Method {
    Original,
    Static(Calibration),
    Dynamic,
    Ternary,
    Prune(PruneSpec),
}

impl Method {
    /// Every method of the report, in the order the table lists equal rows.
    pub fn all() -> Vec<Method> {
        let mut methods = vec![
            Method::Original,
            Method::Static(Calibration::MinMax),
            Method::Static(Calibration::Entropy),
            Method::Dynamic,
            Method::Ternary,
        ];
        for percent in [30.0, 50.0, 70.0] {
            methods.push(Method::Prune(
                PruneSpec::magnitude(percent).expect("a valid share"),
            ));
        }
        for percent in [30.0, 50.0, 70.0] {
            methods.push(Method::Prune(
                PruneSpec::channels(percent).expect("a valid share"),
            ));
        }
        methods
    }

    /// The method as the table names it.
    pub fn label(&self) -> String {
        match self {
            Method::Original => "original (float)".into(),
            Method::Static(Calibration::MinMax) => "int8 static, minmax".into(),
            Method::Static(Calibration::Entropy) => "int8 static, entropy".into(),
            Method::Static(Calibration::Percentile(p)) => format!("int8 static, percentile {p}"),
            Method::Dynamic => "int8 dynamic".into(),
            Method::Ternary => "ternary (1.58-bit)".into(),
            Method::Prune(spec) => match spec.method {
                prune::PruneMethod::Magnitude => format!("unstructured {} %", spec.percent),
                prune::PruneMethod::Channels => format!("structured {} %", spec.percent),
            },
        }
    }

    /// The variant's name in the bench report and its file name: `MODEL-SLUG`.
    fn variant_name(&self, model_name: &str) -> String {
        format!("{model_name}-{}", self.slug())
    }

    /// A file-name form of the label.
    fn slug(&self) -> String {
        match self {
            Method::Original => "float".into(),
            Method::Static(Calibration::MinMax) => "int8-minmax".into(),
            Method::Static(Calibration::Entropy) => "int8-entropy".into(),
            Method::Static(Calibration::Percentile(p)) => format!("int8-p{p}"),
            Method::Dynamic => "int8-dynamic".into(),
            Method::Ternary => "ternary".into(),
            Method::Prune(spec) => match spec.method {
                prune::PruneMethod::Magnitude => format!("magnitude-{}", spec.percent),
                prune::PruneMethod::Channels => format!("channels-{}", spec.percent),
            },
        }
    }
}

/// A variant on disk, ready to compile.
struct Variant {
    method: Method,
    name: String,
    path: PathBuf,
    options: Options,
}

/// Runs every method on `model` and measures it.
pub fn study(model: &Path, opts: &StudyOptions) -> Result<CompressionReport, Error> {
    let model_file = crate::model_file(model);
    let model_name = crate::default_crate_name(&model_file);
    let dir = opts.work_dir.join("variants").join(&model_name);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        context: format!("cannot create {}", dir.display()),
        source,
    })?;
    let data = |rows: &Range<usize>| -> Vec<SampleFile> {
        opts.data
            .iter()
            .map(|p| SampleFile::rows(p.clone(), rows.clone()))
            .collect()
    };
    let reference = Runner::build(Source::File(&model_file), &Options::default(), None)?;
    let eval_samples = reference.samples(&data(&opts.eval))?;
    let reference_outputs = reference.run_all(&eval_samples)?;
    let labels = match &opts.labels {
        Some(path) => Some(eval::read_labels(&SampleFile::rows(
            path.clone(),
            opts.eval.clone(),
        ))?),
        None => None,
    };
    let float_bytes = reference.weight_bytes as f64;
    let mut rows = Vec::new();
    let mut bench = Report::default();
    for method in Method::all() {
        let label = method.label();
        if opts.progress {
            eprintln!("compress-report: {model_name}: {label}");
        }
        let row = match make_variant(&model_file, &model_name, &dir, &method, opts) {
            Ok(variant) => measure(
                &variant,
                opts,
                &eval_samples,
                &reference_outputs,
                labels.as_deref(),
                float_bytes,
                &mut bench,
            ),
            Err(e) => Err(e),
        };
        rows.push(row.unwrap_or_else(|e| Row {
            method: label,
            variant: method.variant_name(&model_name),
            compression: 0.0,
            quality: None,
            params_m: 0.0,
            weight_bytes: 0,
            arena_bytes: 0,
            host_us: None,
            m7_instructions: None,
            m7_flash_bytes: None,
            error: Some(e.to_string()),
        }));
    }
    let evaluation = match &opts.labels {
        Some(labels) => format!(
            "top-1 accuracy on rows {}..{} of `{}` against `{}`",
            opts.eval.start,
            opts.eval.end,
            file_name(&opts.data[0]),
            file_name(labels)
        ),
        None => format!(
            "top-1 agreement with the original model, and the largest absolute difference of \
             an output, on rows {}..{} of `{}`",
            opts.eval.start,
            opts.eval.end,
            file_name(&opts.data[0])
        ),
    };
    let mut report = CompressionReport {
        model: model_name,
        evaluation,
        rows,
        bench,
    };
    report.sort();
    Ok(report)
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Writes the variant's model and picks its compile options.
fn make_variant(
    model_file: &Path,
    model_name: &str,
    dir: &Path,
    method: &Method,
    opts: &StudyOptions,
) -> Result<Variant, Error> {
    let name = method.variant_name(model_name);
    let path = dir.join(format!("{name}.onnx"));
    let mut options = Options::default();
    let original = || {
        std::fs::read(model_file).map_err(|source| Error::Io {
            context: format!("cannot read {}", model_file.display()),
            source,
        })
    };
    let bytes = match method {
        Method::Original => original()?,
        Method::Ternary => {
            options.weights = WeightFormat::Ternary {
                keep_float: KeepFloat::default(),
            };
            original()?
        }
        Method::Static(calibration) => {
            let q = QuantizeOptions {
                method: *calibration,
                per_channel: true,
                ..QuantizeOptions::default()
            };
            let files: Vec<SampleFile> = opts
                .data
                .iter()
                .map(|p| SampleFile::rows(p.clone(), opts.calibrate.clone()))
                .collect();
            quantize::quantize(model_file, &files, &q)?.model
        }
        Method::Dynamic => {
            let q = QuantizeOptions {
                dynamic: true,
                per_channel: true,
                ..QuantizeOptions::default()
            };
            quantize::quantize(model_file, &[], &q)?.model
        }
        Method::Prune(spec) => prune::prune_source(Source::File(model_file), spec, &[], &[])?.0,
    };
    std::fs::write(&path, &bytes).map_err(|source| Error::Io {
        context: format!("cannot write {}", path.display()),
        source,
    })?;
    Ok(Variant {
        method: method.clone(),
        name,
        path,
        options,
    })
}

/// Evaluates and benches one variant.
fn measure(
    variant: &Variant,
    opts: &StudyOptions,
    samples: &[Vec<crate::ir::Tensor>],
    reference: &[Vec<crate::ir::Tensor>],
    labels: Option<&[i64]>,
    float_bytes: f64,
    bench: &mut Report,
) -> Result<Row, Error> {
    let runner = Runner::build(Source::File(&variant.path), &variant.options, None)?;
    let outputs = runner.run_all(samples)?;
    let quality = match labels {
        Some(labels) => Quality::Accuracy {
            percent: eval::accuracy(&outputs, labels)?.percent(),
        },
        None => {
            let a = eval::agreement(&outputs, reference)?;
            Quality::Agreement {
                percent: a.percent(),
                max_abs_error: a.max_abs,
            }
        }
    };
    let bench_opts = BenchOptions {
        opt_levels: vec![opts.opt_level.clone()],
        targets: opts.targets.clone(),
        work_dir: opts.work_dir.join("bench"),
        time_budget: opts.time_budget,
        progress: false,
        weights: variant.options.weights,
        ..BenchOptions::default()
    };
    let spec = ModelSpec {
        path: variant.path.clone(),
        pins: Vec::new(),
    };
    let mut measured = super::run(
        &[spec],
        &bench_opts,
        format!("zantc compress-report ({})", variant.name),
    )?;
    for m in &mut measured.models {
        m.name = variant.name.clone();
    }
    for r in &mut measured.runs {
        r.model = variant.name.clone();
    }
    let mut row = Row {
        method: variant.method.label(),
        variant: variant.name.clone(),
        compression: float_bytes / runner.weight_bytes.max(1) as f64,
        quality: Some(quality),
        params_m: params(&variant.path, &variant.options)? as f64 / 1e6,
        weight_bytes: runner.weight_bytes as u64,
        arena_bytes: runner.arena_bytes as u64,
        host_us: None,
        m7_instructions: None,
        m7_flash_bytes: None,
        error: None,
    };
    for run in &measured.runs {
        match &run.outcome {
            Outcome::Host(h) => row.host_us = Some(h.time_us),
            Outcome::Mcu(m) => {
                row.m7_instructions = Some(m.instructions);
                row.m7_flash_bytes = Some(m.flash_bytes);
            }
            // Compression reports take no user-mode core.
            Outcome::UserMode(_) => {}
            Outcome::DoesNotFit { reason } | Outcome::Failed { error: reason } => {
                row.error = Some(format!("{} on {}: {reason}", run.opt_level, run.target));
            }
        }
    }
    if let Some(problem) = measured.problems().first() {
        row.error.get_or_insert_with(|| problem.clone());
    }
    if bench.runs.is_empty() && bench.models.is_empty() {
        bench.zantc_version = measured.zantc_version.clone();
        bench.date = measured.date.clone();
        bench.machine = measured.machine.clone();
        bench.command = "zantc compress-report".into();
    }
    bench.models.extend(measured.models);
    bench.runs.extend(measured.runs);
    Ok(row)
}

/// Nonzero weight values of a variant: the elements of its numeric initializers other
/// than scalars and `int64` shape tensors (weights, biases, and a quantized model's
/// integer weights and per-channel parameters), with ternary weights counted as their
/// nonzero trits (through the model's float copy).
fn params(path: &Path, options: &Options) -> Result<usize, Error> {
    let mut edit = ModelEdit::open(path)?;
    edit.constants_to_initializers()?;
    if let Some(keep) = options.weights.ternary() {
        dequantize_ternary(&mut edit, keep).map_err(|e| BenchError::Compression {
            method: "ternary".into(),
            message: e.to_string(),
        })?;
    }
    let mut n = 0;
    for name in edit.initializer_names() {
        if let Some(t) = edit.initializer(&name)? {
            if t.n_elems() > 1 && t.dtype() != crate::ir::DType::I64 {
                n += t.data.to_f64_vec().iter().filter(|v| **v != 0.0).count();
            }
        }
    }
    Ok(n)
}
