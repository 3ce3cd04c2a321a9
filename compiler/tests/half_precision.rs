//! The float16 model of `models/` (`half-cnn`) end to end: compiled, built, run and
//! compared with ONNX Runtime's outputs (`models/test-data/half-cnn`, written by
//! `scripts/model_references.py` with ONNX Runtime 1.31.1) closer than the generated
//! examples' common tolerance, and its storage checked: the weights stay float16 in the
//! blob.

mod common;

use zant_compiler::ir::DType;
use zant_compiler::verify::{verify, VerifyOptions};
use zant_compiler::{compile, CrateOptions, Options};

#[test]
fn half_cnn_matches_onnx_runtime() {
    let root = common::repo_root();
    let vopts = VerifyOptions {
        data_dir: Some(root.join("models/test-data/half-cnn")),
        // Two float16 ulps, relative (2^-11 each), and nothing absolute: every op computes
        // in f32 and rounds to float16, as ONNX Runtime's CPU provider does around the ops
        // it has no float16 kernel for; its float16 Conv accumulates differently, which
        // moves a few probabilities by one ulp.
        atol: 0.0,
        rtol: 1e-3,
        ..VerifyOptions::default()
    };
    let checks = verify(
        &root.join("models/half-cnn.onnx"),
        &Options::default(),
        &vopts,
    )
    .unwrap_or_else(|e| panic!("half-cnn: {e}"));
    assert_eq!(checks.len(), 1, "one data set, one output");
    for c in &checks {
        eprintln!(
            "half-cnn/{}/{}: max_abs={:.2e} max_rel={:.2e} mismatches={}/{}",
            c.data_set, c.output, c.max_abs, c.max_rel, c.mismatches, c.n_elems
        );
        assert!(c.passed(), "{} differs from ONNX Runtime", c.output);
    }
}

#[test]
fn half_cnn_keeps_float16_storage() {
    let root = common::repo_root();
    let lowered = compile(
        &root.join("models/half-cnn.onnx"),
        &Options::default(),
        &CrateOptions::default(),
    )
    .unwrap()
    .lowered;
    let (graph, plan) = (&lowered.graph, &lowered.plan);
    // Every weight in the blob is float16 (its f32 copy is made when the node runs), the
    // API is float16, and so is every value that outlives the node that made it.
    let weight_types: Vec<DType> = plan.weights.iter().map(|&v| graph.ty(v).dtype).collect();
    assert!(!weight_types.is_empty());
    assert!(
        weight_types.iter().all(|&d| d == DType::F16),
        "{weight_types:?}"
    );
    let input = graph.node(graph.inputs[0]).outputs[0].ty.dtype;
    let output = graph.ty(graph.outputs[0].value).dtype;
    assert_eq!((input, output), (DType::F16, DType::F16));
    // 1,418 float16 parameters (the Clip bounds are attributes by now): 2,836 bytes before
    // the blob's 16-byte alignment, where f32 would take 5,672.
    let parameters: usize = plan.weights.iter().map(|&v| graph.ty(v).n_elems()).sum();
    assert_eq!(parameters, 8 * 9 + 8 + 16 * 8 * 9 + 16 + 16 * 10 + 10);
    assert!(plan.weight_bytes < 2 * parameters + 16 * plan.weights.len());
}
