//! Ternary weights end to end on `../shared/models`' digits-mlp and digits-cnn: each model
//! compiled with `--weights ternary`, built and run by its generated runner on
//! `test_data_set_0`'s input, must give what the float model computes once its weights
//! are replaced by their dequantized ternary form (`compress::ternary::dequantize`, what
//! `zantc quantize --weights ternary` writes for ONNX Runtime), within f32 rounding
//! (rtol 1e-4): the ternary kernels only sum in another order.
//!
//! The reference is that float model evaluated by the compiler itself: its input bound to
//! the test data, import folds the whole graph through the runtime's float kernels.

mod common;

use std::path::Path;

use onnx_protobuf::{Message, ModelProto, TensorProto};
use zant_compiler::compress::ternary::{dequantize, KeepFloat, OutputAxis};
use zant_compiler::ir::{Data, Tensor};
use zant_compiler::onnx::{describe, read_tensor};
use zant_compiler::pipeline::compile_graph;
use zant_compiler::verify::{verify, VerifyOptions};
use zant_compiler::{Binding, Options, WeightFormat};

/// `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;

/// The `f32` values of an initializer, from `float_data` or `raw_data`.
fn floats(t: &TensorProto) -> Vec<f32> {
    if !t.float_data.is_empty() {
        return t.float_data.clone();
    }
    t.raw_data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The model with the weight of each Conv, MatMul and Gemm (when it is an initializer)
/// replaced by its dequantized ternary form, except the first and last such layers when
/// `keep` says so, as `passes::ternary` chooses them (these models list their nodes in
/// the order they run).
fn dequantized_model(bytes: &[u8], keep: KeepFloat) -> Vec<u8> {
    let mut model = ModelProto::parse_from_bytes(bytes).unwrap();
    let graph = model.graph.as_mut().unwrap();
    let mut layers = Vec::new();
    for node in &graph.node {
        let transposed = node
            .attribute
            .iter()
            .any(|a| a.name == "transB" && a.i == 1);
        let axis = match node.op_type.as_str() {
            "Conv" => OutputAxis::First,
            "Gemm" if transposed => OutputAxis::First,
            "MatMul" | "Gemm" => OutputAxis::Last,
            _ => continue,
        };
        if let Some(w) = node.input.get(1) {
            if graph.initializer.iter().any(|t| &t.name == w) {
                layers.push((w.clone(), axis));
            }
        }
    }
    assert!(
        layers.len() >= 3,
        "the model has {} weight layers",
        layers.len()
    );
    let first = usize::from(keep.first);
    let last = layers.len() - usize::from(keep.last);
    for (name, axis) in &layers[first..last] {
        let t = graph
            .initializer
            .iter_mut()
            .find(|t| &t.name == name)
            .unwrap();
        assert_eq!(t.data_type, FLOAT, "{name}");
        let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
        let w = Tensor::new(shape, Data::F32(floats(t)));
        let d = dequantize(&w, *axis).unwrap();
        t.float_data.clear();
        t.raw_data = d
            .as_f32()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
    }
    model.write_to_bytes().unwrap()
}

/// A tensor as a `.pb` test data file.
fn tensor_proto(t: &Tensor) -> TensorProto {
    TensorProto {
        dims: t.shape.iter().map(|&d| d as i64).collect(),
        data_type: FLOAT,
        raw_data: t
            .as_f32()
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        ..Default::default()
    }
}

/// The largest absolute difference between two `f32` tensors of the same length.
fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    let (a, b) = (a.as_f32().unwrap(), b.as_f32().unwrap());
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Checks one model with one `--keep-float` choice.
fn check(model_dir: &Path, keep: KeepFloat) {
    let name = model_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let model_file = model_dir.join("model.onnx");
    let set = model_dir.join("test_data_set_0");
    let input = read_tensor(&set.join("input_0.pb")).unwrap();
    let float_output = read_tensor(&set.join("output_0.pb")).unwrap();
    let input_name = describe(&model_file).unwrap().inputs[0].clone();

    // The float model with dequantized ternary weights, evaluated by the compiler.
    let dequantized = dequantized_model(&std::fs::read(&model_file).unwrap(), keep);
    let bound = Options {
        bindings: vec![Binding::new(input_name, input.clone())],
        ..Options::default()
    };
    let lowered = compile_graph(&dequantized, &bound).unwrap();
    let output = lowered.graph.outputs[0].value;
    let reference = lowered
        .graph
        .const_value(output)
        .unwrap_or_else(|| panic!("{name}: the bound model did not fold"))
        .clone();
    // Ternary weights change the logits: the test compares with the dequantized model,
    // not with the float one.
    let changed = max_abs_diff(&reference, &float_output);
    assert!(
        changed > 1e-2,
        "{name} ({keep}): the logits moved by {changed} only"
    );

    let data = tempfile::tempdir().unwrap();
    let data_set = data.path().join("test_data_set_0");
    std::fs::create_dir_all(&data_set).unwrap();
    std::fs::copy(set.join("input_0.pb"), data_set.join("input_0.pb")).unwrap();
    std::fs::write(
        data_set.join("output_0.pb"),
        tensor_proto(&reference).write_to_bytes().unwrap(),
    )
    .unwrap();
    let ternary = Options {
        weights: WeightFormat::Ternary { keep_float: keep },
        ..Options::default()
    };
    let vopts = VerifyOptions {
        data_dir: Some(data.path().to_path_buf()),
        // f32 rounding of sums taken in another order; the logits are of order 1 to 10.
        atol: 1e-5,
        rtol: 1e-4,
        ..VerifyOptions::default()
    };
    let checks = verify(model_dir, &ternary, &vopts).unwrap();
    assert_eq!(checks.len(), 1, "{name}");
    for c in &checks {
        eprintln!(
            "{name} ({keep}): max_abs={:.2e} max_rel={:.2e} (the float model differs by {changed:.2e})",
            c.max_abs, c.max_rel
        );
        assert!(c.passed(), "{name} ({keep}): {} mismatches", c.mismatches);
    }
}

#[test]
fn ternary_models_compute_their_dequantized_float_models() {
    let Some(dir) = common::shared_models() else {
        return;
    };
    check(&dir.join("digits-mlp"), KeepFloat::default());
    check(&dir.join("digits-cnn"), KeepFloat::default());
    check(
        &dir.join("digits-mlp"),
        KeepFloat {
            first: true,
            last: true,
        },
    );
}

/// `zantc quantize --weights ternary`'s float copy, compiled in float, computes what the
/// original compiled with ternary weights computes (both evaluated by the compiler on the
/// runtime's kernels).
#[test]
fn the_float_copy_computes_the_ternary_model() {
    use zant_compiler::compress::ternary_model::dequantize_ternary;
    use zant_compiler::onnx::ModelEdit;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/digits-mlp");
    if !path.exists() {
        eprintln!("NOT RUN: ../shared/models/digits-mlp is missing");
        return;
    }
    let mut edit = ModelEdit::open(&path).unwrap();
    let converted = dequantize_ternary(&mut edit, KeepFloat::default()).unwrap();
    assert_eq!(converted.len(), 3);
    let float = compile_graph(&edit.to_bytes()[..], &Options::default()).unwrap();
    let ternary = compile_graph(
        &path.join("model.onnx"),
        &Options {
            weights: WeightFormat::Ternary {
                keep_float: KeepFloat::default(),
            },
            ..Options::default()
        },
    )
    .unwrap();
    let x: Vec<f32> = (0..64).map(|i| ((i * 7) % 16) as f32 / 16.0).collect();
    let input = Tensor::new(vec![1, 8, 8, 1], Data::F32(x));
    let run = |g| {
        zant_compiler::passes::fold::evaluate(g, std::slice::from_ref(&input))
            .unwrap()
            .unwrap()
    };
    let (a, b) = (run(&float.graph), run(&ternary.graph));
    let (a, b) = (a[0].as_f32().unwrap(), b[0].as_f32().unwrap());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "{x} vs {y}");
    }
    // Keeping the first and last layers float leaves their weights as they were.
    let mut kept = ModelEdit::open(&path).unwrap();
    let keep = KeepFloat {
        first: true,
        last: true,
    };
    assert_eq!(dequantize_ternary(&mut kept, keep).unwrap().len(), 1);
}
