#!/usr/bin/python3
"""The larger models of issue 24 through PyTorch 2.x's dynamo exporter (torch.onnx.export(...,
dynamo=True), opset 18), trained by the PyTorch that exports them, laid out as
scripts/gen_onnx_fixtures.py's cases (check_onnx.py reads them):
  dynamo_gpt     the GPT-2-style decoder of gen_onnx_transformer_fixtures.py (tied output layer)
  dynamo_vit     its ViT-tiny-style encoder (nn.MultiheadAttention)
  dynamo_conv1d  gen_onnx_conv_fixtures.py's Conv1d sequence classifier
  --mobilenet OUT_DIR [STEPS]: gen_onnx_conv_fixtures.py's MobileNetV2 (about 1.5 MB, so not
                 committed: test/onnx/dynamo_models.test generates it when such a PyTorch is
                 there, the lit feature 'torch2')
Each is exported in training mode without the exporter's optimizer (optimize=False), as
gen_onnx_fixtures.py --dynamo does: BatchNormalization stays, and nothing is folded.

usage: PYTHON scripts/gen_onnx_dynamo_fixtures.py [--mobilenet OUT_DIR [STEPS]]
  where PYTHON has torch 2.x, onnx and onnxscript (bench/setup_peers.sh's .venv-bench, plus
  pip install onnx onnxscript)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_onnx_conv_fixtures as conv  # noqa: E402
import gen_onnx_fixtures as base  # noqa: E402
import gen_onnx_transformer_fixtures as transformers  # noqa: E402

OPSET = 18


def make_mobilenet(out, steps):
    base.ROOT, base.STEPS = os.path.dirname(os.path.abspath(out)), steps
    base.make_case(os.path.basename(os.path.abspath(out)), conv.mobilenet_v2, OPSET,
                   ("momentum", conv.MOBILENET_LR), training_export=True, dynamo=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--mobilenet"]:
        make_mobilenet(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else base.STEPS)
    else:
        transformers.make_gpt("dynamo_gpt", OPSET, dynamo=True)
        transformers.make_vit("dynamo_vit", OPSET, dynamo=True)
        base.make_case("dynamo_conv1d", conv.conv1d, OPSET, ("adamw", 0.01), dynamo=True)
