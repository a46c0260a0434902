#!/usr/bin/python3
"""Regenerates the training-parity fixtures under test/train/ with Debian's PyTorch 1.13.

For each case: a model (model.pbtxt), initial weights (init/<name>.npy, loaded into the plan with
nnrun --load-parameters), STEPS batches of features and labels, and what PyTorch computes from
them: the loss of every step (losses.txt) and the final weights (final/<name>.npy). The models
are the Fashion-MNIST examples scaled down so the fixtures stay small: an MLP (64 -> 32 -> 32 ->
10) and a CNN (conv 3x3 + relu + max pool, conv 3x3 stride 1 + relu + average pool, linear;
12x12 images), dropout off. The optimizers are SGD with momentum (with and without Nesterov)
and AdamW with global-norm gradient clipping, weight decay on the weight tensors only (nnc's
rule: rank >= 2). The learning rate of each case is in lr.txt.

usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/gen_train_fixtures.py
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "train")
STEPS, BATCH, BATCHES = 50, 16, 5
SIZES = [64, 32, 32, 10]
LR, MOMENTUM, WEIGHT_DECAY, SMOOTHING = 0.05, 0.9, 0.01, 0.1
ADAM_LR, CLIP = 3e-3, 1.0


def optimizer_text(kind, nesterov):
    if kind == "sgd":
        return (f'optimizer {{ kind: SGD learning_rate: {LR} momentum: {MOMENTUM} '
                f'nesterov: {"true" if nesterov else "false"} weight_decay: {WEIGHT_DECAY} }}')
    return (f'optimizer {{ kind: ADAMW learning_rate: {ADAM_LR} weight_decay: {WEIGHT_DECAY} }} '
            f'grad_clip_norm: {CLIP}')


def mlp_model_lines(name):
    lines = [
        "# Training parity fixture (scripts/gen_train_fixtures.py); weights come from init/.",
        "format_version: 1",
        f'name: "{name}"',
        f'inputs {{ name: "x" type {{ dtype: F32 shape: [{BATCH}, {SIZES[0]}] }} role: FEATURES }}',
        f'inputs {{ name: "y" type {{ dtype: I64 shape: [{BATCH}] }} role: LABELS }}',
    ]
    for i in range(3):
        fan_in, fan_out = SIZES[i], SIZES[i + 1]
        lines.append(f'parameters {{ name: "fc{i+1}.weight" type {{ dtype: F32 shape: [{fan_out}, {fan_in}] }} '
                     f'init {{ kind: KAIMING_UNIFORM fan_in: {fan_in} }} }}')
        lines.append(f'parameters {{ name: "fc{i+1}.bias" type {{ dtype: F32 shape: [{fan_out}] }} '
                     f'init {{ kind: ZEROS }} }}')
    prev = "x"
    for i in range(3):
        lines.append(f'nodes {{ name: "fc{i+1}" op: "linear" inputs: ["{prev}", "fc{i+1}.weight", '
                     f'"fc{i+1}.bias"] outputs: "h{i+1}" }}')
        prev = f"h{i+1}"
        if i < 2:
            lines.append(f'nodes {{ name: "relu{i+1}" op: "relu" inputs: "{prev}" outputs: "a{i+1}" }}')
            lines.append(f'nodes {{ name: "drop{i+1}" op: "dropout" inputs: "a{i+1}" outputs: "d{i+1}" '
                         f'attrs {{ key: "rate" value {{ f: 0 }} }} }}')
            prev = f"d{i+1}"
    lines.append(f'nodes {{ name: "loss" op: "cross_entropy" inputs: ["{prev}", "y"] outputs: "loss" '
                 f'attrs {{ key: "label_smoothing" value {{ f: {SMOOTHING} }} }} }}')
    lines.append(f'outputs: "{prev}"')
    return lines


def mlp_params():
    params = {}
    for i in range(3):
        layer = torch.nn.Linear(SIZES[i], SIZES[i + 1])
        params[f"fc{i+1}.weight"] = layer.weight.detach().clone().requires_grad_()
        params[f"fc{i+1}.bias"] = (0.1 * torch.randn(SIZES[i + 1])).requires_grad_()
    return params


def mlp_data(rng):
    return rng.rand(BATCHES * BATCH, SIZES[0]).astype(np.float32)


def mlp_forward(p, x):
    h = x
    for i in range(3):
        h = F.linear(h, p[f"fc{i+1}.weight"], p[f"fc{i+1}.bias"])
        if i < 2:
            h = F.relu(h)
    return h


IMAGE, CHANNELS = 12, (1, 4, 8)


def cnn_model_lines(name):
    c0, c1, c2 = CHANNELS
    flat = c2 * (IMAGE // 4) ** 2
    pair = lambda v: f'ints {{ values: [{v}, {v}] }}'  # noqa: E731
    return [
        "# Training parity fixture (scripts/gen_train_fixtures.py); weights come from init/.",
        "format_version: 1",
        f'name: "{name}"',
        f'inputs {{ name: "x" type {{ dtype: F32 shape: [{BATCH}, {c0}, {IMAGE}, {IMAGE}] }} role: FEATURES }}',
        f'inputs {{ name: "y" type {{ dtype: I64 shape: [{BATCH}] }} role: LABELS }}',
        f'parameters {{ name: "conv1.weight" type {{ dtype: F32 shape: [{c1}, {c0}, 3, 3] }} init {{ kind: ZEROS }} }}',
        f'parameters {{ name: "conv1.bias" type {{ dtype: F32 shape: [{c1}] }} init {{ kind: ZEROS }} }}',
        f'parameters {{ name: "conv2.weight" type {{ dtype: F32 shape: [{c2}, {c1}, 3, 3] }} init {{ kind: ZEROS }} }}',
        f'parameters {{ name: "conv2.bias" type {{ dtype: F32 shape: [{c2}] }} init {{ kind: ZEROS }} }}',
        f'parameters {{ name: "fc.weight" type {{ dtype: F32 shape: [10, {flat}] }} init {{ kind: ZEROS }} }}',
        f'parameters {{ name: "fc.bias" type {{ dtype: F32 shape: [10] }} init {{ kind: ZEROS }} }}',
        f'nodes {{ name: "conv1" op: "conv2d" inputs: ["x", "conv1.weight", "conv1.bias"] outputs: "c1" '
        f'attrs {{ key: "padding" value {{ {pair(1)} }} }} }}',
        'nodes { name: "relu1" op: "relu" inputs: "c1" outputs: "r1" }',
        f'nodes {{ name: "pool1" op: "max_pool2d" inputs: "r1" outputs: "p1" '
        f'attrs {{ key: "kernel_size" value {{ {pair(2)} }} }} }}',
        f'nodes {{ name: "conv2" op: "conv2d" inputs: ["p1", "conv2.weight", "conv2.bias"] outputs: "c2" '
        f'attrs {{ key: "padding" value {{ {pair(1)} }} }} }}',
        'nodes { name: "relu2" op: "relu" inputs: "c2" outputs: "r2" }',
        f'nodes {{ name: "pool2" op: "avg_pool2d" inputs: "r2" outputs: "p2" '
        f'attrs {{ key: "kernel_size" value {{ {pair(2)} }} }} }}',
        f'nodes {{ name: "flatten" op: "reshape" inputs: "p2" outputs: "f" '
        f'attrs {{ key: "shape" value {{ ints {{ values: [{BATCH}, {flat}] }} }} }} }}',
        'nodes { name: "fc" op: "linear" inputs: ["f", "fc.weight", "fc.bias"] outputs: "logits" }',
        f'nodes {{ name: "loss" op: "cross_entropy" inputs: ["logits", "y"] outputs: "loss" '
        f'attrs {{ key: "label_smoothing" value {{ f: {SMOOTHING} }} }} }}',
        'outputs: "logits"',
    ]


def cnn_params():
    c0, c1, c2 = CHANNELS
    layers = {"conv1": torch.nn.Conv2d(c0, c1, 3), "conv2": torch.nn.Conv2d(c1, c2, 3),
              "fc": torch.nn.Linear(c2 * (IMAGE // 4) ** 2, 10)}
    params = {}
    for name, layer in layers.items():
        params[f"{name}.weight"] = layer.weight.detach().clone().requires_grad_()
        params[f"{name}.bias"] = layer.bias.detach().clone().requires_grad_()
    return params


def cnn_data(rng):
    return rng.rand(BATCHES * BATCH, CHANNELS[0], IMAGE, IMAGE).astype(np.float32)


def cnn_forward(p, x):
    h = F.max_pool2d(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)), 2)
    h = F.avg_pool2d(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"], padding=1)), 2)
    return F.linear(h.flatten(1), p["fc.weight"], p["fc.bias"])


ARCHS = {"mlp": (mlp_model_lines, mlp_params, mlp_data, mlp_forward),
         "cnn": (cnn_model_lines, cnn_params, cnn_data, cnn_forward)}


def make_case(name, arch, kind, nesterov=False):
    model_lines, make_params, make_data, forward = ARCHS[arch]
    out = os.path.join(ROOT, name)
    os.makedirs(os.path.join(out, "init"), exist_ok=True)
    os.makedirs(os.path.join(out, "final"), exist_ok=True)
    torch.manual_seed(0)
    params = make_params()
    for n, p in params.items():
        np.save(os.path.join(out, "init", n + ".npy"), p.detach().numpy())
        # nnc keeps the optimizer state as parameters too; PyTorch starts it at zero.
        for state in (["momentum"] if kind == "sgd" else ["exp_avg", "exp_avg_sq"]):
            np.save(os.path.join(out, "init", f"{n}.{state}.npy"), np.zeros(p.shape, np.float32))
    rng = np.random.RandomState(1)
    x = make_data(rng)
    y = rng.randint(0, SIZES[-1], BATCHES * BATCH).astype(np.int64)
    np.save(os.path.join(out, "features.npy"), x)
    np.save(os.path.join(out, "labels.npy"), y)
    with open(os.path.join(out, "model.pbtxt"), "w") as f:
        lines = model_lines(name)
        lines.append(f'training {{ loss: "loss" {optimizer_text(kind, nesterov)} }}')
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "lr.txt"), "w") as f:
        f.write(f"{LR if kind == 'sgd' else ADAM_LR}\n")

    weights = [p for n, p in params.items() if p.dim() >= 2]
    biases = [p for n, p in params.items() if p.dim() < 2]
    groups = [{"params": weights, "weight_decay": WEIGHT_DECAY},
              {"params": biases, "weight_decay": 0.0}]
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=LR, momentum=MOMENTUM, nesterov=nesterov)
    else:
        opt = torch.optim.AdamW(groups, lr=ADAM_LR)
    losses = []
    for step in range(STEPS):
        b = step % BATCHES
        xb = torch.from_numpy(x[b * BATCH:(b + 1) * BATCH])
        yb = torch.from_numpy(y[b * BATCH:(b + 1) * BATCH])
        opt.zero_grad()
        loss = F.cross_entropy(forward(params, xb), yb, label_smoothing=SMOOTHING)
        loss.backward()
        if kind != "sgd":
            torch.nn.utils.clip_grad_norm_(list(params.values()), CLIP)
        opt.step()
        losses.append(loss.item())
    with open(os.path.join(out, "losses.txt"), "w") as f:
        f.write("".join(f"{v:.9g}\n" for v in losses))
    for n, p in params.items():
        np.save(os.path.join(out, "final", n + ".npy"), p.detach().numpy())
    print(f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}")


if __name__ == "__main__":
    make_case("mlp_sgd_momentum", "mlp", "sgd", nesterov=False)
    make_case("mlp_sgd_nesterov", "mlp", "sgd", nesterov=True)
    make_case("mlp_adamw_clip", "mlp", "adamw")
    make_case("cnn_sgd_momentum", "cnn", "sgd")
    make_case("cnn_adamw_clip", "cnn", "adamw")
