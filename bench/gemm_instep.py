#!/usr/bin/python3
"""In-step GEMM rates beside standalone ones (issue 23 item 2).

For each model and precision: `nnrun --train STEPS --profile-json` on random batches, which
times every command of the step (synchronizing after each) and then runs each library call of
the step alone, on copies of its operands: the same prepared oneDNN primitive, shapes,
transposes, strides, dtype and threads, in the same process and run. Four standalone
conditions say where an in-step loss comes from:
  hot     back to back (caches hold the operands, the pool's threads spin between calls);
  cold    after every thread wrote 64 MiB (no operand in any cache; threads awake);
  parked  after a 5 ms pause (the pool's threads asleep, as after a long single-threaded
          kernel; caches as hot as the machine leaves them);
  1 thr   back to back on the calling thread alone (no wake-up, no barrier: what a GEMM too
          small to share would gain).
Every time is the fastest of its runs (STEPS calls in the step, as many alone per condition, at
most 20): on a shared machine noise only adds time. Prints per GEMM (slowest first) its in-step GFLOP/s and
each standalone rate, and per model the totals: the GEMMs' in-step time against their time
alone (hot), and what cold caches and parked threads alone would cost. The best hot rate over
a model's GEMMs is the library's best at the model's own shapes (train_bench.py prints it for
bf16 as the bf16 GEMM peak).

usage: bench/gemm_instep.py [--build build] [--models mlp,cnn,chargpt] [--precisions fp32,bf16]
                            [--steps 8] [--top 12] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
from train_peer import RECIPES  # noqa: E402


def bench_env(threads):
    """nnrun's settings in train_bench.py."""
    return dict(os.environ, OMP_WAIT_POLICY="PASSIVE", GOMP_SPINCOUNT="3000",
                OMP_NUM_THREADS=str(threads))


def example_cmd(bins, model, pb):
    if "gpt" in RECIPES[model] and model != "chargpt":
        blocks, d, heads, context = RECIPES[model]["gpt"]
        return [os.path.join(bins, "nnc-example-chargpt"), pb, str(blocks), str(d), str(heads),
                str(context), str(RECIPES[model]["batch"])]
    return [os.path.join(bins, f"nnc-example-{model}"), pb]


def run(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"gemm_instep: {' '.join(cmd)} failed: {r.stderr.strip()}")
    return r.stdout + r.stderr


def random_batches(model, work):
    import numpy as np
    rng = np.random.RandomState(0)
    b = RECIPES[model]["batch"] * 2
    if "gpt" in RECIPES[model]:
        context = RECIPES[model]["gpt"][3]
        x = rng.randint(0, 128, (b, context)).astype(np.int64)
        y = rng.randint(0, 128, (b, context)).astype(np.int64)
    else:
        x = rng.rand(*((b, 784) if model == "mlp" else (b, 1, 28, 28))).astype(np.float32)
        y = rng.randint(0, 10, b).astype(np.int64)
    paths = [os.path.join(work, f"{model}-gemm-{n}.npy") for n in ("x", "y")]
    np.save(paths[0], x)
    np.save(paths[1], y)
    return paths


def profile_plan(bins, plan, data, steps, env):
    """The train step's records from nnrun --profile-json (library calls only)."""
    path = plan + ".profile.jsonl"
    run([os.path.join(bins, "nnrun"), plan, "--train", str(steps), "--features", data[0],
         "--labels", data[1], "--lr", "1e-4", "--profile-json", path], env)
    records = [json.loads(line) for line in open(path)]
    return [r for r in records if r["function"] == "train_step" and r["flops"] > 0]


def compile_model(bins, model, precision, work, env):
    pb = os.path.join(work, f"{model}.pb")
    if not os.path.exists(pb):
        run(example_cmd(bins, model, pb), env)
    plan = os.path.join(work, f"{model}-{precision}.plan")
    run([os.path.join(bins, "nnc"), "compile", pb, "-o", plan, "--precision", precision], env)
    return plan


def measure(bins, model, precision, steps, threads, work):
    """The library calls of one model's train step: in-step and standalone times per call."""
    env = bench_env(threads)
    plan = compile_model(bins, model, precision, work, env)
    return profile_plan(bins, plan, random_batches(model, work), steps, env)


def layout(record):
    if "conv2d" in record:
        c = record["conv2d"]
        return f"{c['dtype']} {c['pass'].replace('backward_', 'bwd ')} " + \
            "x".join(str(d) for d in c["weight"])
    g = record.get("gemm")
    if not g:
        return ""
    flags = [g["dtype"]]
    if g["transpose_b"]:
        flags.append("b^T")
    if g["a_strides"]:
        flags.append("strided")
    if g["bias"]:
        flags.append("bias")
    if g["relu"]:
        flags.append("relu")
    return " ".join(flags)


def rate(record, key):
    return record["flops"] / record[key] / 1e9 if record.get(key) else 0.0


def best_rate(records):
    """The best standalone (hot) GFLOP/s over the records: the library at the model's shapes."""
    return max((rate(r, "alone_hot") for r in records), default=0.0)


def bf16_isa():
    """The instructions oneDNN's bf16 GEMMs can use on this CPU."""
    flags = set(open("/proc/cpuinfo").read().split())
    if "amx_bf16" in flags:
        return "AMX-BF16"
    if "avx512_bf16" in flags:
        return "AVX512_BF16, no AMX on this CPU"
    return "no bf16 instructions: oneDNN converts to f32"


def best_line(records, precision):
    """The best standalone GEMM of a model's step, as the bench prints it beside the FMA peak."""
    best = max(records, key=lambda r: rate(r, "alone_hot"), default=None)
    if best is None:
        return f"no {precision} GEMM in the step"
    isa = f" ({bf16_isa()})" if precision == "bf16" else ""
    return (f"best {precision} GEMM at this model's shapes{isa}: "
            f"{rate(best, 'alone_hot'):.1f} GFLOP/s, {best['command']} alone")


def format_table(model, precision, records, top):
    total = {k: sum(r[k] for r in records) for k in
             ("seconds", "best_seconds", "alone_hot", "alone_cold", "alone_parked")}
    flops = sum(r["flops"] for r in records)
    lines = [f"{model} {precision}: {len(records)} library calls per step, "
             f"{flops / 1e9:.2f} GFLOP; in the step {1e3 * total['best_seconds']:.2f} ms "
             f"({flops / total['best_seconds'] / 1e9:.1f} GFLOP/s; mean "
             f"{1e3 * total['seconds']:.2f} ms), alone "
             f"{1e3 * total['alone_hot']:.2f} ms ({flops / total['alone_hot'] / 1e9:.1f}): "
             f"in-step rate {100 * total['alone_hot'] / total['best_seconds']:.0f}% of "
             f"standalone; alone with cold caches {1e3 * total['alone_cold']:.2f} ms, "
             f"after parked threads {1e3 * total['alone_parked']:.2f} ms",
             f"    {'call':40} {'layout':22} {'in-step ms':>10} {'GFLOP/s':>8} "
             f"{'hot':>7} {'cold':>7} {'parked':>7} {'1 thr':>7} {'in/hot':>6}"]
    for r in sorted(records, key=lambda r: -r["best_seconds"])[:top]:
        lines.append(f"    {r['command'][:40]:40} {layout(r)[:22]:22} "
                     f"{1e3 * r['best_seconds']:10.3f} {rate(r, 'best_seconds'):8.1f} "
                     f"{rate(r, 'alone_hot'):7.1f} {rate(r, 'alone_cold'):7.1f} "
                     f"{rate(r, 'alone_parked'):7.1f} {rate(r, 'alone_one_thread'):7.1f} "
                     f"{r['alone_hot'] / r['best_seconds']:6.2f}")
    if len(records) > top:
        lines.append(f"    ... {len(records) - top} more")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="mlp,cnn,chargpt")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--top", type=int, default=12, help="GEMMs listed per model")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    bins = os.path.join(args.build, "bin")
    work = tempfile.mkdtemp(prefix="nnc-gemm-instep-")
    print(f"load average at start {os.getloadavg()[0]:.1f}, {args.threads} threads, "
          f"{args.steps} steps", flush=True)
    for model in args.models.split(","):
        for precision in args.precisions.split(","):
            records = measure(bins, model, precision, args.steps, args.threads, work)
            print(format_table(model, precision, records, args.top), flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
