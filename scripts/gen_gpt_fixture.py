#!/usr/bin/python3
"""Regenerates test/train/chargpt_{adamw,sgd_momentum}/: the char-GPT example trained 50 steps
by PyTorch, with the example's AdamW and with SGD + momentum.

The weights are nnc's own initial ones (nnrun --dump-parameters on the example's plan: Philox
initializers are deterministic), so the fixture stores only the batches, PyTorch's loss per step
and a few of its final weights. PyTorch mirrors the example exactly: pre-LN blocks, causal
attention, GELU MLP, AdamW (betas 0.9/0.99, weight decay 0.1 on rank >= 2 tensors, as nnc does),
global-norm clipping at 1.0, constant learning rate 3e-4, no dropout. The SGD case is the same
model with its optimizer replaced (SGD, lr 0.05, momentum 0.9, weight decay 0.01 on rank >= 2
tensors, no clipping), written as model.pbtxt next to the fixture.

usage: scripts/gen_gpt_fixture.py [build-dir]   (needs the built nnc, nnrun and the example)
"""
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TRAIN = os.path.join(ROOT, "test", "train")
STEPS, BATCHES, B, T, D, HEADS, VOCAB, LR = 50, 3, 32, 128, 128, 4, 128, 3e-4
SGD_LR, SGD_MOMENTUM, SGD_DECAY = 0.05, 0.9, 0.01
CHECKED = ["lm_head.weight", "h0.attn.qkv.weight", "h1.fc.weight", "tok_emb.weight", "pos_emb",
           "ln_f.weight"]


def forward(p, tokens):
    x = F.embedding(tokens, p["tok_emb.weight"]) + p["pos_emb"]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    for i in range(2):
        q = lambda n: p[f"h{i}.{n}"]  # noqa: E731
        a = F.layer_norm(x, (D,), q("ln1.weight"), q("ln1.bias"))
        qkv = F.linear(a, q("attn.qkv.weight"), q("attn.qkv.bias"))
        heads = [t.view(B, T, HEADS, D // HEADS).transpose(1, 2) for t in qkv.split(D, -1)]
        att = (heads[0] @ heads[1].transpose(-1, -2)) * (1.0 / (D // HEADS) ** 0.5)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        o = (att @ heads[2]).transpose(1, 2).reshape(B, T, D)
        x = x + F.linear(o, q("attn.proj.weight"), q("attn.proj.bias"))
        m = F.layer_norm(x, (D,), q("ln2.weight"), q("ln2.bias"))
        x = x + F.linear(F.gelu(F.linear(m, q("fc.weight"), q("fc.bias"))), q("proj.weight"),
                         q("proj.bias"))
    x = F.layer_norm(x, (D,), p["ln_f.weight"], p["ln_f.bias"])
    return F.linear(x, p["lm_head.weight"])


def sgd_model_text(pb, build):
    """The example's model as text, its optimizer replaced by SGD with momentum."""
    protoc = "/usr/bin/protoc"
    text = subprocess.run([protoc, f"--proto_path={os.path.join(ROOT, 'proto')}",
                           "--decode=nnc.Model", "model.proto"], stdin=open(pb, "rb"),
                          check=True, capture_output=True).stdout.decode()
    start = text.index("  optimizer {")
    end = text.index("  }\n", start) + 4
    sgd = (f"  optimizer {{\n    kind: SGD\n    learning_rate: {SGD_LR}\n"
           f"    momentum: {SGD_MOMENTUM}\n    weight_decay: {SGD_DECAY}\n  }}\n")
    text = text[:start] + sgd + text[end:]
    return "\n".join(l for l in text.splitlines() if not l.startswith("  grad_clip_norm")) + "\n"


def train(case, params, tokens, targets, make_opt, clip):
    out = os.path.join(TRAIN, case)
    os.makedirs(os.path.join(out, "final"), exist_ok=True)
    np.save(os.path.join(out, "tokens.npy"), tokens)
    np.save(os.path.join(out, "targets.npy"), targets)
    params = {n: v.detach().clone().requires_grad_() for n, v in params.items()}
    decayed = [v for v in params.values() if v.dim() >= 2]
    rest = [v for v in params.values() if v.dim() < 2]
    opt = make_opt(decayed, rest)
    losses = []
    for step in range(STEPS):
        b = step % BATCHES
        x = torch.from_numpy(tokens[b * B:(b + 1) * B])
        y = torch.from_numpy(targets[b * B:(b + 1) * B])
        opt.zero_grad()
        loss = F.cross_entropy(forward(params, x).reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        losses.append(loss.item())
    with open(os.path.join(out, "losses.txt"), "w") as f:
        f.write("".join(f"{v:.9g}\n" for v in losses))
    for name in CHECKED:
        np.save(os.path.join(out, "final", name + ".npy"), params[name].detach().numpy())
    print(f"{case}: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    work = tempfile.mkdtemp(prefix="nnc-gpt-fixture-")
    pb, plan, init = (os.path.join(work, n) for n in ("gpt.pb", "gpt.plan", "init"))
    subprocess.run([os.path.join(build, "bin", "nnc-example-chargpt"), pb], check=True)
    subprocess.run([os.path.join(build, "bin", "nnc"), "compile", pb, "-o", plan], check=True)
    subprocess.run([os.path.join(build, "bin", "nnrun"), plan, "--dump-parameters", init],
                   check=True)
    params = {f[:-4]: torch.from_numpy(np.load(os.path.join(init, f)))
              for f in os.listdir(init) if not f.endswith(("exp_avg.npy", "exp_avg_sq.npy"))}
    rng = np.random.RandomState(7)
    tokens = rng.randint(0, VOCAB, (BATCHES * B, T)).astype(np.int64)
    targets = rng.randint(0, VOCAB, (BATCHES * B, T)).astype(np.int64)
    train("chargpt_adamw", params, tokens, targets,
          lambda decayed, rest: torch.optim.AdamW(
              [{"params": decayed, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
              lr=LR, betas=(0.9, 0.99)), clip=True)
    out = train("chargpt_sgd_momentum", params, tokens, targets,
                lambda decayed, rest: torch.optim.SGD(
                    [{"params": decayed, "weight_decay": SGD_DECAY},
                     {"params": rest, "weight_decay": 0.0}], lr=SGD_LR, momentum=SGD_MOMENTUM),
                clip=False)
    with open(os.path.join(out, "model.pbtxt"), "w") as f:
        f.write("# The char-GPT example with SGD + momentum (scripts/gen_gpt_fixture.py).\n")
        f.write(sgd_model_text(pb, build))
    with open(os.path.join(out, "lr.txt"), "w") as f:
        f.write(f"{SGD_LR}\n")


if __name__ == "__main__":
    main()
