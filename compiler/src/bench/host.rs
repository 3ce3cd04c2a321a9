//! The host (x86_64) side of `zantc bench`: builds the harness per opt level, reads its
//! section sizes, counts instructions with callgrind, and runs it for time, heap and RSS.
//! Also the peers (`--baseline`): ONNX Runtime (`scripts/ort_bench.py`) and tract
//! (`scripts/tract_bench.py`), both from the peer venv.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use super::attribution;
use super::harness::{self, file};
use super::{io_error, Baseline, BenchError, BenchOptions, HostFigures, OptLevel, Prepared};
use crate::ir::Tensor;
use crate::Error;

/// One host run's figures, the outputs the harness computed, and the harness.
pub(super) struct HostRun {
    pub figures: HostFigures,
    pub outputs: Vec<Tensor>,
    pub exe: PathBuf,
}

/// Rounds of [`time_interleaved`]: each harness's timing budget is split into this many
/// slices, taken in turn with the model's other harnesses.
pub(super) const TIMING_ROUNDS: u32 = 5;

/// Builds and measures `prepared`'s host harness at `opt`.
pub(super) fn run(
    work_dir: &Path,
    prepared: &Prepared,
    opt: &OptLevel,
    opts: &BenchOptions,
) -> Result<HostRun, Error> {
    let exe = build(work_dir, prepared, opt, opts, Build::Timed)?;
    let sizes = section_sizes(&exe)?;
    let attribution =
        attribution::attribute(&exe, &harness::crate_ident(prepared), "objdump", &[])?;
    let exe_bytes = stripped_bytes(&exe, "strip")?;
    let instructions = if !valgrind_installed() {
        None
    } else if count_build_differs(&opts.host_target_cpu) {
        let counted = build(work_dir, prepared, opt, opts, Build::Counted)?;
        callgrind_instructions(&counted)?
    } else {
        callgrind_instructions(&exe)?
    };
    // A first slice of timing, for the heap figures and the outputs; the time itself
    // comes from `time_interleaved` once all of the model's harnesses are built.
    let text = run_harness(&exe, opts, &["measure", &slice_ms(opts).to_string()])?;
    let outputs = harness::parse_outputs(&text, &prepared.output_types)?;
    let matches_reference = prepared
        .reference
        .as_ref()
        .map(|want| super::outputs_match(&outputs, want));
    let time_ns: f64 = harness::value(&text, "time_ns")?;
    let figures = HostFigures {
        exe_bytes,
        text_bytes: sizes.text,
        rodata_bytes: sizes.rodata,
        data_bytes: sizes.data,
        bss_bytes: sizes.bss,
        arena_bytes: prepared.info.arena_bytes,
        weight_bytes: prepared.info.weight_bytes,
        instructions,
        time_us: time_ns / 1000.0,
        time_runs: harness::value(&text, "time_runs")?,
        heap_allocs: harness::value(&text, "heap_allocs")?,
        heap_bytes: harness::value(&text, "heap_bytes")?,
        heap_peak_bytes: harness::value(&text, "heap_peak_bytes")?,
        heap_leaked_bytes: harness::value(&text, "heap_leaked_bytes")?,
        peak_rss_bytes: harness::value::<u64>(&text, "peak_rss_kib")? * 1024,
        matches_reference,
        ort_time_us: None,
        tract_time_us: None,
        litert_time_us: None,
        attribution: Some(attribution),
    };
    Ok(HostRun {
        figures,
        outputs,
        exe,
    })
}

/// Milliseconds of one timing slice: the budget over [`TIMING_ROUNDS`], at least 1.
fn slice_ms(opts: &BenchOptions) -> u128 {
    (opts.time_budget.as_millis() / u128::from(TIMING_ROUNDS)).max(1)
}

/// Something [`time_interleaved`] times a slice at a time.
pub(super) enum Timed {
    /// A zant harness (`HARNESS measure MS`).
    Harness(PathBuf),
    /// A peer's script, serving slices over a pipe.
    Peer(PeerServer),
}

impl Timed {
    /// One slice of `ms` milliseconds: the median time per inference in µs, and the
    /// number of inferences.
    fn slice(&mut self, ms: &str, opts: &BenchOptions) -> Result<(f64, u64), Error> {
        match self {
            Self::Harness(exe) => {
                let text = run_harness(exe, opts, &["measure", ms])?;
                let time_ns: f64 = harness::value(&text, "time_ns")?;
                Ok((time_ns / 1000.0, harness::value(&text, "time_runs")?))
            }
            Self::Peer(server) => server.measure(ms),
        }
    }
}

/// The wall time per inference of each of `timed` (µs) and the number of timed
/// inferences, or why it could not be timed. They take turns: [`TIMING_ROUNDS`] rounds,
/// each giving every one a slice of the budget, and the time is the median of its
/// slices' medians. On a shared machine the speed drifts over seconds; taken in turn, the
/// opt levels of one model and its peers see the same drift, so their ratios hold where
/// figures timed minutes apart did not (issue 11: up to 50 % between runs; a peer timed
/// after the harnesses once gave a ratio of 1.62 where the same binaries in turn gave
/// 0.95). One that fails drops out of the later rounds.
///
/// The order of the turns reverses every round (first to last, then last to first), so
/// that no one always runs at the same place in a round: in back-to-back runs of two
/// builds of mlperf-ic's harness on an Intel host, the second of each pair ran about
/// 4 % faster, whichever build it was.
pub(super) fn time_interleaved(
    timed: &mut [Timed],
    opts: &BenchOptions,
) -> Vec<Result<(f64, u64), Error>> {
    let slice = slice_ms(opts).to_string();
    let mut medians = vec![Vec::new(); timed.len()];
    let mut runs = vec![0u64; timed.len()];
    let mut failed: Vec<Option<Error>> = timed.iter().map(|_| None).collect();
    for round in 0..TIMING_ROUNDS {
        for i in turns(timed.len(), round) {
            let one = &mut timed[i];
            if failed[i].is_some() {
                continue;
            }
            match one.slice(&slice, opts) {
                Ok((time_us, n)) => {
                    medians[i].push(time_us);
                    runs[i] += n;
                }
                Err(e) => failed[i] = Some(e),
            }
        }
    }
    medians
        .into_iter()
        .zip(runs)
        .zip(failed)
        .map(|((mut times, runs), failed)| match failed {
            Some(e) => Err(e),
            None => {
                times.sort_by(f64::total_cmp);
                Ok((times[times.len() / 2], runs))
            }
        })
        .collect()
}

/// The order of [`time_interleaved`]'s turns in round `round` among `count`: first to
/// last in even rounds, last to first in odd ones.
fn turns(count: usize, round: u32) -> impl Iterator<Item = usize> {
    let reversed = round % 2 == 1;
    (0..count).map(move |i| if reversed { count - 1 - i } else { i })
}

/// The size of the executable once stripped: binutils' `strip` for the executable's
/// architecture writes a stripped copy beside it. The harness itself keeps its symbols for
/// the code attribution.
pub(super) fn stripped_bytes(exe: &Path, strip: &str) -> Result<u64, Error> {
    let copy = exe.with_extension("stripped");
    let out = Command::new(strip)
        .arg("-o")
        .arg(&copy)
        .arg(exe)
        .output()
        .map_err(io_error(format!("cannot run {strip} (binutils)")))?;
    if !out.status.success() {
        return Err(BenchError::Harness {
            status: out.status.to_string(),
            stderr: format!("strip: {}", String::from_utf8_lossy(&out.stderr).trim()),
        }
        .into());
    }
    Ok(std::fs::metadata(&copy)
        .map_err(io_error(format!("cannot read {}", copy.display())))?
        .len())
}

/// The time of every layer in µs, from a harness built with the model's `profile` feature
/// (`harness layers BUDGET_MS`), in the order of `emit::profile_layers`; and the time of
/// the plain inferences it interleaves with the profiled ones (means over the faster half
/// of each, see the harness).
pub(super) fn layer_times(
    work_dir: &Path,
    prepared: &Prepared,
    opt: &OptLevel,
    opts: &BenchOptions,
) -> Result<(Vec<f64>, f64), Error> {
    let exe = build(work_dir, prepared, opt, opts, Build::Profiled)?;
    let budget_ms = opts.time_budget.as_millis().to_string();
    let text = run_harness(&exe, opts, &["layers", &budget_ms])?;
    let mut times = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("layer_ns ") else {
            continue;
        };
        let ns: Option<f64> = rest.split_once(' ').and_then(|(_, ns)| ns.parse().ok());
        times.push(
            ns.ok_or_else(|| BenchError::HarnessValue {
                key: "layer_ns".into(),
                text: text.to_string(),
            })? / 1000.0,
        );
    }
    let whole: f64 = harness::value(&text, "time_ns")?;
    Ok((times, whole / 1000.0))
}

/// Which harness a build makes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    /// The harness that is timed, sized and checked: the target CPU as given.
    Timed,
    /// The same with the model's per-layer probe (`--per-layer`).
    Profiled,
    /// The harness callgrind counts, without the extensions valgrind cannot decode
    /// ([`undecoded_features`]), in a target folder of its own. Only built when the target
    /// CPU enables one of them ([`count_build_differs`]).
    Counted,
}

/// Writes the harness crate (once per model: the opt levels are profiles of it) and builds
/// it with the profile of `opt` as `kind` says. Returns the executable, with its symbols.
fn build(
    work_dir: &Path,
    prepared: &Prepared,
    opt: &OptLevel,
    opts: &BenchOptions,
    kind: Build,
) -> Result<PathBuf, Error> {
    let profile = kind == Build::Profiled;
    let package = harness::package_name(prepared);
    let dir = work_dir.join("host").join(&prepared.name);
    write_harness(&dir, prepared, opts)?;

    let target_dir = work_dir.join(match kind {
        Build::Counted => "target-host-count",
        Build::Timed | Build::Profiled => "target-host",
    });
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The user's own RUSTFLAGS still apply; the target CPU comes last, so it wins.
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    rustflags.push_str(&format!(" -C target-cpu={}", opts.host_target_cpu));
    if let (Build::Counted, Some(features)) = (kind, undecoded_features()) {
        rustflags.push_str(&format!(" -C target-feature={features}"));
    }
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "--profile", &opt.profile()])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"));
    if profile {
        command.args(["--features", "profile"]);
    }
    let out = command
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", rustflags.trim_start())
        .output()
        .map_err(io_error("cannot run cargo".into()))?;
    if !out.status.success() {
        return Err(BenchError::Build {
            harness: "host",
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
        .into());
    }
    Ok(target_dir.join(opt.profile()).join(package))
}

/// Writes the host harness crate for `prepared` into `dir` (once per model: the opt levels
/// are profiles of it). The AArch64 Linux harness is the same crate (`user_mode.rs`).
pub(super) fn write_harness(
    dir: &Path,
    prepared: &Prepared,
    opts: &BenchOptions,
) -> Result<(), Error> {
    let package = harness::package_name(prepared);
    let cargo_toml = format!(
        "# Written by `zantc bench`: the host harness for `{model}`.\n\
         [package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [features]\n# The model's per-layer probe (`zantc bench --per-layer`).\nprofile = []\n\n\
         [dependencies]\nzant-runtime = {{ path = {runtime:?} }}\n\n{profiles}\n[workspace]\n",
        model = prepared.model_file.display(),
        runtime = crate::default_runtime_path(),
        profiles = harness::profiles(&opts.opt_levels, "abort", true),
    );
    let mut files = harness::model_files(prepared, None)?;
    files.push(file("Cargo.toml", cargo_toml));
    files.push(file("src/main.rs", harness::HOST_MAIN));
    harness::write(dir, &files)
}

/// The x86_64 extensions valgrind (3.19, Debian's) does not decode, by their LLVM names.
/// The harness that callgrind counts is built without them, because callgrind would stop
/// at the first with SIGILL. The timed harness keeps them, as ONNX Runtime, which picks
/// its kernels at run time, does.
///
/// * `sse4a`: AMD's `insertq` and `extrq`, which LLVM picks for some byte shuffles of the
///   integer kernels under `native` on AMD CPUs.
/// * `avx512f`: AVX-512 (EVEX-encoded instructions), which `native` enables on CPUs that
///   have it (AMD Zen 4, Intel server parts). The integer convolutions use its VNNI byte
///   dot products where they are enabled (`zant_runtime::dsp::dpbusd`); LLVM also uses it
///   for copies and auto-vectorised loops. Turning it off turns off every AVX-512
///   extension, so the counted harness runs the kernels' AVX2 paths.
/// * `avxvnni` and its VEX-encoded kin: Intel parts since Alder Lake and Sapphire Rapids
///   have them beside AVX-512, and LLVM folds a `vpmaddwd` and its `vpaddd` into one
///   `vpdpwssd` where they are enabled, in the AVX2 paths too.
/// * `gfni`: LLVM lowers some byte shifts and bit reversals to a VEX-encoded
///   `vgf2p8affineqb` where it is enabled (wakeword's float harness, on Intel);
///   `vaes` and `vpclmulqdq`, VEX-encoded 256-bit forms of the same vintage, go with it.
/// * `avxneconvert`: VEX-encoded `bfloat16` conversions.
const UNDECODED: [&str; 10] = [
    "sse4a",
    "avx512f",
    "avxvnni",
    "avxvnniint8",
    "avxvnniint16",
    "avxifma",
    "avxneconvert",
    "gfni",
    "vaes",
    "vpclmulqdq",
];

/// [`UNDECODED`] as one `-C target-feature` value (`-sse4a,-avx512f,...`); `None` on
/// other architectures.
pub(super) fn undecoded_features() -> Option<String> {
    (std::env::consts::ARCH == "x86_64").then(|| {
        UNDECODED
            .iter()
            .map(|feature| format!("-{feature}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Whether `-C target-cpu=target_cpu` (with the user's RUSTFLAGS) enables one of the
/// [`undecoded_features`], so that the counted harness needs a build of its own, as rustc
/// reports it (`--print cfg`). When rustc cannot say, it assumes so: the separate build
/// costs time, a shared one would stop callgrind. Asked once per target CPU and process.
pub(super) fn count_build_differs(target_cpu: &str) -> bool {
    use std::sync::Mutex;
    static ANSWERS: Mutex<Vec<(String, bool)>> = Mutex::new(Vec::new());
    if undecoded_features().is_none() {
        return false;
    }
    let mut answers = ANSWERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&(_, differs)) = answers.iter().find(|(cpu, _)| cpu == target_cpu) {
        return differs;
    }
    let differs = ask_rustc(target_cpu);
    answers.push((target_cpu.to_string(), differs));
    differs
}

/// [`count_build_differs`], from rustc itself.
fn ask_rustc(target_cpu: &str) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let mut command = Command::new(rustc);
    command.args(["--print", "cfg"]);
    command.args(
        std::env::var("RUSTFLAGS")
            .unwrap_or_default()
            .split_whitespace(),
    );
    command.arg("-C").arg(format!("target-cpu={target_cpu}"));
    match command.output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).lines().any(|l| {
            l.strip_prefix("target_feature=\"")
                .and_then(|rest| rest.strip_suffix('"'))
                .is_some_and(|feature| UNDECODED.contains(&feature))
        }),
        _ => true,
    }
}

/// Whether valgrind runs here (callgrind counts the host's instructions).
fn valgrind_installed() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Sizes of the sections the tables show.
#[derive(Debug, Default)]
pub(super) struct Sizes {
    pub text: u64,
    pub rodata: u64,
    pub data: u64,
    pub bss: u64,
}

pub(super) fn section_sizes(exe: &Path) -> Result<Sizes, Error> {
    use object::{Object, ObjectSection};
    let bytes = std::fs::read(exe).map_err(io_error(format!("cannot read {}", exe.display())))?;
    let elf = object::File::parse(&*bytes).map_err(|e| BenchError::Elf {
        path: exe.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut sizes = Sizes::default();
    for section in elf.sections() {
        let slot = match section.name().unwrap_or_default() {
            ".text" => &mut sizes.text,
            ".rodata" => &mut sizes.rodata,
            ".data" => &mut sizes.data,
            ".bss" => &mut sizes.bss,
            _ => continue,
        };
        *slot += section.size();
    }
    Ok(sizes)
}

/// Instructions of one inference: callgrind's total for `count 1` less that for `count 0`
/// (start-up and input decoding cancel out). `None` when valgrind is not installed.
fn callgrind_instructions(exe: &Path) -> Result<Option<u64>, Error> {
    let mut totals = [0u64; 2];
    for (n, total) in totals.iter_mut().enumerate() {
        let out = match Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(exe)
            .args(["count", &n.to_string()])
            .output()
        {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("cannot run valgrind".into())(e)),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(BenchError::Callgrind(stderr.into_owned()).into());
        }
        *total = stderr
            .lines()
            .find_map(|l| l.split_once("Collected :").map(|(_, n)| n.trim()))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| BenchError::CallgrindTotal(stderr.to_string()))?;
    }
    Ok(Some(totals[1].saturating_sub(totals[0])))
}

/// Runs the harness `exe` with `args` and returns what it printed. With `--no-amx` the
/// harness forbids AMX's tiles (`ZANT_BENCH_AMX=off`, which it maps onto
/// `zant_runtime::dsp::amx::set_enabled`), so that it runs the path of a host without them.
fn run_harness(exe: &Path, opts: &BenchOptions, args: &[&str]) -> Result<String, Error> {
    let mut command = Command::new(exe);
    if !opts.host_amx {
        command.env("ZANT_BENCH_AMX", "off");
    }
    run_harness_with(command, exe, args)
}

/// Runs harness `exe` through `command` (the harness itself, or QEMU with the harness as
/// its program) with `args`, and returns what it printed.
pub(super) fn run_harness_with(
    mut command: Command,
    exe: &Path,
    args: &[&str],
) -> Result<String, Error> {
    let out = command
        .args(args)
        .output()
        .map_err(io_error(format!("cannot run {}", exe.display())))?;
    if !out.status.success() {
        return Err(BenchError::Harness {
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The version of `peer` in the peer venv, or why it cannot run there.
pub(super) fn peer_version(opts: &BenchOptions, peer: Baseline) -> Result<String, Error> {
    let unavailable = |reason: String| BenchError::PeerUnavailable { peer, reason };
    let python = &opts.peer_python;
    if !python.exists() {
        return Err(unavailable(format!(
            "{} does not exist: run scripts/setup-ort.sh",
            python.display()
        ))
        .into());
    }
    let module = peer.module();
    let out = Command::new(python)
        .arg("-c")
        .arg(format!(
            "import {module}; print({})",
            peer.version_expression()
        ))
        .output()
        .map_err(|e| unavailable(format!("cannot run {}: {e}", python.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().next().map(str::trim) {
        Some(version) if out.status.success() && !version.is_empty() => Ok(version.to_string()),
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().last().unwrap_or("no output").trim();
            Err(unavailable(format!(
                "{} cannot import `{module}` ({last}): run scripts/setup-ort.sh",
                python.display()
            ))
            .into())
        }
    }
}

/// The model tract times: `model` itself, or where it records symbolic shapes for
/// intermediate values (wakeword's `batch_size`), a copy in `dir` without them. tract
/// takes those shapes as facts, cannot unify `batch_size` with the batch of 1 the inputs
/// pin, and refuses the model; the shapes are hints that neither peer needs, and the
/// nodes and weights are the same bytes.
fn tract_model(model: &Path, dir: &Path) -> Result<PathBuf, Error> {
    let mut edit = crate::onnx::ModelEdit::open(model)?;
    if !edit.has_symbolic_value_info() {
        return Ok(model.to_path_buf());
    }
    edit.inline_external_data()?;
    edit.clear_value_info();
    let path = dir.join("model.onnx");
    std::fs::write(&path, edit.to_bytes())
        .map_err(io_error(format!("cannot write {}", path.display())))?;
    Ok(path)
}

/// The `.tflite` LiteRT times for `prepared`: the `model.tflite` beside its ONNX file. A
/// model without one, or a pruned one (the file holds the unpruned network), is not
/// timed, and the report's cell says why.
fn litert_model(prepared: &Prepared) -> Result<PathBuf, Error> {
    let unavailable = |reason: String| BenchError::PeerUnavailable {
        peer: Baseline::Litert,
        reason,
    };
    if prepared.peer_model != prepared.model_file {
        return Err(unavailable(
            "LiteRT times the model's .tflite, which holds the unpruned network".into(),
        )
        .into());
    }
    let tflite = prepared.model_file.with_file_name("model.tflite");
    if !tflite.is_file() {
        return Err(unavailable(format!(
            "LiteRT runs .tflite files, and {} does not exist",
            tflite.display()
        ))
        .into());
    }
    Ok(tflite)
}

/// A peer (one thread) on the same inputs as the harness, set up once and timed a slice
/// at a time: its script with `--serve` (`scripts/peer_timing.py` has the protocol). Its
/// stderr goes to a file beside the inputs, whose last line is the error when it fails.
pub(super) struct PeerServer {
    peer: Baseline,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: PathBuf,
}

impl PeerServer {
    /// Starts `peer` on `prepared`'s model and inputs, and waits until it has loaded the
    /// model and run one inference.
    pub(super) fn start(
        work_dir: &Path,
        prepared: &Prepared,
        opts: &BenchOptions,
        peer: Baseline,
    ) -> Result<Self, Error> {
        let dir = work_dir.join(peer.to_string()).join(&prepared.name);
        std::fs::create_dir_all(&dir)
            .map_err(io_error(format!("cannot create {}", dir.display())))?;
        let mut inputs = Vec::new();
        for (i, t) in prepared.inputs.iter().enumerate() {
            let path = dir.join(format!("input_{i}.npy"));
            crate::verify::write_npy(&path, t)?;
            inputs.push(path);
        }
        let model = match peer {
            Baseline::Tract => tract_model(&prepared.peer_model, &dir)?,
            Baseline::Ort => prepared.peer_model.clone(),
            Baseline::Litert => litert_model(prepared)?,
        };
        let mut command = Command::new(&opts.peer_python);
        command
            .arg(super::repo_root().join("scripts").join(peer.script()))
            .arg(&model)
            .args(&inputs)
            .arg("--serve");
        Self::serve(command, peer, &dir.join("stderr.txt"))
    }

    /// Runs `command`, which serves `peer`'s slices, with its stderr in the file `stderr`,
    /// and waits for its `ready`.
    fn serve(mut command: Command, peer: Baseline, stderr: &Path) -> Result<Self, Error> {
        let stderr_file = std::fs::File::create(stderr)
            .map_err(io_error(format!("cannot create {}", stderr.display())))?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr_file)
            .spawn()
            .map_err(io_error(format!(
                "cannot run {}",
                command.get_program().to_string_lossy()
            )))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io_error(format!("cannot talk to {}", peer.script()))(
                std::io::Error::other("no pipes"),
            ));
        };
        let mut server = PeerServer {
            peer,
            child,
            stdin,
            stdout: BufReader::new(stdout),
            stderr: stderr.to_path_buf(),
        };
        server.read_until("ready")?;
        Ok(server)
    }

    /// One slice of `ms` milliseconds: the median time per inference in µs and the
    /// number of inferences.
    fn measure(&mut self, ms: &str) -> Result<(f64, u64), Error> {
        if writeln!(self.stdin, "measure {ms}")
            .and_then(|()| self.stdin.flush())
            .is_err()
        {
            return Err(self.failure());
        }
        let text = self.read_until("end")?;
        Ok((
            harness::value(&text, "time_us")?,
            harness::value(&text, "runs")?,
        ))
    }

    /// The lines the script prints up to `last`, or its error if it stops first.
    fn read_until(&mut self, last: &str) -> Result<String, Error> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            match self.stdout.read_line(&mut line) {
                Ok(0) | Err(_) => return Err(self.failure()),
                Ok(_) if line.trim_end() == last => return Ok(text),
                Ok(_) => text.push_str(&line),
            }
        }
    }

    /// Why the script stopped: the last line of its stderr (a Python traceback ends
    /// with the error itself), once it has exited.
    fn failure(&mut self) -> Error {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        BenchError::Peer {
            script: self.peer.script(),
            stderr: stderr
                .lines()
                .last()
                .unwrap_or("no output")
                .trim()
                .to_string(),
        }
        .into()
    }
}

impl Drop for PeerServer {
    /// Ends the script (it would also exit at the end of its input).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tract gets wakeword (symbolic `batch_size` in its intermediate shapes) as a copy
    /// without those shapes, with the same nodes and weights, and mnist-8 (every shape
    /// known) as it is.
    #[test]
    fn tract_times_a_copy_without_symbolic_value_shapes() {
        let models = super::super::repo_root().join("../shared/models");
        let (wakeword, mnist) = (
            models.join("wakeword/model.onnx"),
            models.join("mnist-8/model.onnx"),
        );
        if !wakeword.exists() || !mnist.exists() {
            eprintln!("NOT RUN: ../shared/models/wakeword or mnist-8 is missing");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(tract_model(&mnist, dir.path()).unwrap(), mnist);
        let original = crate::onnx::ModelEdit::open(&wakeword).unwrap();
        assert!(original.has_symbolic_value_info());
        let copy = tract_model(&wakeword, dir.path()).unwrap();
        assert_eq!(copy, dir.path().join("model.onnx"));
        let copied = crate::onnx::ModelEdit::open(&copy).unwrap();
        assert!(!copied.has_symbolic_value_info());
        assert_eq!(copied.nodes(), original.nodes());
        assert_eq!(copied.inputs(), original.inputs());
        for name in original.initializer_names() {
            assert_eq!(
                copied.initializer(&name).unwrap(),
                original.initializer(&name).unwrap(),
                "{name}"
            );
        }
    }

    /// A stand-in peer: a shell script speaking the serving protocol.
    fn fake(script: &str, stderr: &Path) -> Result<PeerServer, Error> {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        PeerServer::serve(command, Baseline::Ort, stderr)
    }

    #[test]
    fn a_served_peer_answers_each_slice() {
        let dir = tempfile::tempdir().unwrap();
        let script = "echo ready; n=0; while read cmd ms; do n=$((n+1)); \
                      echo time_us=$ms.5; echo runs=$n; echo end; done";
        let mut server = fake(script, &dir.path().join("stderr.txt")).unwrap();
        assert_eq!(server.measure("40").unwrap(), (40.5, 1));
        assert_eq!(server.measure("7").unwrap(), (7.5, 2));
    }

    #[test]
    fn a_peer_that_stops_reports_its_last_stderr_line() {
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("stderr.txt");
        let before_ready = fake("echo Traceback >&2; echo 'ValueError: no op' >&2", &stderr);
        let message = before_ready.err().unwrap().to_string();
        assert_eq!(message, "ort_bench.py failed: ValueError: no op");

        let mid_way = "echo ready; read cmd; echo 'RuntimeError: out of memory' >&2";
        let mut server = fake(mid_way, &stderr).unwrap();
        let message = server.measure("5").unwrap_err().to_string();
        assert_eq!(message, "ort_bench.py failed: RuntimeError: out of memory");
    }

    /// Each round reverses the order of the turns: with three timed, the slices run
    /// a b c, c b a, a b c, … (each fake peer appends its name to one log as it serves).
    #[test]
    fn turns_reverse_every_round() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("order.txt");
        let peer = |name: &str| {
            let script = format!(
                "echo ready; while read cmd ms; do echo {name} >> '{}'; echo time_us=1; \
                 echo runs=1; echo end; done",
                log.display()
            );
            Timed::Peer(fake(&script, &dir.path().join(format!("{name}.txt"))).unwrap())
        };
        let mut timed = [peer("a"), peer("b"), peer("c")];
        let results = time_interleaved(&mut timed, &BenchOptions::default());
        assert!(results.iter().all(Result::is_ok));
        let order = std::fs::read_to_string(&log)
            .unwrap()
            .split_whitespace()
            .collect::<String>();
        let forward = "abc";
        let backward = "cba";
        let expected: String = (0..TIMING_ROUNDS)
            .map(|round| if round % 2 == 0 { forward } else { backward })
            .collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn turns_drop_what_fails_and_keep_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let steady =
            "echo ready; while read cmd ms; do echo time_us=3; echo runs=2; echo end; done";
        let twice = "echo ready; for i in 1 2; do read cmd ms; echo time_us=$i; echo runs=1; \
                     echo end; done; echo 'gone' >&2";
        let mut timed = [
            Timed::Peer(fake(steady, &dir.path().join("a.txt")).unwrap()),
            Timed::Peer(fake(twice, &dir.path().join("b.txt")).unwrap()),
        ];
        let opts = BenchOptions::default();
        let results = time_interleaved(&mut timed, &opts);
        assert_eq!(
            results[0].as_ref().unwrap(),
            &(3.0, 2 * u64::from(TIMING_ROUNDS))
        );
        let failed = results[1].as_ref().unwrap_err().to_string();
        assert_eq!(failed, "ort_bench.py failed: gone");
    }
}
