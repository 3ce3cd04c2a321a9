//! `generated-examples/` is zantc's committed output for the models in `models/`. This test
//! regenerates it and fails on any difference; `ZANT_BLESS=1` rewrites the files instead.
//! The examples are workspace members, so `cargo build` proves they compile.

mod common;

use std::path::Path;

use zant_compiler::{compile, Compiled, CrateOptions, Options, RuntimeDep};

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

#[test]
fn compiling_twice_is_byte_identical() {
    let root = common::repo_root();
    let model = root.join("models/kws-dscnn.onnx");
    let a = compile_example(&model).unwrap().files;
    let b = compile_example(&model).unwrap().files;
    assert_eq!(a, b);
    let _ = Path::new("");
}
