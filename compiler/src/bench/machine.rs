//! The machine a report is measured on: CPU, cores, OS and the tools' versions.

use std::process::Command;

use super::{BenchOptions, Machine, Target};

/// Reads `/proc` and `/etc/os-release` and asks each tool for its version.
pub(super) fn detect(opts: &BenchOptions) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let m7 = opts.targets.iter().any(|t| t.is_mcu());
    // The user-mode cores are built with Debian's Rust too, and run by QEMU's user mode.
    let user_mode = opts.targets.iter().find_map(|t| t.user_mode());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        os,
        kernel,
        rustc_host: version(&rustc, "-V").unwrap_or_default(),
        rustc_cortex_m7: (m7 || user_mode.is_some())
            .then(|| version("/usr/bin/rustc", "-V"))
            .flatten(),
        valgrind: version("valgrind", "--version"),
        qemu: m7
            .then(|| version("qemu-system-arm", "--version"))
            .flatten()
            .or_else(|| user_mode.and_then(|u| version(u.qemu, "--version"))),
        onnxruntime: None,
        tract: None,
        litert: None,
        host_amx: opts.targets.contains(&Target::Host).then(|| {
            let has = cpuinfo
                .lines()
                .filter(|l| l.starts_with("flags"))
                .any(|l| l.split_whitespace().any(|f| f == "amx_int8"));
            match (has, opts.host_amx) {
                (false, _) => "not on this CPU".to_string(),
                (true, true) => "on (int8 convolutions may use the tiles)".to_string(),
                (true, false) => {
                    "forced off (`--no-amx`): the path of a host without AMX".to_string()
                }
            }
        }),
        load_average: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")),
        host_target_cpu: opts.targets.contains(&Target::Host).then(|| {
            match super::host::undecoded_features() {
                Some(features) if super::host::count_build_differs(&opts.host_target_cpu) => {
                    format!(
                        "{} (instructions counted on a build with {features})",
                        opts.host_target_cpu
                    )
                }
                _ => opts.host_target_cpu.clone(),
            }
        }),
    }
}

/// The first line a tool prints for `flag`.
fn version(tool: &str, flag: &str) -> Option<String> {
    let out = Command::new(tool).arg(flag).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}

/// The current time as `YYYY-MM-DD HH:MM UTC`.
pub(super) fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
