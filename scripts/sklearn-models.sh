#!/usr/bin/env bash
# Trains and exports the scikit-learn models of models/sklearn/ (a random forest and a
# logistic regression on ../shared/datasets/digits, converted with skl2onnx, zipmap off)
# and writes ONNX Runtime's outputs beside them: scripts/sklearn_models.py in its own venv,
# target/venv-sklearn, with the exact versions below from PyPI. compiler/tests/sklearn.rs
# compares zant with those outputs. Idempotent: the venv is reused when it has the pins,
# and training is seeded, so a rerun rewrites the same files.
#
# Usage: scripts/sklearn-models.sh [DATASET_DIR]   (default: ../shared/datasets/digits)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/venv-sklearn"
dataset="${1:-$root/../shared/datasets/digits}"
# ONNX Runtime 1.31.1 and onnx 1.23.2 are the project's versions elsewhere
# (scripts/setup-ort.sh, conformance/requirements.txt).
pins=(
    "scikit-learn==1.9.1"
    "skl2onnx==1.20.0"
    "onnx==1.23.2"
    "onnxruntime==1.31.1"
    "numpy==2.4.6"
    "scipy==1.17.1"
    "protobuf==7.36.2"
)
stamp="$venv/.zant-pins"

if ! { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${pins[*]}" ]; }; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        --only-binary=:all: "${pins[@]}"
    echo "${pins[*]}" > "$stamp"
fi
"$venv/bin/python" "$root/scripts/sklearn_models.py" "$dataset"
