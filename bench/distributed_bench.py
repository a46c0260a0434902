#!/usr/bin/python3
"""Data-parallel training throughput of the Fashion-MNIST MLP on this machine: 1 process vs
2 ranks (mpirun -np 2), and how much of the gradient all-reduce the backward pass hides.

Every configuration trains one epoch of Fashion-MNIST with `nnrun --fit` (the example's
AdamW, clipping and dropout; real data through the trainer's loader) and writes a JSON line per
step (--metrics-jsonl, rank 0). Throughput comes from those lines' wall-clock stamps after a
warm-up: global samples per second = (steps - warm-up) x global batch / (stamp of the last
step - stamp of the last warm-up step), so process start, MPI setup, data loading and the final
evaluation drop out. The communication figures come from `nnrun --collective-stats` (the
communicator's own timestamps, summed over the ranks): per step, the time the communication
thread spent on all-reduces ("comm ms") and the time the compute thread was blocked waiting for
one ("blocked ms"); hidden = 1 - blocked / comm. "agree ms" is the part of "comm ms" spent in
the ranks' agreement check before each all-reduce: a small round trip, plus waiting for the
other rank to arrive, so it shows how far the ranks drift apart. "step ms" is the median of the steps' own
durations (step_time_s: feeding the batch, the step, the loss's mean over the ranks), which a
busy machine disturbs less than the throughput.

Threads: a single process gets OMP_NUM_THREADS=2 (both cores) and, for reference, 1; each of
2 ranks gets 1 (oneDNN's OpenMP pool; the generated kernels run on the calling thread), so two
ranks never ask for more cores than the machine has. OMP_WAIT_POLICY=PASSIVE for everyone.
Repetitions alternate between the configurations; the table shows medians (min..max).

Bucketing: the default bucket (25 MB, PyTorch DDP's) holds all of this model's 1 MB of
gradients, so its single all-reduce starts only when the backward pass is done and nothing can
be hidden; the "buckets" rows use --bucket-bytes 300000, which gives fc3's and fc2's gradients
buckets of their own that start while fc1's backward still runs.

usage: /usr/bin/python3 bench/distributed_bench.py [--reps R] [--warmup W] [--bin DIR]
(--bin: where nnc, nnrun and nnc-example-mlp are, default build/bin; a copy keeps a long run
safe from rebuilds.)

--memory (issue 20; --zero is the same): memory per rank of ZeRO-1 and of tensor parallelism
against plain data parallelism and one process, on a char-GPT large enough for its optimizer
state to show in a process's peak RSS (4 blocks, d_model 256, 4 heads, context 64; 3.2 M
parameters, so Adam's moments are 25.3 MB whole). Every configuration trains the same global
batch of 8 windows: one process x 8, 2 data-parallel ranks x 4 (plain and ZeRO-1: 12.7 MB of
moments per rank), 2 tensor-parallel ranks x 8 (each holding half of every split layer's
parameters, moments and activations, the vocabulary included), and 4 ranks of 2 replicas x 2
tensor-parallel parts with ZeRO-1 (4 windows per replica; 4 processes on this 2-core machine,
so its step time is not comparable). For each: what `nnc compile` predicts per rank
(parameters, gradients, optimizer state, arena), what each rank measures (peak RSS from
/usr/bin/time, the largest of the ranks), and the median step time (rank 0's step_time_s after
the warm-up), each process on 1 thread; one epoch of the same random text with `nnrun --fit`,
configurations alternating.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BIN = os.path.join(ROOT, "build", "bin")  # --bin
DATA = "/usr/share/datasets/fashion-mnist"
MPIRUN = ["mpirun", "--oversubscribe", "--allow-run-as-root", "--bind-to", "none",
          "--mca", "mpi_yield_when_idle", "1"]
SMALL_BUCKETS = 300000

# name, ranks, threads per process, batch per rank, bucket bytes (None: the default)
CONFIGS = [
    ("1 process", 1, 2, 128, None),
    ("1 process, 1 thread", 1, 1, 128, None),
    ("2 ranks x 64", 2, 1, 64, None),
    ("2 ranks x 64, buckets", 2, 1, 64, SMALL_BUCKETS),
    ("2 ranks x 128, buckets", 2, 1, 128, SMALL_BUCKETS),
]


def compile_plans(work):
    pb = os.path.join(work, "mlp.pb")
    subprocess.run([os.path.join(BIN, "nnc-example-mlp"), pb], check=True, capture_output=True)
    text = subprocess.run(["/usr/bin/protoc", f"--proto_path={os.path.join(ROOT, 'proto')}",
                           "--decode=nnc.Model", "model.proto"], stdin=open(pb, "rb"),
                          check=True, capture_output=True).stdout.decode()
    plans = {}
    for name, ranks, _, batch, bucket in CONFIGS:
        key = (ranks, batch, bucket)
        if key in plans:
            continue
        src = os.path.join(work, f"mlp.{ranks}.{batch}.{bucket}.pbtxt")
        with open(src, "w") as f:
            f.write(re.sub(r"shape: 128\n", f"shape: {batch}\n", text))
        plan = src.replace(".pbtxt", ".plan")
        command = [os.path.join(BIN, "nnc"), "compile", src, "-o", plan]
        if ranks > 1:
            command += ["--data-parallel", str(ranks)]
        if bucket:
            command += ["--bucket-bytes", str(bucket)]
        subprocess.run(command, check=True, capture_output=True)
        plans[key] = plan
    return plans


def run(plan, ranks, threads, batch, warmup, work):
    jsonl = os.path.join(work, "steps.jsonl")
    if os.path.exists(jsonl):
        os.remove(jsonl)
    command = [os.path.join(BIN, "nnrun"), plan, "--fit", "--data", DATA, "--epochs", "1",
               "--progress", "none", "--metrics-jsonl", jsonl]
    if ranks > 1:
        command = MPIRUN + ["-np", str(ranks)] + command + ["--collective-stats"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)}\nfailed ({done.returncode}): {done.stderr[-2000:]}")
    out = done.stdout
    events = [json.loads(line) for line in open(jsonl) if line.startswith('{"event":"step"')]
    stamps = [e["wall_time"] for e in events]
    step_times = [e["step_time_s"] for e in events[warmup:]]
    measured = len(stamps) - warmup
    seconds = stamps[-1] - stamps[warmup - 1]
    steps_per_s = measured / seconds
    result = {"steps/s": steps_per_s, "samples/s": steps_per_s * batch * ranks,
              "median step ms": 1e3 * statistics.median(step_times), "steps": len(stamps)}
    stats = re.search(r"collectives: (\d+) all-reduces per rank, ([\d.]+) ms communicating "
                      r"\(([\d.]+) ms agreeing\), ([\d.]+) ms blocked in wait "
                      r"\(mean per rank\), ([\d.]+)% hidden", out)
    if stats:
        result["all-reduces/step"] = int(stats[1]) / len(stamps)
        result["comm ms"] = float(stats[2]) / len(stamps)
        result["agree ms"] = float(stats[3]) / len(stamps)
        result["blocked ms"] = float(stats[4]) / len(stamps)
        result["hidden %"] = float(stats[5])
    return result


def summary(values, fmt):
    if not values:
        return "-"
    return f"{fmt % statistics.median(values)} ({fmt % min(values)}..{fmt % max(values)})"


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--bin", default=BIN)
    ap.add_argument("--memory", "--zero", action="store_true",
                    help="memory per rank: ZeRO-1 and tensor parallelism vs plain DP")
    args = ap.parse_args()
    BIN = args.bin
    if args.memory:
        return memory_main(args)
    work = tempfile.mkdtemp(prefix="nnc-distributed-bench-")
    plans = compile_plans(work)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown CPU")
    print(f"{cpu}, {os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f}; "
          f"{args.reps} alternating repetitions, {args.warmup} warm-up steps")
    results = {name: [] for name, *_ in CONFIGS}
    for _ in range(args.reps):
        for name, ranks, threads, batch, bucket in CONFIGS:
            results[name].append(run(plans[(ranks, batch, bucket)], ranks, threads, batch,
                                     args.warmup, work))
    print(f"{'configuration':24} {'global':>6} {'steps/s':>16} {'samples/s':>22} "
          f"{'step ms':>20} {'comm ms':>8} {'agree ms':>8} {'blocked ms':>10} {'hidden %':>18}")
    base = statistics.median(r["samples/s"] for r in results[CONFIGS[0][0]])
    for name, ranks, threads, batch, bucket in CONFIGS:
        rs = results[name]
        get = lambda key: [r[key] for r in rs if key in r]
        comm, agree, blocked = get("comm ms"), get("agree ms"), get("blocked ms")
        print(f"{name:24} {batch * ranks:6} {summary(get('steps/s'), '%.0f'):>16} "
              f"{summary(get('samples/s'), '%.0f'):>22} "
              f"{summary(get('median step ms'), '%.2f'):>20} "
              f"{'%.3f' % statistics.median(comm) if comm else '-':>8} "
              f"{'%.3f' % statistics.median(agree) if agree else '-':>8} "
              f"{'%.3f' % statistics.median(blocked) if blocked else '-':>10} "
              f"{summary(get('hidden %'), '%.1f'):>18}")
    print(f"load average at end {os.getloadavg()[0]:.1f}; samples/s relative to "
          f"'{CONFIGS[0][0]}': " + ", ".join(
              f"{name} {statistics.median(r['samples/s'] for r in results[name]) / base:.2f}x"
              for name, *_ in CONFIGS[1:]))


# --- Memory per rank (issue 20): ZeRO-1 and tensor parallelism against plain DP ---------------
MEMORY_GPT = ["4", "256", "4", "64"]  # blocks, d_model, heads, context
GLOBAL_BATCH = 8
# name, ranks, batch per rank, nnc compile flags
MEMORY_CONFIGS = [
    ("1 process", 1, 8, []),
    ("2 ranks, plain DP", 2, 4, ["--data-parallel", "2"]),
    ("2 ranks, ZeRO-1", 2, 4, ["--data-parallel", "2", "--zero", "1"]),
    ("2 ranks, tensor par.", 2, 8, ["--tensor-parallel", "2"]),
    ("4 ranks, D2xT2 ZeRO-1", 4, 4, ["--data-parallel", "2", "--tensor-parallel", "2",
                                     "--zero", "1"]),
]


def memory_compile(work):
    plans, predicted = {}, {}
    for name, _, batch, flags in MEMORY_CONFIGS:
        pb = os.path.join(work, f"gpt-batch{batch}.pb")
        if not os.path.exists(pb):
            subprocess.run([os.path.join(BIN, "nnc-example-chargpt"), pb] + MEMORY_GPT +
                           [str(batch)], check=True, capture_output=True)
        plan = os.path.join(work, f"gpt{len(plans)}.plan")
        done = subprocess.run([os.path.join(BIN, "nnc"), "compile", pb, "-o", plan] + flags,
                              check=True, capture_output=True, text=True)
        line = (re.search(r"per rank \(.*", done.stderr) or
                re.search(r"tensor parallel: .*", done.stderr) or
                re.search(r"arena \d+ bytes peak, \d+ parameters", done.stderr))
        plans[name], predicted[name] = plan, line[0] if line else "?"
    return plans, predicted


def memory_run(plan, ranks, text, warmup, work):
    jsonl = os.path.join(work, "memory-steps.jsonl")
    if os.path.exists(jsonl):
        os.remove(jsonl)
    rss_log = os.path.join(work, "memory-rss.txt")  # appended whole lines: ranks don't interleave
    if os.path.exists(rss_log):
        os.remove(rss_log)
    command = ["/usr/bin/time", "-a", "-o", rss_log, "-f", "%M", os.path.join(BIN, "nnrun"),
               plan, "--fit", "--data", text, "--epochs", "1", "--val-fraction", "0",
               "--progress", "none", "--metrics-jsonl", jsonl]
    if ranks > 1:
        command = MPIRUN + ["-np", str(ranks)] + command
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)}\nfailed ({done.returncode}): {done.stderr[-2000:]}")
    rss = [int(kb) for kb in open(rss_log).read().split()]
    if len(rss) != ranks:
        raise SystemExit(f"{rss_log}: {len(rss)} peak RSS figures for {ranks} ranks")
    events = [json.loads(line) for line in open(jsonl) if line.startswith('{"event":"step"')]
    return {"peak RSS MB": max(rss) / 1024,
            "step ms": 1e3 * statistics.median(e["step_time_s"] for e in events[warmup:]),
            "steps": len(events)}


def memory_main(args):
    work = tempfile.mkdtemp(prefix="nnc-memory-bench-")
    plans, predicted = memory_compile(work)
    text = os.path.join(work, "text.txt")
    rng = __import__("random").Random(0)
    with open(text, "w") as f:  # about 40 steps of 8 windows of 64
        f.write("".join(rng.choice("abcdefghij klmnopqrstuvwxyz.\n") for _ in range(22000)))
    print(f"load average at start {os.getloadavg()[0]:.1f}; char-GPT "
          f"{' '.join(MEMORY_GPT)} (blocks d_model heads context), global batch {GLOBAL_BATCH}; "
          f"{args.reps} alternating repetitions, {args.warmup} warm-up steps, 1 thread per rank")
    results = {name: [] for name, *_ in MEMORY_CONFIGS}
    for _ in range(args.reps):
        for name, ranks, _, _ in MEMORY_CONFIGS:
            results[name].append(memory_run(plans[name], ranks, text, args.warmup, work))
    for name, *_ in MEMORY_CONFIGS:
        rs = results[name]
        print(f"{name:22} predicted: {predicted[name]}")
        print(f"{'':22} measured: peak RSS {summary([r['peak RSS MB'] for r in rs], '%.1f')} MB, "
              f"step {summary([r['step ms'] for r in rs], '%.1f')} ms "
              f"({rs[0]['steps']} steps)")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
