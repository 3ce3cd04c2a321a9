#!/usr/bin/env bash
# Creates target/venv-ort, the peer venv of `zantc bench --baseline ort,tract,litert`:
# ONNX Runtime (scripts/ort_bench.py), tract (scripts/tract_bench.py), LiteRT
# (scripts/litert_bench.py, `ai-edge-litert`, which runs XNNPACK), NumPy and `onnx` (which
# ONNX Runtime's quantizer needs: scripts/qdq_zoo.py) at pinned versions, from PyPI.
# Idempotent: does nothing when the venv already has them. ONNX Runtime 1.31.1 is the
# version that produced the reference outputs of ../shared/models.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/venv-ort"
ort_version="1.31.1"
numpy_version="2.4.6"
tract_version="0.23.9"
litert_version="2.3.0"
onnx_version="1.23.2"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "
import ai_edge_litert, numpy, onnx, onnxruntime, sys, tract
sys.exit(not (onnxruntime.__version__ == '$ort_version' and numpy.__version__ == '$numpy_version'
              and tract.version() == '$tract_version'
              and ai_edge_litert.__version__ == '$litert_version'
              and onnx.__version__ == '$onnx_version'))
" 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "onnxruntime==$ort_version" "numpy==$numpy_version" "tract==$tract_version" \
    "ai-edge-litert==$litert_version" "onnx==$onnx_version"
