//! `docs/benchmarks.md` and `docs/benchmarks.svg` are what `zantc bench` renders from
//! `docs/benchmarks.json`, and `docs/benchmarks-cores.{md,svg}` from
//! `docs/benchmarks-cores.json`, so a change to the renderer cannot leave them stale.
//! `ZANT_BLESS=1` rewrites them from the JSON; `scripts/benchmarks.sh` and
//! `scripts/benchmarks-cores.sh` measure anew.
#![cfg(feature = "cli")]

use std::path::Path;

fn check(path: &Path, expect: &str) {
    if std::env::var_os("ZANT_BLESS").is_some() {
        std::fs::write(path, expect).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(path).unwrap();
    assert!(
        actual == expect,
        "{} is stale: rerun scripts/benchmarks.sh, or ZANT_BLESS=1 cargo test --test benchmarks_doc \
         to render it again from docs/benchmarks.json",
        path.display()
    );
}

#[test]
fn benchmarks_doc_is_rendered_from_its_json() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let json = std::fs::read_to_string(docs.join("benchmarks.json")).unwrap();
    let report: zant_compiler::bench::Report = serde_json::from_str(&json).unwrap();
    check(
        &docs.join("benchmarks.md"),
        &(zant_compiler::bench::markdown(&report, Some("benchmarks.svg"))
            + &zant_compiler::bench::layers_markdown(&report, Some("benchmarks-layers.svg"))),
    );
    check(
        &docs.join("benchmarks.svg"),
        &zant_compiler::bench::svg(&report).unwrap(),
    );
}

#[test]
fn the_cores_doc_is_rendered_from_its_json() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let json = std::fs::read_to_string(docs.join("benchmarks-cores.json")).unwrap();
    let report: zant_compiler::bench::Report = serde_json::from_str(&json).unwrap();
    check(
        &docs.join("benchmarks-cores.md"),
        &(zant_compiler::bench::markdown(&report, Some("benchmarks-cores.svg"))
            + &zant_compiler::bench::layers_markdown(&report, None)),
    );
    check(
        &docs.join("benchmarks-cores.svg"),
        &zant_compiler::bench::svg(&report).unwrap(),
    );
}
