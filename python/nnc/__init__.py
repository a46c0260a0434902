"""nnc from Python: build a model with the frontend's layers, compile it to a plan, train it.

    import nnc
    from nnc import layers
    m = nnc.Model("mlp")
    x = m.input("image", [128, 784])
    y = m.input("label", [128], dtype="i64", role="labels")
    fc1, fc2 = layers.Linear(m, "fc1", 784, 256), layers.Linear(m, "fc2", 256, 10)
    logits = fc2(layers.ReLU(m, "relu")(fc1(x)))
    m.set_loss(m.cross_entropy(logits, y, name="loss"))
    m.add_output(logits)
    plan = nnc.compile(m, optimizer={"kind": "adamw", "learning_rate": 1e-3}, epochs=2)
    plan.fit((X, Y), val_fraction=0.1)       # the options of nnrun --fit
    probabilities = plan.predict(X[:10])
    plan.export_onnx("mlp.onnx")             # for ONNX Runtime and other inference engines

Models from elsewhere: nnc.import_onnx("model.onnx", loss="cross-entropy", ...) and
nnc.from_torch(module, example_inputs, loss="cross-entropy", ...) return what compile takes.

A thin layer over the C++ libraries (the _nnc module): the frontend, `nnc compile` run in
process, and the runtime's plan executor and trainer.
"""
import os
import sys
import tempfile

import numpy

from ._nnc import Error, Model, Tensor, layers  # noqa: F401
from . import _nnc

__all__ = ["Callback", "Error", "ImportedModel", "Model", "Plan", "Tensor", "compile",
           "from_torch", "import_onnx", "layers"]


class Callback:
    """Base of fit's callbacks: override the events you want. Each receives the metrics as a
    dict (step: step, epoch, loss, lr, grad_norm...; epoch: epoch, train_loss, val_loss,
    val_accuracy...; eval: split, loss, accuracy...)."""

    def on_step_end(self, metrics):
        pass

    def on_epoch_end(self, metrics):
        pass

    def on_eval_end(self, metrics):
        pass


class Plan(_nnc.Plan):
    """A compiled plan, prepared on a device and initialized."""

    @staticmethod
    def load(path, device="cpu"):
        """Reads a plan file that `nnc compile` wrote."""
        with open(path, "rb") as f:
            return Plan(f.read(), os.fspath(path), device)

    def export_onnx(self, path):
        """Writes the predict graph as ONNX (opset 17), as `nnrun --export-onnx` does: the
        current parameters (trained, or loaded) and the input normalization of the last fit
        or loaded checkpoint, the batch dimension left free. Raises nnc.Error for an op that
        has no ONNX form."""
        self._export_onnx(os.fspath(path))

    def fit(self, data, epochs=None, callbacks=(), **options):
        """Trains as `nnrun --fit` does. `data`: what --data takes (a path: an IDX directory,
        "X.npy,Y.npy", a .csv or .txt file) or a pair of arrays (features, labels). `options`
        are --fit's flags: val_fraction=0.1 is --val-fraction 0.1, log_steps=True is
        --log-steps."""
        options["epochs"] = epochs
        with tempfile.TemporaryDirectory(prefix="nnc-fit-") as tmp:
            if isinstance(data, (tuple, list)):
                if len(data) != 2:
                    raise ValueError("fit data: give (features, labels) or a path")
                names = []
                for name, array in zip(("features", "labels"), data):
                    names.append(os.path.join(tmp, name + ".npy"))
                    numpy.save(names[-1], numpy.asarray(array))
                source = ",".join(names)
            else:
                source = os.fspath(data)
            try:
                self._fit(source, options, list(callbacks))
            except Error as e:
                # Messages about the arrays name their temporary files: they are bad input.
                if str(e).startswith(tmp + os.sep):
                    raise ValueError("fit data " + str(e)[len(tmp + os.sep):]) from None
                raise


class ImportedModel:
    """A model read from a file by import_onnx or from_torch: an nnc.Model (model.proto),
    held serialized. nnc.compile accepts it; save() writes it as a model.pb."""

    def __init__(self, name, proto):
        self.name, self.proto = name, proto

    def save(self, path):
        _nnc.write_model(self.proto, os.fspath(path), {})

    def __repr__(self):
        return f"ImportedModel('{self.name}', {len(self.proto)} bytes)"


def import_onnx(path, batch_size=None, loss=None, label_smoothing=None, **spec):
    """Imports an ONNX file as `nnc import` / `nnc compile model.onnx` do. `batch_size`,
    `loss` ("cross-entropy" or "mse", added over the first output with a labels input) and
    `label_smoothing` are the flags of the same names; `spec` sets TrainingSpec fields as in
    nnc.compile. Returns an ImportedModel for nnc.compile. Raises nnc.Error with the
    importer's one-line message."""
    path = os.fspath(path)
    proto = _nnc.import_model(path, batch_size, loss or "", label_smoothing)
    name = os.path.splitext(os.path.basename(path))[0]
    if spec:
        with tempfile.TemporaryDirectory(prefix="nnc-import-") as tmp:
            model_file = os.path.join(tmp, name + ".pb")
            _nnc.write_model(proto, model_file, spec)
            with open(model_file, "rb") as f:
                proto = f.read()
    return ImportedModel(name, proto)


def from_torch(module, example_inputs, name=None, batch_size=None, opset=17, **flags):
    """A PyTorch module as an ImportedModel: exported with torch.onnx.export (TorchScript,
    batch as a dynamic axis, the module's parameters as its initial weights) to a temporary
    file, then read by import_onnx with `flags` (loss="cross-entropy", optimizer=...).
    `example_inputs`: a tensor or a tuple of them; their leading dimension is the batch size
    unless `batch_size` is given. Dropout is exported when the module is in training mode."""
    import torch  # only here: the rest of the package needs no PyTorch

    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    name = name or type(module).__name__.lower()
    inputs = ["x"] if len(example_inputs) == 1 else [f"x{i}" for i in range(len(example_inputs))]
    batch_axes = {n: {0: "batch"} for n in inputs + ["output"]}
    with tempfile.TemporaryDirectory(prefix="nnc-torch-") as tmp:
        path = os.path.join(tmp, name + ".onnx")
        torch.onnx.export(module, example_inputs, path, opset_version=opset,
                          input_names=inputs, output_names=["output"],
                          dynamic_axes=batch_axes, training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=not module.training)
        return import_onnx(path, batch_size=batch_size or example_inputs[0].shape[0], **flags)


def compile(model_or_path, target="cpu", precision=None, **spec):
    """Compiles a Model, an ImportedModel (import_onnx, from_torch) or a model.pb / .pbtxt file
    as `nnc compile --target TARGET` does and returns the Plan, ready to run on that target. `precision` ("fp32", "bf16", "fp16") and
    `spec` set fields of the model's TrainingSpec (model.proto): epochs=10,
    optimizer={"kind": "adamw", "learning_rate": 1e-3}. Raises nnc.Error with the compiler's
    one-line message."""
    if precision is not None:
        spec["precision"] = dict(spec.get("precision", {}), kind=precision)
    if isinstance(model_or_path, Model):
        source, stem = model_or_path, model_or_path.name or "model"
    elif isinstance(model_or_path, ImportedModel):
        source, stem = model_or_path.proto, model_or_path.name
    else:
        source = os.fspath(model_or_path)
        stem = os.path.splitext(os.path.basename(source))[0]
    with tempfile.TemporaryDirectory(prefix="nnc-compile-") as tmp:
        plan_file = os.path.join(tmp, stem + ".plan")
        if isinstance(source, str) and not spec:
            model_file = source  # compiled as given, so that messages name the user's file
        else:
            model_file = os.path.join(tmp, stem + ".pb")
            _nnc.write_model(source, model_file, spec)
        code, messages = _nnc.compile_file(model_file, plan_file, target)
        if code != 0:
            lines = [line for line in messages.splitlines() if line.startswith("nnc: error: ")]
            raise Error(lines[0] if lines else messages.strip())
        sys.stderr.write(messages)
        with open(plan_file, "rb") as f:
            return Plan(f.read(), stem + ".plan", target)
