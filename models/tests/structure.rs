//! Each model parses back with `onnx-protobuf` into the header, graph inputs and outputs, and
//! node list it is meant to have.

use onnx_protobuf::{
    tensor_proto::DataType, tensor_shape_proto::dimension, type_proto, Message, ModelProto,
    ValueInfoProto,
};

/// What one model must look like once parsed back.
struct Expect<'a> {
    /// Inputs are of `elem_type` unless named in `bool_inputs`.
    inputs: &'a [(&'a str, &'a [i64])],
    bool_inputs: &'a [&'a str],
    outputs: &'a [(&'a str, &'a [i64])],
    /// `op_type` of each node, in order.
    ops: &'a [&'a str],
    n_initializers: usize,
    /// The element type of every input, output and initializer.
    elem_type: DataType,
}

#[test]
fn lenet_mnist() {
    check(
        "lenet-mnist.onnx",
        Expect {
            inputs: &[("image", &[1, 1, 28, 28])],
            outputs: &[("probs", &[1, 10])],
            ops: &[
                "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu",
                "Gemm", "Relu", "Gemm", "Softmax",
            ],
            n_initializers: 10,
            elem_type: DataType::FLOAT,
            bool_inputs: &[],
        },
    );
}

#[test]
fn kws_dscnn() {
    let stem = ["Conv", "BatchNormalization", "Relu"];
    let block = [
        "Conv",
        "BatchNormalization",
        "Relu",
        "Conv",
        "BatchNormalization",
        "Clip",
    ];
    let head = ["GlobalAveragePool", "Flatten", "Gemm"];
    let ops: Vec<&str> = stem
        .iter()
        .chain(block.iter().cycle().take(4 * block.len()))
        .chain(&head)
        .copied()
        .collect();
    // Two Clip bounds, the stem's weight, bias and four batch-norm tensors, two convolution
    // weights and eight batch-norm tensors per block, and the classifier's weight and bias.
    let n_initializers = 2 + 6 + 4 * 10 + 2;
    check(
        "kws-dscnn.onnx",
        Expect {
            inputs: &[("mfcc", &[1, 1, 49, 10])],
            outputs: &[("logits", &[1, 12])],
            ops: &ops,
            n_initializers,
            elem_type: DataType::FLOAT,
            bool_inputs: &[],
        },
    );
}

#[test]
fn kws_crnn() {
    // Two convolutions' weights and biases, the sequence shape, the LSTM's W, R and B, and
    // the classifier's weight and bias.
    check(
        "kws-crnn.onnx",
        Expect {
            inputs: &[("mfcc", &[1, 1, 49, 10])],
            outputs: &[("logits", &[1, 12])],
            ops: &[
                "Conv",
                "Relu",
                "Conv",
                "Relu",
                "Transpose",
                "Reshape",
                "LSTM",
                "Flatten",
                "Gemm",
            ],
            n_initializers: 4 + 1 + 3 + 2,
            elem_type: DataType::FLOAT,
            bool_inputs: &[],
        },
    );
}

#[test]
fn two_heads() {
    check(
        "two-heads.onnx",
        Expect {
            inputs: &[("features", &[1, 16]), ("context", &[1, 8])],
            outputs: &[("scores", &[1, 4]), ("gate", &[1, 1])],
            ops: &[
                "Gemm", "Relu", "MatMul", "Add", "Tanh", "Add", "Gemm", "Gemm", "Sigmoid",
            ],
            n_initializers: 8,
            elem_type: DataType::FLOAT,
            bool_inputs: &[],
        },
    );
}

#[test]
fn half_cnn() {
    check(
        "half-cnn.onnx",
        Expect {
            inputs: &[("image", &[1, 1, 16, 16])],
            outputs: &[("probs", &[1, 10])],
            ops: &[
                "Conv",
                "Relu",
                "MaxPool",
                "Conv",
                "Clip",
                "Transpose",
                "GlobalAveragePool",
                "Flatten",
                "Gemm",
                "Softmax",
            ],
            // Two convolutions and the classifier with their biases, and the Clip bounds.
            n_initializers: 8,
            elem_type: DataType::FLOAT16,
            bool_inputs: &[],
        },
    );
}

#[test]
fn mode_switch() {
    // The stem's and the classifier's weights and biases; the deep branch holds its own.
    check(
        "mode-switch.onnx",
        Expect {
            inputs: &[("features", &[1, 1, 20, 16]), ("high_accuracy", &[])],
            bool_inputs: &["high_accuracy"],
            outputs: &[("scores", &[1, 4])],
            ops: &["Conv", "Relu", "If", "Flatten", "Gemm"],
            n_initializers: 4,
            elem_type: DataType::FLOAT,
        },
    );
    let (_, bytes) = zant_models::all()
        .into_iter()
        .find(|(name, _)| *name == "mode-switch.onnx")
        .expect("the model is authored");
    let model = ModelProto::parse_from_bytes(&bytes).expect("the bytes parse as a ModelProto");
    let switch = &model.graph.node[2];
    let branch = |name: &str| {
        let attr = switch
            .attribute
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("the If has no {name}"));
        let g = attr.g.as_ref().expect("a graph attribute");
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        (
            ops,
            g.initializer.len(),
            signature(&g.output, DataType::FLOAT, &[]),
        )
    };
    assert_eq!(
        branch("then_branch"),
        (
            vec!["Conv", "Relu", "Conv", "Relu", "GlobalAveragePool"],
            4,
            owned(&[("deep_summary", &[1, 8, 1, 1])])
        )
    );
    assert_eq!(
        branch("else_branch"),
        (
            vec!["GlobalAveragePool"],
            0,
            owned(&[("fast_summary", &[1, 8, 1, 1])])
        )
    );
}

#[test]
fn every_model_is_checked_here() {
    let file_names: Vec<&str> = zant_models::all().iter().map(|(name, _)| *name).collect();
    assert_eq!(
        file_names,
        [
            "lenet-mnist.onnx",
            "kws-dscnn.onnx",
            "kws-crnn.onnx",
            "two-heads.onnx",
            "half-cnn.onnx",
            "mode-switch.onnx"
        ]
    );
}

fn check(file_name: &str, expect: Expect<'_>) {
    let (_, bytes) = zant_models::all()
        .into_iter()
        .find(|(name, _)| *name == file_name)
        .unwrap_or_else(|| panic!("no model {file_name}"));
    let model = ModelProto::parse_from_bytes(&bytes).expect("the bytes parse as a ModelProto");

    assert_eq!(model.ir_version, 8);
    assert_eq!(model.producer_name, "zant-models");
    let opsets: Vec<(&str, i64)> = model
        .opset_import
        .iter()
        .map(|opset| (opset.domain.as_str(), opset.version))
        .collect();
    assert_eq!(opsets, [("", 13)]);

    let graph = model.graph.as_ref().expect("the model has a graph");
    assert_eq!(
        signature(&graph.input, expect.elem_type, expect.bool_inputs),
        owned(expect.inputs),
        "{file_name} inputs"
    );
    assert_eq!(
        signature(&graph.output, expect.elem_type, &[]),
        owned(expect.outputs),
        "{file_name} outputs"
    );
    let ops: Vec<&str> = graph
        .node
        .iter()
        .map(|node| node.op_type.as_str())
        .collect();
    assert_eq!(ops, expect.ops, "{file_name} ops");
    assert_eq!(graph.initializer.len(), expect.n_initializers);

    let mut node_names: Vec<&str> = graph.node.iter().map(|node| node.name.as_str()).collect();
    node_names.sort_unstable();
    node_names.dedup();
    assert_eq!(node_names.len(), graph.node.len(), "{file_name} node names");

    // float16 keeps its typed values in `int32_data`, one element each, and two bytes of
    // `raw_data` an element.
    let element_bytes = if expect.elem_type == DataType::FLOAT16 {
        2
    } else {
        4
    };
    for tensor in &graph.initializer {
        let n_elements: i64 = tensor.dims.iter().product();
        // Weights are of the model's float type; a 1-D int64 tensor is a Reshape's target
        // shape.
        let n_stored = if tensor.data_type == DataType::INT64 as i32 {
            assert_eq!(tensor.dims.len(), 1, "{} is an int64 shape", tensor.name);
            tensor.int64_data.len()
        } else {
            assert_eq!(tensor.data_type, expect.elem_type as i32, "{}", tensor.name);
            tensor.float_data.len()
                + tensor.int32_data.len()
                + tensor.raw_data.len() / element_bytes
        };
        assert_eq!(n_stored as i64, n_elements, "{} element count", tensor.name);
    }
}

/// Each value's name and static shape; every value is of `elem_type`, but those named in
/// `bools`, which are `bool`.
fn signature(
    values: &[ValueInfoProto],
    elem_type: DataType,
    bools: &[&str],
) -> Vec<(String, Vec<i64>)> {
    values
        .iter()
        .map(|value| {
            let Some(type_proto::Value::TensorType(tensor)) = &value.type_.value else {
                panic!("{} is not a tensor", value.name);
            };
            let elem_type = if bools.contains(&value.name.as_str()) {
                DataType::BOOL
            } else {
                elem_type
            };
            assert_eq!(tensor.elem_type, elem_type as i32, "{}", value.name);
            let dims: Vec<i64> = tensor
                .shape
                .dim
                .iter()
                .map(|dim| match dim.value {
                    Some(dimension::Value::DimValue(size)) => size,
                    _ => panic!("{} has a symbolic dimension", value.name),
                })
                .collect();
            (value.name.clone(), dims)
        })
        .collect()
}

fn owned(values: &[(&str, &[i64])]) -> Vec<(String, Vec<i64>)> {
    values
        .iter()
        .map(|(name, dims)| (name.to_string(), dims.to_vec()))
        .collect()
}
