//! Graph inputs bound at compile time: `--bind NAME=VALUES|FILE.npy` on compile, inspect
//! and verify, `Builder::bind`, and the errors for a wrong name, count or type.

mod common;

use std::path::Path;
use std::process::Command;

use common::model::{encode, model, node, value, FLOAT};
use onnx_protobuf::{Message, TensorProto, ValueInfoProto};

/// `TensorProto.DataType.INT64`.
const INT64: i32 = 7;

fn i64_value(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        type_: Some(common::model::tensor_type(INT64, dims)).into(),
        ..Default::default()
    }
}

/// `y = Reshape(x, shape) * gain`, with `x: f32[1,4]`, `shape: i64[2]` (which the
/// compiler needs as a constant) and `gain: f32[]`.
fn reshape_gain_model() -> Vec<u8> {
    encode(&model(
        vec![
            node("reshape", "Reshape", &["x", "shape"], &["r"]),
            node("mul", "Mul", &["r", "gain"], &["y"]),
        ],
        vec![
            value("x", &[1, 4]),
            i64_value("shape", &[2]),
            value("gain", &[]),
        ],
        vec![value("y", &[2, 2])],
        vec![],
    ))
}

fn zantc(args: &[&str], dir: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zantc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("zantc runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `.npy` file of `i64` values in numpy's layout.
fn npy_i64(values: &[i64]) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend((header.len() as u16).to_le_bytes());
    file.extend(header.as_bytes());
    file.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    file
}

#[test]
fn compile_and_inspect_bind_inputs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), reshape_gain_model()).unwrap();
    std::fs::write(dir.path().join("shape.npy"), npy_i64(&[2, 2])).unwrap();

    // Unbound, the shape stops the compiler, which names the input to bind.
    let (ok, _, stderr) = zantc(&["compile", "model.onnx", "-o", "out"], dir.path());
    assert!(!ok);
    assert!(stderr.contains("node `reshape`"), "{stderr}");

    // Bound, the shape leaves the API and `gain` stays an input.
    let (ok, _, stderr) = zantc(
        &["compile", "model.onnx", "--bind", "shape=2,2", "-o", "out"],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let model_rs = std::fs::read_to_string(dir.path().join("out/src/model.rs")).unwrap();
    assert!(model_rs.contains("pub struct Inputs"), "{model_rs}");
    assert!(model_rs.contains("pub gain: [f32; 1]"), "{model_rs}");
    assert!(!model_rs.contains("pub shape:"), "{model_rs}");

    // Both bound: one input, and the Mul by a constant is all that is left.
    let (ok, stdout, stderr) = zantc(
        &[
            "inspect",
            "model.onnx",
            "--bind",
            "shape=shape.npy",
            "--bind",
            "gain=0.5",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("%shape"), "{stdout}");
    assert!(
        !stdout.contains("Input(%gain") && stdout.contains("Mul"),
        "{stdout}"
    );
    let (ok, _, stderr) = zantc(
        &[
            "compile",
            "model.onnx",
            "--bind",
            "shape=shape.npy",
            "--bind",
            "gain=0.5",
            "-o",
            "out2",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let model_rs = std::fs::read_to_string(dir.path().join("out2/src/model.rs")).unwrap();
    assert!(
        model_rs.contains("pub fn predict(&mut self, x: &[f32; 4], y_2: &mut [f32; 4])"),
        "{model_rs}"
    );
}

#[test]
fn wrong_bindings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), reshape_gain_model()).unwrap();
    std::fs::write(dir.path().join("floats.npy"), {
        let mut f = npy_i64(&[0, 0]);
        // Same size, another element type: `<f8`.
        let at = f.windows(3).position(|w| w == b"<i8").unwrap();
        f[at..at + 3].copy_from_slice(b"<f8");
        f
    })
    .unwrap();
    let check = |bind: &str, expect: &str| {
        let (ok, _, stderr) = zantc(
            &["compile", "model.onnx", "--bind", bind, "-o", "out"],
            dir.path(),
        );
        assert!(!ok, "--bind {bind} must fail");
        assert!(stderr.contains(expect), "--bind {bind}: {stderr}");
    };
    check(
        "nope=1",
        "binding graph input `nope` to a value: the model has no input of that name (inputs: x, shape, gain)",
    );
    check(
        "shape=1,2,3",
        "binding graph input `shape` to a value: 3 value(s) given, but the input is declared with shape [2]",
    );
    check(
        "shape=1.5,2",
        "`1.5` is not an integer, as the input's i64 needs",
    );
    check(
        "shape=floats.npy",
        "the value is f64 but the input is declared i64",
    );
    check("shape=missing.npy", "cannot read `missing.npy`");
    check("shape", "only `zantc verify` has");
    let (ok, _, stderr) = zantc(
        &[
            "compile",
            "model.onnx",
            "--bind",
            "shape=2,2",
            "--input-shape",
            "shape=2",
            "-o",
            "out",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(
        stderr.contains("--input-shape shape: the input is bound to a value (--bind)"),
        "{stderr}"
    );
}

#[test]
fn verify_binds_from_the_test_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), reshape_gain_model()).unwrap();
    let set = dir.path().join("test_data_set_0");
    std::fs::create_dir(&set).unwrap();
    let write = |name: &str, dims: &[i64], data_type: i32, floats: &[f32], ints: &[i64]| {
        let t = TensorProto {
            dims: dims.to_vec(),
            data_type,
            float_data: floats.to_vec(),
            int64_data: ints.to_vec(),
            ..Default::default()
        };
        std::fs::write(set.join(name), t.write_to_bytes().unwrap()).unwrap();
    };
    write("input_0.pb", &[1, 4], FLOAT, &[1.0, 2.0, 3.0, 4.0], &[]);
    write("input_1.pb", &[2], INT64, &[], &[2, 2]);
    write("input_2.pb", &[], FLOAT, &[3.0], &[]);
    write("output_0.pb", &[2, 2], FLOAT, &[3.0, 6.0, 9.0, 12.0], &[]);

    // `--bind shape` takes the value from test_data_set_0/input_1.pb; the runner is fed
    // input_0.pb and input_2.pb, the inputs left.
    let (ok, stdout, stderr) = zantc(&["verify", ".", "--bind", "shape"], dir.path());
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("verify: all outputs match"), "{stdout}");

    // Data sets that disagree on a bound value are refused.
    let other = dir.path().join("test_data_set_1");
    std::fs::create_dir(&other).unwrap();
    for f in ["input_0.pb", "input_2.pb", "output_0.pb"] {
        std::fs::copy(set.join(f), other.join(f)).unwrap();
    }
    let t = TensorProto {
        dims: vec![2],
        data_type: INT64,
        int64_data: vec![4, 1],
        ..Default::default()
    };
    std::fs::write(other.join("input_1.pb"), t.write_to_bytes().unwrap()).unwrap();
    let (ok, _, stderr) = zantc(&["verify", ".", "--bind", "shape"], dir.path());
    assert!(!ok);
    assert!(
        stderr.contains("--bind shape: ") && stderr.contains("the data sets must agree"),
        "{stderr}"
    );
}

#[test]
fn the_builder_binds_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("gain.onnx");
    std::fs::write(&model, reshape_gain_model()).unwrap();
    std::fs::write(dir.path().join("shape.npy"), npy_i64(&[4, 1])).unwrap();
    let generated = zant_compiler::Builder::new()
        .model(&model)
        .out_dir(dir.path())
        .bind("shape", dir.path().join("shape.npy").to_str().unwrap())
        .bind("gain", "2")
        .generate()
        .unwrap();
    assert!(
        generated
            .source
            .contains("pub const Y_2_SHAPE: [usize; 2] = [4, 1];"),
        "{}",
        generated.source
    );
    assert!(!generated.source.contains("gain:"), "{}", generated.source);
    // The bound file is among the files the build reruns on.
    assert_eq!(generated.inputs, [model, dir.path().join("shape.npy")]);

    let err = zant_compiler::Builder::new()
        .model(dir.path().join("gain.onnx"))
        .out_dir(dir.path())
        .bind("shape", "2,2")
        .bind("gain", "x")
        .generate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("binding graph input `gain` to a value: `x` is not a number"),
        "{err}"
    );
}
