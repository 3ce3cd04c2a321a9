#!/usr/bin/env bash
# The whole test suite: what the README's test command and CI (.ci/run) run.
#   1. installs the emulated cores' toolchain (Debian's Rust, QEMU, linkers) if missing;
#   2. runs every Rust test of the workspace (unit, snapshots, end to end on
#      ../shared/models, the zero-allocation check, the build.rs route);
#   3. runs zant-runtime's unit tests, the differential kernel checks (checks/) and
#      clippy again built at opt-level "z", where `cfg(zant_size)` selects the loops
#      shaped for size (runtime/build.rs), and the unit tests and checks once more built
#      for this CPU (`target-cpu=native`, the AVX kernels);
#   4. builds the firmware example for the Cortex-M4F, M7 and M33 from plain triples, runs
#      each in QEMU and checks it against the host;
#   5. runs a short `zantc bench --per-layer` (mnist-8, opt-level 3, host and
#      Cortex-M7), which exits 1 unless its figures are sane (no heap use, outputs
#      matched, counts and sizes above zero, the Cortex-M7 layers summing to the whole
#      inference; the host's layer sum, a wall time, only warns);
#   6. benches four int8 models on the host and the Cortex-M7 (opt-level 3), whose outputs
#      must match the reference and the host's to the byte: the only end-to-end run of the
#      Arm DSP instructions and, on a CPU with AVX-512 VNNI, of the host's VNNI kernels
#      (runtime/src/dsp.rs) and, with AMX, of its tile products (runtime/src/dsp/amx.rs);
#   7. benches mlperf-kws-int8 on every other emulated core (Cortex-M0+, M3, M4F, M33,
#      RV32IMC, and AArch64 Linux under qemu-aarch64), whose outputs must match the
#      host's to the byte;
#   8. verifies the six int8 models of ../shared/models and five float ones on AArch64
#      Linux (scripts/aarch64.sh: built against Debian's prebuilt AArch64 std, run under
#      qemu-aarch64, against ONNX Runtime's outputs); `scripts/aarch64.sh` alone runs
#      every model;
#   9. runs the differential kernel checks on every emulated core (Cortex-M0+, M3, M4F,
#      M7, M33, M55, RV32IMC in QEMU, AArch64 under qemu-aarch64; scripts/checks-cores.sh),
#      in the background beside 4 to 8;
#  10. fuzzes the compiler for 60 s from its committed corpus (scripts/fuzz.sh smoke),
#      also in the background beside 4 to 8;
#  11. builds the model zoo and verifies every zoo model against ONNX Runtime
#      (scripts/zoo.sh; needs the venv of scripts/setup-ort.sh, which it creates), then
#      benches the zoo's keyword spotter on raw audio (STFT, mel, log, CNN) on the host
#      and the Cortex-M7, whose outputs must match the host's.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# Each phase prints its start and the seconds since the suite began, so a slow CI run
# shows where the time went.
phase() { echo "== suite: $1 (at ${SECONDS} s)"; }
# Two phases run in the background (below), each in a process group of its own; a suite
# that stops early stops them too.
background=()
trap 'for pid in "${background[@]}"; do kill -- -"$pid" 2>/dev/null; done; echo "== suite: finished in ${SECONDS} s"' EXIT
# start_background LOG COMMAND...: runs COMMAND in the background, its output to LOG.
start_background() {
    local log="$1"
    shift
    mkdir -p "$(dirname "$log")"
    setsid "$@" > "$log" 2>&1 &
    background+=("$!")
}
# finish_background NAME LOG LINES: waits for the oldest background phase, prints the
# last LINES lines of its LOG, and fails the suite if it failed.
finish_background() {
    local status=0
    wait "${background[0]}" || status=$?
    background=("${background[@]:1}")
    tail -n "$3" "$2"
    if [ "$status" -ne 0 ]; then
        echo "$1: FAILED (exit $status; the whole log is $2)" >&2
        exit 1
    fi
}
# The runners `zantc verify` builds (the workspace tests', zoo.sh's) go to one folder of
# this checkout, not to the system's temporary folder, which outlives a clone: a run on a
# fresh clone then costs what it costs on a fresh machine, and the zoo reuses the
# runtime the tests built.
export ZANT_TARGET_DIR="${ZANT_TARGET_DIR:-$root/target/zant-runners}"
# Disk. A CI machine ran out of space in the last phases (the AArch64 checks), so the
# suite keeps its footprint small: no incremental caches (a fresh clone never reuses
# them), line tables rather than full debug information in debug builds (a backtrace
# still names file and line), and each build folder that only one phase uses is removed
# once that phase has passed. ZANT_KEEP_TARGETS=1 keeps them (a second run then reuses
# the builds). The README has the measured footprint.
export CARGO_INCREMENTAL=0
export CARGO_PROFILE_DEV_DEBUG=line-tables-only
prune() {
    if [ -z "${ZANT_KEEP_TARGETS:-}" ]; then
        rm -rf "$@"
    fi
}
phase "toolchains of the emulated cores"
scripts/setup-targets.sh
phase "workspace tests"
# The runners the tests build (`zantc verify`'s, the generated crates' release profile)
# only check outputs: without LTO and with parallel code generation a model's runner
# built in 1 s instead of 6 once the runtime was built, and computes the same values
# (no float contraction either way). Only this
# command gets the override; the bench builds below keep the release profile as
# written, since their figures are the point.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo test --workspace
# The zantc those tests built (a debug build) runs the benches, the AArch64 check and the
# zoo below: they time and verify the crates it writes, never zantc itself, and a release
# build of the compiler would cost two more minutes.
export ZANTC="${CARGO_TARGET_DIR:-$root/target}/debug/zantc"
phase "runtime tests at opt-level z"
# Without LTO and with parallel code generation (the test binaries only check values;
# `cfg(zant_size)` follows the opt level alone): 169 s instead of 314 on two cores.
at_size=(env CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=false
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_TARGET_DIR=target/size)
"${at_size[@]}" cargo test --quiet --release -p zant-runtime --lib
# The differential kernel checks (checks/, docs/testing.md) on the loops shaped for size.
"${at_size[@]}" cargo test --quiet --release -p zant-checks -- --nocapture
# The kernels behind `target_feature = "avx"` (the GEMM's 6 × 16 and narrow tiles, the
# framed convolution's slivers) only compile for a CPU that has it, as bench harnesses
# do: their unit tests run again built for this machine.
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    phase "runtime tests for this CPU"
    # The AMX tile products (runtime/src/dsp/amx.rs, qconv/quads/{tiles,frames}.rs) run
    # only where the CPU has AMX-INT8 and Linux grants the tiles. Their tests run every
    # convolution twice, with the tiles allowed and forced off (the path of a host
    # without AMX, AMD Zen 4 and 5), and print which ran: "AMX tiles: RUN" or "NOT RUN
    # (why)", hence --nocapture. ZANT_AMX=off turns the tiles off in the whole run.
    RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=target/native \
        cargo test --quiet -p zant-runtime --lib -- --nocapture
    # The differential kernel checks on this CPU's kernels (AVX2, AVX-512, VNNI, AMX
    # forced on and off).
    RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=target/native \
        cargo test --quiet -p zant-checks -- --nocapture
    # The int8 kernels on VNNI (runtime/src/qconv/quads.rs, dsp::dpbusd), and the AMX
    # paths with them, compile only for a CPU with AVX-512 VNNI; the run above covers
    # them where this CPU has it.
    grep -qw avx512_vnni /proc/cpuinfo 2>/dev/null ||
        echo "zant-runtime VNNI and AMX int8 kernel tests: NOT RUN (this CPU has no AVX-512 VNNI)"
else
    echo "zant-runtime tests with AVX: NOT RUN (this CPU has no AVX2)"
fi
phase "runtime clippy at opt-level z"
"${at_size[@]}" cargo clippy --quiet --release -p zant-runtime --all-targets -- -D warnings
prune target/size target/native
# The differential kernel checks (checks/, docs/testing.md) on every emulated core: the
# firmware in QEMU for the Cortex-M cores and RV32IMC, the host test under qemu-aarch64.
# They need nothing the phases below build, and those phases' link-time-optimised builds
# (one code generation unit) leave one of the two cores idle much of the time, so the
# checks run beside them, in a process group of their own, their report printed when
# they end (1,084 s alone on a Zen 3 host).
phase "kernel checks on every core (started in the background)"
checks_log="$root/target/checks-cores.log"
start_background "$checks_log" scripts/checks-cores.sh
# The compiler's fuzz target (docs/fuzzing.md): the committed corpus replayed, then 60 s
# of coverage-guided fuzzing (fewer executions than alone, the cores being shared); a
# crash fails the suite. Beside the same phases, for the same reason.
phase "fuzz smoke (started in the background)"
fuzz_log="$root/target/fuzz-smoke.log"
start_background "$fuzz_log" scripts/fuzz.sh smoke
phase "firmware on three cores"
scripts/firmware.sh
prune examples/firmware/target
if [ -d ../shared/models/mnist-8 ] || [ -z "${ZANT_ALLOW_MISSING_SHARED:-}" ]; then
    # At opt-level 3, the int8 models' level below, so that they share its builds of the
    # runtime and the Cortex-M7's core; opt-level z runs in the firmware and the runtime
    # tests above.
    phase "bench mnist-8"
    "$ZANTC" bench ../shared/models/mnist-8 \
        --opt-levels 3 --targets host,cortex-m7 --time-budget-ms 200 --per-layer \
        --json target/bench-ci.json --md target/bench-ci.md
    phase "bench four int8 models"
    "$ZANTC" bench ../shared/models/mlperf-kws-int8 \
        ../shared/models/mlperf-vww-int8 ../shared/models/mlperf-ad-int8 \
        ../shared/models/mlperf-ic-int8 \
        --opt-levels 3 --targets host,cortex-m7 \
        --time-budget-ms 200 \
        --json target/bench-ci-int8.json --md target/bench-ci-int8.md
    # Every other core of the target table (docs/targets.md), each built from its triple
    # and run in QEMU, its outputs byte for byte against the host's.
    phase "bench on every other core"
    "$ZANTC" bench ../shared/models/mlperf-kws-int8 \
        --opt-levels 3 \
        --targets host,cortex-m0plus,cortex-m3,cortex-m4,cortex-m33,cortex-m55,riscv32,aarch64 \
        --time-budget-ms 100 \
        --json target/bench-ci-cores.json --md target/bench-ci-cores.md
    # AArch64 Linux's NEON kernels against ONNX Runtime: the int8 models and the float
    # ones that reach the most kernels (tiny-lm's recurrence is the one that showed
    # unfused multiply-adds). Debian's prebuilt std for AArch64 (setup-targets.sh) saves
    # building it; the first model's 122 s are mostly the runtime's build for AArch64.
    # The other eight models would add about 100 s (docs/targets.md).
    phase "AArch64 against ONNX Runtime"
    scripts/aarch64.sh mlperf-kws-int8 mlperf-vww-int8 mlperf-ic-int8 mlperf-ad-int8 \
        mobilenet_v2-int8 beer mnist-8 tiny-lm mobilenet_v2 wakeword sentiment
    prune "$ZANT_TARGET_DIR/user-mode"
else
    echo "bench: NOT RUN (../shared/models is missing)"
fi
phase "kernel checks on every core (waiting for them)"
# The whole report: each core's families.
finish_background "kernel checks on every core" "$checks_log" +1
prune target/checks-firmware target/checks-aarch64
phase "fuzz smoke (waiting for it)"
# libFuzzer's last lines: its final statistics, or the crash.
finish_background "fuzz smoke" "$fuzz_log" 40
prune compiler/fuzz/target
# The zoo (models/src/zoo): 106 s on two shared cores from an empty models/zoo and runner
# folder, zantc already built.
phase "model zoo"
scripts/zoo.sh
# A whole audio pipeline (raw samples → STFT → mel → log → CNN) on the Cortex-M7, its
# outputs against the host's; the benches above built the runtime and the core for both
# targets at this opt level, so only the harnesses build here.
phase "bench the audio keyword spotter"
"$ZANTC" bench models/zoo/kws-audio --opt-levels 3 --targets host,cortex-m7 \
    --time-budget-ms 100 --json target/bench-ci-audio.json --md target/bench-ci-audio.md
prune target/zant-bench
