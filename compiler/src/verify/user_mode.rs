//! Linux programs for a core that QEMU runs in user mode (the target table's
//! [`Emulator::Aarch64User`]): Debian's Rust builds them for the core's triple against
//! Debian's prebuilt standard library for it and links them with the GNU cross linker,
//! and `qemu-aarch64` runs them against the cross C library, so `zantc verify` and
//! `zantc bench` can check code built for AArch64 on an x86-64 machine. `scripts/setup-targets.sh` installs every tool named here.
//!
//! User mode runs the program's instructions and passes its system calls to this machine's
//! kernel, so files and arguments work as for a native program; it has no clock of its own
//! and counts nothing, so nothing run here is timed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::target::{Core, Emulator, Target};

/// Debian's Rust, which has a prebuilt standard library for AArch64 Linux (rustup's
/// toolchain here has no foreign targets).
pub const RUSTC: &str = "/usr/bin/rustc";
pub const CARGO: &str = "/usr/bin/cargo";

/// What builds and runs programs for one user-mode core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserMode {
    pub triple: &'static str,
    /// The `-C target-cpu` of the core's row, if any.
    pub cpu: Option<&'static str>,
    /// QEMU's user-mode emulator.
    pub qemu: &'static str,
    /// The C compiler that links the program (Debian's `gcc-aarch64-linux-gnu`).
    pub linker: &'static str,
    /// The cross C library's root, where QEMU finds the dynamic loader and `libc.so.6`
    /// (Debian's `libc6-arm64-cross`).
    pub sysroot: &'static str,
    /// binutils' `strip` for the core's objects.
    pub strip: &'static str,
    /// Debian's prebuilt standard library for the triple (`libstd-rust-web-dev:arm64`, of
    /// the same version as its `rustc`), so no build compiles `std` (`-Zbuild-std` did, in
    /// each target folder: about 100 s each time on two cores).
    pub std: &'static str,
}

impl UserMode {
    /// How a core of the table runs in user mode; `None` for a core QEMU does not run so.
    pub fn of_core(core: &Core) -> Option<UserMode> {
        match core.emulator {
            Emulator::Aarch64User => Some(UserMode {
                triple: core.triple,
                cpu: core.cpu,
                qemu: "qemu-aarch64",
                linker: "aarch64-linux-gnu-gcc",
                sysroot: "/usr/aarch64-linux-gnu",
                strip: "aarch64-linux-gnu-strip",
                std: "/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib",
            }),
            _ => None,
        }
    }

    /// How `target` runs in user mode, when its row says so.
    pub fn of(target: &Target) -> Option<UserMode> {
        target.core.and_then(UserMode::of_core)
    }

    /// The tools of this core that are not installed, by what they are.
    pub fn missing(&self) -> Vec<String> {
        let mut missing = Vec::new();
        for file in [RUSTC, CARGO, self.std, self.sysroot] {
            if !Path::new(file).exists() {
                missing.push(file.to_string());
            }
        }
        for tool in [self.linker, self.qemu, self.strip] {
            if !on_path(tool) {
                missing.push(tool.to_string());
            }
        }
        missing
    }

    /// Debian's cargo set up for `cargo build` for this core, run in `dir`, with its
    /// artifacts in `target_dir`: the triple (against Debian's prebuilt `std`, whose
    /// `panic_abort` the generated crates' and harnesses' `panic = "abort"` links), the
    /// cross linker, and the core's `target-cpu`. This machine's RUSTFLAGS are left out:
    /// they are for its own CPU (`target-cpu=native`), not for this core. Add the profile
    /// and features.
    pub fn cargo_build(&self, dir: &Path, target_dir: &Path) -> Command {
        let triple_var = self.triple.to_uppercase().replace(['-', '.'], "_");
        let mut cargo = Command::new(CARGO);
        cargo
            .args(["build", "--quiet", "--target", self.triple])
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target_dir)
            .env("RUSTC", RUSTC)
            .env(format!("CARGO_TARGET_{triple_var}_LINKER"), self.linker)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET");
        match self.cpu {
            Some(cpu) => cargo.env(
                format!("CARGO_TARGET_{triple_var}_RUSTFLAGS"),
                format!("-C target-cpu={cpu}"),
            ),
            None => cargo.env_remove(format!("CARGO_TARGET_{triple_var}_RUSTFLAGS")),
        };
        cargo
    }

    /// Where [`UserMode::cargo_build`] puts binary `name` of `profile` (`release`).
    pub fn binary(&self, target_dir: &Path, profile: &str, name: &str) -> PathBuf {
        target_dir.join(self.triple).join(profile).join(name)
    }

    /// `qemu-aarch64 -L SYSROOT PROGRAM`: add the program's arguments.
    pub fn run(&self, program: &Path) -> Command {
        let mut qemu = Command::new(self.qemu);
        qemu.arg("-L").arg(self.sysroot).arg(program);
        qemu
    }
}

/// Whether `tool` is an executable file in one of `PATH`'s folders.
fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| is_executable(&dir.join(OsStr::new(tool))))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_user_mode_rows_run_in_user_mode() {
        let aarch64 = UserMode::of(&Target::core("aarch64").unwrap()).unwrap();
        assert_eq!(aarch64.triple, "aarch64-unknown-linux-gnu");
        assert_eq!(aarch64.qemu, "qemu-aarch64");
        for core in ["host", "cortex-m7", "riscv32"] {
            assert_eq!(UserMode::of(&Target::core(core).unwrap()), None, "{core}");
        }
        // A triple no row names has no emulator to run it with.
        let musl = Target::from_triple("aarch64-unknown-linux-musl", None).unwrap();
        assert_eq!(UserMode::of(&musl), None);
    }

    #[test]
    fn the_build_command_is_for_the_core() {
        let aarch64 = UserMode::of(&Target::core("aarch64").unwrap()).unwrap();
        let cargo = aarch64.cargo_build(Path::new("."), Path::new("t"));
        let args: Vec<_> = cargo.get_args().map(|a| a.to_string_lossy()).collect();
        assert!(args
            .windows(2)
            .any(|w| w == ["--target", "aarch64-unknown-linux-gnu"]));
        // Debian's prebuilt std for the triple, never a rebuild of it.
        assert!(!args.iter().any(|a| a.starts_with("-Zbuild-std")));
        let linker = cargo
            .get_envs()
            .find(|(k, _)| *k == "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER")
            .and_then(|(_, v)| v);
        assert_eq!(linker, Some(OsStr::new("aarch64-linux-gnu-gcc")));
        assert_eq!(
            aarch64.binary(Path::new("t"), "release", "runner"),
            Path::new("t/aarch64-unknown-linux-gnu/release/runner")
        );
    }
}
