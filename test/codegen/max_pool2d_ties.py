"""Max pooling's gradient where windows hold equal maxima (zeros after a relu, repeated values,
-0 and +0): the compiled gradient against PyTorch's max_pool2d backward, which gives each
window's grad to its first maximum in row-major order. Values are small integers and the grads
multiples of 1/8, so one SGD step with learning rate 1 (p' = p - grad) is exact and the two
must be equal, not close.

  max_pool2d_ties.py model KH KW STRIDE PAD OUT.pbtxt   writes the model (the parameter p, tied)
  max_pool2d_ties.py check KH KW STRIDE PAD OUT.pbtxt BEFORE_DIR AFTER_DIR R.npy
"""
import sys

import numpy as np

SHAPE = (2, 3, 8, 12)


def params():
    rng = np.random.default_rng(3)
    p = rng.integers(0, 3, SHAPE).astype(np.float32)  # many ties among 0, 1, 2
    p[0, 0] = 0.0  # whole windows of zeros, as after a relu
    p[0, 1, ::2] = -0.0  # -0 and +0 in the same windows
    return p


def out_shape(kh, kw, stride, pad):
    return (SHAPE[0], SHAPE[1], (SHAPE[2] + 2 * pad - kh) // stride + 1,
            (SHAPE[3] + 2 * pad - kw) // stride + 1)


def model(kh, kw, stride, pad):
    p = params()
    fmt = lambda s, d="F32": f"type {{ dtype: {d} shape: [{', '.join(map(str, s))}] }}"
    values = ", ".join(f"{v:g}" if v != 0 or not np.signbit(v) else "-0" for v in p.reshape(-1))
    return "\n".join([
        "format_version: 1",
        f'inputs {{ name: "x" {fmt([1])} role: FEATURES }}',
        f'inputs {{ name: "r" {fmt(out_shape(kh, kw, stride, pad))} role: LABELS }}',
        f'parameters {{ name: "p" {fmt(SHAPE)} stored {{ {fmt(SHAPE)} values: [{values}] }} }}',
        'nodes { name: "shift" op: "add" inputs: ["x", "p"] outputs: "a" }',
        f'nodes {{ name: "pool" op: "max_pool2d" inputs: ["a"] outputs: "y" '
        f'attrs {{ key: "kernel_size" value {{ ints {{ values: [{kh}, {kw}] }} }} }} '
        f'attrs {{ key: "stride" value {{ ints {{ values: [{stride}, {stride}] }} }} }} '
        f'attrs {{ key: "padding" value {{ ints {{ values: [{pad}, {pad}] }} }} }} }}',
        'nodes { name: "weigh" op: "mul" inputs: ["y", "r"] outputs: "yr" }',
        'nodes { name: "loss" op: "reduce_sum" inputs: "yr" outputs: "loss" '
        'attrs { key: "axes" value { ints { values: [0, 1, 2, 3] } } } }',
        'training { loss: "loss" optimizer { kind: SGD learning_rate: 1 } }']) + "\n"


kh, kw, stride, pad = map(int, sys.argv[2:6])
if sys.argv[1] == "model":
    open(sys.argv[6], "w").write(model(kh, kw, stride, pad))
    rng = np.random.default_rng(4)
    r = rng.integers(1, 16, out_shape(kh, kw, stride, pad)).astype(np.float32) / 8
    np.save(sys.argv[6] + ".r.npy", r)
    np.save(sys.argv[6] + ".x.npy", np.zeros([1], np.float32))
else:
    import torch
    before = np.load(sys.argv[7] + "/p.npy")
    after = np.load(sys.argv[8] + "/p.npy")
    r = torch.from_numpy(np.load(sys.argv[9]))
    p = torch.from_numpy(before).requires_grad_()
    torch.nn.functional.max_pool2d(p, (kh, kw), stride, pad).mul(r).sum().backward()
    ours, theirs = before - after, p.grad.numpy()
    assert np.array_equal(before, params()) and np.signbit(before).any()
    padded = torch.nn.functional.pad(torch.from_numpy(before), (pad,) * 4, value=-np.inf)
    windows = torch.nn.functional.unfold(padded, (kh, kw), stride=stride)  # (N, C*KH*KW, L)
    windows = windows.reshape(SHAPE[0], SHAPE[1], kh * kw, -1)
    tied = int(((windows == windows.max(2, keepdim=True).values).sum(2) > 1).sum())
    print("windows with tied maxima:", tied, "of", windows.shape[0] * windows.shape[1] * windows.shape[3],
          "gradient equal:", np.array_equal(ours, theirs),
          "differing elements:", int((ours != theirs).sum()))
