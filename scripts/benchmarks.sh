#!/usr/bin/env bash
# Regenerates docs/benchmarks.md, docs/benchmarks.svg and docs/benchmarks.json: every
# float model of ../shared/models at opt-level 3, z (smallest) and z/3 (z with zant-runtime
# at 3: small but fast), on the host and on the Cortex-M7
# (QEMU), with ONNX Runtime and tract (one thread each) as the host baselines. Takes about
# 17 minutes on two cores once the harnesses are built (most of it callgrind on
# mobilenet_v2), about 40 the first time (Debian's Rust builds `core` for each opt level).
# Then docs/benchmarks-zoo.{md,json,svg}: the model zoo (models/src/zoo, built into
# models/zoo with ONNX Runtime's outputs) and the nine shared CNNs beside it, in one run
# (issue 47's yardstick), at opt-level 3 on the host only, against ONNX Runtime. The
# zoo stays off the Cortex-M7: its models' weights (up to 6.3 MB) are beyond the flash of the
# STM32F7/H7 parts the Cortex-M7 target stands for (2 MB at most), and counting their
# instructions (up to 621 M MACs) in QEMU would outlast the rest of the script.
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
zoo=models/zoo
cargo run --quiet -p zant-models -- --zoo "$zoo"
target/venv-ort/bin/python scripts/model_references.py --zoo "$zoo"
# The zoo and the nine shared CNNs, in one run; a `:name=dims` pin is for the bench only.
yardstick=(
    "$zoo/yolo-style" "$zoo/dbnet-style" "$zoo/efficientnet-style" "$zoo/resnet50-style"
    "$zoo/transformer-encoder" "$zoo/lstm-seq" "$zoo/gru-seq" "$zoo/tcn"
    "$zoo/kws-audio"
    "$models/mnist-8" "$models/wakeword:mfcc=1,1,40,32" "$models/mobilenet_v2"
    "$models/fomo-96" "$models/mlperf-kws" "$models/mlperf-vww" "$models/mlperf-ic"
    "$models/mlperf-ad" "$models/digits-cnn"
)
cargo run --quiet --release --bin zantc -- bench "${yardstick[@]}" \
    --opt-levels 3 --targets host --baseline ort --per-layer \
    --json docs/benchmarks-zoo.json --md docs/benchmarks-zoo.md --svg docs/benchmarks-zoo.svg
# Per op type against ONNX Runtime's per-node profile of the same inputs (docs/performance.md).
target/venv-ort/bin/python scripts/op_table.py docs/benchmarks-zoo.json \
    "${yardstick[@]%%:*}" >target/zoo-op-table.md
