#!/usr/bin/env bash
# Fetches ONNX's own backend test data (the `onnx` wheel on PyPI ships it under
# onnx/backend/test/data/: pytorch-converted, pytorch-operator, simple, light and real) into
# BUILD/onnx-backend-data, for the importer's conformance suite (scripts/onnx_conformance.py,
# test/onnx/conformance.test; lit reports it unsupported without the data). Needs PyPI once; the
# wheel stays in BUILD/wheels.
# usage: scripts/onnx-backend-data.sh [BUILD]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
data=$build/onnx-backend-data
[ -d "$data/pytorch-converted" ] && exit 0
mkdir -p "$build/wheels"
ls "$build"/wheels/onnx-1.* >/dev/null 2>&1 ||
  /usr/bin/python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$build/wheels" onnx
wheel=$(ls "$build"/wheels/onnx-1.* | head -1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 -m zipfile -e "$wheel" "$tmp"
rm -rf "$data"
mv "$tmp/onnx/backend/test/data" "$data"
echo "onnx backend test data from $(basename "$wheel") in $data"
