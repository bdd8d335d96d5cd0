#!/usr/bin/env python3
# Copied from shared/bench/torch_reference.py so that a fresh clone can run `make bench`; added: this line,
# `--warmup` (the Rust side's warm-up, so both are timed alike), the training step's parts and the peak resident memory.
"""PyTorch reference of the CodeFusion model in ../docs/model-spec.md, for timing.

It is the baseline that the Rust implementation is measured against on the same
machine and configuration: a training step (forward, backward, AdamW) and a
sampling step (one denoiser pass plus one decode of x0_hat, as a rollout does).

    python3 torch_reference.py --config tiny   # or a JSON file with the same keys
    python3 torch_reference.py --config '{"vocab": 4096, "n": 64, ...}'

Prints one JSON object: parameter count, FLOPs per step, median seconds per train
step and per sampling step, tokens per second. Inputs are random token ids (the
timing does not depend on their values). Needs torch (CPU build is enough).
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "tiny": dict(vocab=4096, n=64, d=256, heads=4, layers_n=4, layers_d=2, steps=1200, batch=32),
    "small": dict(vocab=8192, n=128, d=384, heads=6, layers_n=6, layers_d=3, steps=1200, batch=32),
    "paper": dict(vocab=32128, n=128, d=512, heads=8, layers_n=10, layers_d=6, steps=1200, batch=64),
}


def sqrt_schedule(T):
    abar = lambda u: 1 - math.sqrt(u + 1e-4)
    betas = [min(1 - abar((i + 1) / T) / abar(i / T), 0.999) for i in range(T)]
    ac, p = [], 1.0
    for b in betas:
        p *= 1 - b
        ac.append(p)
    return torch.tensor(ac, dtype=torch.float32)


def timestep_features(t, T, dim=128):
    t = t.float() * 1000.0 / T
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.ffn(self.ln2(x))


class Stack(nn.Module):
    def __init__(self, d, heads, layers, n):
        super().__init__()
        self.inp = nn.Linear(d, d)
        self.pos = nn.Parameter(torch.randn(n, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, x, extra=None):
        x = self.inp(x) + self.pos
        if extra is not None:
            x = x + extra[:, None, :]
        for b in self.blocks:
            x = b(x)
        return self.ln(x)


class CodeFusion(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["d"]
        self.T = c["steps"]
        self.embed = nn.Embedding(c["vocab"], d)
        self.time = nn.Sequential(nn.Linear(128, 4 * d), nn.SiLU(), nn.Linear(4 * d, d))
        self.denoiser = Stack(d, c["heads"], c["layers_n"], c["n"])
        self.denoiser_out = nn.Linear(d, d)
        self.decoder = Stack(d, c["heads"], c["layers_d"], c["n"])
        self.head = nn.Linear(d, c["vocab"])
        self.register_buffer("ac", sqrt_schedule(self.T))

    def denoise(self, x_t, t):
        temb = self.time(timestep_features(t, self.T))
        return self.denoiser_out(self.denoiser(x_t, temb))

    def decode_logits(self, x0_hat):
        return self.head(self.decoder(x0_hat))

    def loss(self, tokens):
        b = tokens.shape[0]
        x0 = self.embed(tokens)
        t = torch.randint(0, self.T, (b,))
        a = self.ac[t][:, None, None]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn_like(x0)
        x0_hat = self.denoise(x_t, t)
        dec = self.decoder(x0_hat)
        logits = self.head(dec)
        return (F.mse_loss(x0_hat, x0) + F.mse_loss(dec, x0)
                + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1)))


def flops_per_token_forward(c):
    """Matmul FLOPs per token for one forward pass of denoiser + decoder + head."""
    d, n, V = c["d"], c["n"], c["vocab"]
    per_block = 2 * (4 * d * d + 2 * d * 4 * d) + 2 * 2 * n * d  # projections + ffn + attention
    stacks = (c["layers_n"] + c["layers_d"]) * per_block + 2 * 2 * d * d * 3  # in/out projections
    return stacks + 2 * d * V


def median_time(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", default="tiny")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before the timed ones")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = p.parse_args()
    c = PRESETS[args.config] if args.config in PRESETS else json.loads(
        open(args.config).read() if args.config.endswith(".json") else args.config)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CodeFusion(c)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.0)
    tokens = torch.randint(0, c["vocab"], (c["batch"], c["n"]))

    def train_step():
        opt.zero_grad(set_to_none=True)
        model.loss(tokens).backward()
        opt.step()

    x = torch.randn(c["batch"], c["n"], c["d"])
    t = torch.full((c["batch"],), c["steps"] // 2)

    @torch.inference_mode()
    def sample_step():
        x0_hat = model.denoise(x, t)
        model.decode_logits(x0_hat).argmax(-1)

    train_s = median_time(train_step, args.reps, args.warmup)
    # where a training step goes, timed as the Rust bench splits it
    parts = {"forward": [], "backward": [], "adamw": []}
    for _ in range(args.reps):
        opt.zero_grad(set_to_none=True)
        start = time.perf_counter()
        loss = model.loss(tokens)
        mid = time.perf_counter()
        loss.backward()
        end = time.perf_counter()
        opt.step()
        parts["forward"].append(mid - start)
        parts["backward"].append(end - mid)
        parts["adamw"].append(time.perf_counter() - end)
    sample_s = median_time(sample_step, args.reps, args.warmup)
    tokens_per_step = c["batch"] * c["n"]
    fwd = flops_per_token_forward(c) * tokens_per_step
    print(json.dumps({
        "impl": "pytorch " + torch.__version__,
        "threads": torch.get_num_threads(),
        "config": c,
        "params": sum(p.numel() for p in model.parameters()),
        "train_step_s": round(train_s, 5),
        "train_tokens_per_s": round(tokens_per_step / train_s, 1),
        "train_gflops_per_s": round(3 * fwd / train_s / 1e9, 2),
        "train_parts_s": {k: round(statistics.median(v), 5) for k, v in parts.items()},
        "sample_step_s": round(sample_s, 5),
        "sample_tokens_per_s": round(tokens_per_step / sample_s, 1),
        "sample_gflops_per_s": round(fwd / sample_s / 1e9, 2),
        "peak_rss_mb": peak_rss_mb(),
    }))


def peak_rss_mb():
    """This process's peak resident memory (VmHWM: unlike getrusage's maxrss, it
    starts afresh at exec, so the parent's memory at fork does not count)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main()
