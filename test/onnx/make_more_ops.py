"""Writes the ONNX graphs of more_ops.test into DIR with onnx.helper, their input, and the output
NumPy computes from ONNX's op definitions (ConvTranspose as its scatter-add definition).

usage: make_more_ops.py DIR
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

out = sys.argv[1]
rng = np.random.default_rng(0)
F = TensorProto.FLOAT


def model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def info(name, shape):
    return helper.make_tensor_value_info(name, F, shape)


def conv_transpose(x, w, b, stride, pads, extra):
    """ONNX ConvTranspose (group 1, dilation 1) by its definition: each input pixel adds its
    value times the kernel into the output at stride steps, then pads are cropped."""
    n, c, h, wd = x.shape
    m, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    full = np.zeros((n, m, (h - 1) * stride[0] + kh + extra[0],
                     (wd - 1) * stride[1] + kw + extra[1]))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw] += \
                np.einsum("nc,cmxy->nmxy", x[:, :, i, j], w)
    full = full[:, :, pads[0]:full.shape[2] - pads[2], pads[1]:full.shape[3] - pads[3]]
    return full + b.reshape(1, m, 1, 1)


# Elementwise and shape ops on x (2, 3, 4, 5): Softplus (large |x| too), Sign (zeros too),
# Shrink, Max of three broadcasting inputs, Min, Tile, Pad reflect/edge/fill, Softmax over a
# flattened axis (opset 11 semantics are checked in opset11.onnx), InstanceNormalization,
# SplitToSequence/SequenceAt, ConvTranspose; every output summed into one.
x = (rng.standard_normal((2, 3, 4, 5)) * 3).astype(np.float32)
x[0, 0, 0, :3] = [0.0, 40.0, -40.0]
row = rng.standard_normal((5,)).astype(np.float32)
col = rng.standard_normal((3, 1, 1)).astype(np.float32)
scale, bias = rng.uniform(0.5, 1.5, 3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
wb = rng.standard_normal(2).astype(np.float32)
nodes = [
    helper.make_node("Softplus", ["x"], ["softplus"], name="softplus"),
    helper.make_node("Sign", ["x"], ["sign"], name="sign"),
    helper.make_node("Shrink", ["x"], ["shrink"], name="shrink", lambd=1.0, bias=0.5),
    helper.make_node("Max", ["x", "row", "col"], ["max"], name="max"),
    helper.make_node("Min", ["x", "row"], ["min"], name="min"),
    helper.make_node("Tile", ["x", "repeats"], ["tiled"], name="tile"),
    helper.make_node("Pad", ["x", "reflect_pads"], ["reflected"], name="reflect", mode="reflect"),
    helper.make_node("Pad", ["x", "edge_pads"], ["edged"], name="edge", mode="edge"),
    helper.make_node("Pad", ["x", "fill_pads", "fill"], ["filled"], name="fill"),
    helper.make_node("InstanceNormalization", ["x", "scale", "bias"], ["instnorm"],
                     name="instance_norm", epsilon=1e-3),
    helper.make_node("SplitToSequence", ["x", "chunk"], ["parts"], name="split", axis=3),
    helper.make_node("SequenceAt", ["parts", "last"], ["part"], name="part"),
    helper.make_node("ConvTranspose", ["x", "w", "wb"], ["deconv"], name="deconv",
                     strides=[2, 2], pads=[1, 0, 0, 1], output_padding=[1, 0]),
]
inits = [numpy_helper.from_array(row, "row"), numpy_helper.from_array(col, "col"),
         numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(bias, "bias"),
         numpy_helper.from_array(w, "w"), numpy_helper.from_array(wb, "wb"),
         numpy_helper.from_array(np.array([1, 1, 2, 1], np.int64), "repeats"),
         numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "reflect_pads"),
         numpy_helper.from_array(np.array([0, 1, 0, 2, 0, 0, 3, 0], np.int64), "edge_pads"),
         numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 0, 1], np.int64), "fill_pads"),
         numpy_helper.from_array(np.array(-2.5, np.float32), "fill"),
         numpy_helper.from_array(np.array(2, np.int64), "chunk"),
         numpy_helper.from_array(np.array(-1, np.int64), "last")]
outputs = ["softplus", "sign", "shrink", "max", "min", "tiled", "reflected", "edged", "filled",
           "instnorm", "part", "deconv"]
expected = [
    np.logaddexp(0, x.astype(np.float64)),
    np.sign(x),
    np.where(x > 1.0, x - 0.5, np.where(x < -1.0, x + 0.5, 0)),
    np.maximum(np.maximum(x, row), col),
    np.minimum(x, row),
    np.tile(x, (1, 1, 2, 1)),
    np.pad(x, [(0, 0), (0, 0), (1, 2), (2, 1)], mode="reflect"),
    np.pad(x, [(0, 0), (1, 0), (0, 3), (2, 0)], mode="edge"),
    np.pad(x, [(0, 0), (0, 0), (1, 0), (1, 1)], constant_values=-2.5),
    (x - x.mean((2, 3), keepdims=True)) / np.sqrt(x.var((2, 3), keepdims=True) + 1e-3)
    * scale.reshape(3, 1, 1) + bias.reshape(3, 1, 1),
    x[:, :, :, 4:5],
    conv_transpose(x.astype(np.float64), w, wb, (2, 2), (1, 0, 0, 1), (1, 0)),
]
save(model(nodes, [info("x", ["N", 3, 4, 5])], [info(o, None) for o in outputs], inits),
     os.path.join(out, "more.onnx"))
np.save(os.path.join(out, "x.npy"), x)
for name, value in zip(outputs, expected):
    np.save(os.path.join(out, f"expected_{name}.npy"), value.astype(np.float32))

# Opset 11: Softmax and LogSoftmax with axis 1 normalize x flattened to (2, 60).
save(model([helper.make_node("Softmax", ["x"], ["soft"], name="softmax", axis=1),
            helper.make_node("LogSoftmax", ["x"], ["logsoft"], name="log_softmax", axis=2)],
           [info("x", ["N", 3, 4, 5])], [info("soft", None), info("logsoft", None)], opset=11),
     os.path.join(out, "opset11.onnx"))
flat1 = x.reshape(2, 60).astype(np.float64)
soft = np.exp(flat1 - flat1.max(1, keepdims=True))
np.save(os.path.join(out, "expected_soft.npy"),
        (soft / soft.sum(1, keepdims=True)).reshape(x.shape).astype(np.float32))
flat2 = x.reshape(6, 20).astype(np.float64)
shifted = flat2 - flat2.max(1, keepdims=True)
np.save(os.path.join(out, "expected_logsoft.npy"),
        (shifted - np.log(np.exp(shifted).sum(1, keepdims=True))).reshape(x.shape)
        .astype(np.float32))

# Bad input: a reflect pad as wide as its dimension; ConvTranspose's output_shape; SequenceAt of
# a graph input.
save(model([helper.make_node("Pad", ["x", "pads"], ["y"], name="wide_reflect", mode="reflect")],
           [info("x", ["N", 3])], [info("y", None)],
           [numpy_helper.from_array(np.array([0, 3, 0, 0], np.int64), "pads")]),
     os.path.join(out, "bad_reflect.onnx"))
save(model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="deconv",
                             output_shape=[9, 11])],
           [info("x", ["N", 3, 4, 5])], [info("y", None)], [numpy_helper.from_array(w, "w")]),
     os.path.join(out, "bad_deconv.onnx"))
save(model([helper.make_node("SequenceAt", ["x", "zero"], ["y"], name="at")],
           [info("x", ["N", 3])], [info("y", None)],
           [numpy_helper.from_array(np.array(0, np.int64), "zero")]),
     os.path.join(out, "bad_sequence.onnx"))
