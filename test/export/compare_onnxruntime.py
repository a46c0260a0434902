#!/usr/bin/python3
"""Runs an exported model with ONNX Runtime on INPUT.npy and compares its first output with
EXPECTED.npy (what nnrun --predict wrote for the same input): |ort - nnrun| <= 1e-5 + 1e-5 |nnrun|
elementwise. Both compute in fp32 with different summation orders and kernels (GEMM blocking,
convolution algorithms), which for these small models stays near 1e-6.

usage: compare_onnxruntime.py MODEL.onnx INPUT.npy EXPECTED.npy
"""
import sys

import numpy as np
import onnxruntime

model, inputs, expected = sys.argv[1:4]
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
x = np.load(inputs)
got = session.run(None, {session.get_inputs()[0].name: x})[0]
want = np.load(expected)
if got.shape != want.shape:
    sys.exit(f"shape: onnxruntime {got.shape}, nnrun {want.shape}")
error = np.max(np.abs(got - want) - 1e-5 * np.abs(want))
print(f"{got.shape[0]} rows, max |ort - nnrun| {np.max(np.abs(got - want)):.2g}:",
      "within 1e-5" if error <= 1e-5 else "DIFFERENT")
# Predictions: the same class for every row.
print("argmax", "equal" if np.array_equal(got.argmax(-1), want.argmax(-1)) else "DIFFERENT")
