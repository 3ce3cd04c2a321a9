//! The side of `zantc bench` for cores QEMU runs in user mode (AArch64 Linux): the host
//! harness crate, built for the core's triple with Debian's Rust and its prebuilt `std`
//! ([`crate::verify::user_mode`]), run once under `qemu-aarch64` (`harness check`) for the
//! inference's heap use and its outputs, which must match the host's.
//!
//! User mode has no clock of the core and counts nothing (this QEMU has no TCG plugins),
//! so the inference is not timed and no instructions are reported: the figures are sizes
//! (the stripped executable and its sections) and the arena and weights, which the memory
//! plan fixes for the kernel family whatever the core.

use std::path::Path;

use super::{harness, host, BenchError, BenchOptions, OptLevel, Outcome, Prepared, Target};
use super::{io_error, UserModeFigures};
use crate::ir::Tensor;
use crate::verify::user_mode::UserMode;
use crate::Error;

/// Builds `prepared`'s harness for `target` at `opt` and runs it under QEMU; `expected`
/// are the outputs to match (the host harness's at the same opt level, else the
/// reference data).
pub(super) fn run(
    work_dir: &Path,
    prepared: &Prepared,
    target: Target,
    opt: &OptLevel,
    opts: &BenchOptions,
    expected: Option<&[Tensor]>,
) -> Result<Outcome, Error> {
    let user = target.user_mode().ok_or_else(|| BenchError::Build {
        harness: target.label(),
        stderr: format!("{} does not run in QEMU's user mode", target.name()),
    })?;
    let missing = user.missing();
    if !missing.is_empty() {
        return Err(BenchError::UserModeTools {
            target: target.label(),
            missing: missing.join(", "),
        }
        .into());
    }
    let dir = work_dir.join(target.name()).join(&prepared.name);
    host::write_harness(&dir, prepared, opts)?;
    let target_dir = work_dir.join(format!("target-{}", target.name()));
    let out = user
        .cargo_build(&dir, &target_dir)
        .args(["--profile", &opt.profile()])
        .output()
        .map_err(io_error(format!(
            "cannot run {} (install the toolchain with scripts/setup-targets.sh)",
            crate::verify::user_mode::CARGO
        )))?;
    if !out.status.success() {
        return Err(BenchError::Build {
            harness: target.label(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
        .into());
    }
    let exe = user.binary(
        &target_dir,
        &opt.profile(),
        &harness::package_name(prepared),
    );
    let sizes = host::section_sizes(&exe)?;
    let exe_bytes = host::stripped_bytes(&exe, user.strip)?;
    let text = host::run_harness_with(user.run(&exe), &exe, &["check"])?;
    let outputs = harness::parse_outputs(&text, &prepared.output_types)?;
    Ok(Outcome::UserMode(UserModeFigures {
        exe_bytes,
        text_bytes: sizes.text,
        rodata_bytes: sizes.rodata,
        data_bytes: sizes.data,
        bss_bytes: sizes.bss,
        arena_bytes: prepared.info.arena_bytes,
        weight_bytes: prepared.info.weight_bytes,
        heap_allocs: harness::value(&text, "heap_allocs")?,
        heap_bytes: harness::value(&text, "heap_bytes")?,
        heap_leaked_bytes: harness::value(&text, "heap_leaked_bytes")?,
        matches_host: expected.map(|want| super::outputs_match(&outputs, want)),
    }))
}

impl Target {
    /// How the target runs in QEMU's user mode, for a core whose row says so.
    pub fn user_mode(self) -> Option<UserMode> {
        UserMode::of_core(self.core())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Report, Run, UserModeFigures};
    use super::*;

    fn report(matches_host: Option<bool>, heap_allocs: u64) -> Report {
        let figures = UserModeFigures {
            exe_bytes: 463_360,
            text_bytes: 324_608,
            rodata_bytes: 50_790,
            data_bytes: 2_458,
            bss_bytes: 20_480,
            arena_bytes: 19_584,
            weight_bytes: 22_080,
            heap_allocs,
            heap_bytes: 0,
            heap_leaked_bytes: 0,
            matches_host,
        };
        Report {
            runs: vec![Run {
                model: "mlperf-kws-int8".into(),
                opt_level: "3".parse().unwrap(),
                target: Target::Aarch64,
                outcome: Outcome::UserMode(figures),
                layers: None,
                layers_error: None,
            }],
            ..Report::default()
        }
    }

    #[test]
    fn a_user_mode_run_reports_sizes_and_no_time() {
        assert_eq!(
            Target::Aarch64.user_mode().map(|u| u.qemu),
            Some("qemu-aarch64")
        );
        assert_eq!(Target::Host.user_mode(), None);
        assert_eq!("aarch64".parse::<Target>(), Ok(Target::Aarch64));
        let good = report(Some(true), 0);
        assert!(good.problems().is_empty(), "{:?}", good.problems());
        let md = super::super::markdown(&good, None);
        assert!(
            md.contains("### AArch64 (`aarch64-unknown-linux-gnu`, `qemu-aarch64`"),
            "{md}"
        );
        assert!(
            md.contains("| 19.1 KiB | 21.6 KiB | not measured | 0 |"),
            "{md}"
        );
        let figures: Vec<&str> = good.runs[0].figures().iter().map(|f| f.name).collect();
        assert!(!figures.contains(&"time") && !figures.contains(&"instructions"));
        // A mismatch, an unchecked output and heap use are problems, as on other cores.
        let bad = report(Some(false), 1).problems();
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad.iter().any(|p| p.contains("outputs do not match")));
        assert!(bad.iter().any(|p| p.contains("the inference allocated")));
        assert_eq!(report(None, 0).problems().len(), 1);
        // No time or count to plot: the chart leaves the core out.
        assert!(super::super::svg(&good).is_ok());
    }
}
