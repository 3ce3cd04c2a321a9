//! `zantc compare` as CI uses it: exit status 1 when a figure regressed beyond the
//! threshold, 0 otherwise, with the verdict on the first line.
#![cfg(feature = "cli")]

use std::path::Path;
use std::process::Command;

use zant_compiler::bench::{
    Attribution, HostFigures, Machine, McuFigures, Outcome, Region, Report, Run, Target,
};

fn host(time_us: f64, heap_allocs: u64) -> Outcome {
    Outcome::Host(HostFigures {
        exe_bytes: 478_000,
        text_bytes: 366_000,
        rodata_bytes: 55_000,
        data_bytes: 2_400,
        bss_bytes: 34_900,
        arena_bytes: 31_360,
        weight_bytes: 23_984,
        instructions: Some(3_041_713),
        time_us,
        time_runs: 1000,
        heap_allocs,
        heap_bytes: 0,
        heap_peak_bytes: 0,
        heap_leaked_bytes: 0,
        peak_rss_bytes: 2_100_000,
        matches_reference: Some(true),
        ort_time_us: None,
        tract_time_us: None,
        litert_time_us: None,
        attribution: None,
    })
}

fn cortex_m7(instructions: u64) -> Outcome {
    cortex_m7_split(instructions, None)
}

/// A Cortex-M7 run whose image is split by owner, with `runtime_bytes` of runtime code.
fn cortex_m7_split(instructions: u64, runtime_bytes: Option<u64>) -> Outcome {
    let attribution = runtime_bytes.map(|runtime_bytes| Attribution {
        image_bytes: 24_000 + 600 + runtime_bytes + 3_000,
        weights_bytes: 24_000,
        model_bytes: 600,
        runtime_bytes,
        fmt_panic_bytes: 0,
        harness_bytes: 3_000,
        reachable_fmt_panic: Vec::new(),
        fmt_panic_entries: Vec::new(),
        reachable_symbols: 40,
    });
    Outcome::Mcu(McuFigures {
        flash_bytes: 99_000,
        ram_bytes: 34_600,
        psram_bytes: 0,
        stack_bytes: 4_800,
        instructions,
        matches_host: Some(true),
        weights_in: Region::Flash,
        arena_in: Region::Ram,
        attribution,
    })
}

fn report(outcomes: Vec<(Target, Outcome)>) -> Report {
    Report {
        zantc_version: "0.1.0".into(),
        date: "2026-01-01 00:00 UTC".into(),
        command: "zantc bench".into(),
        machine: Machine::default(),
        models: Vec::new(),
        runs: outcomes
            .into_iter()
            .map(|(target, outcome)| Run {
                model: "mnist-8".into(),
                opt_level: "3".parse().unwrap(),
                target,
                outcome,
                layers: None,
                layers_error: None,
            })
            .collect(),
    }
}

/// Writes both reports, runs `zantc compare` and returns (exit code, stdout).
fn check(dir: &Path, old: &Report, new: &Report, threshold: &str) -> (i32, String) {
    let (old_path, new_path) = (dir.join("old.json"), dir.join("new.json"));
    std::fs::write(&old_path, serde_json::to_string(old).unwrap()).unwrap();
    std::fs::write(&new_path, serde_json::to_string(new).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zantc"))
        .arg("compare")
        .arg(&old_path)
        .arg(&new_path)
        .args(["--threshold", threshold])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn compare_exits_1_on_a_regression_beyond_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let old = report(vec![
        (Target::Host, host(134.0, 0)),
        (Target::CortexM7, cortex_m7(4_151_320)),
    ]);

    // The same figures: unchanged, exit 0.
    let (code, text) = check(dir.path(), &old, &old, "5");
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("# Verdict: UNCHANGED"), "{text}");

    // A synthetic regression: 10% more instructions on the Cortex-M7 and a heap
    // allocation on the host, while the host got faster.
    let new = report(vec![
        (Target::Host, host(100.0, 1)),
        (Target::CortexM7, cortex_m7(4_566_452)),
    ]);
    let (code, text) = check(dir.path(), &old, &new, "5");
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("# Verdict: REGRESSED"), "{text}");
    assert!(
        text.contains(
            "| mnist-8 | cortex-m7 | 3 | instructions | 4,151,320 | 4,566,452 | +10.0% |"
        ),
        "{text}"
    );
    assert!(text.contains("## Top improvements"), "{text}");
    assert!(
        text.contains("| heap allocs | 0 | 1 | +1 | new | ❌ regressed |"),
        "{text}"
    );

    // Within a 15% threshold only the new heap allocation regresses.
    let faster = report(vec![
        (Target::Host, host(100.0, 0)),
        (Target::CortexM7, cortex_m7(4_566_452)),
    ]);
    let (code, text) = check(dir.path(), &old, &faster, "15");
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("# Verdict: IMPROVED"), "{text}");
}

#[test]
fn compare_exits_1_when_the_runtime_code_grows() {
    let dir = tempfile::tempdir().unwrap();
    let old = report(vec![(
        Target::CortexM7,
        cortex_m7_split(4_151_320, Some(4_000)),
    )]);
    // A kernel variant the model does not use is linked again: 4.0 KiB of runtime code
    // becomes 11.5 KiB, at the same speed.
    let new = report(vec![(
        Target::CortexM7,
        cortex_m7_split(4_151_320, Some(11_776)),
    )]);
    let (code, text) = check(dir.path(), &old, &new, "5");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("| mnist-8 | cortex-m7 | 3 | runtime code | 3.9 KiB | 11.5 KiB | +194.4% |"),
        "{text}"
    );
}

/// A `zantc compress-report --json` file compares by its variants' bench figures.
#[test]
fn compare_reads_compression_reports() {
    use zant_compiler::bench::compression::CompressionReport;
    let dir = tempfile::tempdir().unwrap();
    let wrap = |bench: Report| CompressionReport {
        model: "mnist-8".into(),
        evaluation: "top-1 agreement".into(),
        rows: Vec::new(),
        bench,
    };
    let old = wrap(report(vec![(Target::CortexM7, cortex_m7(1_000_000))]));
    let new = wrap(report(vec![(Target::CortexM7, cortex_m7(1_200_000))]));
    let (old_path, new_path) = (dir.path().join("old.json"), dir.path().join("new.json"));
    std::fs::write(&old_path, serde_json::to_string(&old).unwrap()).unwrap();
    std::fs::write(&new_path, serde_json::to_string(&new).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zantc"))
        .arg("compare")
        .arg(&old_path)
        .arg(&new_path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "| mnist-8 | cortex-m7 | 3 | instructions | 1,000,000 | 1,200,000 | +20.0% |"
        ),
        "{text}"
    );
}
