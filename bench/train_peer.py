"""One peer's training run for bench/train_bench.py, in the peer's own Python (a fresh process
per repetition, so that no framework's thread pool or caches outlive its turn).

usage: PYTHON bench/train_peer.py FRAMEWORK MODEL PARAMS_DIR FEATURES LABELS WARMUP STEPS THREADS
                                 [ATTENTION [PRECISION]]
  FRAMEWORK  torch (eager), torch-compile or jax
  ATTENTION  PyTorch's GPT attention: manual (default; written out) or sdpa
             (F.scaled_dot_product_attention, PyTorch 2.0+)
  PRECISION  fp32 (default) or bf16: PyTorch's forward under torch.autocast("cpu", bfloat16)
             (fp32 master weights and optimizer, as nnc's bf16 plans); JAX has no bf16 recipe
  PARAMS_DIR nnc's initial parameters (nnrun --dump-parameters), so every runner starts from the
             same weights; FEATURES/LABELS the stacked batches nnrun --train takes (step i trains
             on batch i mod N)
Prints one JSON line: the framework's version, the first step's time (tracing and compilation
included), each measured step's time, their CPU time (user + sys, all threads), and the first
and last step's loss. Each step ends by reading its loss back as a Python float, as nnrun prints
each step's loss.

The recipe is the examples' (examples/Common.h, examples/chargpt.cpp) with a constant learning
rate: AdamW (weight decay on rank >= 2 parameters only, as nnc does), global-norm clipping at 1.0.
"""
import json
import os
import resource
import sys
import time

import numpy as np

RECIPES = {
    "mlp": dict(batch=128, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, clip=1.0),
    "cnn": dict(batch=128, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, clip=1.0),
    "resnet": dict(batch=128, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01,
                   clip=1.0),
    "chargpt": dict(batch=32, lr=3e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1, clip=1.0,
                    gpt=(2, 128, 4, 128)),
    # The char-GPT's recipe at real sizes (blocks, d_model, heads, context; batch 8).
    "gpt6": dict(batch=8, lr=3e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1, clip=1.0,
                 gpt=(6, 384, 6, 256)),
    "gpt12": dict(batch=8, lr=3e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1, clip=1.0,
                  gpt=(12, 768, 12, 256)),
}


def is_statistic(name):
    """BatchNorm's running statistics: state the step updates, not a trained parameter."""
    return name.endswith((".running_mean", ".running_var"))


def load_params(params_dir):
    """The model's parameters from nnrun's dump, without the optimizer state next to them."""
    return {f[:-4]: np.load(os.path.join(params_dir, f)) for f in sorted(os.listdir(params_dir))
            if not f.endswith((".exp_avg.npy", ".exp_avg_sq.npy"))}


def torch_runner(model, params, features, labels, threads, compiled, attention, precision):
    import torch
    import torch_models
    torch.set_num_threads(threads)
    r = RECIPES[model]
    p = {k: torch.from_numpy(v).requires_grad_(not is_statistic(k)) for k, v in params.items()}
    trained = [v for k, v in p.items() if not is_statistic(k)]
    groups = [{"params": [v for v in trained if v.dim() >= 2], "weight_decay": r["weight_decay"]},
              {"params": [v for v in trained if v.dim() < 2], "weight_decay": 0.0}]
    # Each PyTorch's fastest CPU AdamW: fused (2.4+) in eager mode; under torch.compile the
    # default for-loop form, which compile turns into its own fused kernels.
    version = tuple(int(x) for x in torch.__version__.split(".")[:2])
    kw = {} if compiled else {"fused": True} if version >= (2, 4) else {"foreach": True}
    opt = torch.optim.AdamW(groups, lr=r["lr"], betas=r["betas"], eps=r["eps"], **kw)
    flat = trained

    def loss_fn(x, y):
        if precision == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return torch_models.loss(model, p, x, y, attention=attention,
                                         heads=r["gpt"][2] if "gpt" in r else None).float()
        return torch_models.loss(model, p, x, y, attention=attention,
                                 heads=r["gpt"][2] if "gpt" in r else None)

    def update():
        torch.nn.utils.clip_grad_norm_(flat, r["clip"])
        opt.step()

    if compiled:
        loss_fn, update = torch.compile(loss_fn), torch.compile(update)
    xs = torch.from_numpy(features).split(r["batch"])
    ys = torch.from_numpy(labels).split(r["batch"])

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(xs[i % len(xs)], ys[i % len(ys)])
        loss.backward()
        update()
        return loss.item()

    return torch.__version__, step


def jax_runner(model, params, features, labels, threads):
    import jax
    import jax.numpy as jnp
    import jax_models
    r = RECIPES[model]
    decayed = {k for k, v in params.items() if v.ndim >= 2}  # running statistics are (C)
    p, stats, feats = jax_models.prepare(model, params, features)
    state = [p, {k: jnp.zeros_like(v) for k, v in p.items()},
             {k: jnp.zeros_like(v) for k, v in p.items()}, jnp.zeros((), jnp.float32), stats]
    train_step = jax_models.make_train_step(model, r, decayed, r["gpt"][2] if "gpt" in r else None)
    b = r["batch"]
    xs = [feats[i:i + b] for i in range(0, feats.shape[0], b)]
    ys = [jnp.asarray(labels[i:i + b].astype(np.int32)) for i in range(0, labels.shape[0], b)]
    key = jax.random.PRNGKey(0)

    def step(i):
        out = train_step(*state, xs[i % len(xs)], ys[i % len(ys)], key)
        state[:] = out[:5]
        return float(out[5])

    return jax.__version__, step


def main():
    framework, model, params_dir, features, labels = sys.argv[1:6]
    warmup, steps, threads = (int(a) for a in sys.argv[6:9])
    attention = sys.argv[9] if len(sys.argv) > 9 else "manual"
    precision = sys.argv[10] if len(sys.argv) > 10 else "fp32"
    params = load_params(params_dir)
    features, labels = np.load(features), np.load(labels)
    if framework == "jax":
        if precision != "fp32":
            sys.exit(f"no {precision} recipe for JAX in this bench")
        version, step = jax_runner(model, params, features, labels, threads)
    else:
        version, step = torch_runner(model, params, features, labels, threads,
                                     compiled=framework == "torch-compile", attention=attention,
                                     precision=precision)
    start = time.perf_counter()
    first_loss = step(0)
    first_s = time.perf_counter() - start
    for i in range(1, warmup):
        step(i)
    times = []
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for i in range(warmup, warmup + steps):
        start = time.perf_counter()
        loss = step(i)
        times.append(time.perf_counter() - start)
    end = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = end.ru_utime + end.ru_stime - usage.ru_utime - usage.ru_stime
    print(json.dumps(dict(version=version, first_step_s=first_s, step_s=times, cpu_s=cpu_s,
                          first_loss=first_loss, last_loss=loss)))


if __name__ == "__main__":
    main()
