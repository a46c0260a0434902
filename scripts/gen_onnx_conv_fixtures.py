#!/usr/bin/python3
"""Generates the convolutional fixtures of issue 24 under test/onnx/ with Debian's PyTorch 1.13
and onnx 1.12, the way scripts/gen_onnx_fixtures.py does for its cases (make_case: TorchScript
exporter, batch as a dynamic axis, 20 training steps of PyTorch from the exported weights):

  mobilenet_v2  (written by --mobilenet, not committed) torchvision's MobileNetV2 architecture
                written out (Debian's python3-torch has no torchvision): inverted residuals
                with depthwise 3x3 convolutions, BatchNorm, ReLU6 (exported as Clip), residual
                adds, global average pooling. Reduced: width_mult 0.25 (torchvision's channel
                rounding to multiples of 8), last_channel 1280 * 0.25 = 320 instead of 1280, no
                classifier dropout (PyTorch's and nnc's random masks differ), 3x32x32 inputs,
                10 classes. Opset 15, TrainingMode.TRAINING (keeps BatchNormalization), SGD +
                momentum at lr 1e-3.
  conv1d        a Conv1d sequence classifier over (N, 4, 32) float features: Conv1d/ReLU,
                depthwise Conv1d/SiLU (Sigmoid * x), pointwise Conv1d/Hardswish (opset 14's
                HardSwish), MaxPool1d, grouped dilated strided Conv1d/LeakyReLU, AvgPool1d,
                AdaptiveAvgPool1d(1) (GlobalAveragePool), Flatten, Linear; AdamW.

Plus one small graph per new op mapping (ops/conv_*.onnx, ops/clip*.onnx, built with
onnx.helper) and bad inputs (bad/conv-*.onnx, bad/clip-*.onnx) for the lit tests.

usage: /usr/bin/python3 scripts/gen_onnx_conv_fixtures.py [--mobilenet OUT_DIR [STEPS]]
                                                         [--sensitivity]
  (no arguments): writes conv1d, ops/ and bad/ under test/onnx/.
  --mobilenet: writes the MobileNetV2 case (about 1.5 MB: not committed) into OUT_DIR.
  --sensitivity: instead of writing, reports how far PyTorch's own 20-step losses move when the
  initial weights are perturbed by 1e-6 (relative): a trajectory that moves by more than 1e-4
  cannot be matched within 1e-4 by any fp32 implementation (see test/onnx/resnet18.test).
"""
import copy
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_onnx_fixtures as base  # noqa: E402
from gen_onnx_fixtures import ROOT, make_case, save_graph, tensor, weight  # noqa: E402

MOBILENET_LR = 0.001  # SGD + momentum 0.9


def make_divisible(v, divisor=8):
    """torchvision's _make_divisible: round to a multiple of 8, never down by more than 10%."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn_relu6(cin, cout, kernel=3, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups,
                                   bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand_ratio):
        super().__init__()
        hidden = int(round(cin * expand_ratio))
        self.use_res_connect = stride == 1 and cin == cout
        layers = [conv_bn_relu6(cin, hidden, kernel=1)] if expand_ratio != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision.models.MobileNetV2's layers and initialization; see the module docstring for
    what is reduced."""

    def __init__(self, classes=10, width_mult=0.25, last_channel=320):
        super().__init__()
        settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                    [6, 160, 3, 2], [6, 320, 1, 1]]
        cin = make_divisible(32 * width_mult)
        features = [conv_bn_relu6(3, cin, stride=2)]
        for t, c, n, s in settings:
            cout = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        features.append(conv_bn_relu6(cin, last_channel, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Linear(last_channel, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2():
    return MobileNetV2(), (3, 32, 32)


def conv1d():
    return nn.Sequential(
        nn.Conv1d(4, 16, 5, padding=2), nn.ReLU(),
        nn.Conv1d(16, 16, 3, padding=1, groups=16), nn.SiLU(),
        nn.Conv1d(16, 24, 1), nn.Hardswish(), nn.MaxPool1d(2),
        nn.Conv1d(24, 24, 3, stride=2, padding=2, dilation=2, groups=4), nn.LeakyReLU(0.1),
        nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(24, 5)), (4, 32)


def sensitivity(build, shape, lr, momentum):
    """max over 20 steps of |loss' - loss| / |loss| when every weight moves by 1e-6 relative."""
    torch.manual_seed(0)
    model, _ = build()
    rng = np.random.RandomState(1)
    x = torch.from_numpy(rng.randn(base.BATCHES * base.BATCH, *shape).astype(np.float32))
    y = torch.from_numpy(rng.randint(0, 10, base.BATCHES * base.BATCH).astype(np.int64) % 5)

    def run(m):
        opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=momentum)
        m.train()
        out = []
        for step in range(base.STEPS):
            b = step % base.BATCHES
            opt.zero_grad()
            loss = F.cross_entropy(m(x[b * base.BATCH:(b + 1) * base.BATCH]),
                                   y[b * base.BATCH:(b + 1) * base.BATCH])
            loss.backward()
            opt.step()
            out.append(loss.item())
        return np.array(out)

    ref = run(copy.deepcopy(model))
    perturbed = copy.deepcopy(model)
    with torch.no_grad():
        for p in perturbed.parameters():
            p.mul_(1 + 1e-6 * torch.randn_like(p))
    moved = run(perturbed)
    return np.abs(moved - ref).max() / np.abs(ref).max()


def make_ops():
    d = os.path.join(ROOT, "ops")
    img = tensor("img", ["N", 4, 6, 6])
    seq = tensor("seq", ["N", 4, 10])
    # Grouped (2 groups) and depthwise (4 groups) 2-D convolutions.
    save_graph(f"{d}/conv_grouped.onnx", [
        helper.make_node("Conv", ["img", "wg", "bg"], ["g"], name="grouped", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], group=2),
        helper.make_node("Conv", ["g", "wd"], ["y"], name="depthwise", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1], group=6)],
        [img], [tensor("y", ["N", 6, 3, 3])],
        [weight("wg", [6, 2, 3, 3]), weight("bg", [6]), weight("wd", [6, 1, 3, 3])])
    # 1-D convolution (grouped, strided, dilated) and pooling over (N, C, L).
    save_graph(f"{d}/conv1d.onnx", [
        helper.make_node("Conv", ["seq", "w", "b"], ["c"], name="conv1d", kernel_shape=[3],
                         pads=[2, 2], strides=[2], dilations=[2], group=2),
        helper.make_node("MaxPool", ["c"], ["p"], name="maxpool1d", kernel_shape=[2],
                         strides=[2]),
        helper.make_node("AveragePool", ["p"], ["a"], name="avgpool1d", kernel_shape=[3],
                         pads=[1, 1], count_include_pad=1),
        helper.make_node("GlobalAveragePool", ["a"], ["y"], name="gap1d")],
        [seq], [tensor("y", ["N", 6, 1])], [weight("w", [6, 2, 3]), weight("b", [6])])
    # Clip with both bounds as constant inputs (ReLU6), with only a max (min left empty), and
    # opset 6's attributes; the hard activations and LeakyRelu.
    x = tensor("x", ["N", 4])
    scalar = lambda name, v: helper.make_tensor(name, TensorProto.FLOAT, [], [v])  # noqa: E731
    save_graph(f"{d}/clip.onnx", [
        helper.make_node("Constant", [], ["zero"], name="c_zero", value=scalar("v", 0.0)),
        helper.make_node("Constant", [], ["six"], name="c_six", value=scalar("v", 6.0)),
        helper.make_node("Clip", ["x", "zero", "six"], ["r6"], name="relu6"),
        helper.make_node("Clip", ["r6", "", "six"], ["m"], name="max_only"),
        helper.make_node("HardSigmoid", ["m"], ["hs"], name="hardsigmoid", alpha=1 / 6),
        helper.make_node("HardSwish", ["hs"], ["hw"], name="hardswish"),
        helper.make_node("LeakyRelu", ["hw"], ["y"], name="leaky", alpha=0.1)],
        [x], [tensor("y", ["N", 4])], opset=14)
    save_graph(f"{d}/clip6.onnx", [helper.make_node("Clip", ["x"], ["y"], name="clip_attrs",
                                                    min=-1.0, max=1.0)],
               [x], [tensor("y", ["N", 4])], opset=6)

    b = os.path.join(ROOT, "bad")
    save_graph(f"{b}/conv-group.onnx", [
        helper.make_node("Conv", ["img", "w"], ["y"], name="bad_group", group=3,
                         kernel_shape=[1, 1])],
        [img], [tensor("y", ["N", 6, 6, 6])], [weight("w", [6, 1, 1, 1])])
    save_graph(f"{b}/conv-auto-pad.onnx", [
        helper.make_node("Conv", ["img", "w"], ["y"], name="same_pad", auto_pad="SAME_UPPER",
                         kernel_shape=[3, 3])],
        [img], [tensor("y", ["N", 2, 6, 6])], [weight("w", [2, 4, 3, 3])])
    save_graph(f"{b}/clip-runtime-bound.onnx", [
        helper.make_node("Clip", ["x", "x"], ["y"], name="clip_by_input")],
        [x], [tensor("y", ["N", 4])])


def make_mobilenet(out, steps):
    """The MobileNetV2 case in OUT (~1.5 MB, so generated by test/onnx/mobilenet_v2.test)."""
    base.ROOT, base.STEPS = os.path.dirname(os.path.abspath(out)), steps
    make_case(os.path.basename(os.path.abspath(out)), mobilenet_v2, 15,
              ("momentum", MOBILENET_LR), training_export=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sensitivity"]:
        print(f"mobilenet_v2: {sensitivity(mobilenet_v2, (3, 32, 32), MOBILENET_LR, 0.9):.2e}")
    elif sys.argv[1:2] == ["--mobilenet"]:
        make_mobilenet(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else base.STEPS)
    else:
        make_case("conv1d", conv1d, 14, ("adamw", 0.01))
        make_ops()
