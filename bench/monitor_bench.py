#!/usr/bin/env python3
"""What monitoring costs: the Fashion-MNIST MLP (batch 128) trained by `nnrun --fit` with every
sink on (progress lines, JSON lines, TensorBoard, the HTML report rewritten at each evaluation)
against no sinks at all, in alternating repetitions on the same plan, data and seed.

Two measurements, because 2% is below what wall clocks on a shared machine resolve:
  - in process: nnrun's closing line "monitoring: X ms, P% of the S s of training steps", the
    time inside the monitor (every sink, the anomaly detector, building the events) against the
    steps' own time, from the runtime's clock reads around both;
  - end to end: the median wall time of whole runs with every sink against none (data loading,
    evaluations and the report's rewrites included), in alternating repetitions.
Issue 6 asks for hooks under 2% of step time.

usage: bench/monitor_bench.py [--reps 5] [--epochs 2]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
DATA = "/usr/share/datasets/fashion-mnist"


def run(cmd):
    start = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout[-2000:]}")
    return p.stdout, time.time() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="nnc-monitor-bench-")
    model, plan = os.path.join(work, "mlp.pb"), os.path.join(work, "mlp.plan")
    run([os.path.join(BIN, "nnc-example-mlp"), model])
    run([os.path.join(BIN, "nnc"), "compile", model, "-o", plan])
    base = [os.path.join(BIN, "nnrun"), plan, "--fit", "--data", DATA, "--val-fraction", "0.1",
            "--epochs", str(args.epochs), "--seed", "1"]
    variants = {
        "no sinks": base + ["--progress", "none"],
        "every sink": base + ["--progress", "plain", "--metrics-jsonl",
                              os.path.join(work, "m.jsonl"), "--tensorboard",
                              os.path.join(work, "tb"), "--report",
                              os.path.join(work, "report.html")],
    }
    steps_per_epoch = None
    share = []  # the in-process measurement, every-sink runs
    wall = {name: [] for name in variants}
    for rep in range(args.reps):
        for name, cmd in (variants.items() if rep % 2 == 0 else reversed(variants.items())):
            out, seconds = run(cmd)
            steps_per_epoch = int(re.search(r"(\d+) steps per epoch", out).group(1))
            wall[name].append(seconds)
            m = re.search(r"^monitoring: ([\d.]+) ms, ([\d.]+)% of the ([\d.]+) s", out, re.M)
            if name == "every sink":
                if not m:
                    sys.exit(f"no monitoring line:\n{out[-2000:]}")
                share.append((float(m.group(2)), float(m.group(1)), float(m.group(3))))
    cpu = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": ")
    print(f"monitoring cost, Fashion-MNIST MLP, batch 128, {args.epochs} epochs of "
          f"{steps_per_epoch} steps, {args.reps} alternating repetitions; {cpu}")
    share.sort()
    percent, ms, steps_s = share[len(share) // 2]
    print(f"in process (every sink): monitoring {ms:.1f} ms = {percent:.2f}% of {steps_s:.1f} s "
          f"of training steps (median; {share[0][0]:.2f}%..{share[-1][0]:.2f}%)")
    base_wall = statistics.median(wall["no sinks"])
    full_wall = statistics.median(wall["every sink"])
    print(f"whole runs: no sinks {base_wall:.2f} s, every sink {full_wall:.2f} s (medians): "
          f"{100 * (full_wall / base_wall - 1):+.1f}%")


if __name__ == "__main__":
    main()
