//! The committed models are exactly what `zant_models::all()` produces, and producing them is
//! deterministic.

use std::path::Path;

#[test]
fn committed_models_are_fresh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let drifted = zant_models::drift(dir).expect("reading the models folder");
    let report: Vec<String> = drifted
        .iter()
        .map(|(file_name, drift)| format!("  {file_name}: {drift}"))
        .collect();
    assert!(
        drifted.is_empty(),
        "the committed models are stale; run `cargo run -p zant-models` to refresh them:\n{}",
        report.join("\n")
    );
}

#[test]
fn generation_is_deterministic() {
    let first = zant_models::all();
    let second = zant_models::all();
    assert_eq!(first.len(), second.len());
    for ((file_name, bytes), (_, again)) in first.iter().zip(&second) {
        assert!(bytes == again, "{file_name} differs between two runs");
    }
}
