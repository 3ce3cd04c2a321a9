//! The microcontroller side of `zantc bench`: for each emulated core of the target table
//! ([`Target::board`]), lays the model out in the memories of its QEMU board, builds the
//! harness with Debian's Rust and `-Zbuild-std` (`scripts/setup-targets.sh`) for the
//! core's triple and `target-cpu`, reads flash and RAM from its ELF sections, and runs it
//! in QEMU for the instructions, the stack's high-water mark and the outputs.
//!
//! Each board has a code memory (the flash), a RAM and a larger PSRAM (the target table's
//! `Board`: on the MPS2 boards 4 MiB of code memory at 0, 4 MiB of RAM at `0x2000_0000`).
//! Weights go to flash, or to the PSRAM when they do not fit; the model (its arena) and
//! its buffers go to RAM, or to the PSRAM when they do not fit. A model that fits neither
//! way is reported as not fitting, with the numbers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::attribution;
use super::harness::{self, file};
use super::report::fmt_bytes;
use super::{
    io_error, BenchError, BenchOptions, McuFigures, OptLevel, Outcome, Prepared, Region, Target,
};
use crate::ir::Tensor;
use crate::target::Board;
use crate::Error;

/// Flash kept for code and constants besides the weights.
const CODE_ROOM: u64 = 256 << 10;
/// RAM kept for the stack besides the statics.
const STACK_ROOM: u64 = 256 << 10;

/// The section of the benchmark's inputs (`io.rs`), in RAM and outside the flash figure.
const INPUT_SECTION: &str = ".zant_input";
const RUSTC: &str = "/usr/bin/rustc";
const CARGO: &str = "/usr/bin/cargo";

/// Where the weights and the model go, or why they fit nowhere.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub weights_in: Region,
    pub model_in: Region,
}

/// Places the weights and the model (arena plus I/O buffers) on `board`.
pub(super) fn layout(board: &Board, weight_bytes: u64, model_bytes: u64) -> Result<Layout, String> {
    let (flash, ram, psram_region) = (board.flash, board.ram, board.psram);
    let weights_in = if weight_bytes + CODE_ROOM <= flash.1 {
        Region::Flash
    } else {
        Region::Psram
    };
    let model_in = if model_bytes + STACK_ROOM <= ram.1 {
        Region::Ram
    } else {
        Region::Psram
    };
    let psram = [(weights_in, weight_bytes), (model_in, model_bytes)]
        .iter()
        .filter(|(r, _)| *r == Region::Psram)
        .map(|(_, n)| n)
        .sum::<u64>();
    if psram > psram_region.1 {
        return Err(format!(
            "{} of weights and {} of arena and buffers; flash is {}, RAM {} and PSRAM {}, \
             so {} would have to go to the PSRAM",
            fmt_bytes(weight_bytes as f64),
            fmt_bytes(model_bytes as f64),
            fmt_bytes(flash.1 as f64),
            fmt_bytes(ram.1 as f64),
            fmt_bytes(psram_region.1 as f64),
            fmt_bytes(psram as f64),
        ));
    }
    Ok(Layout {
        weights_in,
        model_in,
    })
}

/// The board of an emulated target.
fn board_of(target: Target) -> Result<Board, Error> {
    target.board().ok_or_else(|| {
        BenchError::DoesNotFit(format!(
            "{} is not an emulated microcontroller",
            target.name()
        ))
        .into()
    })
}

/// Builds and runs `prepared`'s harness for `target` at `opt`; `expected` are the outputs
/// to match (the host harness's at the same opt level, else the reference data).
pub(super) fn run(
    work_dir: &Path,
    prepared: &Prepared,
    target: Target,
    opt: &OptLevel,
    opts: &BenchOptions,
    expected: Option<&[Tensor]>,
) -> Result<Outcome, Error> {
    let board = board_of(target)?;
    let layout = match layout(&board, weight_bytes(prepared), model_bytes(prepared)) {
        Ok(layout) => layout,
        Err(reason) => return Ok(Outcome::DoesNotFit { reason }),
    };
    let elf = build(work_dir, prepared, target, opt, opts, &layout, false)?;
    let (flash_bytes, ram_bytes, psram_bytes) = image_sizes(&board, &elf)?;
    // The split by owner reads Arm calls from the disassembly; RISC-V images have none.
    let attribution = if target.is_riscv() {
        None
    } else {
        Some(attribution::attribute(
            &elf,
            &harness::crate_ident(prepared),
            "arm-none-eabi-objdump",
            &[INPUT_SECTION],
        )?)
    };
    let text = run_qemu(target, &board, &elf, opts.qemu_timeout)?;
    let outputs = harness::parse_outputs(&text, &prepared.output_types)?;
    Ok(Outcome::Mcu(McuFigures {
        flash_bytes,
        ram_bytes,
        psram_bytes,
        stack_bytes: harness::value(&text, "stack_bytes")?,
        instructions: instructions(target, &board, &text)?,
        matches_host: expected.map(|want| super::outputs_match(&outputs, want)),
        weights_in: layout.weights_in,
        arena_in: layout.model_in,
        attribution,
    }))
}

/// The instructions of every layer, from a harness built with the model's `profile`
/// feature, in the order of `emit::profile_layers`. Each layer's count includes one read of
/// the tick counter and is a multiple of the instructions of one tick.
pub(super) fn layer_instructions(
    work_dir: &Path,
    prepared: &Prepared,
    target: Target,
    opt: &OptLevel,
    opts: &BenchOptions,
) -> Result<Vec<f64>, Error> {
    let board = board_of(target)?;
    let layout = layout(&board, weight_bytes(prepared), model_bytes(prepared))
        .map_err(BenchError::DoesNotFit)?;
    let elf = build(work_dir, prepared, target, opt, opts, &layout, true)?;
    let text = run_qemu(target, &board, &elf, opts.qemu_timeout)?;
    // Arm harnesses print SysTick ticks, RISC-V ones `minstret` differences.
    let (key, per_count) = if target.is_riscv() {
        ("layer_instret", 1.0)
    } else {
        ("layer_ticks", instructions_per_tick(&board))
    };
    let mut counts = Vec::new();
    for line in text.lines() {
        let Some(count) = line
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
        else {
            continue;
        };
        let count: u64 = count.trim().parse().map_err(|_| BenchError::HarnessValue {
            key: key.into(),
            text: text.to_string(),
        })?;
        counts.push(count as f64 * per_count);
    }
    Ok(counts)
}

/// Bytes of RAM the model needs besides its weights: the arena and the I/O buffers.
fn model_bytes(prepared: &Prepared) -> u64 {
    let inputs: usize = prepared.inputs.iter().map(|t| t.ty().n_bytes()).sum();
    let outputs: usize = prepared.output_types.iter().map(|t| t.n_bytes()).sum();
    (prepared.compiled.plan.arena_bytes + inputs + outputs) as u64
}

/// Bytes of the weight blob of the compile the harness embeds.
fn weight_bytes(prepared: &Prepared) -> u64 {
    prepared.compiled.plan.weight_bytes as u64
}

fn build(
    work_dir: &Path,
    prepared: &Prepared,
    target: Target,
    opt: &OptLevel,
    opts: &BenchOptions,
    layout: &Layout,
    profile: bool,
) -> Result<PathBuf, Error> {
    let core = target.core();
    let board = board_of(target)?;
    let triple = core.triple;
    let package = harness::package_name(prepared);
    let dir = work_dir.join(target.name()).join(&prepared.name);
    let cargo_toml = format!(
        "# Written by `zantc bench`: the {label} harness for `{model}`.\n\
         # `panic = \"immediate-abort\"` (built into `core` by -Zbuild-std) turns every panic into\n\
         # a trap, so no panic message or `core::fmt` is linked.\n\
         cargo-features = [\"panic-immediate-abort\"]\n\n\
         [package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [features]\n# The model and its buffers in PSRAM rather than RAM.\nmodel-in-psram = []\n\
         # The model's per-layer probe (`zantc bench --per-layer`).\nprofile = []\n\n\
         [dependencies]\n{platform}zant-runtime = {{ path = {runtime:?} }}\n\n\
         {profiles}\n[profile.dev]\npanic = \"abort\"\n\n[workspace]\n",
        label = target.label(),
        platform = if target.is_riscv() {
            // `riscv` brings the critical section `riscv-semihosting` needs.
            "riscv-rt = \"0.18\"\n\
             riscv = { version = \"0.16\", features = [\"critical-section-single-hart\"] }\n\
             riscv-semihosting = { version = \"0.2\", default-features = false }\n"
        } else {
            "cortex-m = \"0.7\"\ncortex-m-rt = \"0.7\"\ncortex-m-semihosting = \"0.5\"\n"
        },
        model = prepared.model_file.display(),
        runtime = crate::default_runtime_path(),
        profiles = harness::profiles(&opts.opt_levels, "immediate-abort", false),
    );
    // The core's `target-cpu` where the table names one; a plain triple otherwise, as a
    // firmware built for the triple alone would be.
    let cpu_flag = core
        .cpu
        .map(|cpu| format!(", \"-C\", \"target-cpu={cpu}\""))
        .into_iter()
        .chain(
            core.target_features
                .map(|features| format!(", \"-C\", \"target-feature={features}\"")),
        )
        .collect::<String>();
    // Arm links with the Arm binutils; RISC-V with rust-lld, the target's default, which
    // reads the memory map before riscv-rt's script.
    let (linker, scripts) = if target.is_riscv() {
        (
            "",
            "\"-C\", \"link-arg=-Tmemory.x\", \"-C\", \"link-arg=-Tlink.x\"",
        )
    } else {
        (
            "linker = \"arm-none-eabi-ld\"\n",
            "\"-C\", \"link-arg=-Tlink.x\"",
        )
    };
    let config = format!(
        "[build]\ntarget = \"{triple}\"\n\n\
         [target.{triple}]\n{linker}\
         rustflags = [{scripts}{cpu_flag}]\n\n\
         [unstable]\nbuild-std = [\"core\", \"panic_abort\"]\n"
    );
    let section = match layout.weights_in {
        Region::Psram => ".zant_psram",
        _ => ".rodata.zant_weights",
    };
    let mut files = harness::model_files(prepared, Some(section))?;
    files.push(file("Cargo.toml", cargo_toml));
    files.push(file(".cargo/config.toml", config));
    files.push(file("memory.x", memory_x(target, &board)));
    files.push(file("build.rs", harness::MCU_BUILD));
    let main = if target.is_riscv() {
        harness::RISCV_MAIN
    } else {
        harness::CORTEX_M_MAIN
    };
    files.push(file("src/main.rs", main));
    files.push(file("src/mcu_report.rs", harness::MCU_REPORT));
    harness::write(&dir, &files)?;

    let target_dir = work_dir.join(format!("target-{}", target.name()));
    let mut cargo = Command::new(CARGO);
    cargo
        .args(["build", "--quiet", "--profile", &opt.profile()])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTC", RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if layout.model_in == Region::Psram {
        cargo.args(["--features", "model-in-psram"]);
    }
    if profile {
        cargo.args(["--features", "profile"]);
    }
    let out = cargo.output().map_err(io_error(format!(
        "cannot run {CARGO} (install the toolchain with scripts/setup-targets.sh)"
    )))?;
    if !out.status.success() {
        return Err(BenchError::Build {
            harness: target.label(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
        .into());
    }
    Ok(target_dir.join(triple).join(opt.profile()).join(package))
}

/// The board's memories, the benchmark's inputs in RAM (`.zant_input`, loaded by QEMU with
/// the image, so they take no flash), and the PSRAM sections the harness may use:
/// `.zant_psram` for weights (loaded by QEMU with the image) and `.zant_psram_bss` for the
/// model (not loaded; an arena needs no initial value).
fn memory_x(target: Target, board: &Board) -> String {
    let (flash, ram, psram) = (board.flash, board.ram, board.psram);
    // riscv-rt places its sections by region aliases.
    let aliases = if target.is_riscv() {
        "REGION_ALIAS(\"REGION_TEXT\", FLASH);\nREGION_ALIAS(\"REGION_RODATA\", FLASH);\n\
         REGION_ALIAS(\"REGION_DATA\", RAM);\nREGION_ALIAS(\"REGION_BSS\", RAM);\n\
         REGION_ALIAS(\"REGION_HEAP\", RAM);\nREGION_ALIAS(\"REGION_STACK\", RAM);\n\n"
    } else {
        ""
    };
    let map = format!(
        "/* {}, written by `zantc bench`. */\n\
         MEMORY\n{{\n  FLASH : ORIGIN = {:#010x}, LENGTH = {}K\n  RAM   : ORIGIN = {:#010x}, LENGTH = {}K\n  \
         PSRAM : ORIGIN = {:#010x}, LENGTH = {}K\n}}\n\n\
         SECTIONS\n{{\n  .zant_input : ALIGN(4) {{ KEEP(*(.zant_input)); }} > RAM\n  \
         .zant_psram : ALIGN(64) {{ KEEP(*(.zant_psram)); }} > PSRAM\n  \
         .zant_psram_bss (NOLOAD) : ALIGN(64) {{ *(.zant_psram_bss); }} > PSRAM\n}}\nINSERT AFTER .rodata;\n",
        board.machine,
        flash.0,
        flash.1 >> 10,
        ram.0,
        ram.1 >> 10,
        psram.0,
        psram.1 >> 10,
    );
    match map.split_once("SECTIONS") {
        Some((memory, sections)) => format!("{memory}{aliases}SECTIONS{sections}"),
        None => map,
    }
}

/// Flash, RAM and PSRAM bytes of the image, from its allocated sections: a section takes
/// room in the memory its address is in, and `.data` also in flash, for its load image.
fn image_sizes(board: &Board, elf: &Path) -> Result<(u64, u64, u64), Error> {
    let (flash_region, ram_region, psram_region) = (board.flash, board.ram, board.psram);
    use object::{Object, ObjectSection, SectionKind};
    let bytes = std::fs::read(elf).map_err(io_error(format!("cannot read {}", elf.display())))?;
    let file = object::File::parse(&*bytes).map_err(|e| BenchError::Elf {
        path: elf.to_path_buf(),
        message: e.to_string(),
    })?;
    let within =
        |region: (u64, u64), address: u64| (region.0..region.0 + region.1).contains(&address);
    let (mut flash, mut ram, mut psram) = (0, 0, 0);
    for section in file.sections() {
        let (address, size) = (section.address(), section.size());
        // Only allocated sections take room on the board: `.comment`, `.ARM.attributes`
        // and debug sections have address 0, inside the flash's range, but no room in it.
        let allocated = matches!(
            section.flags(),
            object::SectionFlags::Elf { sh_flags } if sh_flags & u64::from(object::elf::SHF_ALLOC) != 0
        );
        // riscv-rt reserves the RAM left after the statics for the stack as a section
        // (`.stack`), which is room, not a static: the stack figure counts its use.
        if size == 0 || !allocated || section.name() == Ok(".stack") {
            continue;
        }
        let loaded = !matches!(
            section.kind(),
            SectionKind::UninitializedData | SectionKind::UninitializedTls
        );
        if within(flash_region, address) {
            flash += size;
        } else if within(ram_region, address) {
            ram += size;
            // `.data` has a load image in flash; the inputs are loaded into RAM by QEMU.
            if loaded && section.name() != Ok(INPUT_SECTION) {
                flash += size;
            }
        } else if within(psram_region, address) {
            psram += size;
        }
    }
    Ok((flash, ram, psram))
}

/// SysTick counts the board's core clock and QEMU's `-icount shift=0` clock runs one
/// instruction a nanosecond: 40 instructions a tick at the MPS2 boards' 25 MHz.
fn instructions_per_tick(board: &Board) -> f64 {
    1e9 / board.sysclk_hz as f64
}

/// Instructions of the inference, from the count the harness printed in two halves:
/// SysTick ticks on Arm, `minstret` on RISC-V.
fn instructions(target: Target, board: &Board, text: &str) -> Result<u64, Error> {
    if target.is_riscv() {
        let high: u64 = harness::value(text, "instret_high")?;
        let low: u64 = harness::value(text, "instret_low")?;
        return Ok((high << 32) | low);
    }
    let high: u64 = harness::value(text, "ticks_high")?;
    let low: u64 = harness::value(text, "ticks_low")?;
    Ok((((high << 32) | low) as f64 * instructions_per_tick(board)).round() as u64)
}

/// Runs the harness on `board` in QEMU (`-icount shift=0`) and returns what it printed.
fn run_qemu(target: Target, board: &Board, elf: &Path, timeout: Duration) -> Result<String, Error> {
    let mut qemu = if target.is_riscv() {
        // `-bios none` starts the image at the DRAM's base in machine mode; `sleep=off`
        // keeps `minstret` free of real time.
        let mut qemu = Command::new("qemu-system-riscv32");
        qemu.args(["-machine", board.machine, "-cpu", board.cpu, "-m", "64M"])
            .args(["-bios", "none", "-icount", "shift=0,sleep=off"]);
        qemu
    } else {
        let mut qemu = Command::new("qemu-system-arm");
        qemu.args(["-cpu", board.cpu, "-machine", board.machine])
            .args(["-icount", "shift=0"]);
        qemu
    };
    let mut child = qemu
        .args([
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
        ])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_error(format!("cannot run QEMU for {}", target.name())))?;
    // Read the pipes on threads so a chatty run cannot fill them and stall QEMU.
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(io_error("cannot wait for QEMU".into()))?
        {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::QemuTimeout(timeout.as_secs()).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_thread
        .join()
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let stderr = err_thread
        .join()
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    if !status.success() {
        return Err(BenchError::Qemu {
            status: status.to_string(),
            output: format!(
                "{}{}",
                stdout.lines().take(20).collect::<Vec<_>>().join("\n"),
                stderr
            ),
        }
        .into());
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let board = Target::CortexM7.board().unwrap();
        let fits = |w: u64, m: u64, weights_in, model_in| {
            assert_eq!(
                layout(&board, w, m),
                Ok(Layout {
                    weights_in,
                    model_in
                })
            );
        };
        fits(24_000, 40_000, Region::Flash, Region::Ram);
        fits(6 << 20, 1 << 20, Region::Psram, Region::Ram);
        fits(1 << 20, 6 << 20, Region::Flash, Region::Psram);
        // mobilenet_v2: 13.3 MiB of weights and a 5.7 MiB arena.
        let err = layout(&board, 13_951_264, 6_021_120 + 606_112).unwrap_err();
        assert!(err.contains("PSRAM"), "{err}");
    }
}
