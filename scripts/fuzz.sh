#!/usr/bin/env bash
# Coverage-guided fuzzing of the compiler's front end (decode → import → passes → plan →
# emit) with cargo-fuzz and libFuzzer on rustup's nightly toolchain (docs/fuzzing.md).
#
#   scripts/fuzz.sh smoke        # CI: replays the corpus, then fuzzes for 60 s (60 s in all)
#   scripts/fuzz.sh run [SECS]   # a long run (default 1800 s) from the corpus and SEEDS
#   scripts/fuzz.sh cmin         # minimizes the corpus in place, for committing
#
# The corpus is compiler/fuzz/corpus/compile (committed); a long run also reads the
# seed folders named in $SEEDS (colon-separated), e.g. the ONNX node tests' models.
# A crash leaves its input in compiler/fuzz/artifacts/compile/ and fails the script;
# docs/fuzzing.md says how to turn it into a test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# $SEEDS names folders from where the script was called; the run is from compiler/.
caller="$PWD"
cd "$root/compiler"
mode="${1:-smoke}"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz $mode: NOT RUN (rustup has no nightly toolchain: rustup toolchain install nightly)"
    exit 0
fi
# cargo-fuzz, pinned, installed from crates.io on first use.
if ! cargo fuzz --version 2>/dev/null | grep -q '0\.13\.2'; then
    cargo install --quiet --locked cargo-fuzz --version 0.13.2
fi

corpus=fuzz/corpus/compile
mkdir -p "$corpus"
# Inputs up to 256 KiB (the larger project models), libFuzzer's limits on memory and on
# one input's time, and the dictionary of op and attribute names.
flags=(-dict=fuzz/onnx.dict -max_len=262144 -rss_limit_mb=4096 -timeout=20 -print_final_stats=1)
# `-s none`: the target is safe Rust, whose bounds ASan would add nothing to; the
# coverage instrumentation is what guides libFuzzer. Saves a third of the build.
build=(cargo +nightly fuzz run -s none compile)
case "$mode" in
    smoke)
        # 16 code generation units: the build takes 115 s instead of 180 on two cores,
        # for somewhat fewer executions a second. The new inputs it finds go to a
        # folder of its own (libFuzzer writes to the first), not into the committed
        # corpus.
        found="$(mktemp -d)"
        trap 'rm -rf "$found"' EXIT
        cargo +nightly fuzz run -s none --codegen-units 16 compile "$found" "$corpus" \
            -- "${flags[@]}" -max_total_time=60
        ;;
    run)
        secs="${2:-1800}"
        IFS=: read -r -a seeds <<< "${SEEDS:-}"
        for i in "${!seeds[@]}"; do
            case "${seeds[$i]}" in
                /*) ;;
                *) seeds[i]="$caller/${seeds[$i]}" ;;
            esac
        done
        "${build[@]}" "$corpus" "${seeds[@]}" -- "${flags[@]}" -max_total_time="$secs"
        ;;
    cmin)
        cargo +nightly fuzz cmin -s none compile "$corpus" -- "${flags[@]}"
        ;;
    *)
        echo "fuzz: unknown mode $mode (smoke, run [SECS] or cmin)" >&2
        exit 2
        ;;
esac
