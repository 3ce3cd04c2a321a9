//! scikit-learn models exported with skl2onnx compute what ONNX Runtime computes.
//!
//! `models/sklearn/` holds a random forest (TreeEnsembleClassifier) and a logistic
//! regression (LinearClassifier, Normalizer) trained on the digits set, each with ONNX
//! Runtime's outputs on 16 test images, all written by `scripts/sklearn-models.sh`. Each
//! model is compiled, built and run through `zant_compiler::verify`: the int64 labels must
//! be equal, the probabilities within an absolute 1e-5.

mod common;

use std::path::Path;

use zant_compiler::verify::{verify, VerifyOptions};
use zant_compiler::Options;

/// The models and their data, or `None` (reported as NOT RUN) when they are missing and
/// `ZANT_ALLOW_MISSING_SKLEARN=1` says that is expected.
fn sklearn_models() -> Option<std::path::PathBuf> {
    let dir = common::repo_root().join("models/sklearn");
    if dir.join("digits-forest.onnx").is_file() {
        return Some(dir);
    }
    if std::env::var_os("ZANT_ALLOW_MISSING_SKLEARN").is_some() {
        eprintln!(
            "NOT RUN: {} has no models (ZANT_ALLOW_MISSING_SKLEARN is set); scripts/sklearn-models.sh writes them",
            dir.display()
        );
        return None;
    }
    panic!(
        "{} has no models: run scripts/sklearn-models.sh (or set ZANT_ALLOW_MISSING_SKLEARN=1 to report this test as not run)",
        dir.display()
    );
}

fn check(dir: &Path, name: &str) {
    let model = dir.join(format!("{name}.onnx"));
    let vopts = VerifyOptions {
        data_dir: Some(dir.join(name)),
        atol: 1e-5,
        rtol: 0.0,
        ..VerifyOptions::default()
    };
    let checks = verify(&model, &Options::default(), &vopts)
        .unwrap_or_else(|e| panic!("{}: {e}", model.display()));
    let outputs: Vec<&str> = checks.iter().map(|c| c.output.as_str()).collect();
    assert_eq!(
        outputs,
        ["label", "probabilities"],
        "{name}: outputs compared"
    );
    for c in &checks {
        eprintln!(
            "{name}/{}: max_abs={:.2e} mismatches={}/{}",
            c.output, c.max_abs, c.mismatches, c.n_elems
        );
        // Labels are integers, compared exactly: no mismatch at all, not verify's 99 %.
        assert_eq!(c.mismatches, 0, "{name}/{}: {c:?}", c.output);
        assert!(c.passed(), "{name}/{}: {c:?}", c.output);
    }
}

#[test]
fn random_forest_matches_onnx_runtime() {
    if let Some(dir) = sklearn_models() {
        check(&dir, "digits-forest");
    }
}

#[test]
fn logistic_regression_matches_onnx_runtime() {
    if let Some(dir) = sklearn_models() {
        check(&dir, "digits-logistic");
    }
}
