#!/usr/bin/env bash
# Installs what nnc needs from Debian's archive (only what is missing), then configures and builds
# it with CMake + Ninja + ccache into build/ (or $1). Safe to run again: it rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}

packages=(build-essential cmake ninja-build ccache python3 python3-numpy
          llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
          protobuf-compiler libprotobuf-dev libonnx-dev libgtest-dev libgmock-dev
          liblld-22-dev libdnnl-dev zlib1g-dev libzstd-dev dataset-fashion-mnist chromium
          openmpi-bin libopenmpi-dev pybind11-dev python3-dev python3-pytest
          python3-venv python3-pip python3-setuptools python3-wheel python3-onnx
          clang-22 libfuzzer-22-dev libclang-rt-22-dev)
# clang-22 and its sanitizer runtimes build the parser fuzzers (scripts/fuzz.sh, test/fuzz/).
# python3-venv/-pip/-setuptools/-wheel: `pip install --no-build-isolation .` (pyproject.toml) and
# its test; python3-onnx: checking ONNX exports. Regenerating test/onnx/
# (scripts/gen_onnx_fixtures.py) and nnc.from_torch's test also need python3-torch, which is not
# installed here (the test skips without it).
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -G Ninja -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
    -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit "${@:2}"
fi
cmake --build "$build_dir"
# ONNX Runtime for the export tests (from PyPI; they are reported unsupported without it).
scripts/onnxruntime-venv.sh "$build_dir" ||
  echo "setup: onnxruntime could not be installed: the ONNX export tests will be unsupported"
# ONNX's backend test data (from the onnx wheel on PyPI) for the importer's conformance suite.
scripts/onnx-backend-data.sh "$build_dir" ||
  echo "setup: the ONNX backend test data could not be fetched: its conformance suite will be unsupported"
