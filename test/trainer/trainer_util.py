"""Helpers for the trainer's lit tests: synthetic datasets in every format nnrun --fit reads, and
checks of its output against the formulas (learning rate per step, early stopping, accuracy) and
of resumed runs against uninterrupted ones.

  trainer_util.py data DIR            write DIR/{x,y,test-x,test-y}.npy, DIR/idx/*, DIR/t.csv
  trainer_util.py check-lr LOG KIND LR WARMUP MIN TOTAL [STEP_SIZE GAMMA PATIENCE]
  trainer_util.py check-early-stop LOG PATIENCE DUMP_DIR CKPT
  trainer_util.py check-accuracy LOG LOGITS.npy LABELS.npy
  trainer_util.py kill-resume NNRUN PLAN WORKDIR ARGS...
"""
import gzip
import math
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time

import numpy as np

CLASSES = 10


def synthetic(n, seed):
    """Ten classes, each lifting its own block of 78 features: an MLP separates them quickly."""
    rng = np.random.RandomState(seed)
    y = rng.randint(0, CLASSES, n).astype(np.int64)
    x = rng.randn(n, 784).astype(np.float32)
    for c in range(CLASSES):
        x[y == c, c * 78:(c + 1) * 78] += 1.0
    return x, y


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + b"".join(
        struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def data(out):
    os.makedirs(out + "/idx", exist_ok=True)
    x, y = synthetic(1024, 0)
    tx, ty = synthetic(300, 1)
    np.save(out + "/x.npy", x)
    np.save(out + "/y.npy", y)
    np.save(out + "/test-x.npy", tx)
    np.save(out + "/test-y.npy", ty)
    # IDX images: the same features squashed into bytes, as 28x28 images.
    for name, (a, b) in {"train": (x, y), "t10k": (tx, ty)}.items():
        pixels = np.clip(a * 40 + 128, 0, 255).astype(np.uint8).reshape(-1, 28, 28)
        write_idx(f"{out}/idx/{name}-images-idx3-ubyte.gz", pixels)
        write_idx(f"{out}/idx/{name}-labels-idx1-ubyte.gz", b)
    with open(out + "/t.csv", "w") as f:
        f.write(",".join([f"f{i}" for i in range(784)] + ["class"]) + "\n")
        for row, label in zip(x[:512] * 3 + 10, y[:512]):
            f.write(",".join(f"{v:.4f}" for v in row) + f",{label}\n")


def logged_steps(log):
    return [(int(m[1]), int(m[2]), float(m[3])) for m in
            re.finditer(r"^step (\d+) epoch (\d+) lr (\S+) loss", open(log).read(), re.M)]


def check_lr(log, kind, lr, warmup, min_lr, total, step_size=0, gamma=0.1, patience=0):
    """Every logged LR equals the schedule's formula; plateau reductions follow the printed
    validation losses (PyTorch's ReduceLROnPlateau, threshold 0)."""
    text = open(log).read()
    val = [float(v) for v in re.findall(r"^epoch .*?val loss (\S+)", text, re.M)]
    lr, warmup, min_lr, total = float(lr), int(warmup), float(min_lr), int(total)
    step_size, gamma, patience = int(step_size), float(gamma), int(patience)
    scale_after_epoch, best, bad, scale = [1.0], math.inf, 0, 1.0
    for loss in val:  # the plateau scale in force after each epoch
        if loss < best:
            best, bad = loss, 0
        else:
            bad += 1
            if bad > patience:
                scale, bad = scale * gamma, 0
        scale_after_epoch.append(scale)
    steps = logged_steps(log)
    for step, epoch, got in steps:
        s, e = step - 1, epoch - 1
        if kind == "constant":
            want = lr
        elif kind == "warmup-cosine":
            p = min(max((s - warmup) / max(1, total - warmup), 0.0), 1.0)
            want = min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * p))
        elif kind == "step":
            want = lr * gamma ** (e // step_size)
        else:
            want = max(min_lr, lr * scale_after_epoch[e])
        if s < warmup:
            want = want / 100 + (want - want / 100) * s / warmup
        # The log prints 9 significant digits of the double the step was fed as f32.
        if abs(got - want) > 1e-6 * want:
            sys.exit(f"FAIL step {step}: lr {got}, formula {want}")
    reductions = sum(1 for a, b in zip(scale_after_epoch, scale_after_epoch[1:]) if b < a)
    print(f"PASS lr: {len(steps)} steps match the {kind} formula"
          + (f" ({reductions} plateau reductions)" if kind == "plateau" else ""))


def read_checkpoint(path):
    """The tensors of an nnrun checkpoint (runtime/trainer/Checkpoint.h), as raw bytes."""
    data = open(path, "rb").read()
    assert data[:8] == b"NNCCKPT1"
    at, tensors = 8, {}
    while len(data) - at > 8:
        (n,) = struct.unpack_from("<I", data, at)
        name = data[at + 4:at + 4 + n].decode()
        at += 4 + n
        (size,) = struct.unpack_from("<Q", data, at)
        payload = data[at + 8:at + 8 + size]
        at += 8 + size + 8
        if name != "state":
            _, rank = struct.unpack_from("<II", payload, 0)
            tensors[name] = payload[8 + 8 * rank:]
    return tensors


def check_early_stop(log, patience, dump_dir, ckpt):
    text = open(log).read()
    val = [float(v) for v in re.findall(r"^epoch .*?val loss (\S+)", text, re.M)]
    patience = int(patience)
    best, best_epoch, bad, stop = math.inf, 0, 0, None
    for epoch, loss in enumerate(val, 1):
        if loss < best:
            best, best_epoch, bad = loss, epoch, 0
        else:
            bad += 1
            if bad >= patience:
                stop = epoch
                break
    if stop is None or stop != len(val):
        sys.exit(f"FAIL: val losses {val} should stop at epoch {stop}, ran {len(val)}")
    if f"early stopping: no improvement in {patience} epochs" not in text:
        sys.exit("FAIL: no early-stopping note")
    if f"final model: the best weights (epoch {best_epoch}," not in text:
        sys.exit(f"FAIL: the best epoch is {best_epoch}")
    tensors = read_checkpoint(ckpt)
    for name, raw in tensors.items():
        dumped = np.load(os.path.join(dump_dir, name.replace("/", "_") + ".npy"))
        if dumped.tobytes() != raw:
            sys.exit(f"FAIL: final parameter {name} differs from best.ckpt")
    print(f"PASS early stopping: stopped after epoch {stop}, final model = best (epoch "
          f"{best_epoch}), {len(tensors)} tensors equal best.ckpt")


def check_accuracy(log, logits, labels):
    want = np.mean(np.load(logits).argmax(-1) == np.load(labels)) * 100
    got = float(re.findall(r"test accuracy (\S+)%  \(", open(log).read())[-1])
    if abs(got - want) > 0.005:
        sys.exit(f"FAIL: nnrun says {got}%, its predictions give {want:.2f}%")
    print(f"PASS accuracy: {got}% over every test example")


def kill_resume(nnrun, plan, work, *args):
    """An uninterrupted run against one killed (SIGKILL) at random points, once right as a
    checkpoint is being written, and resumed until it finishes: final parameters bit-identical."""
    seed = int(os.environ.get("KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    base = [nnrun, plan, "--fit", *args]
    subprocess.run(base + ["--dump-parameters", work + "/whole"], check=True,
                   stdout=subprocess.DEVNULL)
    ckpt = work + "/ckpt"
    resumed = base + ["--checkpoint-dir", ckpt, "--checkpoint-every", "1", "--resume",
                      "--dump-parameters", work + "/resumed"]
    start = time.time()
    subprocess.run(resumed[:-2], check=True, stdout=subprocess.DEVNULL)
    duration = time.time() - start
    subprocess.run(["rm", "-rf", ckpt])
    kills = 0
    # Six interrupted runs (the second killed as soon as a checkpoint write is in flight), then
    # one left to finish: on a loaded machine a kill may land before the first step.
    for attempt in range(7):
        proc = subprocess.Popen(resumed, stdout=subprocess.DEVNULL)
        tmp = f"{ckpt}/last.ckpt.tmp.{proc.pid}"  # support/AtomicFile.h's temporary name
        if attempt == 1:
            while proc.poll() is None and not os.path.exists(tmp):
                pass
        elif attempt < 6:
            time.sleep(rng.uniform(0, duration * 0.6))
        if attempt < 6 and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        if proc.wait() == 0:
            break
    else:
        sys.exit(f"FAIL (KILL_SEED={seed}): the last resumed run failed")
    names = sorted(os.listdir(work + "/whole"))
    for name in names:
        a = open(f"{work}/whole/{name}", "rb").read()
        b = open(f"{work}/resumed/{name}", "rb").read()
        if a != b:
            sys.exit(f"FAIL (KILL_SEED={seed}): {name} differs after {kills} kills")
    print(f"PASS resume: {len(names)} parameters bit-identical after {kills} kills "
          f"(KILL_SEED={seed})")


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    {"data": data, "check-lr": check_lr, "check-early-stop": check_early_stop,
     "check-accuracy": check_accuracy, "kill-resume": kill_resume}[command](*rest)
