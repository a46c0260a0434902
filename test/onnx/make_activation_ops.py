"""Writes the ONNX graphs of activation_ops.test into DIR with onnx.helper, their inputs, and the
outputs NumPy computes from ONNX's op definitions.

usage: make_activation_ops.py DIR
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


# Activations and sums on x (4, 5), reduced over axis 1: (4, 1).
x = rng.standard_normal((4, 5)).astype(np.float32) * 2
slope = rng.uniform(0.1, 0.5, (5,)).astype(np.float32)
nodes = [
    helper.make_node("Neg", ["x"], ["neg_out"], name="neg"),
    helper.make_node("Abs", ["x"], ["abs_out"], name="abs"),
    helper.make_node("Elu", ["x"], ["elu_out"], name="elu", alpha=0.7),
    helper.make_node("Selu", ["x"], ["selu_out"], name="selu"),
    helper.make_node("PRelu", ["x", "slope"], ["prelu_out"], name="prelu"),
    helper.make_node("Sum", ["neg_out", "abs_out", "elu_out", "selu_out", "prelu_out"], ["s"],
                     name="sum"),
    helper.make_node("ReduceSum", ["s", "axes"], ["y"], name="reduce", keepdims=1),
]
inits = [numpy_helper.from_array(slope, "slope"),
         numpy_helper.from_array(np.array([1], np.int64), "axes")]
save(model(nodes, [info("x", [4, 5])], [info("y", [4, 1])], inits),
     os.path.join(out, "activations.onnx"))
elu = np.where(x > 0, x, 0.7 * (np.exp(x) - 1))
alpha, gamma = 1.67326319217681884765625, 1.05070102214813232421875
selu = gamma * np.where(x > 0, x, alpha * (np.exp(x) - 1))
prelu = np.where(x > 0, x, slope * x)
expected = (-x + np.abs(x) + elu + selu + prelu).sum(1, keepdims=True)
np.save(os.path.join(out, "x.npy"), x)
np.save(os.path.join(out, "expected.npy"), expected.astype(np.float32))

# Opset 6: Pad (pads attribute) then Gemm with broadcast=1 and Add with broadcast=1.
x6 = rng.standard_normal((2, 3)).astype(np.float32)
w = rng.standard_normal((4, 5)).astype(np.float32)
c = rng.standard_normal((4,)).astype(np.float32)
bias = rng.standard_normal((4,)).astype(np.float32)
nodes = [
    helper.make_node("Pad", ["x"], ["p"], name="pad", pads=[0, 1, 0, 1]),
    helper.make_node("Gemm", ["p", "w", "c"], ["g"], name="gemm", transB=1, broadcast=1),
    helper.make_node("Add", ["g", "bias"], ["y"], name="add", broadcast=1),
]
inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c"),
         numpy_helper.from_array(bias, "bias")]
save(model(nodes, [info("x", [2, 3])], [info("y", [2, 4])], inits, opset=6),
     os.path.join(out, "opset6.onnx"))
padded = np.pad(x6, ((0, 0), (1, 1)))
np.save(os.path.join(out, "x6.npy"), x6)
np.save(os.path.join(out, "expected6.npy"), (padded @ w.T + c + bias).astype(np.float32))

# Bad inputs.
save(model([helper.make_node("PRelu", ["x", "slope"], ["y"], name="prelu")], [info("x", [4, 5])],
           [info("y", [4, 5])], [numpy_helper.from_array(slope[:3], "slope")]),
     os.path.join(out, "bad_prelu.onnx"))
save(model([helper.make_node("Pad", ["x"], ["y"], name="pad", pads=[0, 1, 0, 1], mode="wrap")],
           [info("x", [2, 3])], [info("y", [2, 5])], opset=6),
     os.path.join(out, "bad_pad.onnx"))
