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
fn every_registered_op_parses_its_own_name() {
    // The table is the single source: names are unique per domain.
    let mut seen = std::collections::BTreeSet::new();
    for spec in zant_compiler::ops::REGISTRY {
        assert!(
            seen.insert((spec.domain, spec.name)),
            "{} registered twice",
            spec.name
        );
        assert!(spec.opsets.0 <= spec.opsets.1);
        assert!(spec.inputs.0 <= spec.inputs.1);
        assert!(zant_compiler::ops::lookup(spec.domain, spec.name).is_some());
    }
}
