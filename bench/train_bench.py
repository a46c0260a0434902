#!/usr/bin/python3
"""Training-throughput benchmark: nnc against PyTorch (eager and torch.compile), JAX and Debian's
PyTorch 1.13, training the example models on this machine in one run.

usage: bench/setup_peers.sh                  # once: PyPI torch and jax[cpu] into .venv-bench/
       bench/train_bench.py [--quick] [--reps R] [--models mlp,cnn,resnet,chargpt,gpt6,gpt12]
                            [--background N] [--precision fp32|bf16] [--gemms N]
                            [--compare-fixed] [--record]

Per model (Fashion-MNIST MLP, CNN and ResNet (BatchNorm on batch statistics, running statistics
updated by every runner), batch 128; char-GPT, batch 32 x context 128; on request
the GPT at real sizes, batch 8 x context 256: gpt6 (6 blocks, d_model 384, 6 heads) and gpt12
(12 blocks, d_model 768, 12 heads)):
1. `nnc compile` the example (timed; its "train_step: N FLOPs per call" is the FLOP count used
   for every runner), and `nnrun --dump-parameters` its initial weights, which every peer loads,
   so all start from the same point (the GPT has no dropout: its first loss agrees to 4 digits).
2. Eight random batches of the right shape (uniform pixels, random labels or tokens), in memory
   as .npy files; step i trains on batch i mod 8, nnrun --train's order.
3. R repetitions, alternating nnc and the peers, each run a fresh process. Each trains WARMUP
   steps (compilation, caches) and then STEPS measured steps. nnc's plan loading is excluded by
   running nnrun twice, with WARMUP and WARMUP + STEPS steps, and taking the difference; the
   peers time their measured steps themselves (bench/train_peer.py). Each step reads its loss
   back (nnrun prints it), and the recipe is the examples' AdamW + clipping at a constant LR.
4. Each GEMM of nnc's step (bench/gemm_instep.py: `nnrun --profile-json`), its in-step GFLOP/s
   beside the same oneDNN call's standalone rate, measured in the same process (--gemms N lists
   the N slowest; 0 skips the measurement). The best standalone rate over the model's GEMMs is
   the library's best at the model's own shapes: with --precision bf16 it is printed as the bf16
   GEMM peak beside the FMA peak (AVX512_BF16 on this AMD EPYC, which has no AMX; AMX-BF16 where
   the CPU has it), and each runner's GFLOP/s as a share of it.
5. The table: median samples/s (tokens/s for the GPT) with min..max over the repetitions, nnc's
   ratio to the best peer, GFLOP/s and its share of the measured FMA peak, CPU time per step
   (user + sys of the measured steps: steadier than wall time on this shared machine), nnc's
   compile time or the peer's first step (tracing and compilation), peak resident memory
   (ru_maxrss of the process), and the first and last loss.

Everyone gets the same threads: OMP_NUM_THREADS = MKL_NUM_THREADS = OPENBLAS_NUM_THREADS = 2
(--threads) and torch.set_num_threads. nnrun runs with OMP_WAIT_POLICY=PASSIVE and
GOMP_SPINCOUNT=3000 (libgomp's waiters spin tens of microseconds before they sleep, which bridges
the gaps between one step's parallel regions without burning a core another job needs) and
--adaptive-threads (each step on all threads or one, whichever its measured steps say is faster:
on a shared machine one thread can be twice as fast as two; results do not depend on it;
--compare-fixed adds nnc without it as a row of its own, not counted as a peer). Each
peer runs in its fastest configuration, chosen per model by one short run of each before the
measured repetitions and named in the table: PyTorch with those OpenMP settings or with its
defaults (torch.compile's char-GPT step was ~9% faster with the defaults), and for the GPT with
the attention written out or with F.scaled_dot_product_attention(is_causal=True) (PyTorch 2.0+;
22% faster in fp32); XLA sizes its own pool by the core count. --background N runs N busy
processes for the whole run, the same for every runner, to measure speed on a shared machine.
A peer that cannot be imported is reported as missing with the reason, one that fails as failed.
--precision bf16 compiles nnc's plans with bf16 compute (fp32 master weights) and runs PyTorch's
forward under torch.autocast("cpu", torch.bfloat16); JAX has no bf16 recipe here (shown as
failed). --record rewrites the generated part of bench/RESULTS.md's training section. Full run: about
15 minutes; --quick: about 4.
"""
import argparse
import datetime
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
from train_peer import RECIPES  # noqa: E402
import gemm_instep  # noqa: E402

BATCHES = 8
# (warmup, measured) steps per model; the full run's take a few seconds per run.
STEPS = {"full": {"mlp": (20, 400), "cnn": (3, 20), "resnet": (3, 10), "chargpt": (2, 6),
                  "gpt6": (1, 3), "gpt12": (1, 2)},
         "quick": {"mlp": (5, 40), "cnn": (2, 3), "resnet": (2, 2), "chargpt": (1, 2),
                   "gpt6": (1, 1), "gpt12": (1, 1)}}


def is_gpt(model):
    return "gpt" in RECIPES[model]


def example(model, bins, pb):
    """The command that writes the model: its example, the GPTs the char-GPT's at their sizes."""
    if model.startswith("gpt"):
        blocks, d, heads, context = RECIPES[model]["gpt"]
        return [bins["nnc-example-chargpt"], pb, str(blocks), str(d), str(heads), str(context),
                str(RECIPES[model]["batch"])]
    return [bins[f"nnc-example-{model}"], pb]


def per_step(model):
    """Samples per step, tokens for the GPTs."""
    return RECIPES[model]["batch"] * (RECIPES[model]["gpt"][3] if is_gpt(model) else 1)
RECORD_MARK = "<!-- bench/train_bench.py --record writes below this line -->"


class Peer:
    def __init__(self, name, python, framework):
        self.name, self.python, self.framework = name, python, framework
        self.version, self.missing, self.sdpa = None, None, False

    def probe(self, env):
        module = "jax" if self.framework == "jax" else "torch"
        check = f"import {module}; print({module}.__version__)"
        if module == "torch":
            check += "; import torch.nn.functional as F; print(hasattr(F, 'scaled_dot_product_attention'))"
        if self.framework == "torch-compile":
            check += "; assert hasattr(torch, 'compile'), 'no torch.compile'"
        if not os.path.exists(self.python):
            self.missing = f"{self.python} not found (run bench/setup_peers.sh)"
            return
        r = subprocess.run([self.python, "-c", check], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            lines = r.stderr.strip().splitlines() or ["exit code %d" % r.returncode]
            self.missing = lines[-1]
        else:
            lines = r.stdout.split()
            self.version, self.sdpa = lines[0], lines[1:] == ["True"]

    def configs(self, model, envs):
        """The configurations this peer is tried in, to run in its fastest: PyTorch with the
        bench's OpenMP settings and with its defaults (either can win, by model and version),
        and, for the GPT, with written-out attention and with F.scaled_dot_product_attention.
        XLA keeps its own thread pool: one configuration."""
        if self.framework == "jax":
            return [Config("xla", envs["bench"])]
        attentions = ["manual", "sdpa"] if is_gpt(model) and self.sdpa else ["manual"]
        return [Config(f"omp {omp}" + (f", {a} attention" if is_gpt(model) else ""),
                       envs[omp], a) for omp in ("bench", "default") for a in attentions]


class NncFixedThreads:
    """nnc without --adaptive-threads (--compare-fixed): the same plan on the pool's threads."""
    name, missing, version = "nnc fixed threads", None, None


FIXED = NncFixedThreads()


def is_nnc(peer):
    return peer is None or peer is FIXED


class Config:
    def __init__(self, name, env, attention="manual"):
        self.name, self.env, self.attention = name, env, attention


def peers(venv):
    py = os.path.join(venv, "bin", "python")
    return [Peer("torch eager", py, "torch"), Peer("torch.compile", py, "torch-compile"),
            Peer("jax jit", py, "jax"), Peer("torch 1.13 Debian", "/usr/bin/python3", "torch")]


def run_process(cmd, env):
    """Runs cmd to completion: (exit code, stdout, stderr, wall s, rusage)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read(), wall, usage


def check(cmd, env):
    """Runs cmd, exiting on failure: (stdout + stderr, wall s)."""
    code, out, err, wall, _ = run_process(cmd, env)
    if code != 0:
        sys.exit(f"train_bench: {' '.join(cmd)} failed: {err.strip()}")
    return out + err, wall


def cpu_seconds(usage):
    return usage.ru_utime + usage.ru_stime


def measure_peak(work, threads):
    """bench/fma_peak.c on `threads` threads, best of five: (peak from each thread's CPU time,
    peak over the wall time, vector bits). The first is the peak of `threads` cores even while
    other jobs on this shared machine hold one of them, which the second would mistake for a
    lower peak."""
    flags = open("/proc/cpuinfo").read()
    width = 64 if " avx512f" in flags else 32
    exe = os.path.join(work, "fma_peak")
    subprocess.run(["cc", "-O3", "-march=native", f"-DVEC_BYTES={width}", "-pthread",
                    os.path.join(BENCH, "fma_peak.c"), "-o", exe], check=True)
    runs = [[float(v) for v in subprocess.run([exe, str(threads), "30000000"], check=True,
                                              capture_output=True, text=True).stdout.split()]
            for _ in range(5)]
    return max(r[1] for r in runs), max(r[0] for r in runs), 8 * width


def nnc_run(bins, plan, data, lr, warmup, steps, env, adaptive=True):
    """One repetition of nnrun: two processes, WARMUP and WARMUP + STEPS steps."""
    def train(n):
        cmd = [bins["nnrun"], plan, "--train", str(n), "--features", data[0], "--labels",
               data[1], "--lr", repr(lr)] + (["--adaptive-threads"] if adaptive else [])
        code, out, err, wall, usage = run_process(cmd, env)
        if code != 0:
            raise RuntimeError(err.strip().splitlines()[-1] if err.strip() else f"exit {code}")
        losses = [float(l.split()[3]) for l in out.splitlines() if l.startswith("step ")]
        return wall, usage, losses
    short_wall, short_usage, _ = train(warmup)
    long_wall, long_usage, losses = train(warmup + steps)
    return dict(step_s=(long_wall - short_wall) / steps,
                cpu_s=(cpu_seconds(long_usage) - cpu_seconds(short_usage)) / steps,
                rss_mb=long_usage.ru_maxrss / 1024, first_loss=losses[0], last_loss=losses[-1])


def peer_run(peer, config, model, params_dir, data, warmup, steps, threads, precision):
    cmd = [peer.python, os.path.join(BENCH, "train_peer.py"), peer.framework, model, params_dir,
           data[0], data[1], str(warmup), str(steps), str(threads), config.attention, precision]
    code, out, err, _, usage = run_process(cmd, config.env)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if code != 0 or not lines:
        tail = err.strip().splitlines()
        raise RuntimeError(tail[-1] if tail else f"exit code {code}")
    r = json.loads(lines[-1])
    return dict(step_s=sum(r["step_s"]) / steps, cpu_s=r["cpu_s"] / steps,
                rss_mb=usage.ru_maxrss / 1024, first_step_s=r["first_step_s"],
                first_loss=r["first_loss"], last_loss=r["last_loss"])


def make_data(model, work):
    rng = np.random.RandomState(0)
    b = RECIPES[model]["batch"] * BATCHES
    if is_gpt(model):
        context = RECIPES[model]["gpt"][3]
        x = rng.randint(0, 128, (b, context)).astype(np.int64)
        y = rng.randint(0, 128, (b, context)).astype(np.int64)
    else:
        shape = (b, 784) if model == "mlp" else (b, 1, 28, 28)
        x = rng.rand(*shape).astype(np.float32)
        y = rng.randint(0, 10, b).astype(np.int64)
    paths = (os.path.join(work, f"{model}-x.npy"), os.path.join(work, f"{model}-y.npy"))
    np.save(paths[0], x)
    np.save(paths[1], y)
    return paths


def choose_configs(model, runners, envs, params_dir, data, warmup, steps, threads, precision):
    """Each peer's fastest configuration, from one short run of each (the median of the
    measured repetitions then uses it): {runner: (Config, {config name: step s or error})}."""
    chosen = {}
    for name, peer in runners:
        if is_nnc(peer) or peer.missing:
            continue
        configs = peer.configs(model, envs)
        tried = {}
        for config in configs if len(configs) > 1 else []:
            try:
                tried[config.name] = peer_run(peer, config, model, params_dir, data, warmup,
                                              max(2, steps // 4), threads, precision)["step_s"]
            except RuntimeError as e:
                tried[config.name] = str(e)
        timed = [c for c in configs if isinstance(tried.get(c.name), float)]
        best = min(timed, key=lambda c: tried[c.name]) if timed else configs[0]
        chosen[name] = (best, tried)
        if tried:
            print(f"  {model}: {name}: " + ", ".join(
                f"{c}: {t * 1e3:.1f} ms/step" if isinstance(t, float) else f"{c}: failed"
                for c, t in tried.items()) + f" -> {best.name}", file=sys.stderr, flush=True)
    return chosen


def bench_model(model, bins, runners, args, envs, work):
    env = envs["bench"]
    pb, plan = os.path.join(work, f"{model}.pb"), os.path.join(work, f"{model}.plan")
    check(example(model, bins, pb), env)
    out, compile_s = check([bins["nnc"], "compile", pb, "-o", plan, "--precision",
                            args.precision], env)
    flops = int(re.search(r"train_step: (\d+) FLOPs per call", out).group(1))
    params_dir = os.path.join(work, f"{model}-params")
    check([bins["nnrun"], plan, "--dump-parameters", params_dir], env)
    data = make_data(model, work)
    warmup, steps = STEPS["quick" if args.quick else "full"][model]
    # nnc's GEMMs in the step and alone (gemm_instep.py), before the repetitions.
    gemms = gemm_instep.profile_plan(os.path.dirname(bins["nnrun"]), plan, data, warmup + 2,
                                     env) if args.gemms > 0 else []
    chosen = choose_configs(model, runners, envs, params_dir, data, warmup, steps, args.threads,
                            args.precision)
    results = {name: [] for name, _ in runners}
    errors = {}
    for rep in range(args.reps):  # alternate, so that the machine's noise hits everyone alike
        for name, peer in runners:
            if name in errors or (peer is not None and peer.missing):
                continue
            try:
                if is_nnc(peer):
                    results[name].append(nnc_run(bins, plan, data, RECIPES[model]["lr"], warmup,
                                                 steps, env, adaptive=peer is None))
                else:
                    results[name].append(peer_run(peer, chosen[name][0], model, params_dir, data,
                                                  warmup, steps, args.threads, args.precision))
            except RuntimeError as e:
                errors[name] = str(e)
        print(f"  {model}: repetition {rep + 1}/{args.reps} done", file=sys.stderr, flush=True)
    configs = {name: c.name for name, (c, _) in chosen.items()}
    configs["nnc"] = "omp bench, adaptive threads"
    configs[FIXED.name] = "omp bench"
    return dict(flops=flops, compile_s=compile_s, results=results, errors=errors, steps=steps,
                warmup=warmup, configs=configs, gemms=gemms)


def format_model(model, m, runners, peak, args):
    unit = "tokens/s" if is_gpt(model) else "samples/s"
    # bf16: each runner's rate as a share of the best bf16 GEMM at the model's shapes as well.
    gemm_peak = gemm_instep.best_rate(m["gemms"]) if args.precision == "bf16" else 0
    lines = [f"{model} {args.precision}: batch {RECIPES[model]['batch']}, "
             f"{m['flops'] / 1e9:.3f} GFLOP per "
             f"train_step, {m['warmup']} warm-up + {m['steps']} measured steps"]
    if m["gemms"]:
        lines.append("    " + gemm_instep.best_line(m["gemms"], args.precision))
    lines.append(f"    {'runner':18} {'version':14} {'configuration':31} "
                 f"{unit + ' (min..max)':>27} {'GFLOP/s':>8} "
                 f"{'%peak':>6} {'%bf16 GEMM' if gemm_peak else '':>10} "
                 f"{'CPU ms/step':>11} {'compile s':>9} {'RSS MB':>7} "
                 f"{'loss first -> last':>19}")
    speed = {}
    for name, peer in runners:
        version = nnc_version() if is_nnc(peer) else peer.version or ""
        if peer is not None and peer.missing:
            lines.append(f"    {name:18} missing: {peer.missing}")
            continue
        if name in m["errors"]:
            lines.append(f"    {name:18} {version:14} failed: {m['errors'][name]}")
            continue
        rs = m["results"][name]
        rates = [per_step(model) / r["step_s"] for r in rs]
        med = statistics.median(rates)
        speed[name] = med
        gflops = m["flops"] / 1e9 * med / per_step(model)
        compile_s = m["compile_s"] if is_nnc(peer) else statistics.median(
            r["first_step_s"] for r in rs)
        config = m["configs"].get(name, "")
        lines.append(
            f"    {name:18} {version:14} {config:31} "
            f"{med:10.0f} ({min(rates):.0f}..{max(rates):.0f})".ljust(97) +
            f" {gflops:8.1f} {100 * gflops / peak:5.1f}% " +
            (f"{100 * gflops / gemm_peak:9.1f}% " if gemm_peak else " " * 11) +
            f"{1e3 * statistics.median(r['cpu_s'] for r in rs):11.1f} {compile_s:9.2f} "
            f"{statistics.median(r['rss_mb'] for r in rs):7.0f} "
            f"{rs[-1]['first_loss']:8.4f} -> {statistics.median(r['last_loss'] for r in rs):.4f}")
    peer_speeds = {n: s for n, s in speed.items() if n not in ("nnc", FIXED.name)}
    if "nnc" in speed and peer_speeds:
        best = max(peer_speeds, key=peer_speeds.get)
        lines.append(f"    nnc / best peer ({best}): {speed['nnc'] / peer_speeds[best]:.2f}x")
    if m["gemms"]:
        table = gemm_instep.format_table(model, args.precision, m["gemms"], args.gemms)
        lines.append("    nnc's GEMMs in the step and alone: " +
                     table.replace("\n", "\n    "))
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def nnc_version():
    """HEAD when the run started (others' commits may land during it)."""
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True)
    return "git " + r.stdout.strip() if r.returncode == 0 else ""


def cpu_model():
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def record(text):
    path = os.path.join(BENCH, "RESULTS.md")
    content = open(path).read()
    if RECORD_MARK not in content:
        sys.exit(f"train_bench: {path} lacks the line {RECORD_MARK!r}")
    end = content.index(RECORD_MARK) + len(RECORD_MARK)
    # The table ends at the next section; the sections after it (other benchmarks) stay.
    tail = content.find("\n## ", end)
    with open(path, "w") as f:
        f.write(content[:end] + "\n\n" + text + "\n" + (content[tail:] if tail >= 0 else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--venv", default=os.path.join(ROOT, ".venv-bench"))
    ap.add_argument("--quick", action="store_true", help="one repetition of a few steps")
    ap.add_argument("--reps", type=int, help="repetitions (default 3, --quick 1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="mlp,cnn,chargpt")
    ap.add_argument("--skip-peers", default="", metavar="NAME,...",
                    help="peers not to run (e.g. 'torch 1.13 Debian', 20x slower at GPT sizes)")
    ap.add_argument("--background", type=int, default=0, metavar="N",
                    help="N busy processes for the whole run (the same for every runner)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="nnc's plans in bf16 compute, PyTorch under autocast bf16")
    ap.add_argument("--gemms", type=int, default=8, metavar="N",
                    help="list nnc's N slowest GEMMs, in the step and alone (0: skip)")
    ap.add_argument("--compare-fixed", action="store_true",
                    help="also run nnc without --adaptive-threads (on the pool's threads)")
    ap.add_argument("--record", action="store_true", help="write the table to bench/RESULTS.md")
    args = ap.parse_args()
    args.reps = args.reps or (1 if args.quick else 3)
    bins = {n: os.path.join(args.build, "bin", n) for n in
            ("nnc", "nnrun", "nnc-example-mlp", "nnc-example-cnn", "nnc-example-resnet",
             "nnc-example-chargpt")}
    threads = {v: str(args.threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                               "OPENBLAS_NUM_THREADS")}
    default = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    envs = {"bench": dict(os.environ, OMP_WAIT_POLICY="PASSIVE", GOMP_SPINCOUNT="3000", **threads),
            "default": dict(default, **threads)}
    env = envs["bench"]
    work = tempfile.mkdtemp(prefix="nnc-train-bench-")
    background = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                  for _ in range(args.background)]
    try:
        run_bench(args, bins, envs, env, work, background)
    finally:
        for busy in background:
            busy.kill()


def run_bench(args, bins, envs, env, work, background):
    nnc_version()
    peak, wall_peak, bits = measure_peak(work, args.threads)
    skipped = set(filter(None, args.skip_peers.split(",")))
    runners = [("nnc", None)] + ([(FIXED.name, FIXED)] if args.compare_fixed else []) + \
        [(p.name, p) for p in peers(args.venv) if p.name not in skipped]
    for _, p in runners[1:]:
        if p is FIXED:
            continue
        p.probe(env)
        if args.precision != "fp32" and p.framework == "jax" and not p.missing:
            p.missing = f"no {args.precision} recipe for JAX in this bench"
    header = (f"{datetime.date.today()}, {cpu_model()}, {os.cpu_count()} CPUs, "
              f"{args.threads} threads, {args.reps} alternating repetitions, "
              f"{len(background)} busy background processes, {args.precision}"
              f"{' (--quick)' if args.quick else ''}, load average at start "
              f"{os.getloadavg()[0]:.1f}\nFMA peak {peak:.1f} GFLOP/s (bench/fma_peak.c: "
              f"{bits}-bit FMAs on {args.threads} threads, per CPU-second, best of 5; over wall "
              f"time {wall_peak:.1f})")
    print(header, flush=True)
    blocks = []
    for model in args.models.split(","):
        block = format_model(model, bench_model(model, bins, runners, args, envs, work), runners,
                             peak, args)
        print(block, flush=True)
        blocks.append(block)
    footer = f"load average at end {os.getloadavg()[0]:.1f}"
    print(footer)
    if args.record:
        record("    " + header.replace("\n", "\n    ") + "\n\n" +
               "\n\n".join("    " + b for b in blocks) + "\n\n    " + footer)


if __name__ == "__main__":
    main()
