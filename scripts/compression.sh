#!/usr/bin/env bash
# Regenerates the compression report of docs/compression.md (between its `report:begin`
# and `report:end` markers), docs/compression/*.json and docs/compression-*.svg: every
# method of `zantc compress-report` on digits-cnn and digits-mlp (top-1 accuracy on the
# test split of ../shared/datasets/digits) and on mnist-8 and mlperf-kws (agreement with
# the float model: mnist-8 on the digits upscaled to 28x28, mlperf-kws on seeded noise,
# made by scripts/compression_data.py), on the host and the Cortex-M7 (QEMU), opt-level 3.
# Takes about 30 minutes on two cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-targets.sh
scripts/setup-ort.sh
cargo build --quiet --release --bin zantc
zantc="$root/target/release/zantc"
shared=../shared
data="$root/target/compression"
"$root/target/venv-ort/bin/python" scripts/compression_data.py "$shared/datasets/digits" "$data"
mkdir -p docs/compression
digits="$shared/datasets/digits"
run() {
    local model=$1
    shift
    "$zantc" compress-report "$shared/models/$model" "$@" \
        --calibrate 0..1400 --eval 1400..1797 --targets host,cortex-m7 --opt-level 3 \
        --json "docs/compression/$model.json" --md "$data/$model.md" \
        --svg "docs/compression-$model.svg"
}
run digits-cnn --data "$digits/images.npy" --labels "$digits/labels.npy"
run digits-mlp --data "$digits/images.npy" --labels "$digits/labels.npy"
run mnist-8 --data "$data/mnist-digits.npy"
run mlperf-kws --data "$data/kws-noise.npy"
{
    echo "<!-- report:begin: written by scripts/compression.sh -->"
    echo
    echo "\`scripts/compression.sh\`, $(date -u '+%Y-%m-%d'), on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') ($(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)); host time is the median of 300 ms of inferences, Cortex-M7 instructions are exact (QEMU)."
    for model in digits-cnn digits-mlp mnist-8 mlperf-kws; do
        echo
        cat "$data/$model.md"
        echo
        echo "![$model: quality against weight bytes](compression-$model.svg)"
    done
    echo
    echo "<!-- report:end -->"
} > "$data/report.md"
"$root/target/venv-ort/bin/python" - "$data/report.md" docs/compression.md <<'PY'
import sys
report, doc = open(sys.argv[1]).read(), open(sys.argv[2]).read()
begin, end = doc.index("<!-- report:begin"), doc.index("<!-- report:end -->") + len("<!-- report:end -->\n")
open(sys.argv[2], "w").write(doc[:begin] + report + doc[end:])
PY
echo "wrote docs/compression.md's report"
