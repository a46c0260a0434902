#!/usr/bin/env bash
# The main job, for now: build nnc, write the three example models with the C++ frontend, compile
# each to a plan for this CPU and run its forward pass (predict) on one batch, printing what each
# step did. (Training on Fashion-MNIST replaces this once the train step and trainer land.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
out=build/demo
mkdir -p "$out"
/usr/bin/python3 - "$out" <<'PY'
import sys, numpy as np
out = sys.argv[1]
rng = np.random.RandomState(0)
np.save(f"{out}/mlp-input.npy", rng.rand(128, 784).astype(np.float32))
np.save(f"{out}/cnn-input.npy", rng.rand(128, 1, 28, 28).astype(np.float32))
np.save(f"{out}/chargpt-input.npy", rng.randint(0, 128, (32, 128)).astype(np.int64))
PY
for example in mlp cnn chargpt; do
  echo "== $example"
  build/bin/nnc-example-$example "$out/$example.pb"
  build/bin/nnc compile "$out/$example.pb" -o "$out/$example.plan"
  build/bin/nnrun "$out/$example.plan" --predict "$out/$example-input.npy" \
    -o "$out/$example-output.npy" --print-arena --time 5 | sort -n -k2 | sed -n '1p;$p'
done
echo "demo: plans and outputs in $out/ (untrained weights: the outputs show the pipeline runs)"
