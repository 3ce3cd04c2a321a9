//! Pass snapshots: the IR text before and after each pass on small graphs, with
//! `ir::verify` run after every pass.

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::*;
use zant_compiler::ir::{
    text, verify::verify, DType, Data, Graph, Tensor, TensorType, Value, ValueId,
};
use zant_compiler::ops::{binary::Binary, Op};
use zant_compiler::passes::PASSES;
use zant_runtime::elementwise::BinaryOp;

fn vi(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| tensor_shape_proto::Dimension {
                            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .into(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}

fn f32s(name: &str, dims: &[i64], values: Vec<f32>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: 1,
        float_data: values,
        ..Default::default()
    }
}

fn i64s(name: &str, values: Vec<i64>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: 7,
        int64_data: values,
        ..Default::default()
    }
}

fn attr_i(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INT.into(),
        i,
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: output.into(),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

fn import(
    nodes: Vec<NodeProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: &[&str],
    inits: Vec<TensorProto>,
) -> Graph {
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
            ..Default::default()
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: inits,
            input: inputs,
            output: outputs
                .iter()
                .map(|o| ValueInfoProto {
                    name: o.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    };
    let bytes = model.write_to_bytes().unwrap();
    let source = zant_compiler::onnx::Source::Bytes(&bytes);
    zant_compiler::onnx::load(source, &[], &[]).unwrap().graph
}

/// Runs every pass in order; returns the text before and after each pass that changed
/// something, verifying the graph after every pass.
fn run_passes(mut graph: Graph) -> String {
    verify(&graph).unwrap();
    let mut out = format!("== imported ==\n{}", text::print(&graph));
    for (name, pass) in PASSES {
        let changed = pass(&mut graph).unwrap();
        verify(&graph).unwrap_or_else(|e| panic!("after {name}: {e}"));
        if changed {
            out.push_str(&format!("== after {name} ==\n{}", text::print(&graph)));
        }
    }
    out
}

#[test]
fn conv_batchnorm_relu() {
    let g = import(
        vec![
            node("Conv", &["x", "w"], "conv", vec![]),
            node(
                "BatchNormalization",
                &["conv", "gamma", "beta", "mean", "var"],
                "bn",
                vec![],
            ),
            node("Relu", &["bn"], "y", vec![]),
        ],
        vec![vi("x", &[1, 1, 3, 3])],
        &["y"],
        vec![
            f32s("w", &[2, 1, 1, 1], vec![1.0, 2.0]),
            f32s("gamma", &[2], vec![1.0, 0.5]),
            f32s("beta", &[2], vec![0.0, 1.0]),
            f32s("mean", &[2], vec![0.0, 0.0]),
            f32s("var", &[2], vec![1.0, 1.0]),
        ],
    );
    insta::assert_snapshot!(run_passes(g));
}

#[test]
fn batchnorm_without_conv_is_lowered() {
    let g = import(
        vec![node(
            "BatchNormalization",
            &["x", "gamma", "beta", "mean", "var"],
            "y",
            vec![],
        )],
        vec![vi("x", &[1, 2, 2, 2])],
        &["y"],
        vec![
            f32s("gamma", &[2], vec![1.0, 0.5]),
            f32s("beta", &[2], vec![0.0, 1.0]),
            f32s("mean", &[2], vec![0.0, 0.0]),
            f32s("var", &[2], vec![1.0, 1.0]),
        ],
    );
    insta::assert_snapshot!(run_passes(g));
}

#[test]
fn shape_chain_folds_into_reshape() {
    // Shape → Gather → Unsqueeze → Concat → Reshape, as exporters write a flatten.
    let g = import(
        vec![
            node("Shape", &["x"], "shape", vec![]),
            node(
                "Gather",
                &["shape", "zero"],
                "batch",
                vec![attr_i("axis", 0)],
            ),
            node("Unsqueeze", &["batch", "axes"], "batch1", vec![]),
            node(
                "Concat",
                &["batch1", "minus_one"],
                "target",
                vec![attr_i("axis", 0)],
            ),
            node("Reshape", &["x", "target"], "flat", vec![]),
            node("Relu", &["flat"], "y", vec![]),
        ],
        vec![vi("x", &[2, 3, 4])],
        &["y"],
        vec![
            TensorProto {
                name: "zero".into(),
                data_type: 7,
                int64_data: vec![0],
                ..Default::default()
            },
            i64s("axes", vec![0]),
            i64s("minus_one", vec![-1]),
        ],
    );
    insta::assert_snapshot!(run_passes(g));
}

#[test]
fn matmul_add_relu_and_identity() {
    let g = import(
        vec![
            node("Identity", &["x"], "x2", vec![]),
            node("MatMul", &["x2", "w"], "mm", vec![]),
            node("Add", &["mm", "b"], "add", vec![]),
            node("Relu", &["add"], "y", vec![]),
            node("Relu", &["x"], "unused", vec![]),
        ],
        vec![vi("x", &[1, 2])],
        &["y"],
        vec![
            f32s("w", &[2, 3], vec![1.0; 6]),
            f32s("b", &[3], vec![0.5; 3]),
        ],
    );
    insta::assert_snapshot!(run_passes(g));
}

#[test]
fn fold_evaluates_constant_nodes() {
    let mut g = Graph::new();
    let a = g.add_const("a".into(), Tensor::new(vec![2], Data::F32(vec![1.0, 2.0])));
    let b = g.add_const(
        "b".into(),
        Tensor::new(vec![2], Data::F32(vec![10.0, 20.0])),
    );
    let ty = TensorType::new(DType::F32, vec![2]);
    let add = g.add_node(
        "add".into(),
        Op::Binary(Binary { op: BinaryOp::Add }),
        vec![Some(a), Some(b)],
        vec![Value {
            name: "sum".into(),
            ty,
        }],
    );
    g.outputs.push(zant_compiler::ir::GraphOutput {
        name: "sum".into(),
        value: ValueId { node: add, slot: 0 },
    });
    insta::assert_snapshot!(run_passes(g));
}

#[test]
fn conv_per_channel_add_becomes_the_bias() {
    // The ONNX model zoo's MNIST writes Conv without bias, then Add of a [C,1,1] constant.
    let g = import(
        vec![
            node("Conv", &["x", "w"], "conv", vec![]),
            node("Add", &["conv", "b"], "add", vec![]),
            node("Relu", &["add"], "y", vec![]),
        ],
        vec![vi("x", &[1, 1, 2, 2])],
        &["y"],
        vec![
            f32s("w", &[2, 1, 1, 1], vec![1.0, -1.0]),
            f32s("b", &[2, 1, 1], vec![0.5, 0.25]),
        ],
    );
    insta::assert_snapshot!(run_passes(g));
}

#[test]
fn add_along_the_width_is_not_a_conv_bias() {
    // [2] right-aligns with the width axis, not the channels: it must stay an Add.
    let g = import(
        vec![
            node("Conv", &["x", "w"], "conv", vec![]),
            node("Add", &["conv", "b"], "y", vec![]),
        ],
        vec![vi("x", &[1, 1, 2, 2])],
        &["y"],
        vec![
            f32s("w", &[2, 1, 1, 1], vec![1.0, -1.0]),
            f32s("b", &[2], vec![0.5, 0.25]),
        ],
    );
    let text = run_passes(g);
    assert!(text.ends_with("output 0: y = %y\n"), "{text}");
    assert!(!text.contains("bias_fused"), "{text}");
}
