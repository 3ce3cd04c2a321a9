//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The seven float models of `../shared/models` that issue #2 requires.
pub const FLOAT_MODELS: &[&str] = &[
    "mnist-8",
    "wakeword",
    "sentiment",
    "tiny-lm",
    "debug-mlp",
    "mobilenet_v2",
    "fomo-96",
];

/// `../shared/models` beside the checkout. When it is missing the caller's test fails,
/// unless `ZANT_ALLOW_MISSING_SHARED=1`, in which case it reports itself as NOT RUN.
pub fn shared_models() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("ZANT_ALLOW_MISSING_SHARED").is_some() {
        eprintln!(
            "NOT RUN: {} is missing (ZANT_ALLOW_MISSING_SHARED is set)",
            dir.display()
        );
        return None;
    }
    panic!(
        "{} is missing: these tests need the shared reference models (set ZANT_ALLOW_MISSING_SHARED=1 to report them as not run)",
        dir.display()
    );
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo root")
}
