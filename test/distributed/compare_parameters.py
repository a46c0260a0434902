"""Compares two dumps of parameters (DIR/<name>.npy, as --dump-parameters writes them) tensor by
tensor within a relative tolerance, normwise: max |a - b| / max |b|. For runs whose losses are not
printed per step (the trainer's), which compare_runs.py needs."""
import os
import sys

import numpy as np

a_dir, b_dir, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
names = sorted(os.listdir(b_dir))
if sorted(os.listdir(a_dir)) != names:
    sys.exit("the runs dumped different parameters")
worst, where = 0.0, ""
for name in names:
    a, b = np.load(os.path.join(a_dir, name)), np.load(os.path.join(b_dir, name))
    error = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
    if error > worst:
        worst, where = error, name
print(len(names), "tensors", f"within {tolerance:g}" if worst <= tolerance
      else f"OFF by {worst:g} ({where})")
