#!/usr/bin/python3
"""Fused causal attention (issue 23): train-step time of the char-GPT and the GPTs with the
attention fused (nn.causal_attention, `nnc compile --fuse-attention=all`) and unfused
(`--fuse-attention=none`), from `nnrun --train N --profile`: the step's time per call, the fused
attention's own commands (forward + backward, all layers) and the step's GEMM and kernel totals,
in fp32 or bf16 (`--precisions fp32,bf16`).

Alternates the fused and unfused plans R times (fresh processes) and prints medians (min..max).
Same machine, same binary, same batches; OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=3000 as
bench/train_bench.py.

usage: bench/attention_bench.py [--build build] [--models chargpt,gpt6] [--precisions fp32]
                               [--reps 3] [--steps 3]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# model -> example arguments after the output file (blocks, d, heads, context, batch)
MODELS = {"chargpt": [], "gpt6": ["6", "384", "6", "256", "8"], "gpt12": ["12", "768", "12", "256", "8"]}


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout + r.stderr


def profile(nnrun, plan, tokens, targets, steps, env):
    out = run([nnrun, plan, "--train", str(steps), "--features", tokens, "--labels", targets,
               "--lr", "1e-4", "--profile"], env)
    line = next(l for l in out.splitlines() if l.startswith("profile: train_step,"))
    step_ms = float(re.search(r"train_step, ([\d.]+) ms per call", line).group(1))
    kinds = {k: int(us) / 1e3 for k, us in re.findall(r"(\w+) (\d+) us", line)}
    return step_ms, kinds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="chargpt,gpt6")
    ap.add_argument("--precisions", default="fp32")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    bins = os.path.join(args.build, "bin")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", GOMP_SPINCOUNT="3000", OMP_NUM_THREADS="2")
    work = tempfile.mkdtemp(prefix="nnc-attention-bench-")
    print(f"load average at start {os.getloadavg()[0]:.1f}", flush=True)
    for model in args.models.split(","):
        pb = os.path.join(work, model + ".pb")
        run([os.path.join(bins, "nnc-example-chargpt"), pb] + MODELS[model])
        for precision in args.precisions.split(","):
            plans = {}
            for variant, flags in (("fused", ["--fuse-attention=all"]),
                                   ("unfused", ["--fuse-attention=none"])):
                plans[variant] = os.path.join(work, f"{model}-{precision}-{variant}.plan")
                out = run([os.path.join(bins, "nnc"), "compile", pb, "-o", plans[variant],
                           "--precision", precision] + flags)
            ir = run([os.path.join(bins, "nnc"), "compile", pb, "--compile-to=import"])
            shape = re.search(r"tensor<(\d+)x(\d+)xi64> \{nn.index_limit = (\d+)", ir)
            batch, context, vocab = (int(g) for g in shape.groups())
            rng = np.random.default_rng(0)
            tokens, targets = (os.path.join(work, n) for n in ("tokens.npy", "targets.npy"))
            np.save(tokens, rng.integers(0, vocab, (batch * args.steps, context)))
            np.save(targets, rng.integers(0, vocab, (batch * args.steps, context)))
            results = {v: [] for v in plans}
            for _ in range(args.reps):
                for variant, plan in plans.items():
                    results[variant].append(
                        profile(os.path.join(bins, "nnrun"), plan, tokens, targets, args.steps, env))
            for variant, rs in results.items():
                step = [r[0] for r in rs]
                fused = [r[1].get("causal_attention", 0.0) for r in rs]
                gemm = [r[1].get("gemm", 0.0) for r in rs]
                kernel = [r[1].get("kernel", 0.0) for r in rs]
                fmt = lambda xs: f"{statistics.median(xs):8.2f} ({min(xs):.2f}..{max(xs):.2f})"  # noqa
                print(f"{model:8} {precision:5} {variant:8} step ms {fmt(step)}  "
                      f"causal_attention ms {fmt(fused)}  gemm ms {fmt(gemm)}  "
                      f"kernels ms {fmt(kernel)}", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
