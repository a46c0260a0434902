"""PyTorch mirrors of the example models (examples/{mlp,cnn,resnet,chargpt}.cpp), written as
functions of a dict of parameters named as nnc names them, so that nnc's initial weights (nnrun
--dump-parameters) load unchanged. Shared by forward_bench.py and train_peer.py.

Details that follow frontend/Layers.cpp: dropout after ReLU (MLP 0.2, CNN 0.5 on fc1, none in the
GPT), BatchNorm with eps 1e-5 and momentum 0.1 on batch statistics (its running statistics are in
the dict, updated in place), exact (erf) GELU, pre-LN blocks with LayerNorm eps 1e-5, attention scores scaled by
1/sqrt(head_dim) and causally masked, a bias-free LM head, cross entropy with label smoothing 0.1
for the Fashion-MNIST models and none for the GPT.
"""
import torch
import torch.nn.functional as F

GPT_HEADS, GPT_VOCAB = 4, 128  # the char-GPT example's heads; every GPT's ASCII vocabulary


def mlp(p, x, training=False):  # (B, 784) -> (B, 10)
    h = F.dropout(F.relu(F.linear(x, p["fc1.weight"], p["fc1.bias"])), 0.2, training)
    h = F.dropout(F.relu(F.linear(h, p["fc2.weight"], p["fc2.bias"])), 0.2, training)
    return F.linear(h, p["fc3.weight"], p["fc3.bias"])


def cnn(p, x, training=False):  # (B, 1, 28, 28) -> (B, 10)
    h = F.max_pool2d(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"], padding=1)), 2)
    h = F.dropout(F.relu(F.linear(h.flatten(1), p["fc1.weight"], p["fc1.bias"])), 0.5, training)
    return F.linear(h, p["fc2.weight"], p["fc2.bias"])


def _batch_norm(p, x, name, training):
    return F.batch_norm(x, p[name + ".running_mean"], p[name + ".running_var"],
                        p[name + ".weight"], p[name + ".bias"], training, 0.1, 1e-5)


def _basic_block(p, x, name, stride, training):
    """conv3x3-BN-ReLU-conv3x3-BN plus the input (a 1x1 conv + BN when the shape changes), ReLU."""
    h = F.relu(_batch_norm(p, F.conv2d(x, p[name + ".conv1.weight"], None, stride, 1),
                           name + ".bn1", training))
    h = _batch_norm(p, F.conv2d(h, p[name + ".conv2.weight"], None, 1, 1), name + ".bn2", training)
    if name + ".downsample.0.weight" in p:
        x = _batch_norm(p, F.conv2d(x, p[name + ".downsample.0.weight"], None, stride),
                        name + ".downsample.1", training)
    return F.relu(h + x)


def resnet(p, x, training=False):  # (B, 1, 28, 28) -> (B, 10)
    h = F.relu(_batch_norm(p, F.conv2d(x, p["conv1.weight"], None, 1, 1), "bn1", training))
    h = F.max_pool2d(h, 2)  # (B, 32, 14, 14)
    for name, stride in (("layer1.0", 1), ("layer2.0", 2), ("layer3.0", 2)):
        h = _basic_block(p, h, name, stride, training)  # ... (B, 128, 4, 4)
    return F.linear(F.avg_pool2d(h, 4).flatten(1), p["fc.weight"], p["fc.bias"])


def causal_attention(qh, kh, vh, attention):
    """softmax(q k^T / sqrt(head_dim), causally masked) v on (B, H, T, head_dim): written out
    ("manual", as nanoGPT's slow path) or PyTorch's fused kernel ("sdpa", PyTorch 2.0+)."""
    if attention == "sdpa":
        return F.scaled_dot_product_attention(qh, kh, vh, is_causal=True)
    t = qh.shape[-2]
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=qh.device), 1)
    att = (qh @ kh.transpose(-1, -2)) * (1.0 / qh.shape[-1] ** 0.5)  # (B, H, T, T)
    return att.masked_fill(mask, float("-inf")).softmax(-1) @ vh


def chargpt(p, tokens, training=False, attention="manual", heads=GPT_HEADS):
    """(B, T) int64 -> (B, T, vocab), at any size: blocks and d_model from the parameters."""
    b, t = tokens.shape
    d = p["pos_emb"].shape[1]
    x = F.embedding(tokens, p["tok_emb.weight"]) + p["pos_emb"]  # (B, T, d)
    for i in range(sum(1 for k in p if k.endswith(".ln1.weight"))):
        q = lambda n: p[f"h{i}.{n}"]  # noqa: E731
        a = F.layer_norm(x, (d,), q("ln1.weight"), q("ln1.bias"))
        qkv = F.linear(a, q("attn.qkv.weight"), q("attn.qkv.bias"))  # (B, T, 3d)
        qh, kh, vh = (z.view(b, t, heads, d // heads).transpose(1, 2) for z in qkv.split(d, -1))
        o = causal_attention(qh, kh, vh, attention).transpose(1, 2).reshape(b, t, d)
        x = x + F.linear(o, q("attn.proj.weight"), q("attn.proj.bias"))
        m = F.layer_norm(x, (d,), q("ln2.weight"), q("ln2.bias"))
        x = x + F.linear(F.gelu(F.linear(m, q("fc.weight"), q("fc.bias"))), q("proj.weight"),
                         q("proj.bias"))
    x = F.layer_norm(x, (d,), p["ln_f.weight"], p["ln_f.bias"])
    return F.linear(x, p["lm_head.weight"])


def loss(model, p, x, y, training=True, attention="manual", heads=None):
    """The example's training loss on one batch (`heads`: a GPT's)."""
    if heads is not None:
        logits = chargpt(p, x, training, attention, heads)
        return F.cross_entropy(logits.reshape(-1, GPT_VOCAB), y.reshape(-1))
    logits = {"mlp": mlp, "cnn": cnn, "resnet": resnet}[model](p, x, training)
    return F.cross_entropy(logits, y, label_smoothing=0.1)
