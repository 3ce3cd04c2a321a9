//! `generated-examples/` is zantc's committed output for the models in `models/`. This test
//! regenerates it and fails on any difference; `ZANT_BLESS=1` rewrites the files instead.
//! The examples are workspace members, so `cargo build` proves they compile, and their
//! outputs are compared with ONNX Runtime's.

mod common;

use std::path::Path;

use zant_compiler::pipeline::compile_graph;
use zant_compiler::verify::{verify, VerifyOptions};
use zant_compiler::{compile, BindValue, Binding, Compiled, CrateOptions, Options, RuntimeDep};

/// Compiles an example: the runtime by relative path, inside the workspace.
fn compile_example(model: &Path) -> Result<Compiled, zant_compiler::Error> {
    let krate = CrateOptions {
        runtime: RuntimeDep::Path("../../runtime".into()),
        standalone: false,
        ..CrateOptions::default()
    };
    compile(model, &Options::default(), &krate)
}

#[test]
fn generated_examples_are_fresh() {
    let root = common::repo_root();
    let bless = std::env::var_os("ZANT_BLESS").is_some();
    let mut stale = Vec::new();
    let mut n_models = 0;
    let mut models: Vec<_> = std::fs::read_dir(root.join("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    for model in models {
        n_models += 1;
        let compiled =
            compile_example(&model).unwrap_or_else(|e| panic!("{}: {e}", model.display()));
        let dir = root.join("generated-examples").join(&compiled.crate_name);
        for f in &compiled.files {
            let path = dir.join(&f.path);
            if std::fs::read(&path).ok().as_deref() != Some(&f.contents[..]) {
                stale.push(
                    path.strip_prefix(&root)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                );
            }
        }
        if bless {
            zant_compiler::write_files(&dir, &compiled.files).unwrap();
        }
    }
    assert!(n_models >= 3, "expected the models in models/");
    assert!(
        bless || stale.is_empty(),
        "generated-examples is stale: {stale:?}\nrun `ZANT_BLESS=1 cargo test -p zant-compiler --test generated_examples` and commit the result"
    );
}

/// The examples compute what ONNX Runtime computes: each model of `models/` with a folder
/// `models/test-data/<name>/` (ONNX Runtime 1.31.1's outputs on seeded inputs, written by
/// `scripts/model_references.py` in the venv of `scripts/setup-ort.sh`) is compiled, built
/// and run through `zant_compiler::verify`, within atol 1e-4 and rtol 1e-3 (verify's
/// defaults, the tolerance of `../shared/models`).
#[test]
fn examples_match_onnx_runtime() {
    let root = common::repo_root();
    let references = root.join("models/test-data");
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    let mut models: Vec<_> = std::fs::read_dir(root.join("models"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    for model in models {
        let name = model.file_stem().unwrap().to_string_lossy().into_owned();
        let data_dir = references.join(&name);
        if !data_dir.is_dir() {
            continue;
        }
        let vopts = VerifyOptions {
            data_dir: Some(data_dir),
            ..VerifyOptions::default()
        };
        let checks = verify(&model, &Options::default(), &vopts)
            .unwrap_or_else(|e| panic!("{}: {e}", model.display()));
        assert!(!checks.is_empty(), "{name}: nothing was compared");
        for c in checks {
            eprintln!(
                "{name}/{}: max_abs={:.2e} max_rel={:.2e} mismatches={}/{}",
                c.output, c.max_abs, c.max_rel, c.mismatches, c.n_elems
            );
            if !c.passed() {
                failures.push(format!("{name}/{}: {} mismatches", c.output, c.mismatches));
            }
        }
        checked.push(name);
    }
    // The recurrent example exists to be checked against ONNX Runtime; the others were
    // given references at the same time.
    for name in [
        "half-cnn",
        "kws-crnn",
        "kws-dscnn",
        "lenet-mnist",
        "mode-switch",
        "two-heads",
    ] {
        assert!(
            checked.iter().any(|c| c == name),
            "models/test-data/{name} is missing: run scripts/model_references.py"
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `mode-switch` with its flag bound (`--bind high_accuracy`, the value read from the data
/// set as `zantc verify --bind high_accuracy` reads it): only the taken branch is compiled,
/// with no gate and without the other branch's weights, and it still matches ONNX
/// Runtime on that mode's data set.
#[test]
fn a_bound_mode_matches_onnx_runtime() {
    let root = common::repo_root();
    let model = root.join("models/mode-switch.onnx");
    let references = root.join("models/test-data/mode-switch");
    let unbound = compile_graph(&model, &Options::default()).unwrap();
    let ir = zant_compiler::ir::text::print(&unbound.graph);
    assert!(
        ir.contains("branch=\"then\"") && ir.contains("guarded_by"),
        "{ir}"
    );
    for (set, value, kept, dropped) in [
        ("test_data_set_0", "true", "deep1", "fast_summary"),
        ("test_data_set_1", "false", "fast_summary", "deep1"),
    ] {
        let bound = |value: BindValue| Options {
            bindings: vec![Binding::new("high_accuracy", value)],
            ..Options::default()
        };
        let lowered = compile_graph(&model, &bound(BindValue::from(value))).unwrap();
        let ir = zant_compiler::ir::text::print(&lowered.graph);
        assert!(!ir.contains("guarded_by") && !ir.contains("If("), "{ir}");
        assert!(ir.contains(kept) && !ir.contains(dropped), "{ir}");
        assert_eq!(lowered.graph.inputs.len(), 1, "the flag leaves the API");
        assert!(lowered.plan.weight_bytes <= unbound.plan.weight_bytes);
        eprintln!(
            "mode-switch high_accuracy={value}: weights {} B (unbound {} B), arena {} B (unbound {} B)",
            lowered.plan.weight_bytes,
            unbound.plan.weight_bytes,
            lowered.plan.arena_bytes,
            unbound.plan.arena_bytes
        );

        let data = tempfile::tempdir().unwrap();
        let copy = data.path().join("test_data_set_0");
        std::fs::create_dir(&copy).unwrap();
        for f in std::fs::read_dir(references.join(set)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
        }
        let vopts = VerifyOptions {
            data_dir: Some(data.path().to_path_buf()),
            ..VerifyOptions::default()
        };
        let checks = verify(&model, &bound(BindValue::TestData), &vopts).unwrap();
        assert_eq!(checks.len(), 1);
        assert!(checks[0].passed(), "high_accuracy={value}: {:?}", checks[0]);
    }
}

#[test]
fn compiling_twice_is_byte_identical() {
    let root = common::repo_root();
    let model = root.join("models/kws-dscnn.onnx");
    let a = compile_example(&model).unwrap().files;
    let b = compile_example(&model).unwrap().files;
    assert_eq!(a, b);
    let _ = Path::new("");
}
