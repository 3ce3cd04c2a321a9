//! Bad input gets one clear error, never a panic: each case asserts the message.

mod common;

use common::model::{encode, model, node, opset, value};
use onnx_protobuf::tensor_proto::DataLocation;
use onnx_protobuf::{
    tensor_shape_proto, type_proto, ModelProto, StringStringEntryProto, TensorProto,
};
use zant_compiler::{compile, CrateOptions, Options};

/// An external data entry (`location`, `offset`, …) of a `TensorProto`.
fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    }
}

/// Writes `bytes` as `model.onnx` in a fresh folder, compiles it and returns the error text.
fn check_bytes(bytes: &[u8], setup: impl FnOnce(&std::path::Path), expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, bytes).unwrap();
    setup(dir.path());
    let err = compile(&path, &Options::default(), &CrateOptions::default())
        .expect_err("the model must be refused")
        .to_string();
    for e in expect {
        assert!(err.contains(e), "error {err:?} should mention {e:?}");
    }
}

fn check(m: ModelProto, expect: &[&str]) {
    check_bytes(&encode(&m), |_| {}, expect);
}

fn relu_model() -> ModelProto {
    model(
        vec![node("r", "Relu", &["x"], &["y"])],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![],
    )
}

#[test]
fn truncated_file() {
    let bytes = encode(&relu_model());
    check_bytes(
        &bytes[..bytes.len() / 2],
        |_| {},
        &["is not an ONNX model", "truncated"],
    );
}

#[test]
fn html_page() {
    check_bytes(
        b"<!DOCTYPE html><html><body>Not found</body></html>",
        |_| {},
        &["HTML"],
    );
}

#[test]
fn empty_file() {
    check_bytes(b"", |_| {}, &["empty"]);
}

#[test]
fn huge_dim() {
    let m = model(
        vec![node("r", "Relu", &["x"], &["y"])],
        vec![value("x", &[1 << 62, 4])],
        vec![value("y", &[1, 4])],
        vec![],
    );
    check(m, &["graph input `x`", "too many elements"]);
}

#[test]
fn huge_initializer_dim() {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![1 << 62],
        data_type: 1,
        ..Default::default()
    };
    let m = model(
        vec![node("a", "Add", &["x", "w"], &["y"])],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![w],
    );
    check(m, &["initializer `w`", "too many elements"]);
}

#[test]
fn dangling_input() {
    let m = model(
        vec![node("add", "Add", &["x", "nowhere"], &["y"])],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![],
    );
    check(
        m,
        &[
            "node `add`",
            "`nowhere`",
            "no node, initializer or graph input",
        ],
    );
}

#[test]
fn cycle() {
    let m = model(
        vec![
            node("a", "Add", &["x", "c"], &["b"]),
            node("r", "Relu", &["b"], &["c"]),
        ],
        vec![value("x", &[1, 4])],
        vec![value("c", &[1, 4])],
        vec![],
    );
    check(m, &["cycle", "a", "r"]);
}

#[test]
fn external_data_escaping_the_folder() {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![1, 4],
        data_type: 1,
        data_location: DataLocation::EXTERNAL.into(),
        external_data: vec![entry("location", "../secret.bin")],
        ..Default::default()
    };
    let m = model(
        vec![node("a", "Add", &["x", "w"], &["y"])],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![w],
    );
    check(m, &["initializer `w`", "../secret.bin", "refused"]);
}

#[test]
fn external_data_absolute_path() {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![1, 4],
        data_type: 1,
        data_location: DataLocation::EXTERNAL.into(),
        external_data: vec![entry("location", "/etc/passwd")],
        ..Default::default()
    };
    let m = model(
        vec![node("a", "Add", &["x", "w"], &["y"])],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![w],
    );
    check(m, &["refused"]);
}

#[test]
fn external_data_inside_the_folder_is_read() {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![1, 4],
        data_type: 1,
        data_location: DataLocation::EXTERNAL.into(),
        external_data: vec![entry("location", "weights.bin"), entry("offset", "4")],
        ..Default::default()
    };
    let m = model(
        vec![node("a", "Add", &["x", "w"], &["y"])],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![w],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, encode(&m)).unwrap();
    let data: Vec<u8> = [9.0f32, 1.0, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    std::fs::write(dir.path().join("weights.bin"), data).unwrap();
    let compiled = compile(&path, &Options::default(), &CrateOptions::default()).unwrap();
    let weights = &compiled
        .files
        .iter()
        .find(|f| f.path.ends_with("weights.bin"))
        .unwrap()
        .contents;
    let floats: Vec<f32> = weights[..16]
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(floats, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn unsupported_ops_are_listed_together() {
    let mut m = model(
        vec![
            node("normalize", "StringNormalizer", &["x"], &["h"]),
            node("r", "Relu", &["h"], &["h2"]),
            node("custom", "Frobnicate", &["h2"], &["y"]),
        ],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![],
    );
    m.graph.as_mut().unwrap().node[2].domain = "com.example".into();
    m.opset_import.push(opset("com.example", 1));
    check(
        m,
        &[
            "2 unsupported op(s)",
            "node `normalize`: StringNormalizer (domain ai.onnx, opset 13)",
            "node `custom`: Frobnicate (domain com.example, opset 1)",
        ],
    );
}

#[test]
fn symbolic_dim_needs_a_pin() {
    let mut m = relu_model();
    let input = &mut m.graph.as_mut().unwrap().input[0];
    if let Some(type_proto::Value::TensorType(t)) = input.type_.as_mut().unwrap().value.as_mut() {
        t.shape.as_mut().unwrap().dim[0].value = Some(
            tensor_shape_proto::dimension::Value::DimParam("batch".into()),
        );
    }
    check(
        m.clone(),
        &[
            "declared as [batch, 4]",
            "dimension 0 is symbolic",
            "--input-shape x=D0,4",
        ],
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, encode(&m)).unwrap();
    let pinned = |s: &str| {
        let opts = Options {
            input_shapes: vec![s.parse().unwrap()],
            ..Options::default()
        };
        compile(&path, &opts, &CrateOptions::default())
    };
    // A pin that agrees with the fixed dim is fine; one that contradicts it is an error.
    assert!(pinned("x=1,4").is_ok());
    let err = pinned("x=1,5").unwrap_err().to_string();
    assert!(err.contains("fixed at 4"), "{err}");
    let err = pinned("nope=1,4").unwrap_err().to_string();
    assert!(err.contains("no input of that name"), "{err}");
}

#[test]
fn wrong_arity_names_node_and_opset() {
    let m = model(
        vec![node("r", "Relu", &["x", "x"], &["y"])],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![],
    );
    check(
        m,
        &[
            "node `r`: Relu (domain ai.onnx, opset 13): has 2 inputs",
            "has 2 inputs; the op takes 1",
        ],
    );
}

#[test]
fn raw_data_of_the_wrong_length() {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![1, 4],
        data_type: 1,
        raw_data: vec![0; 7],
        ..Default::default()
    };
    let m = model(
        vec![node("a", "Add", &["x", "w"], &["y"])],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![w],
    );
    check(m, &["initializer `w`", "raw_data holds 7 bytes"]);
}

#[test]
fn shapes_that_do_not_broadcast() {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![3],
        data_type: 1,
        float_data: vec![1.0, 2.0, 3.0],
        ..Default::default()
    };
    let m = model(
        vec![node("a", "Add", &["x", "w"], &["y"])],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![w],
    );
    check(
        m,
        &[
            "node `a`: Add (domain ai.onnx, opset 13): shapes",
            "do not broadcast",
        ],
    );
}
