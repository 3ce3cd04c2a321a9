#!/usr/bin/env bash
# The emulated cores' part of the suite (scripts/test.sh starts it in the background once
# the workspace tests have built zantc):
#   1. benches mlperf-kws-int8 on every core of the target table other than the host and
#      the Cortex-M7, which the suite's int8 bench covers (Cortex-M0+, M3, M4F, M33, M55,
#      RV32IMC, and AArch64 Linux under qemu-aarch64), each built from its triple and run
#      in QEMU, its outputs byte for byte against the host's;
#   2. verifies the six int8 models of ../shared/models and five float ones on AArch64
#      Linux against ONNX Runtime's outputs (scripts/aarch64.sh, which alone runs every
#      model).
# Needs $ZANTC (a built zantc). Its bench folder is its own, so that it can run beside
# the suite's other benches.
#
#   ZANTC=target/debug/zantc scripts/test-cores.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
: "${ZANTC:?set ZANTC to a built zantc}"
phase() { echo "== cores: $1 (at ${SECONDS} s)"; }
# As scripts/test.sh: without ../shared/models these fail, unless
# ZANT_ALLOW_MISSING_SHARED=1 asks for NOT RUN.
if [ ! -d ../shared/models/mlperf-kws-int8 ] && [ -n "${ZANT_ALLOW_MISSING_SHARED:-}" ]; then
    echo "bench on every other core and AArch64: NOT RUN (../shared/models is missing)"
    exit 0
fi
work_dir="$root/target/zant-bench-cores"
phase "bench on every other core"
"$ZANTC" bench ../shared/models/mlperf-kws-int8 \
    --opt-levels 3 \
    --targets host,cortex-m0plus,cortex-m3,cortex-m4,cortex-m33,cortex-m55,riscv32,aarch64 \
    --time-budget-ms 100 --work-dir "$work_dir" \
    --json target/bench-ci-cores.json --md target/bench-ci-cores.md
if [ -z "${ZANT_KEEP_TARGETS:-}" ]; then
    rm -rf "$work_dir"
fi
# AArch64 Linux's NEON kernels against ONNX Runtime: the int8 models and the float ones
# that reach the most kernels (tiny-lm's recurrence is the one that showed unfused
# multiply-adds). Debian's prebuilt std for AArch64 (setup-targets.sh) saves building
# it; the first model's two minutes are mostly the runtime's build for AArch64. The
# other eight models would add about 100 s (docs/targets.md).
phase "AArch64 against ONNX Runtime"
scripts/aarch64.sh mlperf-kws-int8 mlperf-vww-int8 mlperf-ic-int8 mlperf-ad-int8 \
    mobilenet_v2-int8 beer mnist-8 tiny-lm mobilenet_v2 wakeword sentiment
if [ -z "${ZANT_KEEP_TARGETS:-}" ]; then
    rm -rf "${ZANT_TARGET_DIR:-$root/target/zant-runners}/user-mode"
fi
phase "finished"
