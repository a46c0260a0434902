#!/usr/bin/python3
"""Fused causal attention (issue 23) against the unfused graph of the same model.

Compiles MODEL twice, with `nnc compile` (attention fused into nn.causal_attention) and with
`--fuse-attention=false` (scores, mask, softmax and products as separate ops), checks that the
fused plan has the fused command and the other does not, then compares:
  - predict on the first 8 rows of FEATURES: max |fused - unfused| <=
    --predict-tol;
  - STEPS train steps from the same initial weights on the same batches: every loss within
    --loss-tol (relative) and the final parameters within --param-tol (relative to their largest
    magnitude).
fp32 defaults 1e-5: the two compute the same sums in another order (tiles, an online softmax,
a polynomial exp), a few f32 ulps per value, which training over a few steps does not amplify
beyond 1e-5. bf16 runs pass looser tolerances, stated in the test that runs them.

usage: check_fused_attention.py --nnc NNC --nnrun NNRUN --model M --features F --labels L WORK
"""
import argparse
import os
import subprocess
import sys

import numpy as np


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL {' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnc", required=True)
    ap.add_argument("--nnrun", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--flags", default="", help="extra nnc compile flags, space-separated")
    ap.add_argument("--features", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--lr", default="0.01")
    ap.add_argument("--predict-tol", type=float, default=1e-5)
    ap.add_argument("--loss-tol", type=float, default=1e-5)
    ap.add_argument("--param-tol", type=float, default=1e-5)
    ap.add_argument("work")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    features = np.load(args.features)
    predictions, losses, finals = {}, {}, {}
    for kind, extra in (("fused", []), ("unfused", ["--fuse-attention=false"])):
        plan = os.path.join(args.work, kind + ".plan")
        run([args.nnc, "compile", args.model, "-o", plan] + args.flags.split() + extra)
        ir = run([args.nnc, "compile", args.model, "--compile-to=plan"] + args.flags.split() + extra)
        fused_commands = ir.count("plan.causal_attention")
        print(f"{kind}: {fused_commands} plan.causal_attention commands")
        if (fused_commands > 0) != (kind == "fused"):
            print(f"FAIL {kind} plan: unexpected number of fused commands")
            return 1
        first = os.path.join(args.work, "first.npy")
        np.save(first, features[:8])  # predict batches rows as the plan takes them
        predicted = os.path.join(args.work, kind + ".predict.npy")
        run([args.nnrun, plan, "--predict", first, "-o", predicted])
        predictions[kind] = np.load(predicted)
        final = os.path.join(args.work, kind + ".final")
        text = run([args.nnrun, plan, "--train", str(args.steps), "--features", args.features,
                    "--labels", args.labels, "--lr", args.lr, "--dump-parameters", final])
        losses[kind] = [float(l.split()[3]) for l in text.splitlines() if l.startswith("step ")]
        finals[kind] = final
    failures = 0
    err = np.abs(predictions["fused"] - predictions["unfused"]).max()
    ok = err <= args.predict_tol
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'} predict: max abs err {err:.2e}")
    worst = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(losses["fused"], losses["unfused"]))
    ok = len(losses["fused"]) == args.steps and worst <= args.loss_tol
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'} losses: {len(losses['fused'])} steps, max rel err {worst:.2e}")
    worst_param = 0.0
    for name in sorted(os.listdir(finals["unfused"])):
        a = np.load(os.path.join(finals["fused"], name))
        b = np.load(os.path.join(finals["unfused"], name))
        worst_param = max(worst_param, np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
    ok = worst_param <= args.param_tol
    failures += not ok
    print(f"{'PASS' if ok else 'FAIL'} parameters: max rel err {worst_param:.2e}")
    print("fused attention matches" if failures == 0 else f"{failures} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
