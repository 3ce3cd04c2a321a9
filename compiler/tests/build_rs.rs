//! The build.rs route: a build script whose model has an unsupported op fails the build
//! with one readable message naming the node and the op, and no panic backtrace.

mod common;

use common::model::{encode, model, node, opset, value};

/// A model whose second node, `mystery`, is an op zant does not implement (a vendor op
/// in its own domain, so that no future op support makes this test moot).
fn unsupported_model() -> Vec<u8> {
    let mut mystery = node("mystery", "Frobnicate", &["h"], &["y"]);
    mystery.domain = "com.acme".into();
    let mut m = model(
        vec![node("relu", "Relu", &["x"], &["h"]), mystery],
        vec![value("x", &[1, 4])],
        vec![value("y", &[1, 4])],
        vec![],
    );
    m.opset_import.push(opset("com.acme", 2));
    encode(&m)
}

#[test]
fn builder_returns_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bad.onnx");
    std::fs::write(&model, unsupported_model()).unwrap();
    let err = zant_compiler::Builder::new()
        .model(&model)
        .out_dir(dir.path())
        .generate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.onnx"), "{err}");
    assert!(
        err.contains("node `mystery`: Frobnicate (domain com.acme, opset 2)"),
        "{err}"
    );
    assert!(
        !dir.path().join("bad.rs").exists(),
        "nothing may be written on error"
    );
}

#[test]
fn builder_configuration_errors_are_typed() {
    let err = zant_compiler::Builder::new().generate().unwrap_err();
    assert!(
        matches!(*err.source, zant_compiler::Error::NoModel),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "zant: model `?`: no model given: call Builder::model(path)"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = zant_compiler::Builder::new()
        .model(common::repo_root().join("models/two-heads.onnx"))
        .module_name("Two-Heads")
        .out_dir(dir.path())
        .generate()
        .unwrap_err();
    assert!(
        matches!(&*err.source, zant_compiler::Error::ModuleName(m) if m == "Two-Heads"),
        "{err}"
    );
}

#[test]
fn builder_reruns_when_the_model_changes() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::repo_root().join("models/two-heads.onnx");
    let generated = zant_compiler::Builder::new()
        .model(&model)
        .out_dir(dir.path())
        .generate()
        .unwrap();
    assert_eq!(generated.inputs, [model]);
}

#[test]
fn builder_writes_a_module_that_compiles_here() {
    // The module and weights land in the out dir; `include!` of it is exercised by the
    // host example (examples/host) in every workspace build.
    let dir = tempfile::tempdir().unwrap();
    let path = zant_compiler::Builder::new()
        .model(common::repo_root().join("models/two-heads.onnx"))
        .out_dir(dir.path())
        .emit_rerun_if_changed(false)
        .compile()
        .unwrap();
    let source = std::fs::read_to_string(&path).unwrap();
    assert!(source.contains("pub mod two_heads {"), "{source}");
    assert!(source.contains("#![forbid(unsafe_code)]"));
    assert!(dir.path().join("two_heads.weights.bin").is_file());
}

#[test]
fn a_failing_build_script_prints_one_readable_error() {
    let root = common::repo_root();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("bad.onnx"), unsupported_model()).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"bad-model-user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [build-dependencies]\nzant-compiler = {{ path = {:?}, default-features = false }}\n\n[workspace]\n",
            root.join("compiler").display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("build.rs"),
        "fn main() {\n    if let Err(e) = zant_compiler::Builder::new().model(\"bad.onnx\").compile() {\n        eprintln!(\"error: {e}\");\n        std::process::exit(1);\n    }\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .arg("build")
        .current_dir(dir.path())
        // A shared target folder, so the compiler builds once across runs.
        .env("CARGO_TARGET_DIR", root.join("target/build-rs-test"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build must fail:\n{stderr}");
    assert!(
        stderr.contains("node `mystery`: Frobnicate (domain com.acme, opset 2)"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.onnx"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}

#[test]
fn a_build_script_user_compiles_no_cli_crates() {
    // `examples/host` uses zant-compiler as a build-dependency without default features.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "-p",
            "zant-example-host",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .current_dir(common::repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        tree.contains("zant-compiler"),
        "the example must use the compiler:\n{tree}"
    );
    for forbidden in ["clap", "indicatif", "npyz", "tempfile", "anstream"] {
        assert!(
            !tree.lines().any(|l| l.starts_with(forbidden)),
            "a build.rs user compiles `{forbidden}`:\n{tree}"
        );
    }
}
