#!/usr/bin/env bash
# Creates target/venv, a Python virtual environment with the exact packages of
# conformance/requirements.txt (onnx and its dependencies, all from PyPI), for the ONNX
# backend conformance suite. Idempotent: when the venv already holds what the
# requirements file asks for, it returns at once. Prints the venv's python on success.
#
# Set PYTHON to choose the interpreter that creates the venv (default: python3).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
requirements="$root/conformance/requirements.txt"
venv="$root/target/venv"
stamp="$venv/.zant-requirements"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
    echo "$venv/bin/python"
    exit 0
fi

if ! command -v "$python" >/dev/null; then
    echo "setup-python: \`$python\` not found; install Python 3.9 or newer (with venv)" >&2
    exit 1
fi

rm -rf "$venv"
mkdir -p "$root/target"
if ! "$python" -m venv "$venv" >&2; then
    echo "setup-python: \`$python -m venv\` failed; on Debian install python3-venv" >&2
    exit 1
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input --only-binary=:all: -r "$requirements" >&2
"$venv/bin/python" -c "import onnx, numpy" >&2
cp "$requirements" "$stamp"
echo "$venv/bin/python"
