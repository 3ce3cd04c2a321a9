//! Snapshots of the generated code for the project's models (`src/lib.rs` and the
//! `src/model.rs` it includes), so every change to emission shows up in review.

mod common;

use zant_compiler::{compile, CrateOptions, Options, RuntimeDep};

fn generated(model: &str) -> String {
    let krate = CrateOptions {
        runtime: RuntimeDep::Path("../../runtime".into()),
        standalone: false,
        ..CrateOptions::default()
    };
    let path = common::repo_root().join("models").join(model);
    let compiled = compile(&path, &Options::default(), &krate).unwrap();
    let file = |p: &str| {
        let f = compiled
            .files
            .iter()
            .find(|f| f.path.to_str() == Some(p))
            .unwrap();
        String::from_utf8(f.contents.clone()).unwrap()
    };
    format!(
        "// src/lib.rs\n{}\n// src/model.rs\n{}",
        file("src/lib.rs"),
        file("src/model.rs")
    )
}

#[test]
fn lenet_mnist() {
    insta::assert_snapshot!(generated("lenet-mnist.onnx"));
}

#[test]
fn kws_dscnn() {
    insta::assert_snapshot!(generated("kws-dscnn.onnx"));
}

#[test]
fn two_heads() {
    insta::assert_snapshot!(generated("two-heads.onnx"));
}
