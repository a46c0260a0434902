"""NaN propagation checks for the nan_*.pbtxt tests: makes an input with NaN in some places, and
compares nnrun's --predict output with a float64 NumPy reference of what PyTorch computes
(relu, max, max-pool and softmax propagate NaN).

  nan_check.py input OP X.npy          writes the input for OP
  nan_check.py check OP X.npy Y.npy    prints "nan <count> <same places> values <all close>"
"""
import sys

import numpy as np


def inputs(op):
    rng = np.random.default_rng(0)
    if op in ("conv_relu", "max_pool2d"):
        x = rng.standard_normal((2, 1, 4, 4))
        x[0, 0, 0, 1] = np.nan  # one window (of the pool) / some windows (of the conv)
        x[1] = -np.abs(x[1])  # all negative: relu gives +0
        return x
    x = rng.standard_normal((4, 16))
    x[0, 3] = np.nan
    x[1, :] = np.nan
    x[2] = -np.abs(x[2])
    x[3, 5] = np.inf
    return x


def relu(x):
    return np.where(np.isnan(x), x, np.maximum(x, 0))


def reference(op, x):
    if op == "relu":
        return relu(x)
    if op == "linear_relu":  # weight (16, 16) all 0.25, as the model's init
        return relu(x @ np.full((16, 16), 0.25))
    if op == "conv_relu":  # weight (2, 1, 3, 3) all 0.25, no padding: (2, 2, 2, 2)
        out = np.empty((2, 2, 2, 2))
        for i in range(2):
            for j in range(2):
                out[:, :, i, j] = x[:, :, i:i + 3, j:j + 3].sum(axis=(1, 2, 3))[:, None] * 0.25
        return relu(out)
    if op == "max_pool2d":  # 2 x 2, stride 2; a NaN in a window is its max
        windows = x.reshape(2, 1, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 1, 2, 2, 4)
        return np.where(np.isnan(windows).any(-1), np.nan, windows.max(-1))
    if op == "reduce_max":  # over axis 1
        return np.where(np.isnan(x).any(1), np.nan, np.nanmax(np.where(np.isnan(x), -np.inf, x), 1))
    if op == "softmax":  # over the last axis: a NaN (or inf) row is all NaN
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    raise SystemExit("unknown op " + op)


if sys.argv[1] == "input":
    np.save(sys.argv[3], inputs(sys.argv[2]).astype(np.float32))
else:
    x = np.load(sys.argv[3]).astype(np.float64)
    y = np.load(sys.argv[4]).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ref = reference(sys.argv[2], x)
    nan = np.isnan(ref)
    close = np.allclose(y[~nan], ref[~nan], rtol=1e-5, atol=1e-6)
    # relu's zero is +0, as PyTorch's
    signs = not np.signbit(y[(ref == 0) & ~nan]).any()
    print("nan", int(nan.sum()), bool((np.isnan(y) == nan).all()), "values", bool(close and signs))
