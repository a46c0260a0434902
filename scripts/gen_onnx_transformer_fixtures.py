#!/usr/bin/python3
"""Generates the transformer fixtures of the ONNX importer under test/onnx/ with Debian's
PyTorch 1.13 and onnx 1.12 (the TorchScript exporter, batch as a dynamic axis, exported at
batch 2 and compiled at BATCH by the tests), laid out as scripts/gen_onnx_fixtures.py's cases
(features.npy, labels.npy, flags.txt, losses.txt, final/, predict.npy):
  gpt  a GPT-2-style decoder written as GPT-2 (nanoGPT) writes it: token and position
       embeddings, 2 blocks of causal multi-head attention (c_attn split into q, k, v; heads
       split by view/transpose; scores / sqrt(d); the causal mask as masked_fill(-inf) of a
       tril buffer; softmax; dropout 0), LayerNorm, GELU MLP, the output layer tied to the token
       embedding; cross-entropy over next tokens, (N, T, V) logits against (N, T) labels;
       opset 14 (LayerNormalization written out as ReduceMean/Sub/Pow/Sqrt/Div), SGD +
       momentum
  vit  a ViT-tiny-style encoder on 1x28x28 images: 7x7 patch conv, a class-token parameter
       expanded to the batch and concatenated before the patches, a position-embedding
       parameter, 2 pre-norm blocks of nn.MultiheadAttention (batch_first) and a GELU MLP, a
       classification head on the class token; opset 17 (LayerNormalization), SGD + momentum
Plus one small graph per op mapping (ops/*.onnx, onnx.helper) and bad inputs (bad/*.onnx).

usage: /usr/bin/python3 scripts/gen_onnx_transformer_fixtures.py
"""
import math
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from gen_onnx_fixtures import (BATCH, BATCHES, ROOT, STEPS, ints, save_graph, save_trained,
                               tensor, weight)

VOCAB, CONTEXT, WIDTH, HEADS = 24, 8, 16, 2


class CausalSelfAttention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = torch.nn.Linear(WIDTH, 3 * WIDTH)
        self.c_proj = torch.nn.Linear(WIDTH, WIDTH)
        self.register_buffer("bias", torch.tril(torch.ones(CONTEXT, CONTEXT))
                             .view(1, 1, CONTEXT, CONTEXT))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, HEADS, C // HEADS).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, HEADS, C // HEADS).transpose(1, 2)
        v = v.view(B, T, HEADS, C // HEADS).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))  # (B, H, T, T)
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(WIDTH)
        self.attn = CausalSelfAttention()
        self.ln_2 = torch.nn.LayerNorm(WIDTH)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(WIDTH, 4 * WIDTH), torch.nn.GELU(),
                                       torch.nn.Linear(4 * WIDTH, WIDTH), torch.nn.Dropout(0.0))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(VOCAB, WIDTH)
        self.wpe = torch.nn.Embedding(CONTEXT, WIDTH)
        self.h = torch.nn.ModuleList([Block(), Block()])
        self.ln_f = torch.nn.LayerNorm(WIDTH)
        self.lm_head = torch.nn.Linear(WIDTH, VOCAB, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as GPT-2's

    def forward(self, idx):
        pos = torch.arange(0, idx.size(1), dtype=torch.long).unsqueeze(0)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))  # (B, T, V)


class Vit(torch.nn.Module):
    def __init__(self, width=16, heads=2, patch=7, classes=5):
        super().__init__()
        self.patch = torch.nn.Conv2d(1, width, patch, stride=patch)
        count = (28 // patch) ** 2
        self.cls_token = torch.nn.Parameter(torch.randn(1, 1, width) * 0.5)
        self.pos_embed = torch.nn.Parameter(torch.randn(1, count + 1, width) * 0.5)
        self.blocks = torch.nn.ModuleList([VitBlock(width, heads) for _ in range(2)])
        self.norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, classes)

    def forward(self, img):
        x = self.patch(img).flatten(2).transpose(1, 2)  # (B, 16, C)
        cls = self.cls_token.expand(x.size(0), -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed  # (B, 17, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


class VitBlock(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(width)
        self.attn = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = torch.nn.LayerNorm(width)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(width, 2 * width), torch.nn.GELU(),
                                       torch.nn.Linear(2 * width, width))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


def export(model, example, path, opset, names):
    # Exported in training mode: in eval mode the exporter merges initializers of equal values
    # (every LayerNorm weight of ones becomes one, through Identity nodes), which would tie
    # them, and nn.MultiheadAttention takes its fused fast path, which has no ONNX form.
    # Dropout is 0 everywhere, so both modes compute the same.
    torch.onnx.export(model, example, path, opset_version=opset, input_names=[names[0]],
                      output_names=[names[1]], training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False,
                      dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}})


def train(model, x, y, opt, loss_fn):
    model.train()
    losses = []
    for step in range(STEPS):
        b = step % BATCHES
        xb = torch.from_numpy(x[b * BATCH:(b + 1) * BATCH])
        yb = torch.from_numpy(y[b * BATCH:(b + 1) * BATCH])
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def decay_groups(params, decay):
    """nnc decays parameters of rank >= 2 only (weights, not biases)."""
    return [{"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": decay},
            {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0}]


def make_gpt():
    out = os.path.join(ROOT, "gpt")
    os.makedirs(os.path.join(out, "final"), exist_ok=True)
    torch.manual_seed(0)
    model = Gpt()
    rng = np.random.RandomState(1)
    tokens = rng.randint(0, VOCAB, (BATCHES * BATCH, CONTEXT + 1)).astype(np.int64)
    x, y = tokens[:, :-1].copy(), tokens[:, 1:].copy()  # next-token targets
    export(model, torch.from_numpy(x[:2]), os.path.join(out, "model.onnx"), 14,
           ("tokens", "logits"))
    np.save(os.path.join(out, "features.npy"), x)
    np.save(os.path.join(out, "labels.npy"), y)
    model.eval()
    with torch.no_grad():
        np.save(os.path.join(out, "predict.npy"), model(torch.from_numpy(x[:BATCH])).numpy())
    params = dict(model.named_parameters())  # one entry for the tied weight: wte.weight
    # SGD with momentum, not Adam: the key bias gets no gradient (softmax ignores a constant
    # added to every score of a row), so both sides' gradients for it are rounding noise
    # (~1e-9), which Adam's normalization would turn into full-size, diverging steps.
    opt = torch.optim.SGD(decay_groups(params, 0.0), lr=0.05, momentum=0.9)
    losses = train(model, x, y, opt,
                   lambda logits, t: F.cross_entropy(logits.reshape(-1, VOCAB), t.reshape(-1)))
    with open(os.path.join(out, "flags.txt"), "w") as f:
        f.write(f"--loss cross-entropy --batch-size {BATCH} --optimizer momentum --lr 0.05 "
                "--momentum 0.9\n")
    save_trained(out, "gpt", losses, params, model, x[:BATCH])


def make_vit():
    out = os.path.join(ROOT, "vit")
    os.makedirs(os.path.join(out, "final"), exist_ok=True)
    torch.manual_seed(0)
    model = Vit()
    rng = np.random.RandomState(1)
    x = rng.randn(BATCHES * BATCH, 1, 28, 28).astype(np.float32)
    y = rng.randint(0, 5, BATCHES * BATCH).astype(np.int64)
    export(model, torch.from_numpy(x[:2]), os.path.join(out, "model.onnx"), 17,
           ("x", "logits"))
    np.save(os.path.join(out, "features.npy"), x)
    np.save(os.path.join(out, "labels.npy"), y)
    model.eval()
    with torch.no_grad():
        np.save(os.path.join(out, "predict.npy"), model(torch.from_numpy(x[:BATCH])).numpy())
    params = dict(model.named_parameters())
    opt = torch.optim.SGD(decay_groups(params, 0.0), lr=0.05, momentum=0.9)
    losses = train(model, x, y, opt, F.cross_entropy)
    with open(os.path.join(out, "flags.txt"), "w") as f:
        f.write(f"--loss cross-entropy --batch-size {BATCH} --optimizer momentum --lr 0.05 "
                "--momentum 0.9\n")
    save_trained(out, "vit", losses, params, model, x[:BATCH])


if __name__ == "__main__":
    make_gpt()
    make_vit()
