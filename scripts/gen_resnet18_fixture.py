#!/usr/bin/python3
"""Writes a ResNet-18 parity case for test/onnx/check_onnx.py into OUT_DIR, with Debian's
PyTorch 1.13 and onnx 1.12 (test/onnx/resnet18.test runs it; ~45 MB, so not committed).

torchvision is not in Debian's python3-torch, so the architecture is written out here exactly as
torchvision.models.resnet18(weights=None) builds it (BasicBlock, [2, 2, 2, 2], 64..512
channels, 7x7/2 stem conv, 3x3/2 max pool with padding 1, 1x1/2 conv + BN downsampling
shortcuts, AdaptiveAvgPool2d(1), fc; Kaiming-normal conv init, BN weight 1 / bias 0, as
torchvision initializes) at a reduced input size, 3x32x32 with 10 classes, so the test stays
within seconds. Exported by the TorchScript exporter (opset 15) in TrainingMode.TRAINING, which
keeps the BatchNormalization nodes; PyTorch then trains 20 SGD + momentum steps on the written
batches from the weights in the file.

usage: /usr/bin/python3 scripts/gen_resnet18_fixture.py OUT_DIR [STEPS]
       /usr/bin/python3 scripts/gen_resnet18_fixture.py --sensitivity BATCH IMAGE LR BATCHES
  --sensitivity: instead of writing, trains 20 SGD + momentum (0.9) steps at that batch, input
  size, learning rate and number of distinct batches, three times: from the weights, from the
  weights perturbed by 1e-6 (relative, uniform), and in float64; prints how far the second and
  third runs' losses and parameters move from the first, per step. A trajectory that moves by
  more than 1e-4 cannot be matched within 1e-4 by any fp32 implementation.
"""
import copy
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from onnx import numpy_helper  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_onnx_fixtures import save_trained  # noqa: E402

BATCH, BATCHES, STEPS, CLASSES, IMAGE = 8, 2, 20, 10, 32
LR, MOMENTUM = 0.002, 0.9


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main(out, steps=STEPS):
    os.makedirs(os.path.join(out, "final"), exist_ok=True)
    torch.manual_seed(0)
    model = ResNet18(CLASSES)
    path = os.path.join(out, "model.onnx")
    torch.onnx.export(model, torch.randn(2, 3, IMAGE, IMAGE), path, opset_version=15,
                      input_names=["x"], output_names=["logits"],
                      training=torch.onnx.TrainingMode.TRAINING,
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    # The export's trace ran one training-mode forward, which moved the running statistics:
    # start from the values the file holds.
    state = model.state_dict()
    for init in onnx.load(path).graph.initializer:
        if init.name in state:
            state[init.name].copy_(torch.from_numpy(numpy_helper.to_array(init).copy()))
    rng = np.random.RandomState(1)
    x = rng.randn(BATCHES * BATCH, 3, IMAGE, IMAGE).astype(np.float32)
    y = rng.randint(0, CLASSES, BATCHES * BATCH).astype(np.int64)
    np.save(os.path.join(out, "features.npy"), x)
    np.save(os.path.join(out, "labels.npy"), y)
    model.eval()
    with torch.no_grad():
        np.save(os.path.join(out, "predict.npy"), model(torch.from_numpy(x[:BATCH])).numpy())

    params = dict(model.named_parameters())
    groups = [{"params": [p for p in params.values() if p.dim() >= 2]},
              {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=LR, momentum=MOMENTUM)
    model.train()
    losses = []
    for step in range(steps):
        b = step % BATCHES
        opt.zero_grad()
        loss = F.cross_entropy(model(torch.from_numpy(x[b * BATCH:(b + 1) * BATCH])),
                               torch.from_numpy(y[b * BATCH:(b + 1) * BATCH]))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with open(os.path.join(out, "flags.txt"), "w") as f:
        f.write(f"--loss cross-entropy --batch-size {BATCH} --optimizer momentum --lr {LR} "
                f"--momentum {MOMENTUM}\n")
    save_trained(out, "resnet18", losses, params, model, x[:BATCH])


def sensitivity(batch, image, lr, batches, steps=STEPS):
    torch.manual_seed(0)
    base = ResNet18(CLASSES)
    rng = np.random.RandomState(1)
    x = torch.from_numpy(rng.randn(batches * batch, 3, image, image).astype(np.float32))
    y = torch.from_numpy(rng.randint(0, CLASSES, batches * batch).astype(np.int64))

    def run(model, dtype):
        model = model.to(dtype)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
        model.train()
        losses = []
        for step in range(steps):
            b = step % batches
            opt.zero_grad()
            loss = F.cross_entropy(model(x[b * batch:(b + 1) * batch].to(dtype)),
                                   y[b * batch:(b + 1) * batch])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return np.array(losses), {k: v.detach().double() for k, v in model.state_dict().items()
                                  if "num_batches" not in k}

    def worst_parameter(a, b):  # check_onnx.py's measure: max |a - b| / max |b| per tensor
        return max((((a[k] - b[k]).abs().max() / b[k].abs().max().clamp(min=1e-30)).item(), k)
                   for k in b)

    reference, params = run(copy.deepcopy(base), torch.float32)
    perturbed = copy.deepcopy(base)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in perturbed.parameters():
            p.mul_(1 + 1e-6 * (2 * torch.rand(p.shape, generator=gen) - 1))
    moved, moved_params = run(perturbed, torch.float32)
    exact, exact_params = run(copy.deepcopy(base), torch.float64)
    print(f"batch {batch}, {image}x{image}, lr {lr}, {batches} batches: losses "
          f"{reference[0]:.4f} -> {reference[-1]:.4f}")
    for what, losses, p in [("perturbed 1e-6", moved, moved_params),
                            ("float64", exact, exact_params)]:
        rel = np.abs(losses - reference) / np.abs(reference)
        per_step = np.array2string(rel, precision=1, max_line_width=400)
        print(f"  {what}: loss rel per step {per_step}; "
              f"worst parameter {worst_parameter(params, p)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sensitivity"]:
        sensitivity(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    else:
        main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else STEPS)
