"""JAX mirrors of the example models (examples/{mlp,cnn,resnet,chargpt}.cpp), the same functions
as torch_models.py written with jax.numpy and jax.lax, plus the AdamW + global-norm clipping
update that nnc's train_step does (PyTorch's AdamW formulas), so that one jitted function is the
whole training step.

The CNN and ResNet run in NHWC with HWIO kernels, XLA's native CPU convolution layout (NCHW would
add transposes around every convolution, a handicap no JAX user would accept); prepare() converts
nnc's OIHW weights and fc1's (C, H, W)-ordered columns once, which is the same function.
BatchNorm's running statistics are state beside the parameters (`stats`): the step returns them
updated as PyTorch does (momentum 0.1, the unbiased batch variance).
"""
import jax
import jax.numpy as jnp
from jax import lax

GPT_HEADS, GPT_VOCAB = 4, 128  # the char-GPT example's heads; every GPT's ASCII vocabulary


def _linear(x, p, name, bias=True):
    y = x @ p[name + ".weight"].T
    return y + p[name + ".bias"] if bias else y


def _dropout(x, rate, key):
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def _layer_norm(x, p, name, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * lax.rsqrt(var + eps) * p[name + ".weight"] + p[name + ".bias"]


def mlp(p, x, key):  # (B, 784) -> (B, 10)
    k1, k2 = jax.random.split(key)
    h = _dropout(jax.nn.relu(_linear(x, p, "fc1")), 0.2, k1)
    h = _dropout(jax.nn.relu(_linear(h, p, "fc2")), 0.2, k2)
    return _linear(h, p, "fc3")


def _conv_relu_pool(x, p, name):  # NHWC, 3x3 "same" convolution, then 2x2 max pooling
    y = lax.conv_general_dilated(x, p[name + ".weight"], (1, 1), ((1, 1), (1, 1)),
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    y = jax.nn.relu(y + p[name + ".bias"])
    return lax.reduce_window(y, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def cnn(p, x, key):  # (B, 28, 28, 1) -> (B, 10)
    h = _conv_relu_pool(_conv_relu_pool(x, p, "conv1"), p, "conv2")  # (B, 7, 7, 64)
    h = _dropout(jax.nn.relu(_linear(h.reshape(h.shape[0], -1), p, "fc1")), 0.5, key)
    return _linear(h, p, "fc2")


def _batch_norm(x, p, stats, new_stats, name, eps=1e-5, momentum=0.1):
    """Training-mode BatchNorm over NHWC's channels; records the updated running statistics."""
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    n = x.size // x.shape[-1]
    new_stats[name + ".running_mean"] = (1 - momentum) * stats[name + ".running_mean"] + \
        momentum * mean
    new_stats[name + ".running_var"] = (1 - momentum) * stats[name + ".running_var"] + \
        momentum * var * (n / (n - 1))
    return (x - mean) * lax.rsqrt(var + eps) * p[name + ".weight"] + p[name + ".bias"]


def _conv(x, w, stride, padding):  # NHWC x HWIO, no bias
    return lax.conv_general_dilated(x, w, (stride, stride), ((padding, padding),) * 2,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def resnet(p, x, stats):  # (B, 28, 28, 1) -> ((B, 10), updated running statistics)
    new = {}
    h = jax.nn.relu(_batch_norm(_conv(x, p["conv1.weight"], 1, 1), p, stats, new, "bn1"))
    h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    for name, stride in (("layer1.0", 1), ("layer2.0", 2), ("layer3.0", 2)):
        y = jax.nn.relu(_batch_norm(_conv(h, p[name + ".conv1.weight"], stride, 1), p, stats,
                                    new, name + ".bn1"))
        y = _batch_norm(_conv(y, p[name + ".conv2.weight"], 1, 1), p, stats, new, name + ".bn2")
        if name + ".downsample.0.weight" in p:
            h = _batch_norm(_conv(h, p[name + ".downsample.0.weight"], stride, 0), p, stats, new,
                            name + ".downsample.1")
        h = jax.nn.relu(y + h)
    return _linear(h.mean((1, 2)), p, "fc"), new


def chargpt(p, tokens, key, heads=GPT_HEADS):
    """(B, T) int -> (B, T, vocab), no dropout; blocks and d_model from the parameters."""
    b, t = tokens.shape
    d = p["pos_emb"].shape[1]
    x = p["tok_emb.weight"][tokens] + p["pos_emb"]  # (B, T, d)
    causal = jnp.tril(jnp.ones((t, t), bool))
    for i in range(sum(1 for k in p if k.endswith(".ln1.weight"))):
        n = f"h{i}."
        qkv = _linear(_layer_norm(x, p, n + "ln1"), p, n + "attn.qkv")  # (B, T, 3d)
        q, k, v = (z.reshape(b, t, heads, d // heads).transpose(0, 2, 1, 3)
                   for z in jnp.split(qkv, 3, -1))  # (B, H, T, hd)
        att = (q @ k.transpose(0, 1, 3, 2)) * (1.0 / (d // heads) ** 0.5)
        att = jax.nn.softmax(jnp.where(causal, att, -jnp.inf), -1)
        o = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
        x = x + _linear(o, p, n + "attn.proj")
        m = _layer_norm(x, p, n + "ln2")
        x = x + _linear(jax.nn.gelu(_linear(m, p, n + "fc"), approximate=False), p, n + "proj")
    return _linear(_layer_norm(x, p, "ln_f"), p, "lm_head", bias=False)


def is_statistic(name):
    return name.endswith((".running_mean", ".running_var"))


def prepare(model, params, features):
    """nnc's parameters and features as this module's functions take them: (trained parameters,
    running statistics, features)."""
    stats = {k: jnp.asarray(v) for k, v in params.items() if is_statistic(k)}
    params = {k: jnp.asarray(v) for k, v in params.items() if not is_statistic(k)}
    if model in ("cnn", "resnet"):
        for name in [k for k, v in params.items() if v.ndim == 4]:
            params[name] = params[name].transpose(2, 3, 1, 0)  # OIHW -> HWIO
        features = features.transpose(0, 2, 3, 1)
    if model == "cnn":
        w = params["fc1.weight"]  # columns (C, H, W) -> (H, W, C)
        params["fc1.weight"] = w.reshape(w.shape[0], 64, 7, 7).transpose(0, 2, 3, 1).reshape(
            w.shape[0], -1)
    return params, stats, jnp.asarray(features)


def loss(model, p, stats, x, y, key, heads=None):
    """(the loss, the updated running statistics)."""
    if heads is not None:
        logp = jax.nn.log_softmax(chargpt(p, x, key, heads).reshape(-1, GPT_VOCAB))
        return -jnp.take_along_axis(logp, y.reshape(-1, 1), 1).mean(), stats
    if model == "resnet":
        logits, stats = resnet(p, x, stats)
    else:
        logits = {"mlp": mlp, "cnn": cnn}[model](p, x, key)
    logp = jax.nn.log_softmax(logits)
    smoothing, classes = 0.1, logp.shape[-1]  # PyTorch's label_smoothing
    nll = -jnp.take_along_axis(logp, y.reshape(-1, 1), 1)[:, 0]
    return ((1 - smoothing) * nll - smoothing / classes * logp.sum(-1)).mean(), stats


def make_train_step(model, recipe, decayed, heads=None):
    """One jitted step: loss and gradients, global-norm clipping, AdamW; donates its state."""
    lr, (b1, b2), eps, wd, clip = (recipe[k] for k in ("lr", "betas", "eps", "weight_decay",
                                                        "clip"))

    def step(params, m, v, t, stats, x, y, key):
        key = jax.random.fold_in(key, t.astype(jnp.int32))  # a fresh dropout mask per step
        (value, stats), grads = jax.value_and_grad(
            lambda p: loss(model, p, stats, x, y, key, heads), has_aux=True)(params)
        norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grads)))
        scale = jnp.minimum(1.0, clip / (norm + 1e-6))  # torch.nn.utils.clip_grad_norm_
        t = t + 1
        new_p, new_m, new_v = {}, {}, {}
        for name, p in params.items():
            g = grads[name] * scale
            if name in decayed:
                p = p * (1 - lr * wd)
            new_m[name] = b1 * m[name] + (1 - b1) * g
            new_v[name] = b2 * v[name] + (1 - b2) * g * g
            m_hat = new_m[name] / (1 - b1 ** t)
            v_hat = new_v[name] / (1 - b2 ** t)
            new_p[name] = p - lr * m_hat / (jnp.sqrt(v_hat) + eps)
        return new_p, new_m, new_v, t, stats, value

    return jax.jit(step, donate_argnums=(0, 1, 2, 4))
