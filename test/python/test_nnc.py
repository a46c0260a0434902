# The nnc Python package end to end: building models with the frontend's layers, compiling in
# process (plans byte-identical to the CLI's and to the C++ frontend's), fitting with callbacks,
# predicting, parameters and checkpoints, and the errors bad input raises.
import os
import re
import subprocess

import numpy
import pytest

import nnc
from nnc import layers

ADAMW = {"optimizer": {"kind": "adamw", "learning_rate": 3e-3, "weight_decay": 0.01},
         "grad_clip_norm": 1.0, "seed": 7}


def small_mlp(name="mlp", batch=16):
    """64-32-32-10 MLP in the shape of test/train/mlp_adamw_clip."""
    m = nnc.Model(name)
    x = m.input("x", [batch, 64])
    y = m.input("y", [batch], dtype="i64", role="labels")
    fc1, fc2, fc3 = (layers.Linear(m, "fc1", 64, 32), layers.Linear(m, "fc2", 32, 32),
                     layers.Linear(m, "fc3", 32, 10))
    h = layers.ReLU(m, "relu2")(fc2(layers.ReLU(m, "relu1")(fc1(x))))
    logits = fc3(h)
    m.set_loss(m.cross_entropy(logits, y, label_smoothing=0.1, name="loss"))
    m.add_output(logits)
    return m


class Recorder(nnc.Callback):
    def __init__(self):
        self.steps, self.epochs, self.evals = [], [], []

    def on_step_end(self, metrics):
        self.steps.append(metrics)

    def on_epoch_end(self, metrics):
        self.epochs.append(metrics)

    def on_eval_end(self, metrics):
        self.evals.append(metrics)


def test_layers_build_a_model():
    m = small_mlp()
    assert m.ok
    assert re.match(r"model 'mlp': \d+ nodes, 6 parameters \(3466 values\)", m.summary())
    x = m.input("extra", [2, 8])
    assert (x.name, x.shape, x.dtype) == ("extra", [2, 8], "f32")


def test_frontend_errors_raise_with_the_layer_message():
    m = nnc.Model("bad")
    x = m.input("x", [4, 300])
    with pytest.raises(nnc.Error, match=r"layer 'fc' \(Linear\): input has 300 features, "
                                        r"expected 256"):
        layers.Linear(m, "fc", 256, 10)(x)


def test_compile_matches_the_cli_byte_for_byte(tmp_path, tools):
    m = small_mlp()
    plan = nnc.compile(m, **ADAMW)
    model_file = tmp_path / "mlp.pb"
    nnc._nnc.write_model(m, str(model_file), ADAMW)
    subprocess.run([tools["nnc"], "compile", str(model_file), "-o", str(tmp_path / "mlp.plan")],
                   check=True, capture_output=True)
    assert plan.bytes() == (tmp_path / "mlp.plan").read_bytes()
    # A path compiles as given; the Plan reads back from a file too.
    assert nnc.compile(str(model_file)).bytes() == plan.bytes()
    assert nnc.Plan.load(tmp_path / "mlp.plan").bytes() == plan.bytes()


def test_python_mlp_has_the_cpp_example_plan(tmp_path, tools):
    """The Fashion-MNIST MLP of examples/mlp.cpp, written in Python: the same plan bytes."""
    cpp_model = tmp_path / "cpp.pb"
    subprocess.run([tools["nnc-example-mlp"], str(cpp_model)], check=True, capture_output=True)
    m = nnc.Model("fashion_mnist_mlp")
    image = m.input("image", [128, 784], dtype="f32", role="features")
    label = m.input("label", [128], dtype="i64", role="labels")
    fc1, fc2, fc3 = (layers.Linear(m, "fc1", 784, 256), layers.Linear(m, "fc2", 256, 256),
                     layers.Linear(m, "fc3", 256, 10))
    relu1, relu2 = layers.ReLU(m, "relu1"), layers.ReLU(m, "relu2")
    drop1, drop2 = layers.Dropout(m, "drop1", 0.2), layers.Dropout(m, "drop2", 0.2)
    h = drop2(relu2(fc2(drop1(relu1(fc1(image))))))
    logits = fc3(h)
    m.set_loss(m.cross_entropy(logits, label, label_smoothing=0.1, reduction="mean", name="loss"))
    m.add_output(logits)
    recipe = {  # examples/Common.h: useFashionMnistRecipe
        "optimizer": {"kind": "adamw", "learning_rate": 1e-3, "weight_decay": 0.01},
        "grad_clip_norm": 1.0,
        "lr_schedule": {"kind": "warmup_cosine", "warmup_epochs": 1, "min_lr": 1e-5},
        "epochs": 10,
        "metrics": [{"kind": k, "output": logits.name}
                    for k in ("accuracy", "per_class_accuracy", "confusion_matrix")],
    }
    assert nnc.compile(m, **recipe).bytes() == nnc.compile(str(cpp_model)).bytes()


def test_fit_trains_to_the_losses_of_nnrun(tmp_path, tools, fixture_data):
    features, labels = fixture_data
    m = small_mlp()
    plan = nnc.compile(m, **ADAMW)
    recorder = Recorder()
    plan.fit((features, labels), epochs=3, callbacks=[recorder], seed=5, progress="none")
    python_losses = [s["loss"] for s in recorder.steps]
    assert len(python_losses) == 3 * 5 and [s["step"] for s in recorder.steps] == list(range(1, 16))
    assert [e["epoch"] for e in recorder.epochs] == [1, 2, 3]
    assert recorder.epochs[-1]["train_loss"] < recorder.epochs[0]["train_loss"]

    # The same model through the command line: nnc compile, nnrun --fit.
    numpy.save(tmp_path / "x.npy", features)
    numpy.save(tmp_path / "y.npy", labels)
    nnc._nnc.write_model(m, str(tmp_path / "mlp.pb"), ADAMW)
    subprocess.run([tools["nnc"], "compile", str(tmp_path / "mlp.pb"), "-o",
                    str(tmp_path / "mlp.plan")], check=True, capture_output=True)
    run = subprocess.run([tools["nnrun"], str(tmp_path / "mlp.plan"), "--fit", "--data",
                          f"{tmp_path / 'x.npy'},{tmp_path / 'y.npy'}", "--epochs", "3",
                          "--seed", "5", "--progress", "none", "--log-steps"],
                         check=True, capture_output=True, text=True)
    cli_losses = [float(x) for x in re.findall(r"^step \d+ epoch \d+ lr \S+ loss (\S+)",
                                               run.stdout, re.M)]
    assert len(cli_losses) == 15
    # Same plan, data, seed and flags: the same arithmetic, up to printing's 9 digits.
    numpy.testing.assert_allclose(python_losses, cli_losses, rtol=1e-6)


def test_predict_parameters_and_checkpoints(tmp_path, fixture_data):
    features, labels = fixture_data
    plan = nnc.compile(small_mlp(), **ADAMW)
    plan.fit((features, labels), epochs=2, progress="none")
    out = plan.predict(features[:21])  # any number of rows: batches of 16, the last padded
    assert out.shape == (21, 10) and out.dtype == numpy.float32
    numpy.testing.assert_array_equal(out[:16], plan.predict(features[:16]))

    params = plan.parameters()
    assert params["fc1.weight"].shape == (32, 64)
    plan.save_checkpoint(str(tmp_path / "trained.ckpt"))

    fresh = nnc.compile(small_mlp(), **ADAMW)
    assert not numpy.array_equal(fresh.predict(features[:16]), out[:16])
    fresh.load_checkpoint(str(tmp_path / "trained.ckpt"))
    numpy.testing.assert_array_equal(fresh.predict(features[:21]), out)

    other = nnc.compile(small_mlp(), **ADAMW)
    other.load_parameters(params)
    numpy.testing.assert_array_equal(other.predict(features[:21]), out)


def test_compile_errors_carry_the_cli_message(tmp_path, tools):
    m = small_mlp()
    with pytest.raises(nnc.Error, match=r"^nnc: error: .*mlp\.pb: .*") as python_error:
        nnc.compile(m, optimizer={"kind": "adamw", "learning_rate": -1.0})
    nnc._nnc.write_model(m, str(tmp_path / "mlp.pb"),
                         {"optimizer": {"kind": "adamw", "learning_rate": -1.0}})
    cli = subprocess.run([tools["nnc"], "compile", str(tmp_path / "mlp.pb"), "-o",
                          str(tmp_path / "mlp.plan")], capture_output=True, text=True)
    assert cli.returncode == 1
    # The same line, but for the file's directory.
    strip = lambda line: re.sub(r"/\S*/mlp\.pb", "mlp.pb", line)
    assert strip(str(python_error.value)) == strip(cli.stderr.strip())

    with pytest.raises(nnc.Error, match=r"nnc: error: .*missing\.pb"):
        nnc.compile(str(tmp_path / "missing.pb"))
    with pytest.raises(nnc.Error, match=r"TrainingSpec has no field 'epochz'"):
        nnc.compile(m, epochz=3)
    with pytest.raises(nnc.Error, match=r"Precision.kind: no value 'fp8'"):
        nnc.compile(m, precision="fp8")


def test_bad_input_raises_value_error(fixture_data):
    features, labels = fixture_data
    plan = nnc.compile(small_mlp(), **ADAMW)
    with pytest.raises(ValueError, match=r"predict input 'x': expected shape \[16,64\] f32, "
                                         r"got \[16,20\] f32 \(or any number of rows\)"):
        plan.predict(numpy.zeros((16, 20), numpy.float32))
    with pytest.raises(ValueError, match=r"predict input 'x': expected \[16,64\] f32 .*float64"):
        plan.predict(numpy.zeros((16, 64)))
    with pytest.raises(ValueError, match=r"predict input 'x': .*got \[\] f32"):
        plan.predict(numpy.float32(1.0))
    with pytest.raises(ValueError, match=r"fit data features.npy: .*\[64\] \(64 values\)"):
        plan.fit((features[:, :20], labels), epochs=1, progress="none")
    with pytest.raises(ValueError, match=r"fit data features.npy: unsupported dtype '<f8'"):
        plan.fit((features.astype(numpy.float64), labels), epochs=1, progress="none")
    with pytest.raises(ValueError, match=r"parameter 'fc1.weight': expected shape \[32,64\] f32"):
        plan.load_parameters({**plan.parameters(), "fc1.weight": numpy.zeros((3, 3), numpy.float32)})
    with pytest.raises(ValueError, match=r"parameter 'fc1.bias' is missing \(expected \[32\] f32\)"):
        plan.load_parameters({"fc1.weight": plan.parameters()["fc1.weight"]})
    with pytest.raises(nnc.Error, match=r"--no-such-flag: not an option of nnrun --fit"):
        plan.fit((features, labels), no_such_flag=1)
    with pytest.raises(nnc.Error, match=r"nowhere.ckpt"):
        plan.load_checkpoint("/nonexistent/nowhere.ckpt")
    # After all of that the plan still works.
    assert plan.predict(features[:3]).shape == (3, 10)


def test_a_callback_exception_stops_fit(fixture_data):
    features, labels = fixture_data
    plan = nnc.compile(small_mlp(), **ADAMW)

    class Stop(nnc.Callback):
        def on_step_end(self, metrics):
            if metrics["step"] == 2:
                raise RuntimeError("enough at step 2")

    with pytest.raises(RuntimeError, match="enough at step 2"):
        plan.fit((features, labels), epochs=3, callbacks=[Stop()], progress="none")
