#!/usr/bin/env bash
# Which lines of the runtime's kernels the differential kernel checks (checks/) run on
# this host: the checks built with `-C instrument-coverage` twice, for the host's
# default target (x86-64: SSE2) and with `-C target-cpu=native` (AVX2, AVX-512, VNNI
# where the CPU has them), each run's per-file line coverage of runtime/src printed.
# Not a suite phase (two instrumented builds take about three minutes); docs/testing.md
# says how its report was read and what it found.
#
#   scripts/coverage.sh [family]      # e.g. conv_f32; all families without one
#   scripts/coverage.sh --uncovered conv/width.rs   # after a run: that file's line
#                                                   # ranges no case ran (native build)
#
# Needs llvm-profdata and llvm-cov of rustc's LLVM: rustup's llvm-tools component, or
# Debian's llvm-NN-tools for the same major version. Lines inside `unroll!` closures
# count as not run even when they ran (the macro's expansion carries the counters);
# confirm a gap by breaking the code there and running the family.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/target/coverage"

llvm_major="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
tools=""
sysroot_tools="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
if [ -x "$sysroot_tools/llvm-profdata" ]; then
    tools="$sysroot_tools"
    profdata="$tools/llvm-profdata"
    cov="$tools/llvm-cov"
elif command -v "llvm-profdata-$llvm_major" > /dev/null; then
    profdata="llvm-profdata-$llvm_major"
    cov="llvm-cov-$llvm_major"
else
    echo "coverage: no llvm-profdata for LLVM $llvm_major: 'rustup component add llvm-tools'" \
        "or 'apt-get install llvm-$llvm_major'" >&2
    exit 1
fi

binary() {
    ls -t "$1"/debug/deps/differential-* | grep -v '\.d$' | head -1
}

if [ "${1:-}" = "--uncovered" ]; then
    file="${2:?a file under runtime/src}"
    "$cov" show "$(binary "$out/native")" -instr-profile="$out/native.profdata" \
        "$root/runtime/src/$file" -show-instantiations=false 2> /dev/null |
        awk -F'|' 'NF >= 3 {
            line = $1 + 0; count = $2; gsub(/ /, "", count)
            if (count == "0") {
                if (start && line == last + 1) { last = line }
                else { if (start) print start "-" last; start = line; last = line }
            }
        }
        END { if (start) print start "-" last }' | tr '\n' ' '
    echo
    exit 0
fi

filter=("${1:-}")
report() {
    local name="$1"
    local flags="$2"
    rm -rf "$out/$name-raw"
    mkdir -p "$out/$name-raw"
    RUSTFLAGS="$flags -C instrument-coverage" \
        LLVM_PROFILE_FILE="$out/$name-raw/%p-%m.profraw" \
        CARGO_TARGET_DIR="$out/$name" \
        cargo test --quiet -p zant-checks --test differential -- "${filter[@]}" > /dev/null
    "$profdata" merge -sparse "$out/$name-raw"/*.profraw -o "$out/$name.profdata"
    echo "== $name build: lines of runtime/src the checks ran"
    "$cov" report "$(binary "$out/$name")" -instr-profile="$out/$name.profdata" \
        --ignore-filename-regex='/rustc/|\.cargo/registry|/checks/' 2> /dev/null |
        awk 'NR > 2 && NF >= 10 && $1 !~ /^-/ { printf "%-28s %6s lines %6s not run %8s\n", $1, $8, $9, $10 }'
}
report default ""
report native "-C target-cpu=native"
