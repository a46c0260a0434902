#!/usr/bin/python3
"""Checks nnc's CPU forward results of every `nn` op against PyTorch fixtures.

Each directory under --cases holds model.pbtxt, input.npy and expected.npy (written by
scripts/gen_op_fixtures.py). For each: `nnc compile model.pbtxt -o model.plan`, then
`nnrun model.plan --predict input.npy -o out.npy --allow-nonfinite-inputs` (the clamp cases feed
NaN and +-inf on purpose), then compare out.npy with expected.npy:

  rel_err = max|ours - ref| / max(max|ref|, 1e-30)      (normwise relative, over finite ref)

and ±inf / NaN entries of the reference must be matched exactly (same positions, same values).
A case passes when the shapes and dtypes agree and rel_err <= --tolerance. A case directory
with an XFAIL file (its text says why) is one nnc is known not to handle yet: its failure prints
`KNOWN-UNSUPPORTED <case>` and does not fail the run, but its passing does (remove the XFAIL).
Prints `PASS`/`FAIL <case> rel_err=...` per case, then `all N cases passed` or the failures, and
exits 1 if any case failed. Needs numpy only.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np


def rel_err(ours, ref):
    """Normwise relative error over the reference's finite entries, and a reason if the
    non-finite entries disagree."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    fin = np.isfinite(ref)
    bad = None
    if not np.array_equal(np.isfinite(ours), fin):
        bad = "finite/non-finite positions differ (%d vs %d non-finite entries)" % (
            int((~np.isfinite(ours)).sum()), int((~fin).sum()))
    elif not np.array_equal(np.where(fin, 0, ours), np.where(fin, 0, ref), equal_nan=True):
        bad = "non-finite values differ"
    if not fin.any():
        return 0.0, bad
    diff = np.max(np.abs(ours[fin] - ref[fin]))
    return float(diff / max(np.max(np.abs(ref[fin])), 1e-30)), bad


def tail(text, n=3):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %ds" % timeout
    except OSError as e:
        return None, "cannot run %s: %s" % (cmd[0], e)
    if p.returncode != 0:
        how = ("signal %d" % -p.returncode) if p.returncode < 0 else "rc=%d" % p.returncode
        return p.returncode, "%s: %s" % (how, tail(p.stdout))
    return 0, p.stdout


def check(case_dir, work, args):
    model = os.path.join(case_dir, "model.pbtxt")
    plan = os.path.join(work, "model.plan")
    out = os.path.join(work, "out.npy")
    rc, msg = run([args.nnc, "compile", model, "-o", plan], args.timeout)
    if rc != 0:
        return False, None, "nnc compile " + msg
    rc, msg = run([args.nnrun, plan, "--predict", os.path.join(case_dir, "input.npy"),
                   "-o", out, "--allow-nonfinite-inputs"], args.timeout)
    if rc != 0:
        return False, None, "nnrun " + msg
    try:
        ours = np.load(out)
    except Exception as e:  # noqa: BLE001
        return False, None, "cannot read nnrun's output: %s" % e
    ref = np.load(os.path.join(case_dir, "expected.npy"))
    if ours.shape != ref.shape:
        return False, None, "shape %s, expected %s" % (ours.shape, ref.shape)
    if ours.dtype != ref.dtype:
        return False, None, "dtype %s, expected %s" % (ours.dtype, ref.dtype)
    err, bad = rel_err(ours, ref)
    if bad:
        return False, err, bad
    if not err <= args.tolerance:  # also catches NaN
        return False, err, "rel_err above tolerance %g" % args.tolerance
    return True, err, ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nnc", required=True, help="path of the nnc binary")
    ap.add_argument("--nnrun", required=True, help="path of the nnrun binary")
    ap.add_argument("--cases", required=True, help="directory of case directories")
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument("--timeout", type=int, default=120, help="seconds per command")
    ap.add_argument("--filter", default="", help="only cases whose name contains this")
    args = ap.parse_args()

    cases = sorted(d for d in os.listdir(args.cases)
                   if os.path.isfile(os.path.join(args.cases, d, "model.pbtxt"))
                   and args.filter in d)
    if not cases:
        print("FAIL no cases found in %s" % args.cases)
        return 1
    failed = []
    known = 0
    with tempfile.TemporaryDirectory(prefix="nnc-numerics-") as tmp:
        for name in cases:
            work = os.path.join(tmp, name)
            os.makedirs(work)
            case_dir = os.path.join(args.cases, name)
            ok, err, why = check(case_dir, work, args)
            e = "rel_err=%.3e" % err if err is not None else "rel_err=n/a"
            xfail = os.path.join(case_dir, "XFAIL")
            if os.path.isfile(xfail):
                with open(xfail) as f:
                    reason = f.read().strip()
                if ok:
                    failed.append(name)
                    print("FAIL %s %s passes but is marked XFAIL (%s): remove %s"
                          % (name, e, reason, xfail))
                else:
                    known += 1
                    print("KNOWN-UNSUPPORTED %s (%s): %s" % (name, reason, why))
            elif ok:
                print("PASS %s %s" % (name, e))
            else:
                failed.append(name)
                print("FAIL %s %s %s" % (name, e, why))
            sys.stdout.flush()
    if failed:
        print("%d of %d cases failed: %s" % (len(failed), len(cases), " ".join(failed)))
        return 1
    print("all %d cases passed%s" % (len(cases) - known,
                                      " (%d known unsupported)" % known if known else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
