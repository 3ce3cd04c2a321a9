#!/usr/bin/env bash
# Regenerates docs/benchmarks-cores.md and docs/benchmarks-cores.json: mnist-8 (float),
# mlperf-kws-int8 and mlperf-ic-int8 on every emulated core of the target table
# (docs/targets.md) at opt-level 3 and z, with the host as the reference the cores'
# outputs must match (int8 byte for byte, float within atol 1e-4 / rtol 1e-3). Reports
# instructions, flash, RAM and stack per core. Takes about 25 minutes on two cores the
# first time (Debian's Rust builds `core` once per core).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-targets.sh
models=../shared/models
cargo run --quiet --release --bin zantc -- bench \
    "$models/mnist-8" \
    "$models/mlperf-kws-int8" \
    "$models/mlperf-ic-int8" \
    --opt-levels 3,z \
    --targets host,cortex-m0plus,cortex-m3,cortex-m4,cortex-m7,cortex-m33,cortex-m55,riscv32 \
    --time-budget-ms 200 \
    --json docs/benchmarks-cores.json --md docs/benchmarks-cores.md --svg docs/benchmarks-cores.svg
