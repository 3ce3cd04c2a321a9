#!/usr/bin/env bash
# Regenerates docs/benchmarks.md, docs/benchmarks.svg and docs/benchmarks.json: every
# float model of ../shared/models at opt-level 3, z (smallest) and z/3 (z with zant-runtime
# at 3: small but fast), on the host and on the Cortex-M7
# (QEMU), with ONNX Runtime and tract (one thread each) as the host baselines. Takes about
# 17 minutes on two cores once the harnesses are built (most of it callgrind on
# mobilenet_v2), about 40 the first time (Debian's Rust builds `core` for each opt level).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-targets.sh
scripts/setup-ort.sh
models=../shared/models
cargo run --quiet --release --bin zantc -- bench \
    "$models/mnist-8" \
    "$models/wakeword:mfcc=1,1,40,32" \
    "$models/sentiment:input=1,15" \
    "$models/tiny-lm:input=1,25" \
    "$models/debug-mlp" \
    "$models/mobilenet_v2" \
    "$models/fomo-96" \
    "$models/mlperf-kws" \
    "$models/mlperf-vww" \
    "$models/mlperf-ic" \
    "$models/mlperf-ad" \
    "$models/digits-cnn" \
    "$models/digits-mlp" \
    --opt-levels 3,z,z/3 --targets host,cortex-m7 --baseline ort,tract \
    --json docs/benchmarks.json --md docs/benchmarks.md --svg docs/benchmarks.svg
