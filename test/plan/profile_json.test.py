# Reads nnrun --profile-json's lines (profile_json.test) and prints what the test checks.
import json
import sys

records = [json.loads(line) for line in open(sys.argv[1])]
for r in records:
    if r["kind"] == "gemm":
        g = r["gemm"]
        alone = all(r[k] > 0 for k in ("alone_hot", "alone_cold", "alone_parked",
                                            "alone_one_thread"))
        assert r["flops"] == 2 * g["batch"] * g["m"] * g["n"] * g["k"], r
        print(r["function"], r["command"], "flops", r["flops"], "alone", alone,
              "transpose_b", g["transpose_b"])
kernels = [r for r in records if r["kind"] == "kernel"]
print("kernels without flops or alone times:",
      bool(kernels) and all(r["flops"] == 0 and "alone_hot" not in r for r in kernels))
steps = [r for r in records if r["function"] == "train_step"]
print("every train_step command:",
      bool(steps) and all(r["calls"] == 3 and r["seconds"] > 0 for r in steps))
