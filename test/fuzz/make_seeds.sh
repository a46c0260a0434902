#!/usr/bin/env bash
# Regenerates the seed corpora test/fuzz/corpus/<target>/ from the repository's fixtures, with the
# tools of a normal build (default build/bin). Plans are stored without their kernel library
# (the fuzzers reach validatePlan without it, and small seeds mutate faster).
#   test/fuzz/make_seeds.sh [BUILD_BIN_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-build/bin}
out=test/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out" && mkdir -p "$out"/{Plan,Checkpoint,Npy,Csv,Idx,Text,ModelPb,ModelText,Onnx}

# Plans: an MLP (gemm) and a CNN (conv2d, pooling), with and without their kernel bytes.
for model in mlp_adamw_clip cnn_adamw_clip; do
  "$bin/nnc" compile "test/train/$model/model.pbtxt" -o "$tmp/$model.plan" >/dev/null
  protoc --decode=nnc.Plan -I proto plan.proto <"$tmp/$model.plan" |
    grep -v -e '^kernel_library:' -e '^checksum:' |
    protoc --encode=nnc.Plan -I proto plan.proto >"$out/Plan/$model-no-kernels.plan"
done

# A checkpoint of one short epoch of the MLP (its parameters and AdamW state).
d=test/train/mlp_adamw_clip
"$bin/nnrun" "$tmp/mlp_adamw_clip.plan" --fit --data "$d/features.npy,$d/labels.npy" --epochs 1 \
  --checkpoint-dir "$tmp/ckpt" >/dev/null
cp "$tmp/ckpt/last.ckpt" "$out/Checkpoint/mlp_adamw_clip.ckpt"

# .npy: f32 features, i64 labels, and small tensors of each dtype from the ONNX fixtures.
cp "$d/features.npy" "$out/Npy/features-f32.npy"
cp "$d/labels.npy" "$out/Npy/labels-i64.npy"
cp test/onnx/mlp/final/0.bias.npy "$out/Npy/bias.npy"

# Models: the small per-op numerics models and the training fixtures, as text and as binary; the
# ONNX fixtures, good and bad.
for model in $(find test/numerics/ops test/train -name model.pbtxt -size -4k | sort); do
  name=$(basename "$(dirname "$model")")
  cp "$model" "$out/ModelText/$name.pbtxt"
  protoc --encode=nnc.Model -I proto model.proto <"$model" >"$out/ModelPb/$name.pb"
done
for model in test/onnx/ops/*.onnx test/onnx/bad/*.onnx; do cp "$model" "$out/Onnx/"; done
for model in mlp cnn gelu_ext; do cp "test/onnx/$model/model.onnx" "$out/Onnx/$model.onnx"; done

python3 - "$out" <<'PY'
import gzip, struct, sys
out = sys.argv[1]
# CSV: a header, integer labels, blanks, spaces and exponents.
open(f"{out}/Csv/table.csv", "w").write(
    "x0,x1,label,x2\n0.5,-1,2,3e2\n 1.25 , 2 ,0, -4.5e-3\n\n7,8,1,9\n")
open(f"{out}/Csv/trailing-comma.csv", "w").write("label,a,\n1,2,3\n0,4,5\n")
# IDX: a little-endian u32 giving the images file's length, then images (rank 3), then labels.
def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data
images = idx([3, 2, 2], bytes(range(12)))
labels = idx([3], bytes([0, 1, 2]))
open(f"{out}/Idx/plain.bin", "wb").write(struct.pack("<I", len(images)) + images + labels)
zimages, zlabels = gzip.compress(images), gzip.compress(labels)
open(f"{out}/Idx/gzip.bin", "wb").write(struct.pack("<I", len(zimages)) + zimages + zlabels)
# Text: context byte, vocabulary byte (0: any), validation fraction byte, then the corpus.
corpus = b"To be, or not to be, that is the question.\n"
open(f"{out}/Text/ascii.bin", "wb").write(bytes([7, 128, 26]) + corpus)
open(f"{out}/Text/gzip.bin", "wb").write(bytes([3, 0, 0]) + gzip.compress(corpus))
PY
du -sh "$out"/*
