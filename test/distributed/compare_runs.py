"""Compares two training runs: their printed losses ("step I loss L", or --fit --log-steps'
"step S epoch E lr R loss L"; the trainer's "epoch" lines are not handled here) and their
dumped parameters (DIR/<name>.npy), each within a relative tolerance (losses elementwise,
tensors normwise: max |a - b| / max |b|, or with --norm l2 ||a - b|| / ||b||). With --common,
only the tensors both runs dumped are compared (an accumulating plan also dumps its
accumulators). A step whose loss is not finite must be so in
both runs (the same inf or nan)."""
import argparse
import math
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
parser.add_argument("--weight-tolerance", type=float, help="for the tensors (default: --tolerance)")
parser.add_argument("--norm", choices=["max", "l2"], default="max")
parser.add_argument("--common", action="store_true")
# NAME:START:END (repeatable): elements [START, END) of NAME.npy (flattened) are left out of the
# tensor comparison, for values the run's note explains (a gradient that is only rounding noise).
parser.add_argument("--exclude", action="append", default=[])
args = parser.parse_args()
excluded = {}
for item in args.exclude:
    name, start, end = item.rsplit(":", 2)
    excluded.setdefault(name + ".npy", []).append((int(start), int(end)))
weight_tolerance = args.tolerance if args.weight_tolerance is None else args.weight_tolerance


def losses(path):
    # "step I loss L", or --fit --log-steps' "step S epoch E lr R loss L"
    return [float(line.split()[line.split().index("loss") + 1])
            for line in open(path) if line.startswith("step ") and " loss " in line]


def loss_error(x, y):
    if not (math.isfinite(x) and math.isfinite(y)):
        return 0.0 if str(x) == str(y) else math.inf
    return abs(x - y) / abs(y)


a, b = losses(args.losses_a), losses(args.losses_b)
if len(a) != args.steps or len(b) != args.steps:
    sys.exit(f"expected {args.steps} steps, got {len(a)} and {len(b)}")
worst = max(loss_error(x, y) for x, y in zip(a, b))
print(f"{len(a)} steps, losses", f"within {args.tolerance:g}" if worst <= args.tolerance
      else f"OFF by {worst:g}")

names_a, names_b = sorted(os.listdir(args.params_a)), sorted(os.listdir(args.params_b))
if args.common:
    names = sorted(set(names_a) & set(names_b))
elif names_a != names_b:
    sys.exit("the runs dumped different parameters")
else:
    names = names_b


def norm(x):
    return np.abs(x).max() if args.norm == "max" else np.linalg.norm(x.astype(np.float64))


worst, where = 0.0, ""
for n in names:
    x, y = np.load(os.path.join(args.params_a, n)), np.load(os.path.join(args.params_b, n))
    if n in excluded:
        keep = np.ones(y.size, dtype=bool)
        for start, end in excluded[n]:
            keep[start:end] = False
        x, y = x.reshape(-1)[keep], y.reshape(-1)[keep]
    difference, size = norm(x - y), norm(y)
    error = difference / size if size > 0 else (0.0 if difference == 0 else np.inf)
    if error > worst:
        worst, where = error, n
print(f"{len(names)} tensors", f"within {weight_tolerance:g}" if worst <= weight_tolerance
      else f"OFF by {worst:g} ({where})")
