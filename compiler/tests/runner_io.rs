//! The generated runner reads and writes the element types numpy has no plain `.npy` type
//! for, as numpy and `ml_dtypes` write them: booleans (`|b1`), float16 (`<f2`) and a packed
//! int4 output (one element a byte). `verify` feeds it `.npy` files and compares what it
//! writes with the expected outputs, exactly.

mod common;

use common::model::{encode, model, node, tensor_type};
use onnx_protobuf::{TensorProto, ValueInfoProto};
use zant_compiler::verify::{verify, VerifyOptions};
use zant_compiler::Options;
use zant_runtime::narrow::f16_from_f32;

const BOOL: i32 = 9;
const FLOAT16: i32 = 10;
const INT4: i32 = 22;

fn value(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        type_: Some(tensor_type(elem_type, dims)).into(),
        ..Default::default()
    }
}

fn tensor(name: &str, data_type: i32, dims: &[i64], raw_data: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.into(),
        data_type,
        dims: dims.to_vec(),
        raw_data,
        ..Default::default()
    }
}

fn halves(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| f16_from_f32(v).to_le_bytes())
        .collect()
}

#[test]
fn runner_reads_and_writes_bool_float16_and_int4() {
    // keep = Not(mask); y = Where(mask, x, 0); q = Cast(x, to = int4).
    let mut cast = node("cast", "Cast", &["x"], &["q"]);
    cast.attribute.push(onnx_protobuf::AttributeProto {
        name: "to".into(),
        i: i64::from(INT4),
        type_: onnx_protobuf::attribute_proto::AttributeType::INT.into(),
        ..Default::default()
    });
    let mut m = model(
        vec![
            node("not", "Not", &["mask"], &["keep"]),
            node("where", "Where", &["mask", "x", "zero"], &["y"]),
            cast,
        ],
        vec![value("mask", BOOL, &[5]), value("x", FLOAT16, &[5])],
        vec![
            value("keep", BOOL, &[5]),
            value("y", FLOAT16, &[5]),
            value("q", INT4, &[5]),
        ],
        vec![tensor("zero", FLOAT16, &[], halves(&[0.0]))],
    );
    // Int4 needs opset 21.
    m.opset_import[0].version = 21;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), encode(&m)).unwrap();
    let set = dir.path().join("test_data_set_0");
    std::fs::create_dir(&set).unwrap();
    let x = [0.5, -1.5, 2.25, 7.0, -8.75];
    let files = [
        ("input_0", tensor("mask", BOOL, &[5], vec![1, 0, 1, 0, 1])),
        ("input_1", tensor("x", FLOAT16, &[5], halves(&x))),
        ("output_0", tensor("keep", BOOL, &[5], vec![0, 1, 0, 1, 0])),
        (
            "output_1",
            tensor("y", FLOAT16, &[5], halves(&[0.5, 0.0, 2.25, 0.0, -8.75])),
        ),
        // Truncated toward zero: 0, -1, 2, 7, -8, packed two a byte, low nibble first.
        ("output_2", tensor("q", INT4, &[5], vec![0xf0, 0x72, 0x08])),
    ];
    for (name, t) in files {
        let bytes = onnx_protobuf::Message::write_to_bytes(&t).unwrap();
        std::fs::write(set.join(format!("{name}.pb")), bytes).unwrap();
    }

    let exact = VerifyOptions {
        atol: 0.0,
        rtol: 0.0,
        ..VerifyOptions::default()
    };
    let checks = verify(dir.path(), &Options::default(), &exact).unwrap();
    let outputs: Vec<&str> = checks.iter().map(|c| c.output.as_str()).collect();
    assert_eq!(outputs, ["keep", "y", "q"]);
    for c in &checks {
        assert!(c.passed(), "{}: {} mismatches", c.output, c.mismatches);
    }
}
