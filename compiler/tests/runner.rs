//! The generated `.npy` runner reads what numpy writes and writes what numpy reads:
//! booleans as `|b1`, arrays in Fortran order, and `zantc verify` on boolean test data.

mod common;

use std::path::Path;
use std::process::Command;

use common::model::{encode, model, node, value, FLOAT};
use onnx_protobuf::{type_proto, Message, TensorProto, TypeProto, ValueInfoProto};
use zant_compiler::verify::{build_runner, verify, VerifyOptions};
use zant_compiler::{compile, CrateOptions, Options};

/// `TensorProto.DataType.BOOL`.
const BOOL: i32 = 9;

fn bool_value(name: &str, dims: &[i64]) -> ValueInfoProto {
    let mut v = value(name, dims);
    if let Some(TypeProto {
        value: Some(type_proto::Value::TensorType(t)),
        ..
    }) = v.type_.as_mut()
    {
        t.elem_type = BOOL;
    }
    v
}

/// `y = Where(mask, x, 0)` and `not_mask = Not(mask)`, with `mask: bool[2,3]` and
/// `x: f32[2,3]`: a boolean input and a boolean output.
fn mask_model() -> Vec<u8> {
    let zero = TensorProto {
        name: "zero".into(),
        data_type: FLOAT,
        float_data: vec![0.0],
        ..Default::default()
    };
    encode(&model(
        vec![
            node("where", "Where", &["mask", "x", "zero"], &["y"]),
            node("not", "Not", &["mask"], &["not_mask"]),
        ],
        vec![bool_value("mask", &[2, 3]), value("x", &[2, 3])],
        vec![value("y", &[2, 3]), bool_value("not_mask", &[2, 3])],
        vec![zero],
    ))
}

/// A `.npy` file exactly as `numpy.save` writes it (format 1.0, the header padded with
/// spaces to a multiple of 64 bytes and ended by a newline).
fn numpy_file(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let fortran = if fortran { "True" } else { "False" };
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({}), }}",
        dims.join(", ")
    );
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend((header.len() as u16).to_le_bytes());
    file.extend(header.as_bytes());
    file.extend(data);
    file
}

/// The header text and the data bytes of a `.npy` file.
fn npy_parts(path: &Path) -> (String, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    (
        String::from_utf8_lossy(&bytes[10..10 + len]).into_owned(),
        bytes[10 + len..].to_vec(),
    )
}

fn target_dir() -> std::path::PathBuf {
    VerifyOptions::default().target_dir
}

#[test]
fn the_runner_reads_and_writes_numpy_booleans() {
    // The header numpy 2.4 writes for `np.save(f, np.array([[True, False, True],
    // [False, False, True]]))`, byte for byte.
    let mask = [1u8, 0, 1, 0, 0, 1];
    let mask_npy = numpy_file("|b1", false, &[2, 3], &mask);
    let numpy = [
        &b"\x93NUMPY\x01\x00v\x00{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }"[..],
        &[b' '; 58],
        b"\n\x01\x00\x01\x00\x00\x01",
    ]
    .concat();
    assert_eq!(mask_npy, numpy, "the helper writes what numpy writes");

    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("mask.onnx");
    std::fs::write(&model_path, mask_model()).unwrap();
    let compiled = compile(&model_path, &Options::default(), &CrateOptions::default()).unwrap();
    let crate_dir = dir.path().join("crate");
    zant_compiler::write_files(&crate_dir, &compiled.files).unwrap();
    let runner = build_runner(&crate_dir, &target_dir()).unwrap();

    // `x` in Fortran order, as numpy saves a transposed array: the values 0..6 of the
    // C-ordered `[[0, 1, 2], [3, 4, 5]]` stored column by column.
    let x: Vec<u8> = [0f32, 3.0, 1.0, 4.0, 2.0, 5.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(dir.path().join("mask.npy"), &mask_npy).unwrap();
    std::fs::write(
        dir.path().join("x.npy"),
        numpy_file("<f4", true, &[2, 3], &x),
    )
    .unwrap();
    let out = Command::new(&runner)
        .args(["mask.npy", "x.npy", "-o", "out"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (header, data) = npy_parts(&dir.path().join("out/output_0.npy"));
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let y: Vec<f32> = data
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(y, [0.0, 0.0, 2.0, 0.0, 0.0, 5.0]);
    let (header, data) = npy_parts(&dir.path().join("out/output_1.npy"));
    assert!(header.contains("'descr': '|b1'"), "{header}");
    // npyz writes the shape as `(2, 3, )`, which numpy reads as `(2, 3)`.
    assert!(header.contains("'shape': (2, 3"), "{header}");
    assert_eq!(data, [0, 1, 0, 1, 1, 0]);

    // A mask of bytes (`|u1`) is read as booleans too; a float file for it is refused
    // with the input's name.
    std::fs::write(
        dir.path().join("mask_u1.npy"),
        numpy_file("|u1", false, &[2, 3], &[0, 0, 0, 1, 1, 1]),
    )
    .unwrap();
    let out = Command::new(&runner)
        .args(["mask_u1.npy", "x.npy", "-o", "out_u1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let (_, data) = npy_parts(&dir.path().join("out_u1/output_1.npy"));
    assert_eq!(data, [1, 1, 1, 0, 0, 0]);
    let out = Command::new(&runner)
        .args(["x.npy", "x.npy", "-o", "out_bad"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("input `mask`"), "{stderr}");
}

#[test]
fn verify_runs_boolean_test_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.onnx"), mask_model()).unwrap();
    let set = dir.path().join("test_data_set_0");
    std::fs::create_dir(&set).unwrap();
    let tensor = |data_type: i32, floats: &[f32], ints: &[i32]| TensorProto {
        dims: vec![2, 3],
        data_type,
        float_data: floats.to_vec(),
        int32_data: ints.to_vec(),
        ..Default::default()
    };
    let write = |name: &str, t: TensorProto| {
        std::fs::write(set.join(name), t.write_to_bytes().unwrap()).unwrap();
    };
    write("input_0.pb", tensor(BOOL, &[], &[1, 1, 0, 0, 1, 0]));
    write(
        "input_1.pb",
        tensor(FLOAT, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[]),
    );
    write(
        "output_0.pb",
        tensor(FLOAT, &[1.0, 2.0, 0.0, 0.0, 5.0, 0.0], &[]),
    );
    write("output_1.pb", tensor(BOOL, &[], &[0, 0, 1, 1, 0, 1]));
    let vopts = VerifyOptions {
        target_dir: target_dir(),
        ..VerifyOptions::default()
    };
    let checks = verify(dir.path(), &Options::default(), &vopts).unwrap();
    assert_eq!(checks.len(), 2);
    for c in &checks {
        assert!(c.passed(), "{c:?}");
        assert_eq!(c.n_elems, 6);
    }

    // A wrong boolean reference is caught element by element.
    write("output_1.pb", tensor(BOOL, &[], &[1, 0, 1, 1, 0, 1]));
    let checks = verify(dir.path(), &Options::default(), &vopts).unwrap();
    assert_eq!(checks[1].mismatches, 1);
}

/// `TensorProto.DataType.INT64`.
const INT64: i32 = 7;

/// `y = NonZero(x)` with `x: f32[2,3]`: an output whose length depends on the data.
fn nonzero_model() -> Vec<u8> {
    let mut y = value("y", &[2, 6]);
    if let Some(TypeProto {
        value: Some(type_proto::Value::TensorType(t)),
        ..
    }) = y.type_.as_mut()
    {
        t.elem_type = INT64;
    }
    encode(&model(
        vec![node("nz", "NonZero", &["x"], &["y"])],
        vec![value("x", &[2, 3])],
        vec![y],
        vec![],
    ))
}

#[test]
fn the_runner_writes_a_data_dependent_output_at_its_length_and_refuses_past_its_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("nonzero.onnx");
    std::fs::write(&model_path, nonzero_model()).unwrap();
    let x: Vec<u8> = [0f32, 3.0, 0.0, -1.0, 0.0, 5.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(
        dir.path().join("x.npy"),
        numpy_file("<f4", false, &[2, 3], &x),
    )
    .unwrap();
    let run = |name: &str, opts: &Options| {
        let compiled = compile(&model_path, opts, &CrateOptions::default()).unwrap();
        let model_rs = compiled
            .files
            .iter()
            .find(|f| f.path.ends_with("model.rs"))
            .map(|f| String::from_utf8_lossy(&f.contents).into_owned())
            .unwrap();
        assert!(model_rs.contains("pub y_count: usize"), "{model_rs}");
        let crate_dir = dir.path().join(name);
        zant_compiler::write_files(&crate_dir, &compiled.files).unwrap();
        let runner = build_runner(&crate_dir, &target_dir()).unwrap();
        Command::new(&runner)
            .args(["x.npy", "-o", name])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };

    // The capacity is every element: 6 columns; three are non-zero.
    let out = run("full", &Options::default());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (header, data) = npy_parts(&dir.path().join("full/output_0.npy"));
    assert!(header.contains("'shape': (2, 3"), "{header}");
    let y: Vec<i64> = data
        .chunks(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(y, [0, 1, 1, 1, 0, 2]);

    // Capped at 2 by `--max-len`, the same input is an error, not a panic.
    let capped = Options {
        max_lens: vec!["y=2".parse().unwrap()],
        ..Options::default()
    };
    let out = run("capped", &capped);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("node `nz`: the result has more than 2 entries"),
        "{stderr}"
    );
}
