//! Documentation generated from code stays in step with it.

mod common;

#[test]
fn ops_md_matches_the_op_table() {
    let path = common::repo_root().join("docs/ops.md");
    let want = zant_compiler::ops::markdown_table();
    if std::env::var_os("ZANT_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/ops.md is stale: run `cargo run --bin zantc -- ops > docs/ops.md` (or ZANT_BLESS=1 cargo test --test docs)"
    );
}

#[test]
fn fuzz_dictionary_matches_the_op_table() {
    let path = common::repo_root().join("compiler/fuzz/onnx.dict");
    let want = zant_compiler::ops::fuzz_dictionary();
    if std::env::var_os("ZANT_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "compiler/fuzz/onnx.dict is stale: ZANT_BLESS=1 cargo test --test docs"
    );
}
