#!/usr/bin/env bash
# Installs ONNX Runtime (PyPI onnxruntime) into BUILD/onnxruntime-venv, a venv over Debian's
# python3 (with its numpy and onnx), for the ONNX export tests (test/export): lit runs them
# when that venv imports onnxruntime, and reports them unsupported otherwise. Needs PyPI once.
# usage: scripts/onnxruntime-venv.sh [BUILD]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build}/onnxruntime-venv
if "$venv/bin/python" -c "import onnxruntime" 2>/dev/null; then
  exit 0
fi
/usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/pip" install --quiet onnxruntime
"$venv/bin/python" -c "import onnxruntime; print('onnxruntime', onnxruntime.__version__, 'in $venv')"
