//! The functions through which the rest of the compiler reads models and test data
//! without seeing protobuf: [`load`] with bound inputs and the files it read,
//! [`describe`] and [`read_tensor`]. Models are built with `onnx-protobuf`, an encoder
//! independent of our decoder.

use std::path::Path;

use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::{
    tensor_shape_proto, type_proto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use super::*;
use crate::ir::{DType, Data};
use crate::ops::{NodeError, OpError};

/// `TensorProto.DataType` codes used below.
const FLOAT: i32 = 1;
const INT64: i32 = 7;

/// A graph input or output of `elem_type` with fixed dims.
pub(crate) fn value(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension {
            value: Some(tensor_shape_proto::dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto {
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
        })
        .into(),
        ..Default::default()
    }
}

/// `y = Relu(Reshape(x, shape))` at opset 13, with `x: f32[4]`, `shape: i64[2]` and
/// `initializers` (which may name `shape` to make it constant).
pub(crate) fn reshape_model(initializers: Vec<TensorProto>) -> Vec<u8> {
    let node = |name: &str, op: &str, inputs: &[&str], output: &str| NodeProto {
        name: name.into(),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
            ..Default::default()
        }],
        graph: Some(GraphProto {
            node: vec![
                node("reshape", "Reshape", &["x", "shape"], "r"),
                node("relu", "Relu", &["r"], "y"),
            ],
            input: vec![value("x", FLOAT, &[4]), value("shape", INT64, &[2])],
            output: vec![value("y", FLOAT, &[2, 2])],
            initializer: initializers,
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
    .write_to_bytes()
    .unwrap()
}

/// The value that makes [`reshape_model`] compile: shape `[2, 2]`.
pub(crate) fn shape_2x2() -> Binding {
    Binding::new("shape", Tensor::new(vec![2], Data::I64(vec![2, 2])))
}

fn load_bytes(bytes: &[u8], values: &[Binding]) -> Result<Loaded, ImportError> {
    load(Source::Bytes(bytes), &[], values)
}

/// Loads [`reshape_model`] with `values` and returns the error text.
fn bind_error(values: &[Binding]) -> String {
    load_bytes(&reshape_model(vec![]), values)
        .expect_err("the binding must be refused")
        .to_string()
}

#[test]
fn an_unbound_shape_input_is_named_in_the_error() {
    let err = load_bytes(&reshape_model(vec![]), &[]).expect_err("shape is not constant");
    let ImportError::Node(NodeError { node, op, source }) = &err else {
        panic!("expected a node error, got {err}");
    };
    assert_eq!(node, "reshape");
    assert_eq!(op.op_type, "Reshape");
    assert_eq!(
        source,
        &OpError::NeedsConstant {
            input: 1,
            what: "shape"
        }
    );
}

#[test]
fn a_bound_input_becomes_a_constant() {
    let loaded = load_bytes(&reshape_model(vec![]), &[shape_2x2()]).unwrap();
    let g = &loaded.graph;
    let inputs: Vec<&str> = g
        .inputs
        .iter()
        .map(|&id| g.node(id).name.as_str())
        .collect();
    assert_eq!(inputs, ["x"]);
    assert_eq!(
        g.ty(g.outputs[0].value),
        &TensorType::new(DType::F32, vec![2, 2])
    );
    assert!(loaded.files.is_empty(), "a model from bytes reads no file");
}

#[test]
fn bindings_are_checked() {
    let named = |name: &str, value: Tensor| Binding::new(name, value);
    let err = bind_error(&[Binding::new("nope", "2,2")]);
    assert_eq!(
        err,
        "binding graph input `nope` to a value: the model has no input of that name (inputs: x, shape)"
    );
    let err = bind_error(&[named(
        "shape",
        Tensor::new(vec![2], Data::F32(vec![2.0, 2.0])),
    )]);
    assert!(
        err.contains("the value is f32 but the input is declared i64"),
        "{err}"
    );
    let err = bind_error(&[named(
        "shape",
        Tensor::new(vec![3], Data::I64(vec![1, 2, 2])),
    )]);
    assert!(
        err.contains("shape [3], which the input's declared shape [2] does not admit"),
        "{err}"
    );
    let err = bind_error(&[shape_2x2(), shape_2x2()]);
    assert!(err.contains("already has a value"), "{err}");

    // An input the model already gives an initializer cannot be bound again.
    let initializer = TensorProto {
        name: "shape".into(),
        dims: vec![2],
        data_type: INT64,
        int64_data: vec![4, 1],
        ..Default::default()
    };
    let err = load_bytes(&reshape_model(vec![initializer]), &[shape_2x2()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("already has a value"), "{err}");
}

#[test]
fn describe_lists_fed_inputs_and_node_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    let initializer = TensorProto {
        name: "shape".into(),
        dims: vec![2],
        data_type: INT64,
        int64_data: vec![2, 2],
        ..Default::default()
    };
    std::fs::write(&path, reshape_model(vec![initializer])).unwrap();
    let info = describe(&path).unwrap();
    // `shape` has an initializer, so no caller feeds it.
    assert_eq!(info.inputs, ["x"]);
    assert_eq!(info.node_input("reshape", 1), Some("shape"));
    assert_eq!(info.node_input("relu", 0), Some("r"));
    assert_eq!(info.node_input("relu", 1), None);
    assert_eq!(info.node_input("missing", 0), None);
    assert_eq!(info.nodes[0].op_type, "Reshape");
    // `y` is computed from `x` only: `shape` is an initializer, not a fed input.
    assert_eq!(info.input_ancestors("y", false), [0]);
    assert_eq!(info.input_ancestors("x", false), [0]);
    assert!(info.input_ancestors("shape", true).is_empty());
}

#[test]
fn load_reports_the_model_and_its_external_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    let entry = |key: &str, value: &str| StringStringEntryProto {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    };
    let external = TensorProto {
        name: "shape".into(),
        dims: vec![2],
        data_type: INT64,
        data_location: DataLocation::EXTERNAL.into(),
        external_data: vec![entry("location", "shape.bin")],
        ..Default::default()
    };
    let bytes = reshape_model(vec![external]);
    std::fs::write(&path, &bytes).unwrap();
    let data: Vec<u8> = [2i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.path().join("shape.bin"), data).unwrap();

    let loaded = load(Source::File(&path), &[], &[]).unwrap();
    assert_eq!(loaded.files, [path.clone(), dir.path().join("shape.bin")]);
    // The same bytes from memory have no folder to read external data from.
    let err = load_bytes(&bytes, &[]).unwrap_err().to_string();
    assert!(
        err.contains("external data is only allowed in a model loaded from a file"),
        "{err}"
    );
}

#[test]
fn read_tensor_reads_test_data_and_names_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("input_0.pb");
    let t = TensorProto {
        dims: vec![2],
        data_type: FLOAT,
        float_data: vec![1.5, -2.0],
        ..Default::default()
    };
    std::fs::write(&good, t.write_to_bytes().unwrap()).unwrap();
    assert_eq!(
        read_tensor(&good).unwrap(),
        Tensor::new(vec![2], Data::F32(vec![1.5, -2.0]))
    );

    let bad = dir.path().join("output_0.pb");
    std::fs::write(&bad, [0xff, 0xff, 0xff]).unwrap();
    let err = read_tensor(&bad).unwrap_err();
    assert!(
        matches!(&err, ImportError::TensorFile { path, .. } if path == &bad),
        "{err}"
    );
    assert!(err.to_string().contains("not a TensorProto"), "{err}");

    let missing = read_tensor(Path::new("/nonexistent/input_0.pb")).unwrap_err();
    assert!(matches!(missing, ImportError::Read { .. }), "{missing}");
}
