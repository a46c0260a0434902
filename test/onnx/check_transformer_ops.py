#!/usr/bin/python3
"""Runs the transformer op graphs of test/onnx/ops/ (scripts/gen_onnx_transformer_fixtures.py)
through nnc compile + nnrun --predict and compares with NumPy written from ONNX's definitions of
the ops. Tolerance: relative 1e-5 of the output's largest magnitude, one fp32 forward pass (as
check_onnx.py's predict check): the graphs differ from NumPy's float64 only by fp32 rounding
(~1e-7 relative); slices, splits and masks are exact.

usage: check_transformer_ops.py --nnc NNC --nnrun NNRUN OPS_DIR WORK_DIR
"""
import argparse
import os
import subprocess
import sys

import numpy as np

TOLERANCE = 1e-5
N = 2


def table(shape):
    """The generator's `weight`: arange / 10."""
    return np.arange(np.prod(shape), dtype=np.float64).reshape(shape) / 10


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def layer_norm(x, g, b, eps):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(-1, keepdims=True) + eps) * g + b


def cases(rng):
    """(graph, input, reference of the output) per op graph."""
    seq = rng.randn(N, 4, 6).astype(np.float32)
    tokens = rng.randint(0, 10, (N, 4)).astype(np.int64)
    q = rng.randn(N, 2, 4, 3).astype(np.float32)
    scores = rng.randn(N, 2, 4, 4).astype(np.float32)
    future = np.triu(np.ones((4, 4), bool), 1)
    s = seq.astype(np.float64)
    att = softmax(np.where(future, -np.inf, q @ q.transpose(0, 1, 3, 2)))
    wte, wpe = table((10, 3)), table((4, 3))
    yield "slice", seq, s[:, 1:3, 1::2].reshape(N, -1)
    yield "split", seq, np.concatenate([s[..., :2], s[..., 4:], s[..., 2:4]], axis=2)
    yield "expand", seq, np.concatenate([np.broadcast_to(table((1, 1, 6)), (N, 1, 6)), s], 1)
    yield "positions", tokens, ((wte[tokens] + wpe[np.arange(4)][None]) * 0.5)[:, 0]
    yield "attention", q, np.where(future, -1e9, att)
    yield "trilu", scores, np.tril(scores)
    g, b = table(6), table(6)
    yield "layernorm", seq, layer_norm(layer_norm(s, g, b, 1e-6), g, 0, 1e-5)
    yield "layernorm14", seq, layer_norm(s, 1, 0, 1e-5)
    yield "reduce_pow", seq, np.sqrt(np.abs(s.mean(1)))
    yield "tied", tokens, wte[tokens] @ wte.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnc", required=True)
    ap.add_argument("--nnrun", required=True)
    ap.add_argument("ops")
    ap.add_argument("work")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    failures = 0
    for name, x, ref in cases(np.random.RandomState(0)):
        plan = os.path.join(args.work, name + ".plan")
        inp, out = os.path.join(args.work, name + ".in.npy"), os.path.join(args.work, name + ".npy")
        np.save(inp, x)
        subprocess.run([args.nnc, "compile", os.path.join(args.ops, name + ".onnx"), "--batch-size",
                        str(N), "--loss", "mse", "-o", plan], check=True, capture_output=True)
        subprocess.run([args.nnrun, plan, "--predict", inp, "-o", out], check=True,
                       capture_output=True)
        got = np.load(out)
        # Relative to the largest value other than a -1e9 fill, which would hide any error.
        scale = np.abs(ref[np.abs(ref) < 1e8]).max()
        err = np.abs(got - ref).max() / scale if got.shape == ref.shape else np.inf
        failures += not err <= TOLERANCE
        print(f"{'PASS' if err <= TOLERANCE else 'FAIL'} {name}: rel err {err:.2e}")
    print("transformer ops passed" if failures == 0 else f"{failures} ops failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
