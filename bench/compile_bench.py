#!/usr/bin/python3
"""Compile time against model size: `nnc compile` (the release build's) on deep MLPs, long
elementwise chains and GPTs, fp32 and bf16, with the time of each phase and the growth exponent.

usage: bench/compile_bench.py [--build DIR] [--reps R] [--sets mlp,chain,gpt]
                              [--precisions fp32,bf16] [--quick] [--record]

Each model is compiled R times (default 3) with `--mlir-timing --mlir-timing-display=list`; the
table shows medians of the wall time, of the CPU time (user + system, all of nnc's threads: on
a shared machine the steadier measure of the work done) and of each phase's wall time. Passes
are summed into their phases with the table PHASE_OF below (the pipeline's order in
compiler/pipeline/Pipeline.cpp); "plan" is the plan phase (LLVM -O3, lld, buffer assignment,
serialization), which nnc times itself; "import" is the rest of the wall time (reading the
model, import, process start). The exponent is the log-log slope of the total from the smallest
to the largest size of a set (1 = linear), of the wall and of the CPU time. --record appends the
tables to bench/RESULTS.md with the machine, load and commit.

Models (written here as .pbtxt, or by the char-GPT example at the given sizes):
- mlp-N: N hidden Linear(256, 256) + ReLU layers on (128, 784) images, 10 classes, AdamW.
- chain-N: Linear(256 -> 256), then N elementwise ops (tanh, sigmoid, gelu, and every 4th a
  residual add), then Linear(256 -> 10); AdamW.
- gpt-L: nnc-example-chargpt with L blocks, d_model 768, 12 heads, context 256, batch 8.
"""
import argparse
import datetime
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

SIZES = {"mlp": [25, 50, 100, 200], "chain": [100, 200, 400, 800], "gpt": [2, 6, 12]}
QUICK = {"mlp": [25, 50], "chain": [100, 200], "gpt": [2]}

# Pass name (as --mlir-timing lists it) -> phase. Passes not named here count as "other".
PHASE_OF = {
    "Autodiff": "autodiff", "Optimizer": "autodiff", "Precision": "precision",
    "Accumulate": "accumulate", "PipelineForward": "accumulate", "Distribute": "distribute",
    "GuardNonfinite": "optimize", "ExpandTrainOps": "optimize", "FuseGuards": "optimize",
    "ExtractPredict": "lower", "FuseEpilogues": "lower", "FoldMatmulLayouts": "lower",
    "LowerNNToLinalg": "lower", "FuseElementwise": "lower", "SplitColumnReductions": "lower",
    "Canonicalizer": "lower", "CSE": "lower", "OutlineKernels": "lower", "DedupKernels": "lower",
    "plan": "plan",
}
PHASES = ["import", "autodiff", "precision", "accumulate", "distribute", "optimize", "lower",
          "codegen", "plan", "other"]
# Codegen's passes (the nested kernel module's pipeline): everything from ExtractKernels on.
CODEGEN_PASSES = {
    "ExtractKernels", "WriteViewResultsDirectly", "OneShotBufferizePass", "FoldLoopResults",
    "DropEquivalentBufferResultsPass", "BufferResultsToOutParamsPass", "CopiesToLinalg",
    "MarkRows", "VectorizeTransposes", "ExpandExpPolynomial", "ExpandErfRational",
    "ConvertLinalgToLoopsPass", "FuseRowLoops", "CutRowLoops", "ConvertMathToLibmPass",
    "ConvertVectorToSCFPass", "ConvertVectorToLLVMPass", "SCFToControlFlowPass",
    "ExpandStridedMetadataPass", "LowerAffinePass", "FinalizeMemRefToLLVMConversionPass",
    "ConvertMathToLLVMPass", "ArithToLLVMConversionPass", "ConvertFuncToLLVMPass",
    "ConvertControlFlowToLLVMPass", "UBToLLVMConversionPass", "ReconcileUnrealizedCastsPass",
    "OwnershipBasedBufferDeallocationPass", "BufferDeallocationSimplificationPass",
    "LowerDeallocationsPass", "ExpandReallocPass",
}
# "  user (pct)  wall (pct)  name" (user time only where MLIR ran threads): the last pair is wall.
TIMING_LINE = re.compile(r"^\s*(?:[0-9.]+ \(\s*[0-9.]+%\)\s+)?([0-9.]+) \(\s*[0-9.]+%\)\s+(.+?)\s*$")
AGGREGATES = re.compile(r"^(root|Total|Rest|Pipeline Collection.*|'.*' Pipeline)$")


def write_mlp(path, layers):
    lines = ["format_version: 1", f'name: "mlp_{layers}"',
             'inputs { name: "x" type { dtype: F32 shape: [128, 784] } role: FEATURES }',
             'inputs { name: "y" type { dtype: I64 shape: [128] } role: LABELS }']
    nodes, prev, fan_in = [], "x", 784
    for i in range(layers + 1):
        out = 10 if i == layers else 256
        lines.append(f'parameters {{ name: "fc{i}.weight" type {{ dtype: F32 shape: [{out}, '
                     f'{fan_in}] }} init {{ kind: KAIMING_UNIFORM fan_in: {fan_in} }} }}')
        lines.append(f'parameters {{ name: "fc{i}.bias" type {{ dtype: F32 shape: [{out}] }} '
                     'init { kind: ZEROS } }')
        nodes.append(f'nodes {{ name: "fc{i}" op: "linear" inputs: ["{prev}", "fc{i}.weight", '
                     f'"fc{i}.bias"] outputs: "h{i}" }}')
        prev = f"h{i}"
        if i < layers:
            nodes.append(f'nodes {{ name: "relu{i}" op: "relu" inputs: "h{i}" outputs: "a{i}" }}')
            prev = f"a{i}"
        fan_in = out
    write_model(path, lines + nodes, prev)


def write_chain(path, ops):
    lines = ["format_version: 1", f'name: "chain_{ops}"',
             'inputs { name: "x" type { dtype: F32 shape: [128, 256] } role: FEATURES }',
             'inputs { name: "y" type { dtype: I64 shape: [128] } role: LABELS }']
    for name, out in (("in", 256), ("out", 10)):
        lines.append(f'parameters {{ name: "{name}.weight" type {{ dtype: F32 shape: [{out}, 256] '
                     '} init { kind: KAIMING_UNIFORM fan_in: 256 } }')
        lines.append(f'parameters {{ name: "{name}.bias" type {{ dtype: F32 shape: [{out}] }} '
                     'init { kind: ZEROS } }')
    nodes = ['nodes { name: "in" op: "linear" inputs: ["x", "in.weight", "in.bias"] '
             'outputs: "e0" }']
    for i in range(1, ops + 1):
        if i % 4 == 0:
            nodes.append(f'nodes {{ name: "e{i}" op: "add" inputs: ["e{i - 1}", "e{i - 3}"] '
                         f'outputs: "e{i}" }}')
        else:
            op = ("tanh", "sigmoid", "gelu")[i % 4 - 1]
            nodes.append(f'nodes {{ name: "e{i}" op: "{op}" inputs: "e{i - 1}" outputs: "e{i}" }}')
    nodes.append(f'nodes {{ name: "out" op: "linear" inputs: ["e{ops}", "out.weight", '
                 '"out.bias"] outputs: "logits" }')
    write_model(path, lines + nodes, "logits")


def write_model(path, lines, logits):
    lines.append(f'nodes {{ name: "loss" op: "cross_entropy" inputs: ["{logits}", "y"] '
                 'outputs: "loss" }')
    lines.append(f'outputs: "{logits}"')
    lines.append('training { loss: "loss" optimizer { kind: ADAMW learning_rate: 0.001 '
                 'weight_decay: 0.01 } grad_clip_norm: 1.0 }')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_gpt(path, bins, blocks):
    subprocess.run([os.path.join(bins, "nnc-example-chargpt"), path, str(blocks), "768", "12",
                    "256", "8"], check=True, capture_output=True)


def compile_once(bins, model, precision, work):
    """One `nnc compile`: (wall seconds, CPU seconds, {phase: wall seconds}, {pass: seconds})."""
    cmd = [os.path.join(bins, "nnc"), "compile", model, "-o", os.path.join(work, "out.plan"),
           "--precision", precision, "--mlir-timing", "--mlir-timing-display=list"]
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        sys.exit(f"compile_bench: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    passes = {}
    for line in done.stderr.splitlines():
        m = TIMING_LINE.match(line)
        if m and not AGGREGATES.match(m.group(2)):
            passes[m.group(2)] = passes.get(m.group(2), 0.0) + float(m.group(1))
    phases = dict.fromkeys(PHASES, 0.0)
    for name, seconds in passes.items():
        phase = "codegen" if name in CODEGEN_PASSES else PHASE_OF.get(name, "other")
        phases[phase] += seconds
    # Parsing, import and what the timer does not cover (process start, writing the plan).
    phases["import"] += max(0.0, wall - sum(passes.values()))
    return wall, cpu, phases, passes


def bench(bins, kind, size, precision, reps, work):
    model = os.path.join(work, f"{kind}-{size}" + (".pb" if kind == "gpt" else ".pbtxt"))
    if not os.path.exists(model):
        writers = {"mlp": write_mlp, "chain": write_chain,
                   "gpt": lambda path, blocks: write_gpt(path, bins, blocks)}
        writers[kind](model, size)
    runs = [compile_once(bins, model, precision, work) for _ in range(reps)]
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    phases = {p: statistics.median(r[2][p] for r in runs) for p in PHASES}
    passes = {}
    for r in runs:
        for name, seconds in r[3].items():
            passes.setdefault(name, []).append(seconds)
    top = sorted(((statistics.median(v), n) for n, v in passes.items()), reverse=True)[:3]
    return {"wall": statistics.median(walls), "min": min(walls), "max": max(walls),
            "cpu": statistics.median(cpus), "phases": phases, "top": top}


def exponent(rows, key):
    (s0, r0), (s1, r1) = rows[0], rows[-1]
    return math.log(r1[key] / r0[key]) / math.log(s1 / s0)


def table(kind, precision, rows):
    out = [f"### {kind}, {precision}", "",
           "| model | wall s (median, min..max) | CPU s | " + " | ".join(PHASES) +
           " | slowest passes (wall s) |", "|---" * (len(PHASES) + 4) + "|"]
    for size, r in rows:
        top = ", ".join(f"{n} {s:.2f}" for s, n in r["top"])
        out.append(f"| {kind}-{size} | {r['wall']:.2f} ({r['min']:.2f}..{r['max']:.2f}) | "
                   f"{r['cpu']:.2f} | " +
                   " | ".join(f"{r['phases'][p]:.2f}" for p in PHASES) + f" | {top} |")
    if len(rows) > 1:
        out.append("")
        out.append(f"growth exponent {kind}-{rows[0][0]} -> {kind}-{rows[-1][0]}: wall "
                   f"{exponent(rows, 'wall'):.2f}, CPU {exponent(rows, 'cpu'):.2f}")
    return "\n".join(out) + "\n"


def header(bins, reps):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "-uno"],
                           capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "unknown CPU")
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    return (f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, commit {commit}"
            f"{' (uncommitted changes)' if dirty else ''}, {cpu}, {os.cpu_count()} CPUs, "
            f"load average at start {load}, {reps} repetitions, nnc from {bins}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sets", default="mlp,chain,gpt")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--sizes", help="override the sizes of every set (comma-separated)")
    ap.add_argument("--quick", action="store_true", help="the two smallest sizes, one rep")
    ap.add_argument("--record", action="store_true", help="append the tables to RESULTS.md")
    args = ap.parse_args()
    bins = os.path.join(args.build, "bin")
    reps = 1 if args.quick else args.reps
    text = header(bins, reps)
    print(text, end="", flush=True)
    with tempfile.TemporaryDirectory(prefix="nnc-compile-bench-") as work:
        for kind in args.sets.split(","):
            sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
                     else (QUICK if args.quick else SIZES)[kind])
            for precision in args.precisions.split(","):
                rows = []
                for size in sizes:
                    rows.append((size, bench(bins, kind, size, precision, reps, work)))
                    print(f"  {kind}-{size} {precision}: {rows[-1][1]['wall']:.2f} s",
                          file=sys.stderr, flush=True)
                section = table(kind, precision, rows)
                print("\n" + section, flush=True)
                text += "\n" + section
    if args.record:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write("\n## Compile time (bench/compile_bench.py)\n\n" + text)


if __name__ == "__main__":
    main()
