#!/usr/bin/python3
"""ONNX's own backend test data as a conformance suite for nnc's importer (forward pass).

Every case is compiled with `nnc compile model.onnx --inference` and its input run through
`nnrun --predict`; the first output is compared with the case's expected output:
- pytorch-converted, pytorch-operator, simple (inputs and outputs as TensorProto files):
  max|ours - expected| <= 1e-4 * max(max|expected|, 1), a relative 1e-4 that does not demand
  more than fp32 rounding of outputs near zero; both sides compute in fp32 and differ only by the
  order of sums.
- light (AlexNet, ResNet-50, DenseNet-121... with constant weights): inputs generated as ONNX's
  runner does (arange(n) / n), compared elementwise with the tolerance of the matching
  real/<case>/data.json (rtol, atol), as ONNX's runner does.
A case nnc does not pass gets one reason: the first line of nnc's error (the unsupported op and
its node), the output count nnrun --predict cannot write, or the error measured.

usage: onnx_conformance.py --nnc NNC --nnrun NNRUN --data DIR [--work DIR] [--jobs N]
                           [--only LIST] [--expect LIST] [--write-passing LIST] [--report FILE.md]
  --only LIST           run only the cases named in LIST (one "suite/case" per line)
  --expect LIST         exit 1 unless every case in LIST passes (CI runs the ones that pass)
  --write-passing LIST  write the passing cases to LIST
  --report FILE.md      write the pass counts and every reason, for the README
"""
import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

SUITES = ["pytorch-converted", "pytorch-operator", "simple", "light"]
RELATIVE_TOLERANCE = 1e-4


class Case:
    def __init__(self, suite, name, model, data_sets, rtol=None, atol=None):
        self.suite, self.name, self.model = suite, name, model
        self.data_sets = data_sets  # [(input paths or None to generate, expected output paths)]
        self.rtol, self.atol = rtol, atol

    @property
    def id(self):
        return f"{self.suite}/{self.name}"


def read_tensor(path):
    tensor = onnx.TensorProto()
    with open(path, "rb") as f:
        tensor.ParseFromString(f.read())
    return numpy_helper.to_array(tensor)


def graph_inputs(model):
    initializers = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def collect(data):
    cases = []
    for suite in SUITES[:3]:
        root = os.path.join(data, suite)
        for name in sorted(os.listdir(root)):
            case_dir = os.path.join(root, name)
            sets = sorted(d for d in os.listdir(case_dir) if d.startswith("test_data_set_"))
            data_sets = []
            for s in sets:
                d = os.path.join(case_dir, s)
                inputs = sorted((f for f in os.listdir(d) if f.startswith("input_")),
                                key=lambda f: int(f[6:-3]))
                outputs = sorted((f for f in os.listdir(d) if f.startswith("output_")),
                                 key=lambda f: int(f[7:-3]))
                data_sets.append(([os.path.join(d, f) for f in inputs],
                                  [os.path.join(d, f) for f in outputs]))
            cases.append(Case(suite, name, os.path.join(case_dir, "model.onnx"), data_sets))
    light = os.path.join(data, "light")
    for f in sorted(os.listdir(light)):
        if not f.endswith(".onnx"):
            continue
        name = f[len("light_"):-len(".onnx")]
        tolerance = os.path.join(data, "real", f"test_{name}", "data.json")
        rtol, atol = 1e-3, 1e-7  # ONNX's runner's defaults
        if os.path.exists(tolerance):
            with open(tolerance) as t:
                spec = json.load(t)
            rtol, atol = spec.get("rtol", rtol), spec.get("atol", atol)
        expected = os.path.join(light, f"light_{name}_output_0.pb")
        cases.append(Case("light", name, os.path.join(light, f), [(None, [expected])], rtol,
                          atol))
    return cases


def generated_input(value_info):
    """ONNX's runner's input for the light models: arange(n) / n in the input's shape."""
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1
                  for d in value_info.type.tensor_type.shape.dim)
    n = int(np.prod(shape))
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def first_line(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    for line in lines:
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[-1].strip() if lines else "no message"


def run_case(case, args, work):
    """Returns (passed, reason)."""
    model = onnx.load(case.model, load_external_data=False)
    inputs = graph_inputs(model)
    if not inputs:
        return False, "takes no inputs"
    plan = os.path.join(work, "model.plan")
    flags = []
    dims = inputs[0].type.tensor_type.shape.dim
    if dims and not dims[0].HasField("dim_value") and case.data_sets[0][0]:
        # A symbolic batch: the plan's is the test data's.
        flags = ["--batch-size", str(read_tensor(case.data_sets[0][0][0]).shape[0])]
    compiled = subprocess.run([args.nnc, "compile", case.model, "--inference", "-o", plan] + flags,
                              capture_output=True, text=True)
    if compiled.returncode != 0:
        return False, "nnc compile: " + first_line(compiled.stderr)
    worst = 0.0
    for input_paths, expected_paths in case.data_sets:
        if input_paths is None:
            given = [generated_input(i) for i in inputs]
        else:
            given = [read_tensor(p) for p in input_paths]
        feeds = []
        for i, value in enumerate(given):
            feeds.append(os.path.join(work, f"input_{i}.npy"))
            np.save(feeds[-1], value)
        outs = [os.path.join(work, f"output_{i}.npy") for i in range(len(expected_paths))]
        ran = subprocess.run([args.nnrun, plan, "--predict", ",".join(feeds),
                              "-o", ",".join(outs)], capture_output=True, text=True)
        if ran.returncode != 0:
            return False, "nnrun --predict: " + first_line(ran.stderr)
        for out, expected_path in zip(outs, expected_paths):
            passed, error = compare(np.load(out), read_tensor(expected_path), case)
            if not passed:
                return False, error
            worst = max(worst, error)
    return True, f"relative error {worst:.1e}" if case.rtol is None else "within tolerance"


def compare(ours, expected, case):
    """(True, relative error) or (False, why): one output against its expected value."""
    if ours.shape != expected.shape:
        return False, f"output shape {list(ours.shape)}, expected {list(expected.shape)}"
    ours, expected = ours.astype(np.float64), expected.astype(np.float64)
    both_nan = np.isnan(ours) & np.isnan(expected)  # sqrt of a negative: NaN both ways
    ours, expected = np.where(both_nan, 0, ours), np.where(both_nan, 0, expected)
    if case.rtol is not None:
        bad = np.abs(ours - expected) > case.atol + case.rtol * np.abs(expected)
        if bad.any() or np.isnan(ours).any() != np.isnan(expected).any():
            return False, (f"{int(bad.sum())} of {bad.size} outputs beyond rtol {case.rtol} "
                           f"atol {case.atol}")
        return True, 0.0
    scale = max(float(np.abs(expected).max(initial=0)), 1.0)
    error = float(np.abs(ours - expected).max(initial=0)) / scale
    if not np.isfinite(error) or error > RELATIVE_TOLERANCE:
        return False, f"relative error {error:.2e} (tolerance {RELATIVE_TOLERANCE:g})"
    return True, error


def general_reason(reason):
    """The reason without the file and node names, so that cases failing alike group together."""
    reason = re.sub(r"\S*\.onnx: ", "", reason)
    reason = re.sub(r"node '[^']*': ", "", reason)
    return re.sub(r" \(nnc import --list-ops lists what is\)", "", reason)


def write_report(path, results):
    """Pass counts per suite, then the cases not passed grouped by reason, most frequent first."""
    by_suite = collections.defaultdict(lambda: [0, 0])
    by_reason = collections.defaultdict(list)
    for case, (passed, reason) in results:
        by_suite[case.suite][0] += passed
        by_suite[case.suite][1] += 1
        if not passed:
            by_reason[general_reason(reason)].append(case.id.split("/", 1)[1])
    total = sum(p for p, _ in by_suite.values()), sum(n for _, n in by_suite.values())
    with open(path, "w") as f:
        f.write("| suite | passed |\n|---|---|\n")
        for suite in SUITES:
            if suite in by_suite:
                f.write(f"| {suite} | {by_suite[suite][0]} / {by_suite[suite][1]} |\n")
        f.write(f"| all | {total[0]} / {total[1]} |\n\n| not passed because | cases |\n|---|---|\n")
        for reason, names in sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[0])):
            f.write(f"| {reason.replace('|', '/')} | {', '.join(names)} |\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nnc", required=True)
    ap.add_argument("--nnrun", required=True)
    ap.add_argument("--data", required=True, help="onnx/backend/test/data")
    ap.add_argument("--work", help="scratch directory (default: a temporary one)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only")
    ap.add_argument("--expect")
    ap.add_argument("--write-passing")
    ap.add_argument("--report")
    args = ap.parse_args()

    def names(path):
        with open(path) as f:
            return [l.strip() for l in f if l.strip() and not l.startswith("#")]

    cases = collect(args.data)
    if args.only:
        wanted = set(names(args.only))
        missing = wanted - {c.id for c in cases}
        if missing:
            sys.exit(f"onnx_conformance: {args.only}: no case {sorted(missing)[0]} in {args.data}")
        cases = [c for c in cases if c.id in wanted]
    work = args.work or tempfile.mkdtemp(prefix="nnc-onnx-conformance-")

    def run(case):
        case_work = os.path.join(work, case.suite, case.name)
        os.makedirs(case_work, exist_ok=True)
        try:
            return run_case(case, args, case_work)
        except Exception as e:  # a case ONNX's own loader cannot read
            return False, f"{type(e).__name__}: {e}".splitlines()[0]

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        results = list(zip(cases, pool.map(run, cases)))
    for case, (passed, reason) in results:
        print(f"{'PASS' if passed else 'FAIL'} {case.id}: {reason}")
    passing = [c.id for c, (p, _) in results if p]
    print(f"passed {len(passing)} of {len(results)}")
    if args.write_passing:
        with open(args.write_passing, "w") as f:
            f.write("# ONNX backend test cases nnc passes (scripts/onnx_conformance.py "
                    "--write-passing); CI runs them.\n")
            f.write("".join(p + "\n" for p in passing))
    if args.report:
        write_report(args.report, results)
    if args.expect:
        failed = sorted(set(names(args.expect)) - set(passing))
        for name in failed:
            print(f"onnx_conformance: expected to pass: {name}", file=sys.stderr)
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
