#!/usr/bin/env bash
# The main job, for now: build nnc, write the three example models with the C++ frontend and
# compile each to verified `nn` IR, printing a summary line per model. (Training on
# Fashion-MNIST replaces this once the CPU backend and trainer land.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
out=build/demo
mkdir -p "$out"
for example in mlp cnn chargpt; do
  build/bin/nnc-example-$example "$out/$example.pb"
  build/bin/nnc compile "$out/$example.pb" --compile-to=import -o "$out/$example.mlir"
done
echo "demo: IR written to $out/{mlp,cnn,chargpt}.mlir"
