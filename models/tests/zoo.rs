//! The zoo models parse back with `onnx-protobuf`, serialize to the same bytes, use exactly
//! the ops their module documents, are wired in order with static shapes, and stay within
//! the weight budget.

use std::collections::{BTreeSet, HashSet};

use onnx_protobuf::{tensor_shape_proto::dimension, type_proto, Message, ModelProto};

/// The largest weight blob a zoo model may carry: mobilenetv3-style's 10.1 MB
/// (MobileNetV3-Small's 2.5 M parameters in float, the source of its quantized model),
/// with room for rounding; the others stay near 6 MB.
const MAX_WEIGHT_BYTES: usize = 10_500_000;

/// The zoo, in `make-models` order: each has its test below.
const CHECKED: [&str; 11] = [
    "yolo-style",
    "dbnet-style",
    "efficientnet-style",
    "mobilenetv3-style",
    "resnet50-style",
    "transformer-encoder",
    "lstm-seq",
    "gru-seq",
    "tcn",
    "kws-audio",
    "detector-nms",
];

#[test]
fn yolo_style() {
    check(
        "yolo-style",
        &[
            "Add", "Concat", "Conv", "MaxPool", "Mul", "Reshape", "Resize", "Sigmoid", "Split",
        ],
    );
}

#[test]
fn dbnet_style() {
    check(
        "dbnet-style",
        &[
            "Add",
            "BatchNormalization",
            "Concat",
            "Conv",
            "ConvTranspose",
            "MaxPool",
            "Relu",
            "Resize",
            "Sigmoid",
        ],
    );
}

#[test]
fn efficientnet_style() {
    check(
        "efficientnet-style",
        &[
            "Add",
            "Conv",
            "Flatten",
            "Gemm",
            "GlobalAveragePool",
            "Mul",
            "Sigmoid",
        ],
    );
}

#[test]
fn mobilenetv3_style() {
    check(
        "mobilenetv3-style",
        &[
            "Add",
            "Conv",
            "Flatten",
            "Gemm",
            "GlobalAveragePool",
            "HardSigmoid",
            "HardSwish",
            "Mul",
            "Relu",
        ],
    );
}

#[test]
fn resnet50_style() {
    check(
        "resnet50-style",
        &[
            "Add",
            "Conv",
            "Flatten",
            "Gemm",
            "GlobalAveragePool",
            "MaxPool",
            "Relu",
        ],
    );
}

#[test]
fn transformer_encoder() {
    check(
        "transformer-encoder",
        &[
            "Add",
            "Div",
            "Erf",
            "LayerNormalization",
            "MatMul",
            "Mul",
            "Reshape",
            "Softmax",
            "Transpose",
        ],
    );
}

#[test]
fn lstm_seq() {
    check("lstm-seq", &["Gemm", "LSTM", "Reshape", "Squeeze"]);
}

#[test]
fn gru_seq() {
    check("gru-seq", &["GRU", "Gemm", "Reshape", "Transpose"]);
}

#[test]
fn tcn() {
    check("tcn", &["Add", "Conv", "Pad", "Relu"]);
}

#[test]
fn kws_audio() {
    check(
        "kws-audio",
        &[
            "Add",
            "Conv",
            "Flatten",
            "Gemm",
            "GlobalAveragePool",
            "HannWindow",
            "Log",
            "MatMul",
            "MelWeightMatrix",
            "Mul",
            "ReduceSum",
            "Relu",
            "Reshape",
            "STFT",
            "Softmax",
            "Sub",
        ],
    );
}

#[test]
fn detector_nms() {
    check(
        "detector-nms",
        &[
            "Conv",
            "Gather",
            "Mul",
            "NonMaxSuppression",
            "ReduceMax",
            "Relu",
            "Reshape",
            "Sigmoid",
            "TopK",
            "Transpose",
        ],
    );
}

#[test]
fn every_zoo_model_is_checked_here() {
    let names: Vec<&str> = zant_models::zoo().iter().map(|(name, _)| *name).collect();
    assert_eq!(names, CHECKED);
}

#[test]
fn zoo_generation_is_deterministic() {
    assert!(zant_models::zoo() == zant_models::zoo());
}

fn check(name: &str, ops: &[&str]) {
    let zoo = zant_models::zoo();
    let (_, bytes) = zoo
        .iter()
        .find(|(known, _)| *known == name)
        .unwrap_or_else(|| panic!("{name} is not in the zoo"));
    let model = ModelProto::parse_from_bytes(bytes).expect("the model parses");
    assert_eq!(
        &model.write_to_bytes().expect("the model serializes"),
        bytes,
        "{name} round-trips"
    );
    assert_eq!(model.producer_name, "zant-models");
    assert_eq!(
        model.opset_import.len(),
        1,
        "{name} imports one operator set"
    );
    let graph = &model.graph;

    let used: BTreeSet<&str> = graph
        .node
        .iter()
        .map(|node| node.op_type.as_str())
        .collect();
    let expected: BTreeSet<&str> = ops.iter().copied().collect();
    assert_eq!(used, expected, "{name} ops");

    // Every node reads graph inputs, initializers or earlier nodes' outputs (the order
    // exporters write), and names are unique.
    let mut known: HashSet<&str> = graph
        .input
        .iter()
        .map(|value| value.name.as_str())
        .collect();
    known.extend(graph.initializer.iter().map(|tensor| tensor.name.as_str()));
    known.insert("");
    let mut node_names = HashSet::new();
    for node in &graph.node {
        assert!(
            node_names.insert(node.name.as_str()),
            "{name}: node {} twice",
            node.name
        );
        for input in &node.input {
            assert!(
                known.contains(input.as_str()),
                "{name}: {} reads {input} before it exists",
                node.name
            );
        }
        for output in &node.output {
            assert!(
                known.insert(output.as_str()),
                "{name}: {output} written twice"
            );
        }
    }
    for output in &graph.output {
        assert!(
            known.contains(output.name.as_str()),
            "{name}: output {} is never written",
            output.name
        );
    }

    // Static shapes on every graph input and output, but the data-dependent row count
    // of a NonMaxSuppression's output, which exporters name `num_selected`.
    let data_dependent: HashSet<&str> = graph
        .node
        .iter()
        .filter(|node| node.op_type == "NonMaxSuppression")
        .flat_map(|node| node.output.iter().map(String::as_str))
        .collect();
    for value in graph.input.iter().chain(&graph.output) {
        let Some(type_proto::Value::TensorType(tensor)) = &value.type_.value else {
            panic!("{name}: {} is not a tensor", value.name);
        };
        for (axis, dim) in tensor.shape.dim.iter().enumerate() {
            if axis == 0 && data_dependent.contains(value.name.as_str()) {
                assert!(
                    matches!(&dim.value, Some(dimension::Value::DimParam(p)) if p == "num_selected"),
                    "{name}: {} should have the symbolic dimension num_selected",
                    value.name
                );
                continue;
            }
            assert!(
                matches!(dim.value, Some(dimension::Value::DimValue(size)) if size > 0),
                "{name}: {} has a symbolic dimension",
                value.name
            );
        }
    }

    let weight_bytes: usize = graph
        .initializer
        .iter()
        .map(|tensor| {
            tensor.raw_data.len() + 4 * tensor.float_data.len() + 8 * tensor.int64_data.len()
        })
        .sum();
    assert!(
        weight_bytes <= MAX_WEIGHT_BYTES,
        "{name} carries {weight_bytes} bytes of weights"
    );
}
