//! The Cortex-M7 side of `zantc bench`: lays the model out in the memories of QEMU's
//! `mps2-an500`, builds the harness with Debian's Rust and `-Zbuild-std`
//! (`scripts/setup-cortex-m7.sh`), reads flash and RAM from its ELF sections, and runs it
//! in QEMU for the instructions, the stack's high-water mark and the outputs.
//!
//! The board has 4 MiB of code memory at 0 (the flash), 4 MiB of RAM at `0x2000_0000` and
//! 16 MiB of PSRAM at `0x6000_0000`. Weights go to flash, or to the PSRAM when they do not
//! fit; the model (its arena) and its buffers go to RAM, or to the PSRAM when they do not
//! fit. A model that fits neither way is reported as not fitting, with the numbers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::attribution;
use super::harness::{self, file};
use super::report::fmt_bytes;
use super::{
    io_error, BenchError, BenchOptions, CortexM7Figures, OptLevel, Outcome, Prepared, Region,
};
use crate::ir::Tensor;
use crate::Error;

const FLASH: (u64, u64) = (0x0000_0000, 4 << 20);
const RAM: (u64, u64) = (0x2000_0000, 4 << 20);
const PSRAM: (u64, u64) = (0x6000_0000, 16 << 20);
/// Flash kept for code and constants besides the weights.
const CODE_ROOM: u64 = 256 << 10;
/// RAM kept for the stack besides the statics.
const STACK_ROOM: u64 = 256 << 10;

const TARGET: &str = "thumbv7em-none-eabihf";
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

/// Places the weights and the model (arena plus I/O buffers).
pub(super) fn layout(weight_bytes: u64, model_bytes: u64) -> Result<Layout, String> {
    let weights_in = if weight_bytes + CODE_ROOM <= FLASH.1 {
        Region::Flash
    } else {
        Region::Psram
    };
    let model_in = if model_bytes + STACK_ROOM <= RAM.1 {
        Region::Ram
    } else {
        Region::Psram
    };
    let psram = [(weights_in, weight_bytes), (model_in, model_bytes)]
        .iter()
        .filter(|(r, _)| *r == Region::Psram)
        .map(|(_, n)| n)
        .sum::<u64>();
    if psram > PSRAM.1 {
        return Err(format!(
            "{} of weights and {} of arena and buffers; flash is {}, RAM {} and PSRAM {}, \
             so {} would have to go to the PSRAM",
            fmt_bytes(weight_bytes as f64),
            fmt_bytes(model_bytes as f64),
            fmt_bytes(FLASH.1 as f64),
            fmt_bytes(RAM.1 as f64),
            fmt_bytes(PSRAM.1 as f64),
            fmt_bytes(psram as f64),
        ));
    }
    Ok(Layout {
        weights_in,
        model_in,
    })
}

/// Builds and runs `prepared`'s Cortex-M7 harness at `opt`; `expected` are the outputs to
/// match (the host harness's at the same opt level, else the reference data).
pub(super) fn run(
    work_dir: &Path,
    prepared: &Prepared,
    opt: &OptLevel,
    opts: &BenchOptions,
    expected: Option<&[Tensor]>,
) -> Result<Outcome, Error> {
    let layout = match layout(prepared.info.weight_bytes, model_bytes(prepared)) {
        Ok(layout) => layout,
        Err(reason) => return Ok(Outcome::DoesNotFit { reason }),
    };
    let elf = build(work_dir, prepared, opt, opts, &layout, false)?;
    let (flash_bytes, ram_bytes, psram_bytes) = image_sizes(&elf)?;
    let attribution = attribution::attribute(
        &elf,
        &harness::crate_ident(prepared),
        "arm-none-eabi-objdump",
        &[INPUT_SECTION],
    )?;
    let text = run_qemu(&elf, opts.qemu_timeout)?;
    let outputs = harness::parse_outputs(&text, &prepared.output_types)?;
    Ok(Outcome::CortexM7(CortexM7Figures {
        flash_bytes,
        ram_bytes,
        psram_bytes,
        stack_bytes: harness::value(&text, "stack_bytes")?,
        instructions: instructions(&text)?,
        matches_host: expected.map(|want| super::outputs_match(&outputs, want)),
        weights_in: layout.weights_in,
        arena_in: layout.model_in,
        attribution: Some(attribution),
    }))
}

/// The instructions of every layer, from a harness built with the model's `profile`
/// feature, in the order of `emit::profile_layers`. Each layer's count includes one read of
/// the tick counter and is a multiple of [`INSTRUCTIONS_PER_TICK`].
pub(super) fn layer_instructions(
    work_dir: &Path,
    prepared: &Prepared,
    opt: &OptLevel,
    opts: &BenchOptions,
) -> Result<Vec<f64>, Error> {
    let layout = layout(prepared.info.weight_bytes, model_bytes(prepared))
        .map_err(BenchError::DoesNotFit)?;
    let elf = build(work_dir, prepared, opt, opts, &layout, true)?;
    let text = run_qemu(&elf, opts.qemu_timeout)?;
    let mut counts = Vec::new();
    for line in text.lines() {
        let Some(ticks) = line.strip_prefix("layer_ticks=") else {
            continue;
        };
        let ticks: u64 = ticks.trim().parse().map_err(|_| BenchError::HarnessValue {
            key: "layer_ticks".into(),
            text: text.to_string(),
        })?;
        counts.push((ticks * INSTRUCTIONS_PER_TICK) as f64);
    }
    Ok(counts)
}

/// Bytes of RAM the model needs besides its weights: the arena and the I/O buffers.
fn model_bytes(prepared: &Prepared) -> u64 {
    let inputs: usize = prepared.inputs.iter().map(|t| t.ty().n_bytes()).sum();
    let outputs: usize = prepared.output_types.iter().map(|t| t.n_bytes()).sum();
    prepared.info.arena_bytes + (inputs + outputs) as u64
}

fn build(
    work_dir: &Path,
    prepared: &Prepared,
    opt: &OptLevel,
    opts: &BenchOptions,
    layout: &Layout,
    profile: bool,
) -> Result<PathBuf, Error> {
    let package = harness::package_name(prepared);
    let dir = work_dir.join("cortex-m7").join(&prepared.name);
    let cargo_toml = format!(
        "# Written by `zantc bench`: the Cortex-M7 harness for `{model}`.\n\
         # `panic = \"immediate-abort\"` (built into `core` by -Zbuild-std) turns every panic into\n\
         # a trap, so no panic message or `core::fmt` is linked.\n\
         cargo-features = [\"panic-immediate-abort\"]\n\n\
         [package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [features]\n# The model and its buffers in PSRAM rather than RAM.\nmodel-in-psram = []\n\
         # The model's per-layer probe (`zantc bench --per-layer`).\nprofile = []\n\n\
         [dependencies]\ncortex-m = \"0.7\"\ncortex-m-rt = \"0.7\"\ncortex-m-semihosting = \"0.5\"\n\
         zant-runtime = {{ path = {runtime:?} }}\n\n{profiles}\n[profile.dev]\npanic = \"abort\"\n\n[workspace]\n",
        model = prepared.model_file.display(),
        runtime = crate::default_runtime_path(),
        profiles = harness::profiles(&opts.opt_levels, "immediate-abort", false),
    );
    let config = format!(
        "[build]\ntarget = \"{TARGET}\"\n\n\
         [target.{TARGET}]\nlinker = \"arm-none-eabi-ld\"\n\
         rustflags = [\"-C\", \"link-arg=-Tlink.x\", \"-C\", \"target-cpu=cortex-m7\"]\n\n\
         [unstable]\nbuild-std = [\"core\", \"panic_abort\"]\n"
    );
    let section = match layout.weights_in {
        Region::Psram => ".zant_psram",
        _ => ".rodata.zant_weights",
    };
    let mut files = harness::model_files(prepared, Some(section))?;
    files.push(file("Cargo.toml", cargo_toml));
    files.push(file(".cargo/config.toml", config));
    files.push(file("memory.x", memory_x()));
    files.push(file("build.rs", harness::CORTEX_M7_BUILD));
    files.push(file("src/main.rs", harness::CORTEX_M7_MAIN));
    harness::write(&dir, &files)?;

    let target_dir = work_dir.join("target-cortex-m7");
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
        "cannot run {CARGO} (install the toolchain with scripts/setup-cortex-m7.sh)"
    )))?;
    if !out.status.success() {
        return Err(BenchError::Build {
            harness: "Cortex-M7",
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
        .into());
    }
    Ok(target_dir.join(TARGET).join(opt.profile()).join(package))
}

/// The board's memories, the benchmark's inputs in RAM (`.zant_input`, loaded by QEMU with
/// the image, so they take no flash), and the PSRAM sections the harness may use:
/// `.zant_psram` for weights (loaded by QEMU with the image) and `.zant_psram_bss` for the
/// model (not loaded; an arena needs no initial value).
fn memory_x() -> String {
    format!(
        "/* mps2-an500, written by `zantc bench`. */\n\
         MEMORY\n{{\n  FLASH : ORIGIN = {:#010x}, LENGTH = {}K\n  RAM   : ORIGIN = {:#010x}, LENGTH = {}K\n  \
         PSRAM : ORIGIN = {:#010x}, LENGTH = {}K\n}}\n\n\
         SECTIONS\n{{\n  .zant_input : ALIGN(4) {{ KEEP(*(.zant_input)); }} > RAM\n  \
         .zant_psram : ALIGN(64) {{ KEEP(*(.zant_psram)); }} > PSRAM\n  \
         .zant_psram_bss (NOLOAD) : ALIGN(64) {{ *(.zant_psram_bss); }} > PSRAM\n}}\nINSERT AFTER .rodata;\n",
        FLASH.0,
        FLASH.1 >> 10,
        RAM.0,
        RAM.1 >> 10,
        PSRAM.0,
        PSRAM.1 >> 10,
    )
}

/// Flash, RAM and PSRAM bytes of the image, from its allocated sections: a section takes
/// room in the memory its address is in, and `.data` also in flash, for its load image.
fn image_sizes(elf: &Path) -> Result<(u64, u64, u64), Error> {
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
        if size == 0 || !allocated {
            continue;
        }
        let loaded = !matches!(
            section.kind(),
            SectionKind::UninitializedData | SectionKind::UninitializedTls
        );
        if within(FLASH, address) {
            flash += size;
        } else if within(RAM, address) {
            ram += size;
            // `.data` has a load image in flash; the inputs are loaded into RAM by QEMU.
            if loaded && section.name() != Ok(INPUT_SECTION) {
                flash += size;
            }
        } else if within(PSRAM, address) {
            psram += size;
        }
    }
    Ok((flash, ram, psram))
}

/// SysTick runs at 25 MHz and QEMU's `-icount shift=0` clock at one instruction per
/// nanosecond, so one tick is 40 instructions.
const INSTRUCTIONS_PER_TICK: u64 = 40;

/// Instructions of the inference, from the tick count the harness printed in two halves.
fn instructions(text: &str) -> Result<u64, Error> {
    let high: u64 = harness::value(text, "ticks_high")?;
    let low: u64 = harness::value(text, "ticks_low")?;
    Ok(((high << 32) | low) * INSTRUCTIONS_PER_TICK)
}

/// Runs the harness in QEMU (`-icount shift=0`) and returns what it printed.
fn run_qemu(elf: &Path, timeout: Duration) -> Result<String, Error> {
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-cpu",
            "cortex-m7",
            "-machine",
            "mps2-an500",
            "-nographic",
            "-semihosting-config",
            "enable=on,target=native",
            "-icount",
            "shift=0",
            "-kernel",
        ])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_error("cannot run qemu-system-arm".into()))?;
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
        let fits = |w: u64, m: u64, weights_in, model_in| {
            assert_eq!(
                layout(w, m),
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
        let err = layout(13_951_264, 6_021_120 + 606_112).unwrap_err();
        assert!(err.contains("PSRAM"), "{err}");
    }
}
