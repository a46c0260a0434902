#!/usr/bin/python3
"""Generates the ONNX importer's fixtures under test/onnx/ with Debian's PyTorch 1.13 and onnx 1.12.

Three models exported by torch.onnx.export (the TorchScript exporter, batch as a dynamic axis,
exported at batch 2 and compiled at another batch by the tests), each with a few batches
(features.npy, labels.npy), the flags nnc compiles it with (flags.txt), PyTorch's losses over
20 training steps from the exported weights (losses.txt), the parameters after them (final/,
named as the ONNX initializers) and PyTorch's forward of the first batch with the initial
weights (predict.npy):
  mlp       nn.Sequential Linear/ReLU/Linear/Tanh/Linear, opset 13, SGD
  cnn       Conv/ReLU/MaxPool/Conv/ReLU/AvgPool/Flatten/Linear, opset 17, AdamW + weight decay
  gelu_ext  x.view(x.size(0), -1) (a Shape/Gather/Unsqueeze/Concat chain), Linear, GELU (Erf
            written out), Linear, LogSoftmax, opset 15, SGD + momentum; weights in an external
            model.onnx.data file
  batchnorm Conv/BatchNorm2d/ReLU twice, Linear/BatchNorm1d/ReLU/Linear, opset 15, exported in
            TrainingMode.TRAINING, SGD + momentum; the running statistics are checked too
            (final/), and so is the eval-mode prediction after training (predict_after.npy);
            batchnorm/dp holds the results of 2 data-parallel ranks (make_batchnorm_dp)
Plus one small graph per op mapping (ops/*.onnx, built with onnx.helper) and bad inputs
(bad/*.onnx) for the lit tests.

Only regenerating needs torch and onnx (apt install python3-torch python3-onnx); the tests use
the committed outputs.

usage: /usr/bin/python3 scripts/gen_onnx_fixtures.py
       .venv-bench/bin/python scripts/gen_onnx_fixtures.py --dynamo   (bench/setup_peers.sh; plus
           pip install onnx onnxscript): test/onnx/dynamo_* through the dynamo exporter
"""
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "onnx")
BATCH = 8      # the batch the tests compile with (--batch-size)
BATCHES = 4    # batches of data; training cycles through them
STEPS = 20


class Flatten2(torch.nn.Module):
    """x.view(x.size(0), -1): exported as Shape/Gather/Unsqueeze/Concat/Reshape."""

    def forward(self, x):
        return x.view(x.size(0), -1)


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
                               torch.nn.Tanh(), torch.nn.Linear(16, 5)), (20,)


def cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 2 * 2, 5)), (1, 8, 8)


def gelu_ext():
    return torch.nn.Sequential(Flatten2(), torch.nn.Linear(24, 16), torch.nn.GELU(),
                               torch.nn.Linear(16, 4), torch.nn.LogSoftmax(dim=-1)), (4, 6)


def batchnorm():
    """Conv/BatchNorm2d/ReLU twice, then Linear/BatchNorm1d/ReLU/Linear: the running statistics
    start away from PyTorch's (0, 1) so that prediction reads them."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.BatchNorm2d(8, momentum=0.2),
        torch.nn.ReLU(), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(8 * 2 * 2, 16), torch.nn.BatchNorm1d(16, eps=1e-3), torch.nn.ReLU(),
        torch.nn.Linear(16, 5))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return model, (1, 8, 8)


def export(model, shape, path, opset, training_export, dynamo):
    """torch.onnx.export at batch 2, the batch a dynamic axis: the TorchScript exporter, or with
    `dynamo` torch.export's (PyTorch 2.x; run this script with such a Python, see --dynamo)."""
    example = torch.randn(2, *shape)
    if dynamo:
        # In training mode, and without the exporter's graph optimizer, which would fold each
        # BatchNormalization into the convolution before it as for inference.
        model.train(training_export)
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=opset,
                                    optimize=not training_export,
                                    input_names=["x"], output_names=["logits"],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
        program.save(path)
        return
    # TrainingMode.TRAINING keeps BatchNormalization nodes (training_mode=1): an eval-mode export
    # folds each into the convolution before it.
    mode = torch.onnx.TrainingMode.TRAINING if training_export else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(model, example, path, opset_version=opset,
                      input_names=["x"], output_names=["logits"], training=mode,
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})


def make_case(name, build, opset, optimizer, external=False, training_export=False,
              dynamo=False):
    out = os.path.join(ROOT, name)
    os.makedirs(os.path.join(out, "final"), exist_ok=True)
    torch.manual_seed(0)
    model, shape = build()
    model.eval()
    path = os.path.join(out, "model.onnx")
    export(model, shape, path, opset, training_export, dynamo)
    model.eval()
    if training_export:
        # Tracing in training mode ran one forward, which moved the running statistics: start
        # PyTorch from the values the file holds.
        state = model.state_dict()
        for init in onnx.load(path).graph.initializer:
            if init.name in state:
                state[init.name].copy_(torch.from_numpy(numpy_helper.to_array(init).copy()))
    if external:
        proto = onnx.load(path)
        onnx.save(proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                  location="model.onnx.data", size_threshold=0)
    classes = list(model.parameters())[-1].shape[0]
    rng = np.random.RandomState(1)
    x = rng.randn(BATCHES * BATCH, *shape).astype(np.float32)
    y = rng.randint(0, classes, BATCHES * BATCH).astype(np.int64)
    np.save(os.path.join(out, "features.npy"), x)
    np.save(os.path.join(out, "labels.npy"), y)
    with torch.no_grad():
        np.save(os.path.join(out, "predict.npy"), model(torch.from_numpy(x[:BATCH])).numpy())

    # nnc decays parameters of rank >= 2 only (weights, not biases).
    params = dict(model.named_parameters())
    groups = [{"params": [p for p in params.values() if p.dim() >= 2]},
              {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}]
    kind, lr = optimizer
    flags = f"--loss cross-entropy --batch-size {BATCH} --optimizer {kind} --lr {lr}"
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=lr)
    elif kind == "momentum":
        opt = torch.optim.SGD(groups, lr=lr, momentum=0.9)
        flags += " --momentum 0.9"
    else:
        groups[0]["weight_decay"] = 0.01
        opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))
        flags += " --weight-decay 0.01 --betas 0.9,0.99"
    model.train()
    losses = []
    for step in range(STEPS):
        b = step % BATCHES
        xb = torch.from_numpy(x[b * BATCH:(b + 1) * BATCH])
        yb = torch.from_numpy(y[b * BATCH:(b + 1) * BATCH])
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with open(os.path.join(out, "flags.txt"), "w") as f:
        f.write(flags + "\n")
    # The ONNX initializers carry the module's parameter names (model.0.weight -> 0.weight).
    save_trained(out, name, losses, params, model, x[:BATCH])


def save_trained(out, name, losses, params, model, first_batch):
    """What training left, for check_onnx.py: losses.txt, the parameters under final/, and
    BatchNorm's running statistics (buffers, checked like parameters) with predict_after.npy,
    the eval-mode prediction on `first_batch` that must use them."""
    with open(os.path.join(out, "losses.txt"), "w") as f:
        f.write("".join(f"{v:.9g}\n" for v in losses))
    for n, p in params.items():
        np.save(os.path.join(out, "final", n + ".npy"), p.detach().numpy())
    stats = [(n, b) for n, b in model.named_buffers()
             if n.endswith("running_mean") or n.endswith("running_var")]
    for n, b in stats:
        np.save(os.path.join(out, "final", n + ".npy"), b.numpy())
    if stats:
        model.eval()
        with torch.no_grad():
            np.save(os.path.join(out, "predict_after.npy"),
                    model(torch.from_numpy(first_batch)).numpy())
    print(f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}")


def make_batchnorm_dp(ranks=2):
    """test/onnx/batchnorm/dp/: what nnc's data parallelism must compute for the batchnorm case
    on `ranks` ranks of BATCH rows each. PyTorch has no such mode built in (DDP broadcasts rank
    0's buffers, SyncBatchNorm shares the statistics), so it is simulated: each replica
    normalizes with its own rows' statistics, the gradients and the loss are the mean over the
    replicas, and so are the new running statistics."""
    case = os.path.join(ROOT, "batchnorm")
    out = os.path.join(case, "dp")
    os.makedirs(os.path.join(out, "final"), exist_ok=True)
    torch.manual_seed(0)
    model, _ = batchnorm()
    state = model.state_dict()
    for init in onnx.load(os.path.join(case, "model.onnx")).graph.initializer:
        if init.name in state:
            state[init.name].copy_(torch.from_numpy(numpy_helper.to_array(init).copy()))
    x = np.load(os.path.join(case, "features.npy"))
    y = np.load(os.path.join(case, "labels.npy"))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    params = dict(model.named_parameters())
    groups = [{"params": [p for p in params.values() if p.dim() >= 2]},
              {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    model.train()
    losses, global_batches = [], BATCHES // ranks
    for step in range(STEPS):
        g = step % global_batches
        before = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
        after = [[torch.zeros_like(m.running_mean), torch.zeros_like(m.running_var)] for m in norms]
        opt.zero_grad()
        total = 0.0
        for r in range(ranks):
            rows = slice((g * ranks + r) * BATCH, (g * ranks + r + 1) * BATCH)
            for m, (mean, var) in zip(norms, before):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
            loss = F.cross_entropy(model(torch.from_numpy(x[rows])), torch.from_numpy(y[rows]))
            (loss / ranks).backward()
            total += loss.item() / ranks
            for m, acc in zip(norms, after):
                acc[0] += m.running_mean / ranks
                acc[1] += m.running_var / ranks
        for m, (mean, var) in zip(norms, after):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
        opt.step()
        losses.append(total)
    save_trained(out, "batchnorm/dp", losses, params, model, x[:BATCH])


def save_graph(path, nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, os.path.basename(path)[:-5], inputs, outputs,
                              list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path)


def tensor(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def weight(name, shape):
    values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 10
    return helper.make_tensor(name, TensorProto.FLOAT, shape, values.flatten().tolist())


def ints(name, values):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def make_ops():
    d = os.path.join(ROOT, "ops")
    x = tensor("x", ["N", 4])
    y = tensor("y", ["N", 3])
    save_graph(f"{d}/gemm.onnx", [
        helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
        helper.make_node("Gemm", ["h", "w2", "b2"], ["y"], name="scaled", alpha=0.5, beta=2.0)],
        [x], [y], [weight("w", [3, 4]), weight("b", [3]), weight("w2", [3, 3]),
                  weight("b2", [3])])
    save_graph(f"{d}/matmul.onnx", [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
               [x], [y], [weight("w", [4, 3])])
    save_graph(f"{d}/elementwise.onnx", [
        helper.make_node("Add", ["x", "b"], ["a"], name="add"),
        helper.make_node("Sub", ["a", "x"], ["s"], name="sub"),
        helper.make_node("Mul", ["s", "b"], ["m"], name="mul"),
        helper.make_node("Constant", [], ["two"], name="two",
                         value=helper.make_tensor("v", TensorProto.FLOAT, [], [2.0])),
        helper.make_node("Div", ["m", "two"], ["q"], name="div"),
        helper.make_node("Relu", ["q"], ["r"], name="relu"),
        helper.make_node("Tanh", ["r"], ["t"], name="tanh"),
        helper.make_node("Sigmoid", ["t"], ["g"], name=""),
        helper.make_node("Identity", ["g"], ["i"], name="id"),
        helper.make_node("Dropout", ["i", "ratio"], ["y"], name="drop")],
        [x], [tensor("y", ["N", 4])], [weight("b", [4]),
                                       helper.make_tensor("ratio", TensorProto.FLOAT, [], [0.25])])
    save_graph(f"{d}/softmax.onnx", [
        helper.make_node("Softmax", ["x"], ["s"], name="softmax", axis=1),
        helper.make_node("LogSoftmax", ["s"], ["y"], name="logsoftmax")],
        [x], [tensor("y", ["N", 4])])
    img = tensor("img", ["N", 2, 6, 6])
    save_graph(f"{d}/cnn.onnx", [
        helper.make_node("Conv", ["img", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("MaxPool", ["c"], ["p"], name="maxpool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("AveragePool", ["p"], ["a"], name="avgpool", kernel_shape=[3, 3],
                         strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1),
        helper.make_node("Flatten", ["a"], ["y"], name="flatten")],
        [img], [tensor("y", ["N", 36])], [weight("w", [4, 2, 3, 3]), weight("b", [4])])
    save_graph(f"{d}/shapes.onnx", [
        helper.make_node("Shape", ["img"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], name="concat_shape", axis=0),
        helper.make_node("Reshape", ["img", "target"], ["flat"], name="reshape"),
        helper.make_node("Transpose", ["flat"], ["t"], name="transpose", perm=[1, 0]),
        helper.make_node("Transpose", ["t"], ["u"], name="transpose_back"),
        helper.make_node("Concat", ["u", "u"], ["y"], name="concat", axis=-1)],
        [img], [tensor("y", ["N", 144])],
        [helper.make_tensor("zero", TensorProto.INT64, [], [0]), ints("axes", [0]),
         ints("minus1", [-1])])
    gelu = [helper.make_node("Constant", [], ["sqrt2"], name="c_sqrt2",
                             value=helper.make_tensor("v", TensorProto.FLOAT, [], [1.4142135])),
            helper.make_node("Div", ["x", "sqrt2"], ["d"], name="/act/Div"),
            helper.make_node("Erf", ["d"], ["e"], name="/act/Erf"),
            helper.make_node("Constant", [], ["one"], name="c_one",
                             value=helper.make_tensor("v", TensorProto.FLOAT, [], [1.0])),
            helper.make_node("Add", ["e", "one"], ["a"], name="/act/Add"),
            helper.make_node("Mul", ["x", "a"], ["m"], name="/act/Mul"),
            helper.make_node("Constant", [], ["half"], name="c_half",
                             value=helper.make_tensor("v", TensorProto.FLOAT, [], [0.5])),
            helper.make_node("Mul", ["m", "half"], ["y"], name="/act/Mul_1")]
    save_graph(f"{d}/gelu.onnx", gelu, [x], [tensor("y", ["N", 4])], opset=13)
    save_graph(f"{d}/gelu20.onnx", [helper.make_node("Gelu", ["x"], ["y"], name="gelu",
                                                     approximate="tanh")],
               [x], [tensor("y", ["N", 4])], opset=20)
    save_graph(f"{d}/static.onnx", [
        helper.make_node("Reshape", ["x", "target"], ["y"], name="bakes_batch")],
        [tensor("x", [16, 2, 2])], [tensor("y", [16, 4])], [ints("target", [16, 4])])

    stats = [weight("scale", [2]), weight("bias", [2]), weight("mean", [2]),
             helper.make_tensor("var", TensorProto.FLOAT, [2], [1.0, 2.0])]
    save_graph(f"{d}/batchnorm.onnx", [
        helper.make_node("BatchNormalization", ["img2", "scale", "bias", "mean", "var"], ["b"],
                         name="bn_eval", epsilon=1e-5, momentum=0.9),
        helper.make_node("BatchNormalization", ["b", "scale", "bias", "mean2", "var2"],
                         ["y", "running_mean", "running_var"], name="bn_train", epsilon=1e-3,
                         momentum=0.8, training_mode=1)],
        [tensor("img2", ["N", 2, 3, 3])], [tensor("y", ["N", 2, 3, 3])],
        stats + [weight("mean2", [2]), helper.make_tensor("var2", TensorProto.FLOAT, [2], [1, 1])],
        opset=15)

    b = os.path.join(ROOT, "bad")
    save_graph(f"{b}/unsupported-op.onnx", [helper.make_node("Einsum", ["x", "x"], ["y"],
                                                             name="mix", equation="ij,ij->ij")],
               [x], [tensor("y", ["N", 4])])
    save_graph(f"{b}/unsupported-attr.onnx", [
        helper.make_node("Conv", ["img", "w"], ["y"], name="asymmetric", pads=[0, 0, 1, 1],
                         kernel_shape=[1, 1])],
        [img], [tensor("y", ["N", 2, 7, 7])], [weight("w", [2, 2, 1, 1])])
    branch = helper.make_graph([helper.make_node("Identity", ["x"], ["z"])], "branch", [],
                               [tensor("z", ["N", 4])])
    save_graph(f"{b}/if.onnx", [helper.make_node("If", ["cond"], ["y"], name="choose",
                                                 then_branch=branch, else_branch=branch)],
               [x, tensor("cond", [1], TensorProto.BOOL)], [tensor("y", ["N", 4])])
    save_graph(f"{b}/double.onnx", [helper.make_node("Relu", ["x"], ["y"], name="relu")],
               [tensor("x", ["N", 4], TensorProto.DOUBLE)], [tensor("y", ["N", 4])])
    save_graph(f"{b}/baked-batch.onnx", [
        helper.make_node("Reshape", ["x", "target"], ["y"], name="bakes_batch")],
        [tensor("x", ["N", 2, 2])], [tensor("y", ["N", 4])], [ints("target", [16, 4])])
    unknown = tensor("x", ["N", 4])
    unknown.type.tensor_type.elem_type = 99
    save_graph(f"{b}/batchnorm-rank3.onnx", [
        helper.make_node("BatchNormalization", ["seq", "scale", "bias", "mean", "var"], ["y"],
                         name="bn_seq")],
        [tensor("seq", ["N", 2, 5])], [tensor("y", ["N", 2, 5])], stats, opset=15)
    save_graph(f"{b}/unknown-dtype.onnx", [helper.make_node("Relu", ["x"], ["y"], name="relu")],
               [unknown], [tensor("y", ["N", 4])])
    save_graph(f"{b}/missing-external.onnx", [
        helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [x], [y], [weight("w", [4, 3])])
    proto = onnx.load(f"{b}/missing-external.onnx", load_external_data=False)
    w = proto.graph.initializer[0]
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "gone.onnx.data"), ("offset", "0"), ("length", "48")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    onnx.save(proto, f"{b}/missing-external.onnx")


def make_dynamo_cases():
    """dynamo_*: the same models through the dynamo exporter (opset 18), trained by the PyTorch
    2.x that exports them."""
    make_case("dynamo_mlp", mlp, 18, ("sgd", 0.1), dynamo=True)
    make_case("dynamo_cnn", cnn, 18, ("adamw", 0.01), dynamo=True)
    make_case("dynamo_gelu", gelu_ext, 18, ("momentum", 0.05), dynamo=True)
    make_case("dynamo_batchnorm", batchnorm, 18, ("momentum", 0.05), training_export=True,
              dynamo=True)


if __name__ == "__main__" and sys.argv[1:] == ["--dynamo"]:
    make_dynamo_cases()
elif __name__ == "__main__":
    make_case("mlp", mlp, 13, ("sgd", 0.1))
    make_case("cnn", cnn, 17, ("adamw", 0.01))
    make_case("gelu_ext", gelu_ext, 15, ("momentum", 0.05), external=True)
    make_case("batchnorm", batchnorm, 15, ("momentum", 0.05), training_export=True)
    make_batchnorm_dp()
    make_ops()
