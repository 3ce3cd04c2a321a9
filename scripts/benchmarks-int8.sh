#!/usr/bin/env bash
# Regenerates docs/benchmarks-int8.md and docs/benchmarks-int8.json: the six int8 models
# of ../shared/models (issues 10 and 52) and the zoo's three QDQ models (issue 50:
# `scripts/qdq_zoo.py` quantizes them with ONNX Runtime, as scripts/zoo.sh does) at
# opt-level 3, on the host with ONNX Runtime
# and LiteRT (XNNPACK, on the MLPerf models' .tflite files; one thread each) as the
# baselines and on the Cortex-M7 (QEMU). ZANT_NO_AMX=1 passes `--no-amx`: the host path
# of a CPU without AMX, on one that has it. Host times depend on the CPU:
# with AMX (Intel since Sapphire Rapids, on Linux) the integer convolutions use its tiles,
# with AVX-512 VNNI `vpdpbusd`, with neither the portable tiles. Takes about 15 minutes on
# two cores the first time (Debian's Rust builds `core` for the Cortex-M7 harnesses).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-targets.sh
scripts/setup-ort.sh
models=../shared/models
zoo=models/zoo
cargo run --quiet -p zant-models -- --zoo "$zoo"
target/venv-ort/bin/python scripts/qdq_zoo.py "$zoo" mobilenetv3-style yolo-style transformer-encoder
target/venv-ort/bin/python scripts/model_references.py --zoo "$zoo"
cargo run --quiet --release --bin zantc -- bench \
    "$models/beer" \
    "$models/mobilenet_v2-int8" \
    "$models/mlperf-kws-int8" \
    "$models/mlperf-vww-int8" \
    "$models/mlperf-ic-int8" \
    "$models/mlperf-ad-int8" \
    "$zoo/mobilenetv3-style-qdq" \
    "$zoo/yolo-style-qdq" \
    "$zoo/transformer-encoder-qdq" \
    --opt-levels 3 --targets host,cortex-m7 --baseline ort,litert ${ZANT_NO_AMX:+--no-amx} \
    --json docs/benchmarks-int8.json --md docs/benchmarks-int8.md
