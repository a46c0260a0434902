#!/usr/bin/python3
"""The reference of dropout_mask_once.pbtxt: one SGD step of its two-dropout MLP in float64.

The masks come from Philox4x32-10 written out here, independently of the compiler, in the layout
of runtime/Philox.h and nn.dropout's description: element e of a (32, 64) dropout is kept, scaled
by 1 / (1 - rate), iff the top 24 bits of word e % 4 of Philox(counter = (e / 4 low, e / 4 high,
step, stream), key = (seed low, seed high)), read as a uniform in [0, 1), are >= rate. Train step
1 has step number 1 and the plan's seed as key; the autodiff pass numbers the dropouts' streams
1 and 2 in model order. The backward pass multiplies each gradient by its forward mask again.

Prints the kept fractions (near 1 - rate: the masks are not trivial), whether the two masks
differ (so a backward pass that used the other dropout's mask would show), then per value
whether it is within tolerance.

usage: dropout_mask_once.py INIT_DIR X.npy Y.npy LOSS_OUTPUT DUMPED_DIR
"""
import sys

import numpy as np

SEED, STEP, RATE, LR = 7, 1, 0.5, 0.5
M32 = np.uint64(0xFFFFFFFF)


def philox(counter, key):
    """Philox4x32-10 on uint64 arrays holding 32-bit words: the block's four words."""
    c = [np.asarray(w, np.uint64) & M32 for w in counter]
    k = [np.uint64(w) for w in key]
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c[0]  # 32 x 32 bits: exact in 64
        p1 = np.uint64(0xCD9E8D57) * c[2]
        c = [((p1 >> np.uint64(32)) ^ c[1] ^ k[0]) & M32, p1 & M32,
             ((p0 >> np.uint64(32)) ^ c[3] ^ k[1]) & M32, p0 & M32]
        k = [(k[0] + np.uint64(0x9E3779B9)) & M32, (k[1] + np.uint64(0xBB67AE85)) & M32]
    return c


def mask(shape, stream):
    """The dropout mask (0 or 1 / (1 - RATE)) of `shape` for `stream` at step STEP."""
    e = np.arange(int(np.prod(shape)), dtype=np.uint64)
    block = e >> np.uint64(2)
    words = philox([block & M32, block >> np.uint64(32), np.full_like(e, STEP),
                    np.full_like(e, stream)], [SEED & 0xFFFFFFFF, SEED >> 32])
    word = np.choose((e & np.uint64(3)).astype(np.int64), words)
    uniform = (word >> np.uint64(8)).astype(np.float64) * 2.0**-24
    return np.where(uniform >= RATE, 1.0 / (1.0 - RATE), 0.0).reshape(shape)


def main():
    init, x_file, y_file, loss_output, trained = sys.argv[1:]
    names = ("w1", "b1", "w2", "w3")
    p = {n: np.load(f"{init}/{n}.npy").astype(np.float64) for n in names}
    x = np.load(x_file).astype(np.float64)  # (32, 16)
    y = np.load(y_file).astype(np.float64)  # (32, 8)
    m1, m2 = mask((32, 64), 1), mask((32, 64), 2)

    h1 = x @ p["w1"].T + p["b1"]  # (32, 64)
    d1 = np.maximum(h1, 0) * m1
    h2 = d1 @ p["w2"].T  # (32, 64)
    d2 = np.maximum(h2, 0) * m2
    out = d2 @ p["w3"].T  # (32, 8)
    loss = np.mean((out - y) ** 2)

    g = 2 * (out - y) / out.size  # (32, 8)
    grads = {"w3": g.T @ d2}
    dh2 = (g @ p["w3"]) * m2 * (h2 > 0)  # (32, 64)
    grads["w2"] = dh2.T @ d1
    dh1 = (dh2 @ p["w2"]) * m1 * (h1 > 0)  # (32, 64)
    grads["w1"], grads["b1"] = dh1.T @ x, dh1.sum(axis=0)

    print("kept fractions %.3f %.3f" % ((m1 > 0).mean(), (m2 > 0).mean()))
    print("masks differ", bool((m1 != m2).any()))
    # fp32 against float64. The loss and each gradient are sums of at most 64 products through
    # three chained layers, and each trained parameter is rounded to fp32 once more (half an
    # ulp of values below 1 is 3e-8, under 5e-7 of any parameter's largest step here): measured
    # at most 3.1e-7 of the largest step. 1e-5 leaves a wide margin, while a wrong mask (the
    # other stream's, a fresh one, none) changes about half of a layer's gradient terms, an
    # error near the largest step itself.
    ours = float(open(loss_output).read().split()[3])  # "step 0 loss <loss>"
    print("loss", abs(ours - loss) <= 1e-5 * loss)
    for n in names:
        step = -LR * grads[n]
        got = np.load(f"{trained}/{n}.npy").astype(np.float64) - p[n]
        print(n, np.abs(got - step).max() <= 1e-5 * np.abs(step).max())


if __name__ == "__main__":
    main()
