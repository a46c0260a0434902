#!/usr/bin/python3
"""fp32 vs bf16 vs fp16 training step time of the examples on this CPU (issue: mixed precision).

Each example's model is compiled three times, its TrainingSpec's precision set to FP32, BF16
and FP16 (text-edited through protoc); nnrun trains W and W + N steps on random data of the
right shape and the difference is the time of N steps, so plan loading and warm-up drop out.
Repetitions alternate between the precisions; medians are printed. No target on CPU: bf16 runs
oneDNN's bf16 kernels (AVX512-BF16/AMX where the CPU has them) and the generated kernels compute
bf16 through LLVM's promotion; fp16 contractions fall back to f32 where oneDNN lacks them.

usage: /usr/bin/python3 bench/precision_bench.py [--steps N] [--reps R] [--models mlp,cnn]
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BIN = os.path.join(ROOT, "build", "bin")
SHAPES = {"mlp": ((128, 784), 10), "cnn": ((128, 1, 28, 28), 10)}


def compile_variants(model, work):
    pb = os.path.join(work, f"{model}.pb")
    subprocess.run([os.path.join(BIN, f"nnc-example-{model}"), pb], check=True,
                   capture_output=True)
    text = subprocess.run(["/usr/bin/protoc", f"--proto_path={os.path.join(ROOT, 'proto')}",
                           "--decode=nnc.Model", "model.proto"], stdin=open(pb, "rb"),
                          check=True, capture_output=True).stdout.decode()
    plans = {}
    for precision in ("FP32", "BF16", "FP16"):
        src = os.path.join(work, f"{model}.{precision}.pbtxt")
        with open(src, "w") as f:
            f.write(text.replace("\ntraining {", f"\ntraining {{ precision {{ kind: {precision} }}", 1))
        plan = os.path.join(work, f"{model}.{precision}.plan")
        subprocess.run([os.path.join(BIN, "nnc"), "compile", src, "-o", plan], check=True,
                       capture_output=True)
        plans[precision] = plan
    return plans


def timed(plan, steps, x, y):
    start = time.perf_counter()
    subprocess.run([os.path.join(BIN, "nnrun"), plan, "--train", str(steps), "--features", x,
                    "--labels", y, "--lr", "1e-3"], check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--models", default="mlp,cnn")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="nnc-precision-bench-")
    rng = np.random.default_rng(0)
    print(f"ms per training step (median of {args.reps}, {args.steps} steps each), "
          f"{os.cpu_count()} cores")
    for model in args.models.split(","):
        shape, classes = SHAPES[model]
        x, y = os.path.join(work, f"{model}.x.npy"), os.path.join(work, f"{model}.y.npy")
        np.save(x, rng.standard_normal((4 * shape[0],) + shape[1:]).astype(np.float32))
        np.save(y, rng.integers(0, classes, 4 * shape[0]).astype(np.int64))
        plans = compile_variants(model, work)
        times = {p: [] for p in plans}
        for _ in range(args.reps):
            for precision, plan in plans.items():
                long = timed(plan, args.warmup + args.steps, x, y)
                short = timed(plan, args.warmup, x, y)
                times[precision].append((long - short) / args.steps * 1e3)
        fp32 = statistics.median(times["FP32"])
        cells = "  ".join(f"{p.lower()} {statistics.median(t):7.2f} ({fp32 / statistics.median(t):.2f}x)"
                          for p, t in times.items())
        print(f"{model:4}  {cells}")


if __name__ == "__main__":
    main()
