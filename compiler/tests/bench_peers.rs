//! `zantc bench --baseline`: a requested peer that cannot run fails the bench and says
//! why, and the report prints each peer's time and zant's ratio to it.
#![cfg(feature = "cli")]

use std::path::PathBuf;

use zant_compiler::bench::{
    self, Baseline, BenchOptions, HostFigures, Machine, ModelInfo, Outcome, Report, Run, Target,
};

fn options(peer_python: &str) -> BenchOptions {
    BenchOptions {
        opt_levels: vec!["3".parse().unwrap()],
        targets: vec![Target::Host],
        baselines: vec![Baseline::Ort, Baseline::Tract],
        peer_python: PathBuf::from(peer_python),
        work_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
        progress: false,
        ..Default::default()
    }
}

/// The error of a bench whose peers cannot run; the model is never reached.
fn error_of(peer_python: &str) -> String {
    let specs = vec!["no-such-model.onnx".parse().unwrap()];
    match bench::run(&specs, &options(peer_python), "zantc bench".into()) {
        Ok(_) => panic!("the bench ran without its peers"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_missing_peer_venv_is_an_error() {
    let message = error_of("/no/such/venv/bin/python");
    assert!(
        message.contains("the ort baseline cannot run")
            && message
                .contains("/no/such/venv/bin/python does not exist: run scripts/setup-ort.sh"),
        "{message}"
    );
}

#[test]
fn a_python_without_the_peer_is_an_error() {
    // `false` runs and prints nothing, as a Python without the module would fail.
    let message = error_of("/bin/false");
    assert!(
        message.contains("the ort baseline cannot run")
            && message.contains("cannot import `onnxruntime`"),
        "{message}"
    );
}

#[test]
fn the_report_prints_every_peer_and_the_ratios() {
    let figures = HostFigures {
        exe_bytes: 478_000,
        text_bytes: 366_000,
        rodata_bytes: 55_000,
        data_bytes: 2_400,
        bss_bytes: 34_900,
        arena_bytes: 31_360,
        weight_bytes: 23_984,
        instructions: Some(1_475_229),
        time_us: 100.0,
        time_runs: 1000,
        heap_allocs: 0,
        heap_bytes: 0,
        heap_peak_bytes: 0,
        heap_leaked_bytes: 0,
        peak_rss_bytes: 2_100_000,
        matches_reference: Some(true),
        ort_time_us: Some(50.0),
        tract_time_us: None,
        litert_time_us: Some(40.0),
        attribution: None,
    };
    let report = Report {
        zantc_version: "0.1.0".into(),
        date: "2026-01-01 00:00 UTC".into(),
        command: "zantc bench --baseline ort,tract,litert --no-amx".into(),
        machine: Machine {
            onnxruntime: Some("1.31.1".into()),
            tract: Some("0.23.9".into()),
            litert: Some("2.3.0".into()),
            host_amx: Some("forced off (`--no-amx`)".into()),
            ..Machine::default()
        },
        models: vec![ModelInfo {
            name: "wakeword".into(),
            path: "wakeword".into(),
            inputs: Vec::new(),
            input_source: "test_data_set_0".into(),
            arena_bytes: 31_360,
            weight_bytes: 23_984,
            error: None,
            peer_errors: vec!["tract: tract_bench.py failed: TractError: no Loop".into()],
        }],
        runs: vec![Run {
            model: "wakeword".into(),
            opt_level: "3".parse().unwrap(),
            target: Target::Host,
            outcome: Outcome::Host(figures),
            layers: None,
            layers_error: None,
        }],
    };
    let markdown = bench::markdown(&report, None);
    assert!(
        markdown.contains(
            "| ORT (µs) | zant/ORT | tract (µs) | zant/tract | LiteRT (µs) | zant/LiteRT |"
        ),
        "{markdown}"
    );
    // zant 100 µs against ORT 50 µs and LiteRT 40 µs; tract failed on the model, and a
    // note says why.
    assert!(
        markdown.contains("| 50.0 | 2.00 | fails | — | 40.0 | 2.50 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("- wakeword: tract: tract_bench.py failed: TractError: no Loop"),
        "{markdown}"
    );
    assert!(markdown.contains("| tract | 0.23.9 |"), "{markdown}");
    assert!(markdown.contains("| LiteRT | 2.3.0 |"), "{markdown}");
    assert!(
        markdown.contains("| host AMX tiles | forced off (`--no-amx`) |"),
        "{markdown}"
    );
}
