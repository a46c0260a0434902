#!/usr/bin/python3
"""Forward-pass benchmark: nnc (nnrun) against PyTorch eager on the same machine, in one run.

For the Fashion-MNIST MLP and CNN examples (batch 128): compiles the plan, lets nnrun initialize
the parameters and dumps them, loads the same weights into PyTorch, checks that both give the same
output, then alternates the two programs for ROUNDS rounds. Each round times CALLS forward calls
after a warm-up and keeps their median; the report gives the median of the round medians with
min..max, samples/s and the ratio (nnc speed / PyTorch speed), for 1 and 2 threads. Each round
runs each program in a fresh process of its own, so that one's idle thread pool cannot slow the
other.

PyTorch runs with its best settings here: OMP_WAIT_POLICY=PASSIVE (set before importing torch;
without it its OpenMP and BLAS pools fight over the two cores), torch.set_num_threads(threads),
inference mode. nnrun gets the same thread count through OMP_NUM_THREADS (oneDNN's OpenMP pool).

usage: bench/forward_bench.py [--build build] [--rounds 15] [--calls 20]
Run it with the Python whose PyTorch is the peer: /usr/bin/python3 (Debian's 1.13; install
libopenblas0-pthread, else it multiplies with the reference BLAS) or a venv with a current one.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch_models import cnn, mlp  # noqa: E402  (bench/, this script's directory)

BATCH = 128
MODELS = {"mlp": (mlp, (BATCH, 784)), "cnn": (cnn, (BATCH, 1, 28, 28))}


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed: {result.stderr.strip()}")
    return result.stdout


def nnc_round(nnrun, plan, x_path, out_path, calls, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = run([nnrun, plan, "--predict", x_path, "-o", out_path, "--time", str(calls)], env=env)
    times = [int(line.split()[1]) / 1e6 for line in out.splitlines() if line.startswith("predict_us")]
    return statistics.median(times)


def torch_round(name, params_dir, x_path, calls, threads):
    """Times PyTorch in a fresh process (this script with --peer), like nnrun."""
    out = run([sys.executable, __file__, "--peer", name, params_dir, x_path, str(calls),
               str(threads)])
    return statistics.median(float(t) for t in out.split())


def peer(name, params_dir, x_path, calls, threads):
    import time
    torch.set_num_threads(threads)
    fn = MODELS[name][0]
    params = load_params(params_dir)
    x = torch.from_numpy(np.load(x_path))
    with torch.inference_mode():
        fn(params, x)  # warm-up, as nnrun's first (untimed) predict
        for _ in range(calls):
            start = time.perf_counter()
            fn(params, x)
            print(time.perf_counter() - start)


def load_params(params_dir):
    return {f[:-4]: torch.from_numpy(np.load(os.path.join(params_dir, f)))
            for f in os.listdir(params_dir)}


def summary(samples):
    med = statistics.median(samples)
    return med, min(samples), max(samples)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        name, params_dir, x_path, calls, threads = sys.argv[2:7]
        return peer(name, params_dir, x_path, int(calls), int(threads))
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=20)
    args = ap.parse_args()
    bin_dir = os.path.join(args.build, "bin")
    nnc, nnrun = os.path.join(bin_dir, "nnc"), os.path.join(bin_dir, "nnrun")
    work = tempfile.mkdtemp(prefix="nnc-bench-")
    print(f"torch {torch.__version__}, batch {BATCH}, {args.rounds} rounds x {args.calls} calls, "
          f"medians of round medians (min..max)")
    print(f"{'model':5} {'thr':>3} {'nnc ms':>22} {'torch ms':>22} {'nnc samples/s':>14} "
          f"{'torch samples/s':>16} {'speedup':>8}")
    for name, (fn, shape) in MODELS.items():
        model_pb = os.path.join(work, f"{name}.pb")
        plan = os.path.join(work, f"{name}.plan")
        params_dir = os.path.join(work, f"{name}-params")
        run([os.path.join(bin_dir, f"nnc-example-{name}"), model_pb])
        run([nnc, "compile", model_pb, "-o", plan])
        x = np.random.RandomState(0).rand(*shape).astype(np.float32)
        x_path, out_path = os.path.join(work, f"{name}-x.npy"), os.path.join(work, f"{name}-y.npy")
        np.save(x_path, x)
        run([nnrun, plan, "--predict", x_path, "-o", out_path, "--dump-parameters", params_dir])
        params = load_params(params_dir)
        with torch.inference_mode():
            ref = fn(params, torch.from_numpy(x)).numpy()
        ours = np.load(out_path)
        err = np.abs(ours - ref).max() / np.abs(ref).max()
        if err > 1e-5:
            sys.exit(f"bench: {name}: nnc and PyTorch disagree (rel err {err:.2e})")
        for threads in (1, 2):
            nnc_t, torch_t = [], []
            for _ in range(args.rounds):  # alternate, so that noise hits both alike
                nnc_t.append(nnc_round(nnrun, plan, x_path, out_path, args.calls, threads))
                torch_t.append(torch_round(name, params_dir, x_path, args.calls, threads))
            (nm, nlo, nhi), (tm, tlo, thi) = summary(nnc_t), summary(torch_t)
            print(f"{name:5} {threads:>3} {nm*1e3:7.3f} ({nlo*1e3:.3f}..{nhi*1e3:.3f}) "
                  f"{tm*1e3:7.3f} ({tlo*1e3:.3f}..{thi*1e3:.3f}) {BATCH/nm:14.0f} {BATCH/tm:16.0f} "
                  f"{tm/nm:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
