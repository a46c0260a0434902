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


def export(model, example, path, opset, names, dynamo=False):
    # Exported in training mode: in eval mode the exporter merges initializers of equal values
    # (every LayerNorm weight of ones becomes one, through Identity nodes), which would tie
    # them, and nn.MultiheadAttention takes its fused fast path, which has no ONNX form.
    # Dropout is 0 everywhere, so both modes compute the same.
    if dynamo:  # PyTorch 2.x's exporter, without its graph optimizer (as gen_onnx_fixtures.py)
        model.train()
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=opset,
                                    optimize=False, input_names=[names[0]],
                                    output_names=[names[1]],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
        program.save(path)
        return
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


def make_gpt(name="gpt", opset=14, dynamo=False):
    out = os.path.join(ROOT, name)
    os.makedirs(os.path.join(out, "final"), exist_ok=True)
    torch.manual_seed(0)
    model = Gpt()
    rng = np.random.RandomState(1)
    tokens = rng.randint(0, VOCAB, (BATCHES * BATCH, CONTEXT + 1)).astype(np.int64)
    x, y = tokens[:, :-1].copy(), tokens[:, 1:].copy()  # next-token targets
    export(model, torch.from_numpy(x[:2]), os.path.join(out, "model.onnx"), opset,
           ("tokens", "logits"), dynamo)
    np.save(os.path.join(out, "features.npy"), x)
    np.save(os.path.join(out, "labels.npy"), y)
    model.eval()
    with torch.no_grad():
        np.save(os.path.join(out, "predict.npy"), model(torch.from_numpy(x[:BATCH])).numpy())
    params = dict(model.named_parameters())  # one entry for the tied weight: wte.weight
    if dynamo:  # whose one initializer the dynamo exporter names after its last user
        params = {"lm_head.weight" if k == "wte.weight" else k: v for k, v in params.items()}
    # SGD with momentum, not Adam: the key bias gets no gradient (softmax ignores a constant
    # added to every score of a row), so both sides' gradients for it are rounding noise
    # (~1e-9), which Adam's normalization would turn into full-size, diverging steps.
    opt = torch.optim.SGD(decay_groups(params, 0.0), lr=0.05, momentum=0.9)
    losses = train(model, x, y, opt,
                   lambda logits, t: F.cross_entropy(logits.reshape(-1, VOCAB), t.reshape(-1)))
    with open(os.path.join(out, "flags.txt"), "w") as f:
        f.write(f"--loss cross-entropy --batch-size {BATCH} --optimizer momentum --lr 0.05 "
                "--momentum 0.9\n")
    save_trained(out, name, losses, params, model, x[:BATCH])


def make_vit(name="vit", opset=17, dynamo=False):
    out = os.path.join(ROOT, name)
    os.makedirs(os.path.join(out, "final"), exist_ok=True)
    torch.manual_seed(0)
    model = Vit()
    rng = np.random.RandomState(1)
    x = rng.randn(BATCHES * BATCH, 1, 28, 28).astype(np.float32)
    y = rng.randint(0, 5, BATCHES * BATCH).astype(np.int64)
    export(model, torch.from_numpy(x[:2]), os.path.join(out, "model.onnx"), opset,
           ("x", "logits"), dynamo)
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
    save_trained(out, name, losses, params, model, x[:BATCH])


def scalar(name, value, elem=TensorProto.INT64):
    return helper.make_tensor(name, elem, [], [value])


def make_ops():
    """One small graph per transformer op mapping (ops/*.onnx) and bad inputs (bad/*.onnx)."""
    d = os.path.join(ROOT, "ops")
    seq = tensor("seq", ["N", 4, 6])
    # Slice of a run-time value (axes, a step) and of a Shape (folded into the Reshape target).
    save_graph(f"{d}/slice.onnx", [
        helper.make_node("Slice", ["seq", "starts", "ends", "axes", "steps"], ["s"], name="slice"),
        helper.make_node("Shape", ["s"], ["shape"], name="shape"),
        helper.make_node("Slice", ["shape", "zero1", "one1"], ["n"], name="slice_shape"),
        helper.make_node("Concat", ["n", "minus1"], ["target"], name="target", axis=0),
        helper.make_node("Reshape", ["s", "target"], ["y"], name="flatten")],
        [seq], [tensor("y", ["N", 6])],
        [ints("starts", [1, -5]), ints("ends", [3, 100]), ints("axes", [1, -1]),
         ints("steps", [1, 2]), ints("zero1", [0]), ints("one1", [1]), ints("minus1", [-1])])
    # Split by sizes (opset 13 input) and in equal parts (no sizes).
    save_graph(f"{d}/split.onnx", [
        helper.make_node("Split", ["seq", "sizes"], ["a", "b"], name="split", axis=2),
        helper.make_node("Split", ["b"], ["b0", "b1"], name="halves", axis=-1),
        helper.make_node("Concat", ["a", "b1", "b0"], ["y"], name="concat", axis=2)],
        [seq], [tensor("y", ["N", 4, 6])], [ints("sizes", [2, 4])])
    # A class token expanded to the batch (the shape from a folded Shape chain), concatenated.
    save_graph(f"{d}/expand.onnx", [
        helper.make_node("Shape", ["seq"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["n"], name="batch", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="n1"),
        helper.make_node("Concat", ["n1", "ones"], ["target"], name="target", axis=0),
        helper.make_node("Expand", ["cls", "target"], ["c"], name="expand"),
        helper.make_node("Concat", ["c", "seq"], ["y"], name="prepend", axis=1)],
        [seq], [tensor("y", ["N", 5, 6])],
        [weight("cls", [1, 1, 6]), scalar("zero", 0), ints("axes0", [0]), ints("ones", [1, 1])])
    # Positions: Range over the folded sequence length, a position table read by embedding;
    # ConstantOfShape; the class token x[:, 0] (Gather of one index at run time).
    tokens = tensor("tokens", ["N", 4], TensorProto.INT64)
    save_graph(f"{d}/positions.onnx", [
        helper.make_node("Shape", ["tokens"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "one"], ["t"], name="length", axis=0),
        helper.make_node("Range", ["zero", "t", "one"], ["pos"], name="range"),
        helper.make_node("Unsqueeze", ["pos", "axes0"], ["pos1"], name="pos1"),
        helper.make_node("Gather", ["wte", "tokens"], ["te"], name="token_embedding"),
        helper.make_node("Gather", ["wpe", "pos1"], ["pe"], name="position_embedding"),
        helper.make_node("Add", ["te", "pe"], ["h"], name="add"),
        helper.make_node("ConstantOfShape", ["dims"], ["half"], name="fill",
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
        helper.make_node("Mul", ["h", "half"], ["hs"], name="scale"),
        helper.make_node("Gather", ["hs", "zero"], ["y"], name="first", axis=1)],
        [tokens], [tensor("y", ["N", 3])],
        [weight("wte", [10, 3]), weight("wpe", [4, 3]), scalar("zero", 0), scalar("one", 1),
         ints("axes0", [0]), ints("dims", [3])])
    # Attention scores (rank-4 batched MatMul), GPT-2's causal mask from a tril buffer
    # (Slice, Equal 0, Cast to bool, Where(mask, -inf, scores)), softmax on the last axis;
    # a second mask written the other way round with a finite fill.
    tril = np.tril(np.ones((4, 4), np.float32)).reshape(1, 1, 4, 4)
    q = tensor("q", ["N", 2, 4, 3])
    save_graph(f"{d}/attention.onnx", [
        helper.make_node("Transpose", ["q"], ["kt"], name="keys_t", perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"], name="scores"),
        helper.make_node("Slice", ["bias", "zero1", "four1", "three1"], ["b"], name="bias_t"),
        helper.make_node("Equal", ["b", "zerof"], ["eq"], name="is_future"),
        helper.make_node("Cast", ["eq"], ["mask"], name="to_bool", to=TensorProto.BOOL),
        helper.make_node("Where", ["mask", "neg_inf", "scores"], ["masked"], name="masked_fill"),
        helper.make_node("Softmax", ["masked"], ["att"], name="softmax", axis=-1),
        helper.make_node("Cast", ["bias"], ["keep"], name="keep", to=TensorProto.BOOL),
        helper.make_node("Where", ["keep", "att", "big_neg"], ["y"], name="masked_fill_finite")],
        [q], [tensor("y", ["N", 2, 4, 4])],
        [helper.make_tensor("bias", TensorProto.FLOAT, [1, 1, 4, 4], tril.flatten().tolist()),
         ints("zero1", [0]), ints("four1", [4]), ints("three1", [3]),
         scalar("zerof", 0.0, TensorProto.FLOAT), scalar("neg_inf", -np.inf, TensorProto.FLOAT),
         scalar("big_neg", -1e9, TensorProto.FLOAT)])
    # torch.triu(ones, 1) built in forward (Trilu of a ConstantOfShape, folded) as a Where
    # condition: a causal mask; Trilu lower of run-time scores: causal_mask with fill 0.
    save_graph(f"{d}/trilu.onnx", [
        helper.make_node("ConstantOfShape", ["dims"], ["ones"], name="ones",
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
        helper.make_node("Trilu", ["ones", "one"], ["future"], name="triu"),
        helper.make_node("Cast", ["future"], ["mask"], name="to_bool", to=TensorProto.BOOL),
        helper.make_node("Where", ["mask", "neg_inf", "q"], ["masked"], name="masked_fill"),
        helper.make_node("Trilu", ["masked"], ["y"], name="tril", upper=0)],
        [tensor("q", ["N", 2, 4, 4])], [tensor("y", ["N", 2, 4, 4])],
        [ints("dims", [4, 4]), scalar("one", 1), scalar("neg_inf", -np.inf, TensorProto.FLOAT)])
    # LayerNormalization (opset 17), without B; LayerNorm written out (opset 14, fused back).
    save_graph(f"{d}/layernorm.onnx", [
        helper.make_node("LayerNormalization", ["seq", "g", "b"], ["n1"], name="ln", epsilon=1e-6),
        helper.make_node("LayerNormalization", ["n1", "g"], ["y"], name="ln_no_bias", axis=2)],
        [seq], [tensor("y", ["N", 4, 6])], [weight("g", [6]), weight("b", [6])])
    save_graph(f"{d}/layernorm14.onnx", [
        helper.make_node("ReduceMean", ["seq"], ["mean"], name="mean", axes=[-1]),
        helper.make_node("Sub", ["seq", "mean"], ["c"], name="center"),
        helper.make_node("Pow", ["c", "two"], ["sq"], name="square"),
        helper.make_node("ReduceMean", ["sq"], ["var"], name="var", axes=[-1]),
        helper.make_node("Add", ["var", "eps"], ["ve"], name="add_eps"),
        helper.make_node("Sqrt", ["ve"], ["std"], name="std"),
        helper.make_node("Div", ["c", "std"], ["y"], name="normalize")],
        [seq], [tensor("y", ["N", 4, 6])],
        [scalar("two", 2.0, TensorProto.FLOAT), scalar("eps", 1e-5, TensorProto.FLOAT)], opset=14)
    # ReduceMean, Pow and Sqrt outside a LayerNorm: op by op.
    save_graph(f"{d}/reduce_pow.onnx", [
        helper.make_node("ReduceMean", ["seq"], ["m"], name="mean", axes=[1], keepdims=0),
        helper.make_node("Pow", ["m", "two"], ["sq"], name="square"),
        helper.make_node("Pow", ["sq", "half"], ["r"], name="root"),
        helper.make_node("Sqrt", ["r"], ["y"], name="sqrt")],
        [seq], [tensor("y", ["N", 6])],
        [scalar("two", 2.0, TensorProto.FLOAT), scalar("half", 0.5, TensorProto.FLOAT)], opset=14)
    # Tied weights: one table read by Gather (embedding) and, through Transpose, by MatMul (the
    # output layer), as GPT-2's export writes it.
    save_graph(f"{d}/tied.onnx", [
        helper.make_node("Gather", ["table", "tokens"], ["e"], name="embed"),
        helper.make_node("Transpose", ["table"], ["table_t"], name="unembed_t", perm=[1, 0]),
        helper.make_node("MatMul", ["e", "table_t"], ["y"], name="unembed")],
        [tokens], [tensor("y", ["N", 4, 10])], [weight("table", [10, 3])])

    b = os.path.join(ROOT, "bad")
    save_graph(f"{b}/slice-runtime-starts.onnx", [
        helper.make_node("Slice", ["seq", "starts", "ends"], ["y"], name="crop")],
        [seq, tensor("starts", [1], TensorProto.INT64)], [tensor("y", ["N", 4, 6])],
        [ints("ends", [4])])
    save_graph(f"{b}/slice-negative-step.onnx", [
        helper.make_node("Slice", ["seq", "starts", "ends", "axes", "steps"], ["y"],
                         name="reverse")],
        [seq], [tensor("y", ["N", 4, 6])],
        [ints("starts", [-1]), ints("ends", [-100]), ints("axes", [2]), ints("steps", [-1])])
    save_graph(f"{b}/where-runtime.onnx", [
        helper.make_node("Equal", ["seq", "seq"], ["same"], name="same"),
        helper.make_node("Where", ["same", "seq", "seq"], ["y"], name="choose")],
        [seq], [tensor("y", ["N", 4, 6])])
    save_graph(f"{b}/huge-fold.onnx", [
        helper.make_node("ConstantOfShape", ["dims"], ["big"], name="huge"),
        helper.make_node("Add", ["seq", "big"], ["y"], name="add")],
        [seq], [tensor("y", ["N", 4, 6])], [ints("dims", [100000, 100000, 6])])
    save_graph(f"{b}/pow-cube.onnx", [helper.make_node("Pow", ["seq", "three"], ["y"], name="cube")],
               [seq], [tensor("y", ["N", 4, 6])], [scalar("three", 3.0, TensorProto.FLOAT)])


if __name__ == "__main__":
    make_gpt()
    make_vit()
    make_ops()
