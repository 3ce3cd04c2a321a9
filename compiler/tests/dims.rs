//! Symbolic input dims as exporters write them (`dim_value: -1`, `0`, an empty dim, a
//! `dim_param`), pinned with `--input-shape`, and graph outputs whose declared shape
//! disagrees with the computed one (a warning, not an error).

mod common;

use std::path::Path;
use std::process::Command;

use common::model::{encode, model, node, FLOAT};
use onnx_protobuf::{tensor_shape_proto, type_proto, TensorProto, TypeProto, ValueInfoProto};

/// A float value whose dims are given as ONNX spells them: `Some(n)` a `dim_value` (which
/// may be -1 or 0), `None` an empty dim with neither a value nor a parameter.
fn value_with_dims(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: d.map(tensor_shape_proto::dimension::Value::DimValue),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        type_: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(onnx_protobuf::TensorShapeProto {
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

/// `y = Relu(Conv(x, w))` with a 3×3 kernel, stride 2 and padding 1, whose input is
/// declared `[-1, 3, ?, ?]`, as a Paddle or TensorFlow export writes it, and whose output
/// is declared `[1, 4, 7, 7]`, a stale shape from another input size.
fn paddle_style_model() -> Vec<u8> {
    let w = TensorProto {
        name: "w".into(),
        dims: vec![4, 3, 3, 3],
        data_type: FLOAT,
        float_data: (0..108).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect(),
        ..Default::default()
    };
    let mut conv = node("conv", "Conv", &["x", "w"], &["c"]);
    let ints = |name: &str, v: &[i64]| onnx_protobuf::AttributeProto {
        name: name.into(),
        type_: onnx_protobuf::attribute_proto::AttributeType::INTS.into(),
        ints: v.to_vec(),
        ..Default::default()
    };
    conv.attribute = vec![
        ints("kernel_shape", &[3, 3]),
        ints("strides", &[2, 2]),
        ints("pads", &[1, 1, 1, 1]),
    ];
    let m = model(
        vec![conv, node("relu", "Relu", &["c"], &["y"])],
        vec![value_with_dims("x", &[Some(-1), Some(3), None, None])],
        vec![value_with_dims("y", &[Some(1), Some(4), Some(7), Some(7)])],
        vec![w],
    );
    encode(&m)
}

fn zantc(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zantc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("zantc runs")
}

#[test]
fn a_minus_one_and_empty_dims_take_the_pin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), paddle_style_model()).unwrap();

    // Without a pin, the error shows the declared shape and the flag to pass.
    let out = zantc(&["compile", "model.onnx", "-o", "out"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "graph input `x`: declared as [-1, 3, ?, ?]: dimensions 0, 2, 3 are symbolic; \
             pin the shape with --input-shape x=D0,3,D2,D3"
        ),
        "{stderr}"
    );

    // With one, it compiles; the stale output shape is a warning. (The API calls the
    // output `y_2`: `y` is a name the generated code keeps for itself.)
    let out = zantc(
        &[
            "compile",
            "model.onnx",
            "--input-shape",
            "x=1,3,48,192",
            "-o",
            "out",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "warning: graph output `y` is declared with shape [1, 4, 7, 7] but computed as \
             f32[1,4,24,96]"
        ),
        "{stderr}"
    );
    let model_rs = std::fs::read_to_string(dir.path().join("out/src/model.rs")).unwrap();
    assert!(
        model_rs.contains("pub const X_SHAPE: [usize; 4] = [1, 3, 48, 192];"),
        "{model_rs}"
    );
    assert!(
        model_rs.contains("pub const Y_2_SHAPE: [usize; 4] = [1, 4, 24, 96];"),
        "{model_rs}"
    );

    // A pin must still agree with the one fixed dim.
    let out = zantc(
        &[
            "compile",
            "model.onnx",
            "--input-shape",
            "x=1,4,48,192",
            "-o",
            "out",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--input-shape x: dimension 1 is fixed at 3 in the model, the pin says 4"),
        "{stderr}"
    );
}

#[test]
fn the_library_returns_the_warning() {
    let opts = zant_compiler::Options {
        input_shapes: vec!["x=2,3,8,8".parse().unwrap()],
        ..Default::default()
    };
    let bytes = paddle_style_model();
    let lowered = zant_compiler::pipeline::compile_graph(&bytes, &opts).unwrap();
    assert_eq!(
        lowered.warnings,
        [
            "graph output `y` is declared with shape [1, 4, 7, 7] but computed as f32[2,4,4,4]; \
          the generated code uses the computed shape"
        ]
    );
}
