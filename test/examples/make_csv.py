#!/usr/bin/python3
"""Writes a synthetic tabular classification set as CSV: 8 numeric columns on scales from 1e-3 to
1e4 (so that standardization matters), 3 classes around random centres, a "species" label column.

usage: make_csv.py OUT.csv ROWS SEED
"""
import sys

import numpy as np

path, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
centers = np.random.RandomState(0).randn(3, 8) * 2  # shared by every file
rng = np.random.RandomState(seed)
y = rng.randint(0, 3, rows)
x = (centers[y] + rng.randn(rows, 8)) * 10.0 ** np.arange(-3, 5)
with open(path, "w") as f:
    f.write(",".join([f"f{i}" for i in range(8)] + ["species"]) + "\n")
    for row, label in zip(x, y):
        f.write(",".join(f"{v:.6g}" for v in row) + f",{label}\n")
