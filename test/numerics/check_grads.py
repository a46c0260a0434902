#!/usr/bin/python3
"""Gradient check of every differentiable nn op: compiled gradients against central differences.

For each case a model is written with the op's tensor operands as trainable parameters (the
first shifted by the graph input `x` = [0]) and loss = sum(op(...) * r), r the labels input (random), or the
op itself for the losses. One SGD step with learning rate 1 gives the compiled gradient
(p - p'); the loss at p +- eps v, read from `nnrun --train 1` (which prints the loss before it
updates), gives the central difference along random directions v.

Tolerance: |fd - analytic| <= 2e-2 * max(|analytic|, |fd|) + 2e-4 per direction. The loss is fp32:
with eps = 1e-2 the rounding error of the difference is about |loss| * 6e-8 / eps ~ 1e-5 of the
loss, and the truncation error eps^2 * f''' / 6 is ~1e-5 relative for these smooth, O(1) inputs;
2e-2 leaves room for kinks near relu/max inputs, which the inputs avoid. A wrong VJP (a missing
term, a transposed matrix, a wrong scale) is off by O(1).

ONNX ops that the importer writes as compositions of nn ops (OnnxCase: ConvTranspose, Min/Max,
Softplus, Shrink, Tile, Pad's modes, InstanceNormalization...) are checked the same way through
an ONNX graph: Add(x, p0) then the op, the operands as initializers (so parameters), compiled
with --loss mse against the labels r.

usage: check_grads.py --nnc NNC --nnrun NNRUN WORK_DIR
"""
import argparse
import os
import subprocess
import sys

import numpy as np

EPS, DIRECTIONS = 1e-2, 3


def fmt_type(shape, dtype="F32"):
    return f"type {{ dtype: {dtype} shape: [{', '.join(map(str, shape))}] }}"


def attr_text(key, value):
    if isinstance(value, bool):
        v = f"b: {'true' if value else 'false'}"
    elif isinstance(value, int):
        v = f"i: {value}"
    elif isinstance(value, float):
        v = f"f: {value}"
    elif isinstance(value, str):
        v = f's: "{value}"'
    else:
        v = f"ints {{ values: [{', '.join(map(str, value))}] }}"
    return f'attrs {{ key: "{key}" value {{ {v} }} }}'


class Case:
    """op(operands...) where each float operand is a parameter p_i = x_i (input zeros) + init."""

    def __init__(self, name, op, operands, attrs=None, out_shape=None, loss_op=False,
                 int_operand=None, soft_target=False, frozen=()):
        self.name, self.op, self.operands, self.attrs = name, op, operands, attrs or {}
        self.frozen = set(frozen)  # operands that are frozen parameters (batch_norm's running stats)
        self.out_shape, self.loss_op, self.int_operand = out_shape, loss_op, int_operand
        self.soft_target = soft_target  # the labels input r is a distribution shaped like p0


class OnnxCase(Case):
    """The ONNX op `op_type` (opset `opset`) on p0 + x and the further float operands, with
    `consts` (name -> int64 or float array) as further, non-trained inputs after them."""

    def __init__(self, name, op_type, operands, out_shape, attrs=None, consts=None, opset=17):
        super().__init__(name, op_type, operands, attrs, out_shape)
        self.consts, self.opset = consts or {}, opset


def write_onnx(case, path):
    from onnx import helper, numpy_helper, save, TensorProto
    inits = [numpy_helper.from_array(v, f"p{i}") for i, v in enumerate(case.operands)]
    inits += [numpy_helper.from_array(v, k) for k, v in case.consts.items()]
    inputs = ["a0"] + [f"p{i}" for i in range(1, len(case.operands))] + list(case.consts)
    nodes = [helper.make_node("Add", ["x", "p0"], ["a0"], name="shift"),
             helper.make_node(case.op, inputs, ["y"], name="op", **case.attrs)]
    graph = helper.make_graph(nodes, case.name,
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             case.out_shape)], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", case.opset)]), path)


def model_text(case, rng):
    lines = ["format_version: 1", f'name: "{case.name}"']
    # One features input x = [0], broadcast onto the first operand (a shape no labels input has,
    # so nnrun tells the two apart), and the labels input r.
    lines.append(f'inputs {{ name: "x" {fmt_type([1])} role: FEATURES }}')
    if case.int_operand is not None:
        lines.append(f'inputs {{ name: "r" {fmt_type(case.int_operand.shape, "I64")} role: LABELS }}')
    elif case.soft_target:
        lines.append(f'inputs {{ name: "r" {fmt_type(case.operands[0].shape)} role: LABELS }}')
    elif not case.loss_op or case.op == "mse_loss":
        lines.append(f'inputs {{ name: "r" {fmt_type(case.out_shape)} role: LABELS }}')
    names = []
    for i, value in enumerate(case.operands):
        vals = ", ".join(f"{v:.9g}" for v in value.reshape(-1))
        frozen = " frozen: true" if i in case.frozen else ""
        lines.append(f'parameters {{ name: "p{i}" {fmt_type(value.shape)} '
                     f'stored {{ {fmt_type(value.shape)} values: [{vals}] }}{frozen} }}')
        names.append(f"p{i}")
    lines.append('nodes { name: "shift" op: "add" inputs: ["x", "p0"] outputs: "a0" }')
    inputs = ["a0"] + names[1:]
    if case.int_operand is not None:
        inputs.append("r")
    if case.op == "mse_loss" or case.soft_target:
        inputs.append("r")
    attrs = " ".join(attr_text(k, v) for k, v in case.attrs.items())
    if case.op == "attention":
        lines += attention_nodes(case)
    else:
        lines.append(f'nodes {{ name: "op" op: "{case.op}" inputs: [{", ".join(map(repr, inputs))}] '
                     f'outputs: "y" {attrs} }}'.replace("'", '"'))
    if case.loss_op:
        loss = "y"
    else:
        rank = len(case.out_shape)
        lines.append('nodes { name: "weigh" op: "mul" inputs: ["y", "r"] outputs: "yr" }')
        lines.append(f'nodes {{ name: "loss" op: "reduce_sum" inputs: "yr" outputs: "loss" '
                     f'{attr_text("axes", list(range(rank)))} }}')
        loss = "loss"
    lines.append(f'training {{ loss: "{loss}" optimizer {{ kind: SGD learning_rate: 1 }} }}')
    return "\n".join(lines) + "\n"


def attention_nodes(case):
    """Causal attention written out, y = softmax(causal_mask(q k^T * scale)) v with q = a0,
    k = p1, v = p2: nnc compile fuses it into nn.causal_attention, so the compiled gradient is
    nn.causal_attention_grad's."""
    scale = case.attrs["scale"]
    return [
        f'nodes {{ name: "kt" op: "transpose" inputs: "p1" outputs: "kt" '
        f'{attr_text("permutation", [0, 2, 1])} }}',
        'nodes { name: "scores" op: "matmul" inputs: ["a0", "kt"] outputs: "s" }',
        f'nodes {{ name: "scale" op: "constant" outputs: "c" attrs {{ key: "value" value {{ '
        f'tensor {{ {fmt_type([])} values: [{scale}] }} }} }} }}',
        'nodes { name: "scaled" op: "mul" inputs: ["s", "c"] outputs: "sc" }',
        'nodes { name: "mask" op: "causal_mask" inputs: "sc" outputs: "m" }',
        f'nodes {{ name: "probs" op: "softmax" inputs: "m" outputs: "p" {attr_text("axis", -1)} }}',
        'nodes { name: "op" op: "matmul" inputs: ["p", "p2"] outputs: "y" }',
    ]


def cases(rng):
    f = lambda *s: rng.uniform(-1.0, 1.0, s).astype(np.float32)  # noqa: E731
    pos = lambda *s: rng.uniform(0.5, 1.5, s).astype(np.float32)  # noqa: E731
    away = lambda *s: (rng.uniform(0.2, 1.0, s) * rng.choice([-1, 1], s)).astype(np.float32)  # noqa
    # |x| in [0.1, 0.4] or [0.6, 0.9]: both sides of +-0.5, at least 0.1 from it.
    straddle = lambda *s: ((rng.choice([0.25, 0.75], s) + rng.uniform(-0.15, 0.15, s))  # noqa
                           * rng.choice([-1, 1], s)).astype(np.float32)
    # Distinct values >= 2 / 50 apart, so no window's maximum changes within eps.
    spread = lambda *s: rng.permutation(np.linspace(-1, 1, int(np.prod(s)))).reshape(s).astype(np.float32)  # noqa
    out = [
        Case("linear", "linear", [f(3, 5), f(4, 5), f(4)], out_shape=[3, 4]),
        Case("linear_3d", "linear", [f(2, 3, 5), f(4, 5)], out_shape=[2, 3, 4]),
        Case("matmul", "matmul", [f(3, 5), f(5, 4)], out_shape=[3, 4]),
        Case("matmul_batched", "matmul", [f(2, 3, 5), f(2, 5, 4)], out_shape=[2, 3, 4]),
        Case("matmul_shared_rhs", "matmul", [f(2, 3, 5), f(5, 4)], out_shape=[2, 3, 4]),
        Case("add_broadcast", "add", [f(3, 4), f(4)], out_shape=[3, 4]),
        Case("sub_broadcast", "sub", [f(3, 4), f(3, 1)], out_shape=[3, 4]),
        Case("mul_broadcast", "mul", [f(2, 3, 4), f(3, 1)], out_shape=[2, 3, 4]),
        Case("div_broadcast", "div", [f(3, 4), (np.abs(f(4)) + 0.5).astype(np.float32)],
             out_shape=[3, 4]),
        Case("relu", "relu", [away(3, 4)], out_shape=[3, 4]),
        Case("tanh", "tanh", [f(3, 4)], out_shape=[3, 4]),
        Case("sigmoid", "sigmoid", [f(3, 4)], out_shape=[3, 4]),
        Case("gelu", "gelu", [f(3, 4)], out_shape=[3, 4]),
        Case("gelu_tanh", "gelu", [f(3, 4)], {"approximate": "tanh"}, out_shape=[3, 4]),
        Case("softmax", "softmax", [f(3, 5)], out_shape=[3, 5]),
        Case("softmax_axis0", "softmax", [f(3, 5)], {"axis": 0}, out_shape=[3, 5]),
        Case("log_softmax", "log_softmax", [f(3, 5)], out_shape=[3, 5]),
        Case("layer_norm", "layer_norm", [f(3, 6), f(6), f(6)], out_shape=[3, 6]),
        Case("layer_norm_2d", "layer_norm", [f(2, 3, 4), f(3, 4), f(3, 4)], out_shape=[2, 3, 4]),
        Case("reshape", "reshape", [f(2, 6)], {"shape": [3, 4]}, out_shape=[3, 4]),
        Case("transpose", "transpose", [f(2, 3, 4)], {"permutation": [2, 0, 1]},
             out_shape=[4, 2, 3]),
        Case("slice", "slice", [f(4, 6)], {"start": [1, 2], "limit": [3, 6]}, out_shape=[2, 4]),
        Case("slice_strided", "slice", [f(5, 7)], {"start": [0, 1], "limit": [5, 7], "step": [2, 3]},
             out_shape=[3, 2]),
        Case("pad", "pad", [f(2, 3)], {"low": [1, 0], "high": [0, 2]}, out_shape=[3, 5]),
        Case("pad_interior", "pad", [f(2, 3)], {"low": [1, 0], "high": [0, 2], "interior": [1, 2]},
             out_shape=[4, 9]),
        Case("broadcast", "broadcast", [f(3, 1)], {"shape": [2, 3, 4]}, out_shape=[2, 3, 4]),
        Case("sqrt", "sqrt", [(np.abs(f(3, 4)) + 0.5).astype(np.float32)], out_shape=[3, 4]),
        Case("exp", "exp", [f(3, 4)], out_shape=[3, 4]),
        Case("log", "log", [(np.abs(f(3, 4)) + 0.5).astype(np.float32)], out_shape=[3, 4]),
        Case("reduce_max", "reduce_max", [spread(3, 5, 2)], {"axes": [1]}, out_shape=[3, 2]),
        Case("reduce_max_keepdim", "reduce_max", [spread(2, 3, 4)], {"axes": [0, 2], "keepdim": True},
             out_shape=[1, 3, 1]),
        Case("concat", "concat", [f(2, 3), f(2, 5)], {"axis": 1}, out_shape=[2, 8]),
        Case("concat_negative_axis", "concat", [f(2, 3), f(2, 5)], {"axis": -1},
             out_shape=[2, 8]),
        Case("reduce_sum", "reduce_sum", [f(2, 3, 4)], {"axes": [0]}, out_shape=[3, 4]),
        Case("reduce_mean_keepdim", "reduce_mean", [f(2, 3, 4)], {"axes": [-1], "keepdim": True},
             out_shape=[2, 3, 1]),
        # A finite fill: with the default -inf the loss sum(y * r) itself is not finite.
        Case("causal_mask_softmax", "causal_mask", [f(2, 4, 4)], {"fill": -5.0},
             out_shape=[2, 4, 4]),
        Case("conv2d", "conv2d", [f(2, 3, 5, 5), f(4, 3, 3, 3), f(4)], {"padding": [1, 1]},
             out_shape=[2, 4, 5, 5]),
        Case("conv2d_strided_dilated", "conv2d", [f(2, 2, 7, 6), f(3, 2, 2, 3)],
             {"stride": [2, 1], "dilation": [2, 1], "padding": [1, 0]}, out_shape=[2, 3, 4, 4]),
        Case("conv2d_groups", "conv2d", [f(1, 4, 4, 4), f(6, 2, 3, 3), f(6)], {"groups": 2},
             out_shape=[1, 6, 2, 2]),
        Case("max_pool2d", "max_pool2d", [spread(2, 3, 4, 6)], {"kernel_size": [2, 2]},
             out_shape=[2, 3, 2, 3]),
        Case("max_pool2d_overlapping", "max_pool2d", [spread(1, 2, 5, 5)],
             {"kernel_size": [3, 3], "stride": [2, 1], "padding": [1, 1]}, out_shape=[1, 2, 3, 5]),
        Case("avg_pool2d", "avg_pool2d", [f(2, 3, 4, 6)], {"kernel_size": [2, 2]},
             out_shape=[2, 3, 2, 3]),
        Case("avg_pool2d_overlapping", "avg_pool2d", [f(1, 2, 5, 5)],
             {"kernel_size": [3, 3], "stride": [2, 1], "padding": [1, 1]}, out_shape=[1, 2, 3, 5]),
        Case("mse_loss", "mse_loss", [f(3, 4)], out_shape=[3, 4], loss_op=True),
        Case("cross_entropy", "cross_entropy", [f(4, 5)], {"label_smoothing": 0.1},
             out_shape=[], loss_op=True, int_operand=np.zeros(4, np.int64)),
        Case("cross_entropy_soft", "cross_entropy", [f(4, 5)], {"label_smoothing": 0.1},
             out_shape=[], loss_op=True, soft_target=True),
        Case("cross_entropy_sum", "cross_entropy", [f(2, 3, 5)], {"reduction": "sum"},
             out_shape=[], loss_op=True, int_operand=np.zeros((2, 3), np.int64)),
        # Train steps normalize with the batch's statistics: the gradient flows through the
        # mean and variance too. The running statistics (operands 3, 4) are frozen.
        Case("batch_norm_1d", "batch_norm", [f(6, 3), f(3), f(3), f(3), pos(3)], out_shape=[6, 3],
             frozen=(3, 4)),
        Case("batch_norm_2d", "batch_norm", [f(2, 3, 3, 4), f(3), f(3), f(3), pos(3)],
             {"epsilon": 1e-3, "momentum": 0.2}, out_shape=[2, 3, 3, 4], frozen=(3, 4)),
        # Depthwise (groups = channels, MobileNet's), strided and padded.
        Case("conv2d_depthwise", "conv2d", [f(2, 4, 5, 5), f(4, 1, 3, 3), f(4)],
             {"groups": 4, "stride": [2, 1], "padding": [1, 1]}, out_shape=[2, 4, 3, 5]),
        # Inputs at least 0.1 from the bounds +-0.5, on both sides of them.
        Case("clamp", "clamp", [straddle(3, 4)], {"min": -0.5, "max": 0.5}, out_shape=[3, 4]),
        Case("clamp_max_only", "clamp", [straddle(3, 4)], {"max": 0.5}, out_shape=[3, 4]),
        # Fused causal attention (issue 23): q, k, v (2, 5, 4); T is not a multiple of the tile.
        Case("causal_attention", "attention", [f(2, 5, 4), f(2, 5, 4), f(2, 5, 4)],
             {"scale": 0.5}, out_shape=[2, 5, 4]),
    ]
    return out + onnx_cases(f, straddle, rng)


def onnx_cases(f, straddle, rng):
    """The importer's compositions (compiler/import/OnnxMoreOps.cpp) through ONNX graphs."""
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731

    def distinct(*shapes):
        """Tensors of these shapes whose values all differ by >= 2 / (count - 1): no maximum
        changes within eps."""
        sizes = [int(np.prod(s)) for s in shapes]
        values = rng.permutation(np.linspace(-1, 1, sum(sizes))).astype(np.float32)
        cuts = np.cumsum(sizes)[:-1]
        return [v.reshape(s) for v, s in zip(np.split(values, cuts), shapes)]

    return [
        OnnxCase("onnx_softplus", "Softplus", [3 * f(3, 4)], [3, 4]),
        OnnxCase("onnx_sign", "Sign", [straddle(3, 4)], [3, 4]),  # no gradient: fd 0
        # Inputs at least 0.1 from +-lambd = +-0.5 (and 0.25 from the bias's 0.2).
        OnnxCase("onnx_shrink", "Shrink", [straddle(3, 4)], [3, 4], {"lambd": 0.5, "bias": 0.2}),
        OnnxCase("onnx_softshrink", "Shrink", [straddle(3, 4)], [3, 4],
                 {"lambd": 0.5, "bias": 0.5}),
        OnnxCase("onnx_max_broadcast", "Max", distinct((3, 4), (4,), (3, 1)), [3, 4]),
        OnnxCase("onnx_min_broadcast", "Min", distinct((2, 3), (2, 1)), [2, 3]),
        OnnxCase("onnx_tile", "Tile", [f(2, 3)], [4, 6], consts={"repeats": i64(2, 2)}),
        OnnxCase("onnx_pad_reflect", "Pad", [f(3, 4)], [4, 7], {"mode": "reflect"},
                 consts={"pads": i64(1, 2, 0, 1)}),
        OnnxCase("onnx_pad_edge", "Pad", [f(3, 4)], [5, 5], {"mode": "edge"},
                 consts={"pads": i64(0, 1, 2, 0)}),
        OnnxCase("onnx_pad_fill", "Pad", [f(3, 4)], [4, 6],
                 consts={"pads": i64(1, 1, 0, 1), "fill": np.array(0.5, np.float32)}),
        OnnxCase("onnx_softmax_flat_opset11", "Softmax", [f(2, 3, 4)], [2, 3, 4], {"axis": 1},
                 opset=11),
        OnnxCase("onnx_instance_norm", "InstanceNormalization", [f(2, 3, 4, 5), f(3), f(3)],
                 [2, 3, 4, 5], {"epsilon": 1e-3}),
        OnnxCase("onnx_conv_transpose", "ConvTranspose", [f(2, 3, 3, 4), f(3, 2, 3, 3), f(2)],
                 [2, 2, 6, 8], {"strides": [2, 2], "pads": [1, 1, 1, 0],
                                "output_padding": [1, 0]}),
        # Distinct values: no window's maximum changes within eps.
        OnnxCase("onnx_maxpool_dilated", "MaxPool", distinct((1, 2, 6, 7)), [1, 2, 3, 2],
                 {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [1, 0, 1, 0],
                  "dilations": [3, 2]}),
        OnnxCase("onnx_prelu_per_channel_opset6", "PRelu", [straddle(2, 3, 4), f(3)], [2, 3, 4],
                 opset=6),
        OnnxCase("onnx_conv_transpose_groups", "ConvTranspose", [f(1, 4, 3, 3), f(4, 3, 2, 2)],
                 [1, 6, 6, 5], {"group": 2, "strides": [2, 1], "dilations": [1, 2]}),
    ]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def check(case, args, rng):
    work = os.path.join(args.work, case.name)
    os.makedirs(work, exist_ok=True)
    plan = os.path.join(work, "model.plan")
    if isinstance(case, OnnxCase):
        model = os.path.join(work, "model.onnx")
        write_onnx(case, model)
        run([args.nnc, "compile", model, "--loss", "mse", "--optimizer", "sgd", "--lr", "1",
             "-o", plan])
    else:
        model = os.path.join(work, "model.pbtxt")
        with open(model, "w") as fh:
            fh.write(model_text(case, rng))
        run([args.nnc, "compile", model, "-o", plan])
    if case.int_operand is not None:
        r = rng.integers(0, case.operands[0].shape[-1], case.int_operand.shape).astype(np.int64)
    elif case.soft_target:
        e = np.exp(rng.uniform(-2, 2, case.operands[0].shape))
        r = (e / e.sum(-1, keepdims=True)).astype(np.float32)
    else:
        r = rng.uniform(-1, 1, case.out_shape).astype(np.float32)
    xs, rs = os.path.join(work, "x.npy"), os.path.join(work, "r.npy")
    np.save(xs, np.zeros([1], np.float32))
    np.save(rs, r)
    params = {f"p{i}": v.astype(np.float32) for i, v in enumerate(case.operands)}

    def loss_and_step(values, lr):
        d = os.path.join(work, "params")
        os.makedirs(d, exist_ok=True)
        for n, v in values.items():
            np.save(os.path.join(d, n + ".npy"), v)
        out_dir = os.path.join(work, "after")
        text = run([args.nnrun, plan, "--load-parameters", d, "--train", "1", "--features", xs,
                    "--labels", rs, "--lr", str(lr), "--dump-parameters", out_dir])
        loss = float(text.split()[3])
        return loss, {n: np.load(os.path.join(out_dir, n + ".npy")) for n in values}

    _, after = loss_and_step(params, 1.0)
    # Frozen parameters get no gradient (a train step may still update them, as batch_norm does
    # its running statistics): the check covers the trainable ones.
    trained = [f"p{i}" for i in range(len(case.operands)) if i not in case.frozen]
    grads = {n: params[n].astype(np.float64) - after[n] for n in trained}
    worst = 0.0
    for _ in range(DIRECTIONS):
        v = {n: rng.standard_normal(params[n].shape) for n in trained}
        norm = np.sqrt(sum((d ** 2).sum() for d in v.values()))
        v = {n: d / norm for n, d in v.items()}
        plus, _ = loss_and_step({**params, **{n: (params[n] + EPS * v[n]).astype(np.float32)
                                              for n in trained}}, 0.0)
        minus, _ = loss_and_step({**params, **{n: (params[n] - EPS * v[n]).astype(np.float32)
                                               for n in trained}}, 0.0)
        fd = (plus - minus) / (2 * EPS)
        analytic = sum((grads[n] * v[n]).sum() for n in trained)
        err = abs(fd - analytic) / (2e-2 * max(abs(analytic), abs(fd)) + 2e-4)
        worst = max(worst, err) if np.isfinite(err) else np.inf  # max() would drop a NaN
    ok = worst <= 1.0
    print(f"{'PASS' if ok else 'FAIL'} {case.name}: worst error / tolerance = {worst:.3f}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnc", required=True)
    ap.add_argument("--nnrun", required=True)
    ap.add_argument("--only", help="comma-separated case names (default: all)")
    ap.add_argument("work")
    args = ap.parse_args()
    rng = np.random.default_rng(3)
    failures = 0
    all_cases = cases(rng)
    if args.only:
        all_cases = [c for c in all_cases if c.name in args.only.split(",")]
    for case in all_cases:
        try:
            failures += not check(case, args, rng)
        except RuntimeError as e:
            failures += 1
            print(f"FAIL {case.name}: {e}")
    print(f"all {len(all_cases)} gradient checks passed" if failures == 0
          else f"{failures} of {len(all_cases)} gradient checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
