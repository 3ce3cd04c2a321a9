//! The targets zant emits for: one row per core in [`CORES`] (what the core offers, the
//! triple and `target-cpu` that build for it, and the QEMU board that runs it), and
//! [`Target`], the target of one compile: a row, or a triple the table does not name.
//!
//! What the compiler takes from a target is the kernel family its build runs
//! ([`Kernels`]): the memory plan sizes every kernel's scratch for that family alone, and
//! the data layout follows it (a scalar target keeps its convolution weights in rows). A
//! compile without a target emits a crate that builds anywhere, its scratch sized for
//! both families. The runtime gates each instruction on the exact `target_feature` it
//! needs, so the features listed here describe the core; they pick no kernel themselves.

use std::fmt;

use zant_runtime::target::{KernelSet, Kernels};

/// An instruction-set extension a core offers and some kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Armv7E-M's DSP extension (`SMLAD` and friends).
    Dsp,
    /// A single-precision FPU.
    FpuSingle,
    /// A double-precision FPU.
    FpuDouble,
    /// Armv8.1-M's M-profile vector extension (Helium).
    Mve,
    /// AArch64's Advanced SIMD.
    Neon,
    Avx2,
    Avx512,
    /// AVX-512 VNNI (`VPDPBUSD`).
    Vnni,
    /// AMX's int8 tiles, chosen at run time where Linux grants them.
    Amx,
}

impl Feature {
    pub fn name(self) -> &'static str {
        match self {
            Feature::Dsp => "DSP",
            Feature::FpuSingle => "FPU (single)",
            Feature::FpuDouble => "FPU (double)",
            Feature::Mve => "MVE (Helium)",
            Feature::Neon => "NEON",
            Feature::Avx2 => "AVX2",
            Feature::Avx512 => "AVX-512",
            Feature::Vnni => "VNNI",
            Feature::Amx => "AMX",
        }
    }
}

/// How a core's code is run for the tests and the bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulator {
    /// `qemu-system-arm -machine MACHINE -cpu CPU` with semihosting, counting instructions
    /// with SysTick under `-icount shift=0`.
    ArmSystem(Board),
    /// `qemu-system-riscv32 -machine virt -bios none` with semihosting, counting
    /// `minstret` under `-icount shift=0,sleep=off`.
    Riscv32Virt(Board),
    /// `qemu-aarch64` in user mode: a Linux program.
    Aarch64User,
    /// The machine zantc runs on.
    Native,
}

/// A QEMU board: its machine and CPU names, its memories, and (on Arm) SysTick's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Board {
    pub machine: &'static str,
    pub cpu: &'static str,
    /// Code memory (the flash), then RAM, then a larger memory for what fits in neither:
    /// `(origin, bytes)`.
    pub flash: (u64, u64),
    pub ram: (u64, u64),
    pub psram: (u64, u64),
    /// The core clock SysTick counts with `CLKSOURCE = 1`, in Hz; under `-icount
    /// shift=0` QEMU runs one instruction a nanosecond. (RISC-V reads its instructions
    /// from `minstret` instead.)
    pub sysclk_hz: u64,
}

/// QEMU's MPS2 boards with the Cortex-M3, M4 and M7 (AN385, AN386, AN500): 4 MiB of code
/// memory at 0, 4 MiB of RAM at `0x2000_0000`, 16 MiB of PSRAM (at `0x6000_0000` on the
/// AN500, `0x2100_0000` on the others), a 25 MHz core clock.
const fn mps2(machine: &'static str, cpu: &'static str, psram_at: u64) -> Board {
    Board {
        machine,
        cpu,
        flash: (0x0000_0000, 4 << 20),
        ram: (0x2000_0000, 4 << 20),
        psram: (psram_at, 16 << 20),
        sysclk_hz: 25_000_000,
    }
}

/// One core zant knows: a row of the target table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Core {
    /// The name `--targets` and `--target` take (`cortex-m4`).
    pub name: &'static str,
    /// Who ships it, for the docs.
    pub description: &'static str,
    pub triple: &'static str,
    /// The `-C target-cpu` its build takes, if any.
    pub cpu: Option<&'static str>,
    /// The `-C target-feature` list its build takes, if any: the Cortex-M55's Helium,
    /// which no `target-cpu` can name (rustc 1.96's LLVM aborts compiling `core` for
    /// `-C target-cpu=cortex-m55`, "Do not know how to promote this operator").
    pub target_features: Option<&'static str>,
    pub features: &'static [Feature],
    pub emulator: Emulator,
}

impl Core {
    /// The kernel family the core's build runs.
    pub fn kernels(&self) -> Kernels {
        Kernels::of_arch(arch_of(self.triple))
    }
}

/// The cores zant is built, run and measured on (docs/targets.md).
pub const CORES: &[Core] = &[
    Core {
        name: "host",
        description: "the machine zantc runs on (x86-64 Linux)",
        triple: "x86_64-unknown-linux-gnu",
        cpu: Some("native"),
        target_features: None,
        features: &[Feature::Avx2, Feature::Avx512, Feature::Vnni, Feature::Amx],
        emulator: Emulator::Native,
    },
    Core {
        name: "cortex-m0plus",
        description: "RP2040, STM32G0, SAMD21",
        triple: "thumbv6m-none-eabi",
        cpu: None,
        target_features: None,
        features: &[],
        // QEMU has no Cortex-M0+ board with room for a model; the Cortex-M3 of AN385
        // executes the ARMv6-M code unchanged (ARMv7-M is a superset), so the counts
        // are those of the M0+'s instructions.
        emulator: Emulator::ArmSystem(mps2("mps2-an385", "cortex-m3", 0x2100_0000)),
    },
    Core {
        name: "cortex-m3",
        description: "STM32F1, STM32L1, LPC17xx",
        triple: "thumbv7m-none-eabi",
        cpu: None,
        target_features: None,
        features: &[],
        emulator: Emulator::ArmSystem(mps2("mps2-an385", "cortex-m3", 0x2100_0000)),
    },
    Core {
        name: "cortex-m4",
        description: "STM32F4, nRF52840 (Cortex-M4F)",
        triple: "thumbv7em-none-eabihf",
        cpu: Some("cortex-m4"),
        target_features: None,
        features: &[Feature::Dsp, Feature::FpuSingle],
        emulator: Emulator::ArmSystem(mps2("mps2-an386", "cortex-m4", 0x2100_0000)),
    },
    Core {
        name: "cortex-m7",
        description: "STM32F7, STM32H7, i.MX RT",
        triple: "thumbv7em-none-eabihf",
        cpu: Some("cortex-m7"),
        target_features: None,
        features: &[Feature::Dsp, Feature::FpuDouble],
        emulator: Emulator::ArmSystem(mps2("mps2-an500", "cortex-m7", 0x6000_0000)),
    },
    Core {
        name: "cortex-m33",
        description: "nRF5340, STM32U5, RP2350",
        triple: "thumbv8m.main-none-eabihf",
        cpu: Some("cortex-m33"),
        target_features: None,
        features: &[Feature::Dsp, Feature::FpuSingle],
        // AN505 boots the core in the secure state: code at the secure alias of SSRAM1
        // (the initial VTOR, `0x1000_0000`), data in the secure alias of SSRAM2 and 3;
        // a 20 MHz core clock.
        emulator: Emulator::ArmSystem(Board {
            machine: "mps2-an505",
            cpu: "cortex-m33",
            flash: (0x1000_0000, 4 << 20),
            ram: (0x3800_0000, 4 << 20),
            psram: (0x8000_0000, 16 << 20),
            sysclk_hz: 20_000_000,
        }),
    },
    Core {
        name: "cortex-m55",
        description: "Alif Ensemble, Corstone-300 (Cortex-M55 with Helium)",
        triple: "thumbv8m.main-none-eabihf",
        cpu: None,
        // Armv8.1-M with the integer M-profile vector extension, its low-overhead
        // loops and the double-precision FPU (`+vfp2` too, the feature by which rustc
        // reports a double-precision FPU to the runtime's `cfg`s). Integer MVE only:
        // with `mve.fp` rustc 1.96's LLVM aborts compiling `core` for this triple.
        target_features: Some("+v8.1m.main,+mve,+lob,+dsp,+fp-armv8d16,+vfp2"),
        features: &[Feature::Dsp, Feature::FpuDouble, Feature::Mve],
        // AN547 boots the core in the secure state from its ITCM (secure alias
        // `0x1000_0000`, 512 KiB); data in the DTCM (`0x3000_0000`, 512 KiB), what fits
        // in neither in the DDR (secure alias `0x7000_0000`); a 32 MHz core clock.
        emulator: Emulator::ArmSystem(Board {
            machine: "mps3-an547",
            cpu: "cortex-m55",
            flash: (0x1000_0000, 512 << 10),
            ram: (0x3000_0000, 512 << 10),
            psram: (0x7000_0000, 16 << 20),
            sysclk_hz: 32_000_000,
        }),
    },
    Core {
        name: "riscv32",
        description: "ESP32-C3 class (RV32IMC)",
        triple: "riscv32imc-unknown-none-elf",
        cpu: None,
        target_features: None,
        features: &[],
        // QEMU's `virt` board: 64 MiB of DRAM at `0x8000_0000`, where `-bios none`
        // starts; the harness calls its first 4 MiB the flash, the next 4 MiB the RAM.
        emulator: Emulator::Riscv32Virt(Board {
            machine: "virt",
            cpu: "rv32",
            flash: (0x8000_0000, 4 << 20),
            ram: (0x8040_0000, 4 << 20),
            psram: (0x8100_0000, 16 << 20),
            sysclk_hz: 0,
        }),
    },
    // AArch64 Linux: the vector kernels (`wide`'s NEON vectors, Kernels::Vector from the
    // arch), run as a Linux program under QEMU's user mode, which counts nothing: the
    // bench checks its outputs and sizes, and times nothing.
    Core {
        name: "aarch64",
        description: "Cortex-A53/A72/A76 Linux boards (Raspberry Pi 3, 4, 5)",
        triple: "aarch64-unknown-linux-gnu",
        cpu: None,
        target_features: None,
        features: &[Feature::Neon],
        emulator: Emulator::Aarch64User,
    },
];

/// The architecture (`target_arch`) of a triple: its first component, with the Arm
/// profiles folded into `arm` and the RISC-V widths kept.
pub fn arch_of(triple: &str) -> &str {
    let first = triple.split(['-', '.']).next().unwrap_or(triple);
    if first.starts_with("thumb") || first.starts_with("arm") {
        "arm"
    } else if first.starts_with("riscv32") {
        "riscv32"
    } else if first.starts_with("riscv64") {
        "riscv64"
    } else {
        first
    }
}

/// The target of one compile: a core of the table, or a triple it does not name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub triple: String,
    pub cpu: Option<String>,
    /// The row of [`CORES`] the triple and cpu name, if any.
    pub core: Option<&'static Core>,
}

impl Target {
    /// The core called `name` in the table (`cortex-m4`, `host`).
    pub fn core(name: &str) -> Result<Target, TargetError> {
        let core = CORES
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| TargetError::UnknownCore(name.to_string()))?;
        Ok(Target {
            triple: core.triple.to_string(),
            cpu: core.cpu.map(str::to_string),
            core: Some(core),
        })
    }

    /// A target from a triple and an optional `target-cpu`, as `--target` and `--cpu`
    /// and a build script's `TARGET` give them. Any triple rustc accepts is taken; the
    /// table's row, where one matches, only adds what the core offers.
    pub fn from_triple(triple: &str, cpu: Option<&str>) -> Result<Target, TargetError> {
        let valid = !triple.is_empty()
            && triple
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(TargetError::BadTriple(triple.to_string()));
        }
        // A row that needs target features (the M55) is named, never inferred from a
        // triple: the plain triple is another core's.
        let core = CORES.iter().find(|c| {
            c.triple == triple
                && c.target_features.is_none()
                && (cpu.is_none() && c.cpu.is_none() || c.cpu == cpu)
        });
        Ok(Target {
            triple: triple.to_string(),
            cpu: cpu.map(str::to_string),
            core,
        })
    }

    /// The target a build script builds for, from the variables Cargo sets for it
    /// (`TARGET`), with the `-C target-cpu` of its rustflags when they name one
    /// (`CARGO_ENCODED_RUSTFLAGS`), or `None` outside a build script.
    pub fn from_cargo_env(
        var: impl Fn(&str) -> Option<String>,
    ) -> Option<Result<Target, TargetError>> {
        let triple = var("TARGET")?;
        let flags = var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
        let cpu = target_cpu(flags.split('\x1f'));
        Some(Target::from_triple(&triple, cpu.as_deref()))
    }

    /// What `--target NAME [--cpu CPU]` names: a core of the table (without `--cpu`), or
    /// a triple (`arch-vendor-os[-env]`, at least three parts).
    pub fn parse(name: &str, cpu: Option<&str>) -> Result<Target, TargetError> {
        if cpu.is_none() && CORES.iter().any(|c| c.name == name) {
            return Target::core(name);
        }
        if name.split('-').count() < 3 {
            return Err(TargetError::UnknownCore(name.to_string()));
        }
        Target::from_triple(name, cpu)
    }

    /// The kernel family the target's build runs.
    pub fn kernels(&self) -> Kernels {
        Kernels::of_arch(arch_of(&self.triple))
    }

    /// Whether the crate's integer convolutions take their weights in the paired layout
    /// (`rt::qconv::qconv2d_pack_paired`): the scalar kernels' gathered blocks widen
    /// them a word at a time with `SXTB16`, so a core of the table with the DSP
    /// extension (M4F, M7, M33; without it the widening is shifts, and the M0+, M3 and
    /// RV32 measured up to 1.2 % slower). Not where the core has Helium (the M55),
    /// whose kernel reads ONNX's order.
    pub fn pairs_weights(&self) -> bool {
        let helium = match self.core {
            Some(core) => core.features.contains(&Feature::Mve),
            None => self.triple.starts_with("thumbv8m.main"),
        };
        let dsp = self
            .core
            .is_some_and(|c| c.features.contains(&Feature::Dsp));
        self.kernels() == Kernels::Scalar && dsp && !helium
    }

    /// A short name: the core's, else the triple (with its cpu).
    pub fn name(&self) -> String {
        match (self.core, &self.cpu) {
            (Some(core), _) => core.name.to_string(),
            (None, Some(cpu)) => format!("{} ({cpu})", self.triple),
            (None, None) => self.triple.clone(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The kernel families a crate for `target` may be built for: the target's, or both when
/// no target was given.
pub fn kernel_set(target: Option<&Target>) -> KernelSet {
    target.map_or(KernelSet::ANY, |t| KernelSet::only(t.kernels()))
}

/// The last `-C target-cpu=NAME` (or `-Ctarget-cpu=NAME`) among rustc flags.
fn target_cpu<'a>(flags: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut cpu = None;
    let mut after_c = false;
    for flag in flags {
        let value = if after_c {
            Some(flag)
        } else {
            flag.strip_prefix("-C")
        };
        after_c = flag == "-C";
        if let Some(cpu_name) = value.and_then(|v| v.strip_prefix("target-cpu=")) {
            cpu = Some(cpu_name.to_string());
        }
    }
    cpu
}

/// A target that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error(
        "`{0}` is neither a target triple nor a core zant knows (one of: {names})",
        names = core_names()
    )]
    UnknownCore(String),
    #[error("`{0}` is not a target triple")]
    BadTriple(String),
}

/// The names of the table's cores, for error messages and help text.
pub fn core_names() -> String {
    CORES.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_resolve_to_their_rows() {
        let m7 = Target::from_triple("thumbv7em-none-eabihf", Some("cortex-m7")).unwrap();
        assert_eq!(m7.core.map(|c| c.name), Some("cortex-m7"));
        assert_eq!(m7.kernels(), Kernels::Scalar);
        // A plain triple builds; no row names it, the family still follows the arch.
        let plain = Target::from_triple("thumbv7em-none-eabihf", None).unwrap();
        assert_eq!(plain.core, None);
        assert_eq!(plain.kernels(), Kernels::Scalar);
        assert_eq!(plain.name(), "thumbv7em-none-eabihf");
        let pi = Target::from_triple("aarch64-unknown-linux-gnu", None).unwrap();
        assert_eq!(pi.kernels(), Kernels::Vector);
        assert_eq!(
            Target::from_triple("riscv32imc-unknown-none-elf", None)
                .unwrap()
                .kernels(),
            Kernels::Scalar
        );
        assert_eq!(
            Target::from_triple("../x", None),
            Err(TargetError::BadTriple("../x".into()))
        );
        let err = Target::core("cortex-m99").unwrap_err().to_string();
        assert!(err.contains("cortex-m4"), "{err}");
        // `--target`: a core's name, else a triple of three parts or more.
        let m4 = Target::parse("cortex-m4", None).unwrap();
        assert_eq!(m4.cpu.as_deref(), Some("cortex-m4"));
        assert_eq!(
            Target::parse("cortex-m99", None),
            Err(TargetError::UnknownCore("cortex-m99".into()))
        );
        let rv = Target::parse("riscv32imc-unknown-none-elf", None).unwrap();
        assert_eq!(rv.core.map(|c| c.name), Some("riscv32"));
        let m7 = Target::parse("thumbv7em-none-eabihf", Some("cortex-m7")).unwrap();
        assert_eq!(m7.core.map(|c| c.name), Some("cortex-m7"));
    }

    #[test]
    fn aarch64_is_a_row_of_the_vector_family() {
        let by_name = Target::parse("aarch64", None).unwrap();
        let core = by_name.core.expect("the aarch64 row");
        assert_eq!(core.triple, "aarch64-unknown-linux-gnu");
        assert_eq!(core.features, &[Feature::Neon]);
        assert_eq!(core.emulator, Emulator::Aarch64User);
        assert_eq!(core.kernels(), Kernels::Vector);
        assert_eq!(by_name.kernels(), Kernels::Vector);
        assert_eq!(by_name.cpu, None);
        // The triple names the same row, so `--target aarch64-unknown-linux-gnu` is the
        // same target as `--target aarch64`.
        let by_triple = Target::parse("aarch64-unknown-linux-gnu", None).unwrap();
        assert_eq!(by_triple, by_name);
        assert_eq!(by_triple.name(), "aarch64");
        assert!(core_names().contains("aarch64"), "{}", core_names());
    }

    #[test]
    fn a_build_script_reads_its_target_and_cpu() {
        let env = |flags: &'static str| {
            move |key: &str| match key {
                "TARGET" => Some("thumbv7em-none-eabihf".to_string()),
                "CARGO_ENCODED_RUSTFLAGS" => Some(flags.to_string()),
                _ => None,
            }
        };
        let t = Target::from_cargo_env(env("-C\x1ftarget-cpu=cortex-m4\x1f-Clink-arg=-Tlink.x"))
            .unwrap()
            .unwrap();
        assert_eq!(t.cpu.as_deref(), Some("cortex-m4"));
        assert_eq!(t.core.map(|c| c.name), Some("cortex-m4"));
        let t = Target::from_cargo_env(env("-Ctarget-cpu=cortex-m7"))
            .unwrap()
            .unwrap();
        assert_eq!(t.core.map(|c| c.name), Some("cortex-m7"));
        let t = Target::from_cargo_env(env("")).unwrap().unwrap();
        assert_eq!(t.cpu, None);
        assert!(Target::from_cargo_env(|_| None).is_none());
    }

    #[test]
    fn the_m55_is_named_never_inferred_from_its_triple() {
        let m55 = Target::parse("cortex-m55", None).unwrap();
        assert_eq!(m55.triple, "thumbv8m.main-none-eabihf");
        assert_eq!(m55.cpu, None);
        assert!(m55.core.is_some_and(|c| c.features.contains(&Feature::Mve)));
        assert_eq!(m55.kernels(), Kernels::Scalar);
        // The plain triple is an M33 without `target-cpu`, not the M55.
        let plain = Target::parse("thumbv8m.main-none-eabihf", None).unwrap();
        assert_eq!(plain.core, None);
        let m33 = Target::parse("thumbv8m.main-none-eabihf", Some("cortex-m33")).unwrap();
        assert_eq!(m33.core.map(|c| c.name), Some("cortex-m33"));
    }

    #[test]
    fn paired_weights_on_dsp_cores_without_helium() {
        for core in ["cortex-m4", "cortex-m7", "cortex-m33"] {
            assert!(Target::core(core).unwrap().pairs_weights(), "{core}");
        }
        let others = [
            "cortex-m0plus",
            "cortex-m3",
            "riscv32",
            "cortex-m55",
            "host",
            "aarch64",
        ];
        for core in others {
            assert!(!Target::core(core).unwrap().pairs_weights(), "{core}");
        }
        let unnamed = Target::parse("thumbv8m.main-none-eabihf", None).unwrap();
        assert!(!unnamed.pairs_weights());
    }

    #[test]
    fn scratch_follows_the_family() {
        assert_eq!(kernel_set(None), KernelSet::ANY);
        let m4 = Target::core("cortex-m4").unwrap();
        assert_eq!(kernel_set(Some(&m4)), KernelSet::only(Kernels::Scalar));
    }
}
