#!/usr/bin/python3
"""Trains a fixture of test/train/ with nnc and compares with PyTorch's run of the same steps.

Per step, the loss must be within relative 1e-4 of PyTorch's; at the end every parameter within
normwise relative 1e-4 (max|ours - ref| / max|ref|). 1e-4 is the issue's bound: both sides are
fp32, and 50 steps of SGD amplify the ~1e-7 per-op rounding differences (sums in another order)
by the conditioning of the training trajectory, which stays far below it here.

A case directory holds model.pbtxt (or model.pb from --model), init/ (weights to load; without
it the plan's own initializers are used), features.npy / labels.npy (or tokens.npy /
targets.npy), lr.txt, losses.txt and final/.

usage: check_train.py --nnc NNC --nnrun NNRUN [--model FILE] [--steps N] CASE_DIR WORK_DIR
"""
import argparse
import os
import subprocess
import sys

import numpy as np

TOLERANCE = 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnc", required=True)
    ap.add_argument("--nnrun", required=True)
    ap.add_argument("--model", help="the model file, if not CASE_DIR/model.pbtxt")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("case")
    ap.add_argument("work")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    plan = os.path.join(args.work, "model.plan")
    final = os.path.join(args.work, "final")
    model = args.model or os.path.join(args.case, "model.pbtxt")
    subprocess.run([args.nnc, "compile", model, "-o", plan], check=True, capture_output=True)
    data = [os.path.join(args.case, n) for n in ("features.npy", "labels.npy")]
    if not os.path.exists(data[0]):
        data = [os.path.join(args.case, n) for n in ("tokens.npy", "targets.npy")]
    init = os.path.join(args.case, "init")
    command = [args.nnrun, plan, "--train", str(args.steps), "--features", data[0], "--labels",
               data[1], "--lr", open(os.path.join(args.case, "lr.txt")).read().strip(),
               "--dump-parameters", final]
    if os.path.isdir(init):
        command += ["--load-parameters", init]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    ours = [float(line.split()[3]) for line in out.stdout.splitlines() if line.startswith("step ")]
    ref = [float(v) for v in open(os.path.join(args.case, "losses.txt"))]
    failures = 0
    if len(ours) != len(ref):
        print(f"FAIL: {len(ours)} steps ran, expected {len(ref)}")
        return 1
    worst = max(abs(a - b) / abs(b) for a, b in zip(ours, ref))
    if worst > TOLERANCE:
        failures += 1
    print(f"{'PASS' if worst <= TOLERANCE else 'FAIL'} losses: {len(ours)} steps, "
          f"{ours[0]:.6f} -> {ours[-1]:.6f}, max rel err {worst:.2e}")
    for name in sorted(os.listdir(os.path.join(args.case, "final"))):
        a = np.load(os.path.join(final, name))
        b = np.load(os.path.join(args.case, "final", name))
        err = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
        ok = err <= TOLERANCE
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name[:-4]}: rel err {err:.2e}")
    print("train parity passed" if failures == 0 else f"{failures} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
