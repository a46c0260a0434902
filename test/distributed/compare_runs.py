"""Compares two training runs: their printed losses ("step I loss L" or the trainer's "epoch"
lines are not handled here) and their dumped parameters (DIR/<name>.npy), each within a relative
tolerance (losses elementwise, tensors normwise: max |a - b| / max |b|)."""
import argparse
import os
import sys

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("losses_a")
parser.add_argument("losses_b")
parser.add_argument("params_a")
parser.add_argument("params_b")
parser.add_argument("--steps", type=int, required=True)
parser.add_argument("--tolerance", type=float, required=True)
args = parser.parse_args()


def losses(path):
    return [float(line.split()[3]) for line in open(path) if line.startswith("step ")]


a, b = losses(args.losses_a), losses(args.losses_b)
if len(a) != args.steps or len(b) != args.steps:
    sys.exit(f"expected {args.steps} steps, got {len(a)} and {len(b)}")
worst = max(abs(x - y) / abs(y) for x, y in zip(a, b))
print(f"{len(a)} steps, losses", f"within {args.tolerance:g}" if worst <= args.tolerance
      else f"OFF by {worst:g}")

names = sorted(os.listdir(args.params_b))
if sorted(os.listdir(args.params_a)) != names:
    sys.exit("the runs dumped different parameters")
worst = max(np.abs(np.load(os.path.join(args.params_a, n)) - np.load(os.path.join(args.params_b, n))).max()
            / np.abs(np.load(os.path.join(args.params_b, n))).max() for n in names)
print(f"{len(names)} tensors", f"within {args.tolerance:g}" if worst <= args.tolerance
      else f"OFF by {worst:g}")
