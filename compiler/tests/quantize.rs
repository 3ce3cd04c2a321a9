//! `zantc quantize`: a quantized model compiled by zant against ONNX Runtime's outputs, the
//! accuracy targets on the digits models, and the errors.
//!
//! The round trips quantize `models/lenet-mnist.onnx` on deterministic calibration data,
//! then run the result through `verify` against ONNX Runtime's outputs committed under
//! `models/test-data/lenet-mnist-int8` and `lenet-mnist-dynamic`. CI has no ONNX Runtime, so
//! each folder also holds the FNV-1a hash of the quantized file its references were made
//! from: a test fails, and writes the new file, when quantization no longer gives the same
//! bytes. Regenerate the references from that file with the command the failure prints
//! (`scripts/model_references.py`), then bless the hash with `ZANT_BLESS=1`.
#![cfg(feature = "cli")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use zant_compiler::bench::eval;
use zant_compiler::compress::calibrate::{Method, SampleFile};
use zant_compiler::compress::quantize::{self, QuantizeOptions, Quantized};
use zant_compiler::ir::{DType, Data, Tensor};
use zant_compiler::onnx::ModelEdit;
use zant_compiler::pipeline::compile_graph;
use zant_compiler::verify::{verify, write_npy, VerifyOptions};
use zant_compiler::Options;

/// Standard-normal samples `[1, 1, 28, 28]` from SplitMix64 and Box–Muller, the
/// distribution `scripts/model_references.py` draws the reference input from.
fn calibration_samples(n: usize, seed: u64) -> Vec<Vec<Tensor>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        // A uniform in (0, 1]: never 0, whose logarithm Box–Muller takes.
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 + f64::EPSILON
    };
    (0..n)
        .map(|_| {
            let values = (0..784)
                .map(|_| {
                    let (u, v) = (next(), next());
                    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
                })
                .collect();
            vec![Tensor::new(vec![1, 1, 28, 28], Data::F32(values))]
        })
        .collect()
}

/// The 64-bit FNV-1a hash, in hex.
fn fnv1a(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Quantizes lenet-mnist with `opts` and checks it against the references in
/// `models/test-data/<name>`, made by ONNX Runtime from a file of the same bytes.
fn round_trip(name: &str, opts: &QuantizeOptions) -> Quantized {
    let root = common::repo_root();
    let model = root.join("models/lenet-mnist.onnx");
    let samples = calibration_samples(16, 0x5eed_1e7e);
    let edit = ModelEdit::open(&model).unwrap();
    let quantized = quantize::quantize_model(edit, &samples, opts).unwrap();
    let refs = root.join("models/test-data").join(name);
    let hash_file = refs.join("quantized.fnv1a64");
    let hash = fnv1a(&quantized.model);
    let written = root.join("target/quantized").join(format!("{name}.onnx"));
    if std::env::var_os("ZANT_BLESS").is_some() {
        std::fs::create_dir_all(&refs).unwrap();
        std::fs::write(&hash_file, format!("{hash}\n")).unwrap();
    }
    let recorded = std::fs::read_to_string(&hash_file).unwrap_or_default();
    if recorded.trim() != hash {
        std::fs::create_dir_all(written.parent().unwrap()).unwrap();
        std::fs::write(&written, &quantized.model).unwrap();
        panic!(
            "the quantized {name} changed (hash {hash}, references made from {}): its ONNX \
             Runtime references no longer describe it. The new file is {}; regenerate them \
             with `target/venv-ort/bin/python scripts/model_references.py {}`, then record \
             the hash with `ZANT_BLESS=1 cargo test -p zant-compiler --test quantize`",
            recorded.trim(),
            written.display(),
            written.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.onnx"));
    std::fs::write(&path, &quantized.model).unwrap();
    let vopts = VerifyOptions {
        data_dir: Some(refs),
        ..VerifyOptions::default()
    };
    let checks = verify(&path, &Options::default(), &vopts).unwrap();
    assert!(!checks.is_empty());
    for c in &checks {
        let lsb = c.lsb.as_ref().map(ToString::to_string).unwrap_or_default();
        eprintln!(
            "{name}/{}: max_abs={:.2e} mismatches={}/{} {lsb}",
            c.output, c.max_abs, c.mismatches, c.n_elems
        );
        assert!(c.passed(), "{name}/{}: {c:?}", c.output);
    }
    quantized
}

/// The op types of the optimized graph zant compiles from `model`, with their counts.
fn op_histogram(model: &[u8]) -> Vec<(String, DType)> {
    let lowered = compile_graph(model, &Options::default()).unwrap();
    let graph = &lowered.graph;
    graph
        .node_ids()
        .into_iter()
        .map(|id| graph.node(id))
        .filter(|n| !matches!(n.onnx.op_type, "Input" | "Constant"))
        .map(|n| (n.onnx.op_type.to_string(), n.outputs[0].ty.dtype))
        .collect()
}

#[test]
fn static_lenet_runs_on_integer_kernels_and_matches_onnx_runtime() {
    // 7-bit weights: ONNX Runtime's x86 kernels without VNNI saturate with full-range
    // int8 weights, and references must not depend on the machine that made them.
    let opts = QuantizeOptions {
        method: Method::MinMax,
        per_channel: true,
        reduce_range: true,
        ..QuantizeOptions::default()
    };
    let quantized = round_trip("lenet-mnist-int8", &opts);
    // Both convolutions, the three matrix products with their biases and both max pools
    // run on 8-bit data; only the input's quantization, Softmax (no integer form in zant)
    // and the DequantizeLinear pair around it stay in float.
    let ops = op_histogram(&quantized.model);
    let count = |op: &str| ops.iter().filter(|(o, _)| o == op).count();
    assert_eq!(count("QLinearConv"), 2, "{ops:?}");
    assert_eq!(count("QGemm"), 3, "{ops:?}");
    assert!(ops.iter().any(|(o, t)| o == "MaxPool" && *t == DType::I8));
    let float: Vec<&str> = ops
        .iter()
        .filter(|(_, t)| *t == DType::F32)
        .map(|(o, _)| o.as_str())
        .collect();
    assert_eq!(
        float,
        ["DequantizeLinear", "Softmax", "DequantizeLinear"],
        "{ops:?}"
    );
    let report = &quantized.report;
    assert!(report.float.is_empty(), "{report}");
    assert_eq!(report.n_samples, 16);
}

#[test]
fn dynamic_lenet_matches_onnx_runtime() {
    // 7-bit weights for the same reason as the static model: ONNX Runtime's MatMulInteger
    // saturates too.
    let opts = QuantizeOptions {
        dynamic: true,
        per_channel: true,
        reduce_range: true,
        ..QuantizeOptions::default()
    };
    let quantized = round_trip("lenet-mnist-dynamic", &opts);
    let ops = op_histogram(&quantized.model);
    let count = |op: &str| ops.iter().filter(|(o, _)| o == op).count();
    assert_eq!(count("ConvInteger"), 2, "{ops:?}");
    assert_eq!(count("MatMulInteger"), 3, "{ops:?}");
    assert_eq!(count("DynamicQuantizeLinear"), 5, "{ops:?}");
    assert_eq!(quantized.report.weights, 5);
}

/// The targets on the digits models: calibrated on images 0..1400 and evaluated
/// on 1400.. through zant, int8 keeps accuracy within one point of float, with at most
/// 0.27× the weight bytes.
#[test]
fn digits_models_keep_their_accuracy_in_int8() {
    let Some(shared) = common::shared_models() else {
        return;
    };
    let data = shared.join("../datasets/digits");
    let images = data.join("images.npy");
    let eval_rows = [SampleFile::rows(&images, 1400..usize::MAX)];
    let labels = SampleFile::rows(data.join("labels.npy"), 1400..usize::MAX);
    let opts = QuantizeOptions {
        per_channel: true,
        ..QuantizeOptions::default()
    };
    for (name, float_accuracy) in [("digits-cnn", 95.47), ("digits-mlp", 92.19)] {
        let model = shared.join(name).join("model.onnx");
        let float = eval::Runner::build(model.as_path(), &Options::default(), None).unwrap();
        let labels = eval::read_labels(&labels).unwrap();
        let samples = float.samples(&eval_rows).unwrap();
        let accuracy = |runner: &eval::Runner| {
            let outputs = runner.run_all(&samples).unwrap();
            eval::accuracy(&outputs, &labels).unwrap().percent()
        };
        let float_zant = accuracy(&float);
        // zant's float result is ONNX Runtime's (the figures of the dataset's README).
        assert!(
            (float_zant - float_accuracy).abs() < 0.01,
            "{name}: {float_zant}"
        );
        let calibration = [SampleFile::rows(&images, 0..1400)];
        let quantized = quantize::quantize(&model, &calibration, &opts).unwrap();
        let int8 = eval::Runner::build(&quantized.model, &Options::default(), None).unwrap();
        let int8_accuracy = accuracy(&int8);
        let ratio = int8.weight_bytes as f64 / float.weight_bytes as f64;
        eprintln!(
            "{name}: float {float_zant:.2} %, int8 {int8_accuracy:.2} %, weights ×{ratio:.3}"
        );
        assert!(
            int8_accuracy >= float_zant - 1.0,
            "{name}: {int8_accuracy} vs {float_zant}"
        );
        assert!(ratio <= 0.27, "{name}: weights ×{ratio}");
    }
}

/// Writes `t` as a `.npy` file in `dir`.
fn npy(dir: &Path, name: &str, t: &Tensor) -> PathBuf {
    let path = dir.join(name);
    write_npy(&path, t).unwrap();
    path
}

#[test]
fn bad_calibration_data_is_an_error_that_says_why() {
    let root = common::repo_root();
    let model = root.join("models/lenet-mnist.onnx");
    let dir = tempfile::tempdir().unwrap();
    let good = npy(
        dir.path(),
        "good.npy",
        &Tensor::new(vec![2, 1, 28, 28], Data::F32(vec![0.5; 2 * 784])),
    );
    let opts = QuantizeOptions::default();
    let check = |files: &[SampleFile], expect: &str| {
        let err = quantize::quantize(&model, files, &opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expect), "{err:?} should say {expect:?}");
    };
    check(&[], "needs calibration samples");
    check(
        &[SampleFile::new(&good), SampleFile::new(&good)],
        "the model has 1 input(s) (`image`), but 2 calibration file(s) were given",
    );
    let wrong_shape = npy(
        dir.path(),
        "shape.npy",
        &Tensor::new(vec![2, 28, 29], Data::F32(vec![0.0; 2 * 28 * 29])),
    );
    check(
        &[SampleFile::new(&wrong_shape)],
        "shape [2, 28, 29] is not a stack of samples of input `image` [1, 1, 28, 28]",
    );
    let doubles = npy(
        dir.path(),
        "f64.npy",
        &Tensor::new(vec![2, 1, 28, 28], Data::F64(vec![0.0; 2 * 784])),
    );
    check(
        &[SampleFile::new(&doubles)],
        "holds f64 samples, but input `image` is f32",
    );
    check(
        &[SampleFile::rows(&good, 1..1)],
        "the row range 1..1 is empty",
    );
    check(
        &[SampleFile::rows(&good, 0..3)],
        "rows 0..3 do not fit the 2 samples",
    );
    check(
        &[SampleFile::new(dir.path().join("missing.npy"))],
        "missing.npy",
    );
}

#[test]
fn the_command_line_refuses_to_overwrite_its_input() {
    let root = common::repo_root();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    std::fs::copy(root.join("models/lenet-mnist.onnx"), &model).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zantc"))
        .arg("quantize")
        .arg(&model)
        .args(["--dynamic", "-o"])
        .arg(dir.path().join(".").join("m.onnx"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is the model itself"), "{stderr}");
    // The model is untouched, and a dynamic quantization to another file works.
    assert_eq!(
        std::fs::read(&model).unwrap(),
        std::fs::read(root.join("models/lenet-mnist.onnx")).unwrap()
    );
    let written = dir.path().join("q.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_zantc"))
        .arg("quantize")
        .arg(&model)
        .args(["--dynamic", "-o"])
        .arg(&written)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("quantized 5 nodes"));
    assert!(ModelEdit::open(&written).is_ok());
}
