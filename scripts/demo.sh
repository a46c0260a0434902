#!/usr/bin/env bash
# The main job: train the Fashion-MNIST MLP example on the CPU with nnc, then evaluate it.
#   1. set up and build (scripts/setup.sh); read Fashion-MNIST (Debian's dataset-fashion-mnist)
#      into .npy batches, normalized as usual (mean 0.2860, std 0.3530);
#   2. write the model with the C++ frontend (examples/mlp.cpp: 784-256-256-10, dropout 0.2,
#      label smoothing 0.1, AdamW with weight decay 0.01, gradient clipping at 1.0);
#   3. compile it to a plan (forward, backward and optimizer as native code + oneDNN calls);
#   4. train EPOCHS epochs with nnrun (constant learning rate 1e-3; the spec's warm-up + cosine
#      schedule is not applied yet), printing the mean loss per epoch;
#   5. predict the 10,000 test images and print the accuracy, overall and per class.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-10}
scripts/setup.sh build
out=build/demo
mkdir -p "$out"
/usr/bin/python3 - "$out" <<'PY'
import gzip, sys
import numpy as np
out, data = sys.argv[1], "/usr/share/datasets/fashion-mnist/"
def read(name, offset):
    with gzip.open(data + name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)
def images(name):
    return ((read(name, 16).reshape(-1, 784) / 255.0 - 0.2860) / 0.3530).astype(np.float32)
x, y = images("train-images-idx3-ubyte.gz"), read("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
n = len(x) // 128 * 128  # whole batches; the last partial one is dropped
np.save(f"{out}/train-x.npy", x[:n]); np.save(f"{out}/train-y.npy", y[:n])
np.save(f"{out}/test-x.npy", images("t10k-images-idx3-ubyte.gz"))
np.save(f"{out}/test-y.npy", read("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
print(f"data: {n} training images in {n // 128} batches of 128, 10000 test images")
PY
build/bin/nnc-example-mlp "$out/mlp.pb"
build/bin/nnc compile "$out/mlp.pb" -o "$out/mlp.plan"
steps=$((EPOCHS * 468))
echo "training $EPOCHS epochs ($steps steps)..."
start=$(date +%s.%N)
build/bin/nnrun "$out/mlp.plan" --train "$steps" --features "$out/train-x.npy" \
    --labels "$out/train-y.npy" --lr 1e-3 --predict "$out/test-x.npy" -o "$out/test-logits.npy" \
    --dump-parameters "$out/trained" |
  awk '{ sum += $4; if (($2 + 1) % 468 == 0) { printf "epoch %2d  mean loss %.4f\n", ($2 + 1) / 468, sum / 468; sum = 0 } }'
end=$(date +%s.%N)
/usr/bin/python3 - "$out" "$start" "$end" "$steps" <<'PY'
import sys
import numpy as np
out, start, end, steps = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
pred = np.load(f"{out}/test-logits.npy").argmax(1)
y = np.load(f"{out}/test-y.npy")
names = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
         "Boot"]
print(f"trained in {end - start:.1f} s ({steps * 128 / (end - start):.0f} images/s, "
      f"loading and test prediction included)")
print(f"test accuracy {np.mean(pred == y) * 100:.2f}%")
print("per class: " + ", ".join(f"{n} {np.mean(pred[y == c] == c) * 100:.0f}%"
                                for c, n in enumerate(names)))
PY
