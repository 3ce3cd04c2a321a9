#!/usr/bin/env bash
# Creates target/venv-ort: a Python venv with ONNX Runtime and NumPy at pinned versions,
# for `zantc bench --baseline ort` (scripts/ort_bench.py). Idempotent: does nothing when
# the venv already has them. ONNX Runtime 1.31.1 is the version that produced the
# reference outputs of ../shared/models.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/venv-ort"
ort_version="1.31.1"
numpy_version="2.4.6"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "
import numpy, onnxruntime, sys
sys.exit(not (onnxruntime.__version__ == '$ort_version' and numpy.__version__ == '$numpy_version'))
" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "onnxruntime==$ort_version" "numpy==$numpy_version"
