//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The seven float models of `../shared/models` that issue #2 requires.
pub const FLOAT_MODELS: &[&str] = &[
    "mnist-8",
    "wakeword",
    "sentiment",
    "tiny-lm",
    "debug-mlp",
    "mobilenet_v2",
    "fomo-96",
];

/// The QOperator int8 models of `../shared/models` that zant runs on integer kernels; their
/// outputs are compared in quantization steps (`zant_compiler::verify::compare_quantized`).
/// mobilenet_v2-int8's references equal ONNX Runtime 1.31 on a CPU with AVX-512 VNNI and
/// FMA (exact `i32` sums; QLinearAdd as two fused multiply-adds).
pub const INT8_MODELS: &[&str] = &["beer", "mobilenet_v2-int8"];

/// The QDQ int8 models of `../shared/models` (DequantizeLinear → op → QuantizeLinear), which
/// `passes::qdq` turns into integer graphs; compared in quantization steps too.
pub const QDQ_MODELS: &[&str] = &[
    "mlperf-kws-int8",
    "mlperf-vww-int8",
    "mlperf-ic-int8",
    "mlperf-ad-int8",
];

/// `../shared/models` beside the checkout. When it is missing the caller's test fails,
/// unless `ZANT_ALLOW_MISSING_SHARED=1`, in which case it reports itself as NOT RUN.
pub fn shared_models() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("ZANT_ALLOW_MISSING_SHARED").is_some() {
        eprintln!(
            "NOT RUN: {} is missing (ZANT_ALLOW_MISSING_SHARED is set)",
            dir.display()
        );
        return None;
    }
    panic!(
        "{} is missing: these tests need the shared reference models (set ZANT_ALLOW_MISSING_SHARED=1 to report them as not run)",
        dir.display()
    );
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo root")
}

/// Small ONNX models for tests, built with `onnx-protobuf`: an encoder independent of the
/// compiler's own protobuf structs, which are private to its `onnx` module.
pub mod model {
    use onnx_protobuf::attribute_proto::AttributeType;
    use onnx_protobuf::{
        tensor_shape_proto, type_proto, AttributeProto, GraphProto, Message, ModelProto, NodeProto,
        OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    };

    /// `TensorProto.DataType.FLOAT`.
    pub const FLOAT: i32 = 1;

    /// An `INT` attribute.
    pub fn int(name: &str, i: i64) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            type_: AttributeType::INT.into(),
            i,
            ..Default::default()
        }
    }

    /// An `INTS` attribute.
    pub fn ints(name: &str, ints: &[i64]) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            type_: AttributeType::INTS.into(),
            ints: ints.to_vec(),
            ..Default::default()
        }
    }

    /// A float tensor (an initializer, or a test input or output).
    pub fn floats(name: &str, dims: &[i64], v: &[f32]) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            float_data: v.to_vec(),
            ..Default::default()
        }
    }

    /// A tensor type with fixed dims.
    pub fn tensor_type(elem_type: i32, dims: &[i64]) -> TypeProto {
        let dim = dims
            .iter()
            .map(|&d| tensor_shape_proto::Dimension {
                value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
                ..Default::default()
            })
            .collect();
        TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim,
                    ..Default::default()
                })
                .into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    /// A float graph input or output with fixed dims.
    pub fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            type_: Some(tensor_type(FLOAT, dims)).into(),
            ..Default::default()
        }
    }

    /// A node of the default domain without attributes.
    pub fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
        NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    /// An opset import (`""` is the default `ai.onnx` domain).
    pub fn opset(domain: &str, version: i64) -> OperatorSetIdProto {
        OperatorSetIdProto {
            domain: domain.into(),
            version,
            ..Default::default()
        }
    }

    /// An IR version 8 model importing `ai.onnx` opset 13.
    pub fn model(
        nodes: Vec<NodeProto>,
        inputs: Vec<ValueInfoProto>,
        outputs: Vec<ValueInfoProto>,
        initializers: Vec<TensorProto>,
    ) -> ModelProto {
        ModelProto {
            ir_version: 8,
            opset_import: vec![opset("", 13)],
            graph: Some(GraphProto {
                node: nodes,
                name: "g".into(),
                initializer: initializers,
                input: inputs,
                output: outputs,
                ..Default::default()
            })
            .into(),
            ..Default::default()
        }
    }

    /// The model's protobuf bytes.
    pub fn encode(model: &ModelProto) -> Vec<u8> {
        model.write_to_bytes().expect("a model in memory encodes")
    }

    /// Deterministic values in `[-scale, scale)`.
    pub fn values(n: usize, seed: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 2000) as f32 / 1000.0 * scale - scale)
            .collect()
    }

    /// A fresh folder holding `model` as `model.onnx` and `test_data_set_0` with
    /// `inputs` and `outputs` (`input_K.pb`, `output_K.pb`), as `zantc verify` reads it.
    pub fn model_folder(
        model: &ModelProto,
        inputs: &[TensorProto],
        outputs: &[TensorProto],
    ) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.onnx"), encode(model)).unwrap();
        let set = dir.path().join("test_data_set_0");
        std::fs::create_dir_all(&set).unwrap();
        let files = inputs
            .iter()
            .enumerate()
            .map(|(k, t)| (format!("input_{k}.pb"), t));
        let files = files.chain(
            outputs
                .iter()
                .enumerate()
                .map(|(k, t)| (format!("output_{k}.pb"), t)),
        );
        for (file, t) in files {
            std::fs::write(set.join(file), t.write_to_bytes().unwrap()).unwrap();
        }
        dir
    }

    /// The `model.rs` zant generates for the model in `folder` with `options`.
    pub fn generated_model_rs(
        folder: &std::path::Path,
        options: &zant_compiler::Options,
    ) -> String {
        let compiled = zant_compiler::compile(
            &folder.join("model.onnx"),
            options,
            &zant_compiler::CrateOptions::default(),
        )
        .unwrap();
        compiled
            .files
            .iter()
            .find(|f| f.path.ends_with("model.rs"))
            .map(|f| String::from_utf8_lossy(&f.contents).into_owned())
            .unwrap()
    }

    /// Asserts that `zantc verify` with `options` checks `outputs` outputs of the model in
    /// `folder` and that each passes (|got − want| ≤ 1e-4 + 1e-3 · |want|).
    pub fn assert_verifies(
        folder: &std::path::Path,
        options: &zant_compiler::Options,
        outputs: usize,
    ) {
        use zant_compiler::verify::{verify, VerifyOptions};
        let checks = verify(folder, options, &VerifyOptions::default()).unwrap();
        assert_eq!(checks.len(), outputs, "{checks:?}");
        for c in &checks {
            assert!(c.passed(), "{:?}: {c:?}", options.target);
        }
    }
}
