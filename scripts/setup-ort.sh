#!/usr/bin/env bash
# Creates target/venv-ort, the peer venv of `zantc bench --baseline ort,tract`: ONNX
# Runtime (scripts/ort_bench.py), tract (scripts/tract_bench.py) and NumPy at pinned
# versions, from PyPI. Idempotent: does nothing when the venv already has them. ONNX
# Runtime 1.31.1 is the version that produced the reference outputs of ../shared/models.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/venv-ort"
ort_version="1.31.1"
numpy_version="2.4.6"
tract_version="0.23.9"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "
import numpy, onnxruntime, sys, tract
sys.exit(not (onnxruntime.__version__ == '$ort_version' and numpy.__version__ == '$numpy_version'
              and tract.version() == '$tract_version'))
" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "onnxruntime==$ort_version" "numpy==$numpy_version" "tract==$tract_version"
