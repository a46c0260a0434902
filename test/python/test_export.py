# Plan.export_onnx: the trained model as ONNX, run by ONNX Runtime (the venv
# scripts/onnxruntime-venv.sh makes in the build directory) to Plan.predict's outputs. And the
# whole loop: a PyTorch module in (from_torch), trained by nnc, deployed as ONNX.
import os
import subprocess

import numpy
import pytest

import nnc

from conftest import BUILD
from test_nnc import ADAMW, small_mlp

ORT_PYTHON = os.path.join(BUILD, "onnxruntime-venv", "bin", "python")

RUN_ORT = """
import sys, numpy, onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = numpy.load(sys.argv[2])
numpy.save(sys.argv[3], session.run(None, {session.get_inputs()[0].name: x})[0])
"""


def onnxruntime_outputs(model, x, tmp_path):
    """What ONNX Runtime computes for `x` with the exported `model`."""
    if not os.path.exists(ORT_PYTHON) or subprocess.run(
            [ORT_PYTHON, "-c", "import onnxruntime"], capture_output=True).returncode != 0:
        pytest.skip(f"no onnxruntime in {ORT_PYTHON} (scripts/onnxruntime-venv.sh installs it)")
    numpy.save(tmp_path / "x.npy", x)
    subprocess.run([ORT_PYTHON, "-c", RUN_ORT, str(model), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True)
    return numpy.load(tmp_path / "y.npy")


def test_export_onnx_runs_in_onnxruntime_as_predict(tmp_path, fixture_data):
    features, labels = fixture_data
    plan = nnc.compile(small_mlp(), **ADAMW)
    plan.fit((features, labels), epochs=2, normalize="0.5,2", progress="none")
    plan.export_onnx(tmp_path / "mlp.onnx")
    x = features[:21]  # not a whole batch of 16: the ONNX batch is free
    # fp32 both, different GEMM kernels: within 1e-5 (as nnrun --predict, test/export).
    numpy.testing.assert_allclose(onnxruntime_outputs(tmp_path / "mlp.onnx", x, tmp_path),
                                  plan.predict(x), rtol=1e-5, atol=1e-5)


def test_export_onnx_errors(tmp_path):
    plan = nnc.compile(small_mlp(), **ADAMW)
    with pytest.raises(nnc.Error, match=r"no/such/dir/mlp.onnx: cannot write"):
        plan.export_onnx(tmp_path / "no" / "such" / "dir" / "mlp.onnx")
    # An output that needs an op with no ONNX form (here the loss) is named with its node.
    m = nnc.Model("loss_out")
    x = m.input("x", [4, 3])
    y = m.input("y", [4], dtype="i64", role="labels")
    loss = m.cross_entropy(nnc.layers.Linear(m, "fc", 3, 2)(x), y, name="loss")
    m.set_loss(loss)
    m.add_output(loss)
    plan = nnc.compile(m, optimizer={"kind": "sgd", "learning_rate": 0.1})
    with pytest.raises(nnc.Error, match=r"loss.onnx: node 'loss': op 'cross_entropy' has no "
                                        r"ONNX export$"):
        plan.export_onnx(tmp_path / "loss.onnx")
    assert not (tmp_path / "loss.onnx").exists()


def test_pytorch_in_nnc_trains_onnx_out(tmp_path):
    torch = pytest.importorskip("torch", reason="from_torch needs PyTorch (python3-torch)")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 4 * 4, 3))
    rng = numpy.random.RandomState(0)
    x = rng.rand(64, 1, 8, 8).astype(numpy.float32)
    y = rng.randint(0, 3, 64).astype(numpy.int64)
    model = nnc.from_torch(module, torch.from_numpy(x[:16]), loss="cross-entropy",
                           optimizer={"kind": "adam", "learning_rate": 1e-2})
    plan = nnc.compile(model)
    plan.fit((x, y), epochs=3, normalize="0.5,0.3", progress="none")
    plan.export_onnx(tmp_path / "cnn.onnx")
    numpy.testing.assert_allclose(onnxruntime_outputs(tmp_path / "cnn.onnx", x[:20], tmp_path),
                                  plan.predict(x[:20]), rtol=1e-5, atol=1e-5)
