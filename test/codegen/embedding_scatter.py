#!/usr/bin/python3
"""The reference of embedding_scatter.pbtxt: loss = sum(table[ids] * y) and one SGD step, float64.

The forward lookup clamps ids into [0, rows); the table's gradient is y's rows summed by id over
the ids inside the table only (nn.embedding_grad: ids outside add nothing), so
grad = np.add.at over the in-range ids. (nnrun refuses ids outside the table, so the runs here
have none; the reference keeps the definition.)

Prints whether predict's lookup equals table[clip(ids)] exactly, then per run: whether the loss
and the trained table are within tolerance, how often the most looked-up row was looked up,
which rows no in-range id names, and whether those rows kept their values bit for bit.

usage: embedding_scatter.py INIT_DIR Y.npy PREDICT_IDS.npy PREDICT_OUT.npy
                            [NAME IDS.npy LOSS_OUTPUT TRAINED_DIR]...
"""
import sys

import numpy as np

LR = 0.1


def main():
    init, y_file, predict_ids, predict_out = sys.argv[1:5]
    table = np.load(f"{init}/table.npy").astype(np.float64)  # (rows, D)
    rows = table.shape[0]
    y = np.load(y_file).astype(np.float64)  # (ids..., D)
    lookup = lambda ids: table[np.clip(ids, 0, rows - 1)]  # (ids..., D)
    # The lookup copies table values: exact.
    print("predict", np.array_equal(np.load(predict_out),
                                    lookup(np.load(predict_ids)).astype(np.float32)))
    runs = sys.argv[5:]
    for name, ids_file, loss_output, trained in zip(*[iter(runs)] * 4):
        ids = np.load(ids_file)
        inside = (ids >= 0) & (ids < rows)
        grad = np.zeros_like(table)
        np.add.at(grad, ids[inside], y[inside])
        step = -LR * grad
        got = np.load(f"{trained}/table.npy").astype(np.float64)
        terms = lookup(ids) * y
        ours = float(open(loss_output).read().split()[3])  # "step 0 loss <loss>"
        counts = np.bincount(ids[inside], minlength=rows)
        untouched = counts == 0
        # fp32 against float64. The loss sums 65536 products and a table row about 34 rows of
        # y: rounding stays far below 1e-5 of the sum of the terms' magnitudes (the loss) and
        # of the largest step (measured 2e-7), while a lost, overwritten or misplaced row of y
        # is an O(1) error in its table row.
        print(name,
              "loss", abs(ours - terms.sum()) <= 1e-5 * np.abs(terms).sum(),
              "table", np.abs(got - table - step).max() <= 1e-5 * np.abs(step).max(),
              "most looked-up", counts.max(),
              "untouched", np.flatnonzero(untouched).tolist(),
              np.array_equal(got[untouched], table[untouched]))


if __name__ == "__main__":
    main()
