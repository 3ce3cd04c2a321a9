//! Accuracy through zant: compile a model, build its generated runner once, run it on rows
//! of a data set and score the outputs, by top-1 accuracy against labels or by agreement
//! with another model's outputs.
//!
//! This is what `zantc compress-report` and the quantization figures of
//! `docs/compression.md` measure with, so a compressed model is judged by the code zant
//! generates for it, not by a reference runtime. The runner is the one `zantc verify`
//! builds (`verify::build_runner`), run once per sample on `.npy` files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::compress::calibrate::{self, CalibrationError, SampleFile};
use crate::ir::{DType, Tensor, TensorType};
use crate::onnx::{PortDef, Source};
use crate::pipeline::Options;
use crate::verify::{build_runner, read_npy, write_npy, VerifyOptions};
use crate::{CrateOptions, Error};

/// Why an evaluation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Samples(#[from] CalibrationError),
    #[error("labels {}: {message}", .path.display())]
    Labels { path: PathBuf, message: String },
    #[error("the runner failed on sample {index}: {stderr}")]
    Runner { index: usize, stderr: String },
    #[error("{0}")]
    Mismatch(String),
}

/// Runner builds share a cargo target folder, where every runner binary has the same path:
/// a build and the copy of its binary must not interleave with another's.
static BUILD: Mutex<()> = Mutex::new(());

/// A model compiled by zant, with its runner built and ready to run samples.
pub struct Runner {
    /// Holds the crate, the runner binary and the files of each run.
    work: tempfile::TempDir,
    runner: PathBuf,
    inputs: Vec<PortDef>,
    outputs: Vec<TensorType>,
    /// The model's `WEIGHT_BYTES` and `ARENA_BYTES`.
    pub weight_bytes: usize,
    pub arena_bytes: usize,
}

impl Runner {
    /// Compiles `model` (a path or bytes) and builds its runner in `target_dir` (the cargo
    /// target folder; `None` for the one `zantc verify` uses).
    pub fn build<'a>(
        model: impl Into<Source<'a>>,
        opts: &Options,
        target_dir: Option<&Path>,
    ) -> Result<Self, Error> {
        let work = tempfile::tempdir().map_err(|source| Error::Io {
            context: "cannot create a temporary folder".into(),
            source,
        })?;
        let path = match model.into() {
            Source::File(path) => crate::model_file(path),
            Source::Bytes(bytes) => {
                let path = work.path().join("model.onnx");
                std::fs::write(&path, bytes).map_err(|source| Error::Io {
                    context: format!("cannot write {}", path.display()),
                    source,
                })?;
                path
            }
        };
        let krate = CrateOptions {
            crate_name: Some("zant-eval".into()),
            ..CrateOptions::default()
        };
        let compiled = crate::compile(&path, opts, &krate)?;
        let crate_dir = work.path().join("crate");
        crate::write_files(&crate_dir, &compiled.files)?;
        let target_dir =
            target_dir.map_or_else(|| VerifyOptions::default().target_dir, Path::to_path_buf);
        let runner = work
            .path()
            .join(format!("runner{}", std::env::consts::EXE_SUFFIX));
        {
            let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
            let built = build_runner(&crate_dir, &target_dir)?;
            std::fs::copy(&built, &runner).map_err(|source| Error::Io {
                context: format!("cannot copy {}", built.display()),
                source,
            })?;
        }
        let graph = &compiled.lowered.graph;
        let inputs = graph
            .inputs
            .iter()
            .map(|&id| {
                let v = &graph.node(id).outputs[0];
                PortDef {
                    name: v.name.clone(),
                    dtype: Some(v.ty.dtype),
                    dims: v.ty.shape.iter().map(|&d| Some(d as i64)).collect(),
                }
            })
            .collect();
        let outputs = graph
            .outputs
            .iter()
            .map(|o| graph.ty(o.value).clone())
            .collect();
        Ok(Self {
            work,
            runner,
            inputs,
            outputs,
            weight_bytes: compiled.lowered.plan.weight_bytes,
            arena_bytes: compiled.lowered.plan.arena_bytes,
        })
    }

    /// The inputs the compiled model takes, in order, with their static shapes.
    pub fn inputs(&self) -> &[PortDef] {
        &self.inputs
    }

    /// Reads one `.npy` stack per input and splits it into samples for this model.
    pub fn samples(&self, files: &[SampleFile]) -> Result<Vec<Vec<Tensor>>, EvalError> {
        Ok(calibrate::load_samples(files, &self.inputs)?)
    }

    /// Runs the model on one sample (one tensor per input) and returns its outputs.
    pub fn run(&self, sample: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        self.run_at(0, sample)
    }

    /// Runs the model on every sample, in order.
    pub fn run_all(&self, samples: &[Vec<Tensor>]) -> Result<Vec<Vec<Tensor>>, Error> {
        samples
            .iter()
            .enumerate()
            .map(|(i, s)| self.run_at(i, s))
            .collect()
    }

    fn run_at(&self, index: usize, sample: &[Tensor]) -> Result<Vec<Tensor>, Error> {
        if sample.len() != self.inputs.len() {
            return Err(EvalError::Mismatch(format!(
                "sample {index} has {} tensors, the model takes {} inputs",
                sample.len(),
                self.inputs.len()
            ))
            .into());
        }
        let dir = self.work.path().join("run");
        let out_dir = dir.join("out");
        std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
            context: format!("cannot create {}", dir.display()),
            source,
        })?;
        let mut args = Vec::new();
        for (k, t) in sample.iter().enumerate() {
            let path = dir.join(format!("input_{k}.npy"));
            write_npy(&path, t)?;
            args.push(path);
        }
        let out = Command::new(&self.runner)
            .args(&args)
            .arg("-o")
            .arg(&out_dir)
            .output()
            .map_err(|source| Error::Io {
                context: format!("cannot run {}", self.runner.display()),
                source,
            })?;
        if !out.status.success() {
            return Err(EvalError::Runner {
                index,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }
            .into());
        }
        self.outputs
            .iter()
            .enumerate()
            .map(|(k, ty)| read_npy(&out_dir.join(format!("output_{k}.npy")), ty))
            .collect()
    }
}

/// The index of the largest element (the first of equal ones); NaN never wins.
pub fn top1(t: &Tensor) -> usize {
    let values = t.data.to_f64_vec();
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || values[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

/// Top-1 accuracy: how many samples the first output's largest element labels right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accuracy {
    pub correct: usize,
    pub total: usize,
}

impl Accuracy {
    /// The accuracy in percent.
    pub fn percent(&self) -> f64 {
        100.0 * self.correct as f64 / self.total.max(1) as f64
    }
}

impl std::fmt::Display for Accuracy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} % ({}/{})",
            self.percent(),
            self.correct,
            self.total
        )
    }
}

/// Scores the first output of each sample against its label.
pub fn accuracy(outputs: &[Vec<Tensor>], labels: &[i64]) -> Result<Accuracy, EvalError> {
    if outputs.len() != labels.len() {
        return Err(EvalError::Mismatch(format!(
            "{} outputs for {} labels",
            outputs.len(),
            labels.len()
        )));
    }
    let correct = outputs
        .iter()
        .zip(labels)
        .filter(|(o, &label)| o.first().is_some_and(|t| top1(t) as i64 == label))
        .count();
    Ok(Accuracy {
        correct,
        total: labels.len(),
    })
}

/// How closely a model follows a reference on the same samples: top-1 agreement of the
/// first output, and the largest absolute difference over every output element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Agreement {
    pub same_top1: usize,
    pub total: usize,
    pub max_abs: f64,
}

impl Agreement {
    /// The agreement in percent.
    pub fn percent(&self) -> f64 {
        100.0 * self.same_top1 as f64 / self.total.max(1) as f64
    }
}

impl std::fmt::Display for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "top-1 agreement {:.2} % ({}/{}), max abs error {:.3e}",
            self.percent(),
            self.same_top1,
            self.total,
            self.max_abs
        )
    }
}

/// Compares two models' outputs sample by sample.
pub fn agreement(
    outputs: &[Vec<Tensor>],
    reference: &[Vec<Tensor>],
) -> Result<Agreement, EvalError> {
    if outputs.len() != reference.len() {
        return Err(EvalError::Mismatch(format!(
            "{} samples against {} reference samples",
            outputs.len(),
            reference.len()
        )));
    }
    let mut agreement = Agreement {
        same_top1: 0,
        total: outputs.len(),
        max_abs: 0.0,
    };
    for (i, (got, want)) in outputs.iter().zip(reference).enumerate() {
        if got.len() != want.len()
            || got
                .iter()
                .zip(want)
                .any(|(g, w)| g.n_elems() != w.n_elems())
        {
            return Err(EvalError::Mismatch(format!(
                "sample {i}: the outputs do not have the reference's sizes"
            )));
        }
        if let (Some(g), Some(w)) = (got.first(), want.first()) {
            agreement.same_top1 += usize::from(top1(g) == top1(w));
        }
        for (g, w) in got.iter().zip(want) {
            for (a, b) in g.data.to_f64_vec().iter().zip(w.data.to_f64_vec()) {
                let diff = (a - b).abs();
                agreement.max_abs =
                    agreement
                        .max_abs
                        .max(if diff.is_nan() { f64::INFINITY } else { diff });
            }
        }
    }
    Ok(agreement)
}

/// Reads class labels: an integer `.npy` vector (any integer type), or the selected rows.
pub fn read_labels(file: &SampleFile) -> Result<Vec<i64>, EvalError> {
    let err = |message: String| EvalError::Labels {
        path: file.path.clone(),
        message,
    };
    let t = file.read().map_err(|e| err(e.to_string()))?;
    let integer = matches!(
        t.dtype(),
        DType::I8
            | DType::U8
            | DType::I16
            | DType::U16
            | DType::I32
            | DType::U32
            | DType::I64
            | DType::U64
    );
    if !integer || t.shape.iter().skip(1).any(|&d| d != 1) {
        return Err(err(format!(
            "{} is not a vector of integer class labels",
            t.ty()
        )));
    }
    Ok(t.data.to_i64_vec())
}

/// Top-1 accuracy of `model` compiled by zant on the samples of `data` (one file per input,
/// with row ranges) against `labels` (the same rows).
pub fn evaluate_accuracy<'a>(
    model: impl Into<Source<'a>>,
    opts: &Options,
    data: &[SampleFile],
    labels: &SampleFile,
) -> Result<Accuracy, Error> {
    let runner = Runner::build(model, opts, None)?;
    let samples = runner.samples(data)?;
    let labels = read_labels(labels)?;
    let outputs = runner.run_all(&samples)?;
    Ok(accuracy(&outputs, &labels)?)
}

/// Top-1 agreement and max abs error of `model` against `reference`, both compiled by zant
/// and run on the samples of `data`.
pub fn evaluate_agreement<'a, 'b>(
    model: impl Into<Source<'a>>,
    reference: impl Into<Source<'b>>,
    opts: &Options,
    data: &[SampleFile],
) -> Result<Agreement, Error> {
    let runner = Runner::build(model, opts, None)?;
    let samples = runner.samples(data)?;
    let outputs = runner.run_all(&samples)?;
    let reference = Runner::build(reference, opts, None)?;
    let expected = reference.run_all(&samples)?;
    Ok(agreement(&outputs, &expected)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Data;

    fn logits(v: &[f32]) -> Vec<Tensor> {
        vec![Tensor::new(vec![1, v.len()], Data::F32(v.to_vec()))]
    }

    #[test]
    fn top1_takes_the_first_of_equal_maxima() {
        assert_eq!(top1(&logits(&[0.1, 0.9, 0.9])[0]), 1);
        assert_eq!(top1(&logits(&[f32::NAN, -1.0])[0]), 1);
        let q = Tensor::new(vec![3], Data::I8(vec![-128, 5, 4]));
        assert_eq!(top1(&q), 1);
    }

    #[test]
    fn accuracy_and_agreement_count_samples() {
        let outputs = vec![
            logits(&[1.0, 0.0]),
            logits(&[0.0, 1.0]),
            logits(&[0.2, 0.1]),
        ];
        let acc = accuracy(&outputs, &[0, 1, 1]).unwrap();
        assert_eq!((acc.correct, acc.total), (2, 3));
        assert!((acc.percent() - 66.666).abs() < 0.01);
        assert!(accuracy(&outputs, &[0]).is_err());
        let reference = vec![
            logits(&[1.0, 0.5]),
            logits(&[0.0, 1.0]),
            logits(&[0.1, 0.2]),
        ];
        let a = agreement(&outputs, &reference).unwrap();
        assert_eq!((a.same_top1, a.total), (2, 3));
        assert!((a.max_abs - 0.5).abs() < 1e-9);
    }
}
