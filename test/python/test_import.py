# Models from elsewhere: nnc.import_onnx (the committed PyTorch exports of test/onnx) and
# nnc.from_torch (a module exported on the fly), compiled and trained from Python, checked
# against PyTorch's own training of the same weights.
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # PyTorch's pools on 2 shared cores

import numpy
import pytest

import nnc

from conftest import SOURCE

ONNX = os.path.join(SOURCE, "test", "onnx")


def test_import_onnx_compiles_as_the_cli_does(tmp_path, tools):
    import subprocess
    model = nnc.import_onnx(os.path.join(ONNX, "mlp", "model.onnx"), batch_size=8,
                            loss="cross-entropy", optimizer={"kind": "sgd", "learning_rate": 0.1})
    assert model.name == "model"
    plan = nnc.compile(model)
    subprocess.run([tools["nnc"], "compile", os.path.join(ONNX, "mlp", "model.onnx"),
                    "--batch-size", "8", "--loss", "cross-entropy", "--optimizer", "sgd",
                    "--lr", "0.1", "-o", str(tmp_path / "model.plan")],
                   check=True, capture_output=True)
    assert plan.bytes() == (tmp_path / "model.plan").read_bytes()
    # What import_onnx returns saves as a model.pb that nnc compiles the same.
    model.save(tmp_path / "imported.pb")
    assert nnc.compile(str(tmp_path / "imported.pb")).bytes() == plan.bytes()


def test_import_onnx_errors_name_the_file(tmp_path):
    with pytest.raises(nnc.Error, match=r"^nnc: error: .*missing\.onnx: "):
        nnc.import_onnx(tmp_path / "missing.onnx")
    with pytest.raises(nnc.Error, match=r"--loss hinge is not a loss"):
        nnc.import_onnx(os.path.join(ONNX, "mlp", "model.onnx"), loss="hinge")
    with pytest.raises(nnc.Error, match=r"TrainingSpec has no field 'optimiser'"):
        nnc.import_onnx(os.path.join(ONNX, "mlp", "model.onnx"), batch_size=8,
                        optimiser={"kind": "sgd"})


def test_from_torch_trains_as_pytorch_does():
    """A PyTorch MLP through from_torch: nnc's SGD steps give PyTorch's losses on the same
    weights and data, and the trained plan predicts what the trained module computes."""
    torch = pytest.importorskip("torch", reason="from_torch needs PyTorch (python3-torch)")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 16), torch.nn.Tanh(),
                                 torch.nn.Linear(16, 4))
    rng = numpy.random.RandomState(3)
    x = rng.randn(16, 12).astype(numpy.float32)
    y = rng.randint(0, 4, 16).astype(numpy.int64)

    model = nnc.from_torch(module, torch.from_numpy(x), name="torch_mlp", loss="cross-entropy")
    plan = nnc.compile(model, optimizer={"kind": "sgd", "learning_rate": 0.1}, seed=1)
    # Before any training the plan computes the module's forward.
    with torch.no_grad():
        numpy.testing.assert_allclose(plan.predict(x), module(torch.from_numpy(x)).numpy(),
                                      rtol=1e-5, atol=1e-6)

    # One batch of all 16 rows: each step sees every row (in fit's shuffled order, which the
    # mean loss and its gradient do not depend on). normalize="none": the raw features.
    losses = []

    class Losses(nnc.Callback):
        def on_step_end(self, metrics):
            losses.append(metrics["loss"])

    plan.fit((x, y), epochs=4, callbacks=[Losses()], normalize="none", progress="none")

    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    torch_losses = []
    for _ in range(4):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        torch_losses.append(loss.item())
    # fp32 both, different summation orders: agreement to about 1e-6 relative per step, which
    # four steps of SGD keep well inside 1e-5.
    assert losses[0] == pytest.approx(torch_losses[0], rel=1e-6)
    numpy.testing.assert_allclose(losses, torch_losses, rtol=1e-5)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        numpy.testing.assert_allclose(plan.predict(x), module(torch.from_numpy(x)).numpy(),
                                      rtol=1e-4, atol=1e-5)


def test_predict_takes_one_array_per_input(tmp_path, tools):
    """A plan compiled with --inference from a two-input ONNX graph: Plan.predict takes a tuple,
    one array per input in predict's order, any number of rows."""
    import subprocess
    from onnx import TensorProto, helper, save
    value = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "y"], ["p"], name="mul"),
                               helper.make_node("Sub", ["p", "y"], ["z"], name="sub")],
                              "two", [value("x"), value("y")], [value("z")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
         str(tmp_path / "two.onnx"))
    subprocess.run([tools["nnc"], "compile", str(tmp_path / "two.onnx"), "--inference",
                    "--batch-size", "2", "-o", str(tmp_path / "two.plan")],
                   check=True, capture_output=True)
    plan = nnc.Plan.load(str(tmp_path / "two.plan"))
    rng = numpy.random.default_rng(0)
    x, y = (rng.standard_normal((5, 3), dtype=numpy.float32) for _ in range(2))
    # x * y - y in fp32 both ways: equal up to the rounding of two operations.
    numpy.testing.assert_allclose(plan.predict((x, y)), x * y - y, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"predict takes 2 inputs \(x, y\): pass a tuple"):
        plan.predict(x)
    with pytest.raises(ValueError, match="4 rows, but predict input 'x' has 5"):
        plan.predict((x, y[:4]))


def test_predict_returns_one_array_per_output(tmp_path, tools):
    """A plan compiled with --inference from a two-output ONNX graph: Plan.predict returns a
    tuple, one array per output in predict's order, each over every row."""
    import subprocess
    from onnx import TensorProto, helper, save
    value = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["p"], name="square"),
                               helper.make_node("Relu", ["x"], ["r"], name="relu")],
                              "two_outputs", [value("x")], [value("p"), value("r")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
         str(tmp_path / "two.onnx"))
    subprocess.run([tools["nnc"], "compile", str(tmp_path / "two.onnx"), "--inference",
                    "--batch-size", "2", "-o", str(tmp_path / "two.plan")],
                   check=True, capture_output=True)
    plan = nnc.Plan.load(str(tmp_path / "two.plan"))
    x = numpy.random.default_rng(0).standard_normal((5, 3), dtype=numpy.float32)
    outputs = plan.predict(x)
    assert isinstance(outputs, tuple) and len(outputs) == 2
    # x * x and max(x, 0): exact in fp32 both ways.
    numpy.testing.assert_array_equal(outputs[0], x * x)
    numpy.testing.assert_array_equal(outputs[1], numpy.maximum(x, 0))
