"""Checks that a split run in low precision (fp16 or bf16) is as close to one process in the same
precision as that process is to fp32: the split changes where values are rounded (a row-parallel
layer's partial sums are each rounded to the low precision before the all-reduce adds them), so
its difference is rounding of the precision's own size. Prints, for the losses (elementwise,
relative) and the tensors (per tensor ||a - b|| / ||b||, the worst), both differences and whether
the split's is within `--factor` times the precision's.

  compare_precision.py SPLIT.txt LOW.txt FP32.txt SPLIT_DIR LOW_DIR FP32_DIR --steps 20
"""
import argparse
import os

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("runs", nargs=6)
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--factor", type=float, default=2.0)
# NAME:START:END: elements of NAME.npy left out (a gradient that is only rounding noise).
parser.add_argument("--exclude", action="append", default=[])
args = parser.parse_args()
split_txt, low_txt, fp32_txt, split_dir, low_dir, fp32_dir = args.runs


def losses(path):
    found = [float(line.split()[line.split().index("loss") + 1])
             for line in open(path) if line.startswith("step ") and " loss " in line]
    if len(found) != args.steps:
        raise SystemExit(f"{path}: expected {args.steps} steps, got {len(found)}")
    return np.array(found, dtype=np.float64)


def tensor(directory, name):
    value = np.load(os.path.join(directory, name)).astype(np.float64).reshape(-1)
    for item in args.exclude:
        excluded, start, end = item.rsplit(":", 2)
        if name == excluded + ".npy":
            value = np.delete(value, np.s_[int(start):int(end)])
    return value


def loss_difference(a, b):
    return float(np.max(np.abs(a - b) / np.abs(b)))


def tensor_difference(a_dir, b_dir):
    worst = 0.0
    for name in sorted(set(os.listdir(a_dir)) & set(os.listdir(b_dir))):
        a, b = tensor(a_dir, name), tensor(b_dir, name)
        if np.linalg.norm(b) > 0:
            worst = max(worst, float(np.linalg.norm(a - b) / np.linalg.norm(b)))
    return worst


split, low, fp32 = losses(split_txt), losses(low_txt), losses(fp32_txt)
for what, mine, own in [("losses", loss_difference(split, low), loss_difference(low, fp32)),
                        ("tensors", tensor_difference(split_dir, low_dir),
                         tensor_difference(low_dir, fp32_dir))]:
    print(f"{what}: split {mine:.2g}, precision {own:.2g}:",
          "within" if mine <= args.factor * own else "NOT within", f"{args.factor:g}x")
