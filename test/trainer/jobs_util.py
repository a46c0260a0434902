"""Checks of nnrun --fit as a real job runs it: a log redirected to a file, SIGTERM from a
scheduler, and the resume after it.

  jobs_util.py redirected NNRUN PLAN WORK ARGS...   the log shows lines while the run goes on
  jobs_util.py sigterm NNRUN PLAN WORK ARGS...      SIGTERM, then --resume: same parameters as an
                                                    uninterrupted run; every step once in the
                                                    JSON lines and TensorBoard; signal exit codes
  jobs_util.py remap NNRUN PLAN B=PLAN,... WORK ARGS...  a checkpoint resumed at other batches
"""
import glob
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np


def wait_for(proc, log, text, timeout=120):
    """Polls the log file until it holds `text`; the run must still be going."""
    start = time.time()
    while time.time() - start < timeout:
        if text in open(log).read():
            return proc.poll() is None
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    sys.exit(f"FAIL: no '{text}' in {log} after {timeout} s")


def redirected(nnrun, plan, work, *args):
    log = work + "/redirected.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([nnrun, plan, "--fit", *args], stdout=out)
        running = wait_for(proc, log, "epoch 1/")
        lines = len(open(log).read().splitlines())
        proc.kill()
        proc.wait()
    if not running:
        sys.exit("FAIL: the run ended before its log showed a line")
    print(f"PASS redirected: {lines} lines in the log while the run was going")


def read_tfrecords(path):
    """(step, [tags]) of each event in a TensorBoard file (the fields nnrun writes)."""
    data, at, events = open(path, "rb").read(), 0, []
    while at < len(data):
        (length,) = struct.unpack_from("<Q", data, at)
        record, at = data[at + 12:at + 12 + length], at + 12 + length + 4
        step, tags, i = 0, [], 0

        def varint(i, buf):
            v, shift = 0, 0
            while True:
                b = buf[i]
                v |= (b & 0x7F) << shift
                i, shift = i + 1, shift + 7
                if not b & 0x80:
                    return v, i

        while i < len(record):
            key, i = varint(i, record)
            field, wire = key >> 3, key & 7
            if wire == 0:
                v, i = varint(i, record)
                step = v if field == 2 else step
            elif wire == 1:
                i += 8
            elif wire == 2:
                n, i = varint(i, record)
                if field == 5:  # summary: values with a tag
                    summary, j = record[i:i + n], 0
                    while j < len(summary):
                        _, j = varint(j, summary)
                        m, j = varint(j, summary)
                        value = summary[j:j + m]
                        tag_len = value[1]
                        tags.append(value[2:2 + tag_len].decode())
                        j += m
                i += n
        events.append((step, tags))
    return events


def sigterm(nnrun, plan, work, *args):
    base = [nnrun, plan, "--fit", *args, "--log-steps"]
    subprocess.run(base + ["--dump-parameters", work + "/whole"], check=True,
                   stdout=subprocess.DEVNULL)
    ckpt, log, err = work + "/ckpt", work + "/term.log", work + "/term.err"
    sinks = ["--metrics-jsonl", work + "/m.jsonl", "--tensorboard", work + "/tb"]
    run = base + ["--checkpoint-dir", ckpt, *sinks]
    with open(log, "w") as out, open(err, "w") as errors:
        proc = subprocess.Popen(run, stdout=out, stderr=errors)
        if not wait_for(proc, log, "\nstep 3 "):
            sys.exit("FAIL: the run ended before it could be sent SIGTERM")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait()
    message = open(err).read()
    if code != 143:
        sys.exit(f"FAIL: exit status {code} after SIGTERM, expected 143; stderr: {message}")
    print("SIGTERM: exit 143; " + message.strip())
    if not os.path.exists(ckpt + "/last.ckpt"):
        sys.exit("FAIL: no checkpoint after SIGTERM")
    steps_before = [l for l in open(log).read().splitlines() if l.startswith("step ")]
    print(f"log: {len(steps_before)} steps before the signal")
    # A second run sharing the TensorBoard directory gets a directory of its own.
    subprocess.run([nnrun, plan, "--fit", *args, "--tensorboard", work + "/tb"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(run + ["--resume", "--dump-parameters", work + "/resumed"], check=True,
                   stdout=open(work + "/resumed.log", "w"))
    names = sorted(os.listdir(work + "/whole"))
    same = all(np.array_equal(np.load(f"{work}/whole/{n}"), np.load(f"{work}/resumed/{n}"))
               for n in names)
    print(f"parameters: {len(names)} tensors {'bit-identical' if same else 'DIFFER'}")
    total = len([l for l in open(work + "/resumed.log").read().splitlines()
                 if l.startswith("step ")]) + len(steps_before)
    import json
    events = [json.loads(l) for l in open(work + "/m.jsonl")]
    steps = [e["step"] for e in events if e["event"] == "step"]
    tests = [e for e in events if e["event"] == "eval" and e["split"] == "test"]
    print(f"jsonl: {len(steps)} step events for {total} steps, "
          f"{'each once' if steps == list(range(1, total + 1)) else 'NOT each once'}, "
          f"{len(tests)} test evaluation")
    runs = sorted(os.listdir(work + "/tb"))
    counts = {}
    for path in glob.glob(f"{work}/tb/{runs[0]}/events.out.tfevents.*"):
        for step, tags in read_tfrecords(path):
            if "train/loss" in tags:
                counts[step] = counts.get(step, 0) + 1
    once = sorted(counts) == list(range(1, total + 1)) and set(counts.values()) == {1}
    print(f"tensorboard: {len(runs)} run directories; the first has "
          f"{'each step once' if once else 'NOT each step once'}")


def remap(nnrun, plan, other_plans, work, *args):
    """SIGTERM mid-epoch, then resume under plans of other batch sizes (comma-separated
    BATCH=PLAN): a global batch that divides the examples consumed continues there, another is
    refused naming both."""
    import re
    ckpt, log = work + "/remap-ckpt", work + "/remap.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([nnrun, plan, "--fit", *args, "--log-steps", "--checkpoint-dir",
                                 ckpt], stdout=out, stderr=subprocess.PIPE, text=True)
        if not wait_for(proc, log, "\nstep 3 "):
            sys.exit("FAIL: the run ended before it could be sent SIGTERM")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate()
    step, epoch = map(int, re.search(r"interrupted at step (\d+) \(epoch (\d+)\)", err).groups())
    steps_per_epoch = int(re.search(r"(\d+) steps per epoch", open(log).read()).group(1))
    batch = int(re.search(r"batch (\d+),", open(log).read()).group(1))
    consumed = (step - (epoch - 1) * steps_per_epoch) * batch
    for other in other_plans.split(","):
        size, other_plan = other.split("=")
        size = int(size)
        subprocess.run(["rm", "-rf", ckpt + "2"], check=True)
        subprocess.run(["cp", "-r", ckpt, ckpt + "2"], check=True)
        run = subprocess.run([nnrun, other_plan, "--fit", *args, "--checkpoint-dir", ckpt + "2",
                              "--resume"], capture_output=True, text=True)
        if consumed % size == 0:
            ok = (run.returncode == 0 and f"{consumed} examples into epoch {epoch}, continued in "
                  f"global batches of {size} (the checkpoint's: {batch})" in run.stdout)
        else:
            ok = (run.returncode == 1 and f"stopped {consumed} examples into epoch {epoch} in "
                  f"global batches of {batch}; this run's global batch of {size}" in run.stderr)
        print(f"batch {size}: {'PASS' if ok else 'FAIL'} "
              f"({'continued' if consumed % size == 0 else 'refused'})", run.stderr.strip())


if __name__ == "__main__":
    {"redirected": redirected, "sigterm": sigterm, "remap": remap}[sys.argv[1]](*sys.argv[2:])
