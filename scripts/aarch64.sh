#!/usr/bin/env bash
# Checks the AArch64 Linux core of the target table (docs/targets.md) on the reference
# models: each model of ../shared/models is compiled with `--target aarch64`, its runner
# built for aarch64-unknown-linux-gnu with Debian's Rust and -Zbuild-std and run under
# qemu-aarch64 (`zantc verify --target aarch64`), and its outputs compared with ONNX
# Runtime's as the native `zantc verify` compares them. Prints one line per model and the
# list of those that passed; exits 1 if any failed.
#
#   scripts/aarch64.sh              # every model of ../shared/models
#   scripts/aarch64.sh NAME...      # the named folders of ../shared/models
#
# verify pins symbolic input dims from each model's test data, so no model needs
# `--input-shape` here. The first model also builds std for AArch64 (about two minutes
# on two cores); each model after it takes seconds, the largest under a minute.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-targets.sh
models_dir="../shared/models"
if [ ! -d "$models_dir" ]; then
    echo "aarch64: NOT RUN ($models_dir is missing)"
    exit 0
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for dir in "$models_dir"/*/; do
        [ -f "$dir/model.onnx" ] && names+=("$(basename "$dir")")
    done
fi

# $ZANTC: a zantc already built (the suite passes the one its tests built).
if [ -z "${ZANTC:-}" ]; then
    cargo build --quiet --release --bin zantc
fi
zantc="${ZANTC:-${CARGO_TARGET_DIR:-$root/target}/release/zantc}"
log_dir="${CARGO_TARGET_DIR:-$root/target}/aarch64-verify"
mkdir -p "$log_dir"

passed=()
failed=()
start_all=$SECONDS
for name in "${names[@]}"; do
    start=$SECONDS
    log="$log_dir/$name.txt"
    # The runner only checks outputs: without LTO and with parallel code generation it
    # builds faster and computes the same values.
    if CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        "$zantc" verify --target aarch64 "$models_dir/$name" >"$log" 2>&1; then
        passed+=("$name")
        echo "aarch64: PASS $name ($((SECONDS - start)) s)"
    else
        failed+=("$name")
        echo "aarch64: FAIL $name ($((SECONDS - start)) s):"
        tail -n 20 "$log" | sed 's/^/  /'
    fi
done
echo "aarch64: passed: ${passed[*]:-none}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "aarch64: failed: ${failed[*]}"
fi
echo "aarch64 verify: ${#passed[@]} passed, ${#failed[@]} failed ($((SECONDS - start_all)) s)"
[ ${#failed[@]} -eq 0 ]
