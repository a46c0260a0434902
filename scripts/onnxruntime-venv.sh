#!/usr/bin/env bash
# Installs ONNX Runtime (PyPI onnxruntime) into BUILD/onnxruntime-venv, a venv over Debian's
# python3 (with its numpy and onnx), for the ONNX export tests: lit runs them when that venv
# imports onnxruntime and reports them unsupported otherwise. The wheels stay in BUILD/wheels,
# so that tests can install onnxruntime into venvs of their own offline
# (pip install --no-index --find-links BUILD/wheels onnxruntime). Needs PyPI once.
# usage: scripts/onnxruntime-venv.sh [BUILD]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
venv=$build/onnxruntime-venv
if "$venv/bin/python" -c "import onnxruntime" 2>/dev/null && ls "$build"/wheels/onnxruntime-* >/dev/null 2>&1; then
  exit 0
fi
/usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/pip" download --quiet --dest "$build/wheels" onnxruntime
"$venv/bin/pip" install --quiet --no-index --find-links "$build/wheels" onnxruntime
"$venv/bin/python" -c "import onnxruntime; print('onnxruntime', onnxruntime.__version__, 'in $venv')"
