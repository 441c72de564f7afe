"""Seeds stacked into one model (torch.func + vmap) against the same seeds trained one after another.

A grid trains S seeds of every configuration. Small nets leave a device idle, so one idea is to train
the S copies as one stacked model: `torch.func.stack_module_state` stacks every parameter along a new
leading dimension, `vmap(functional_call)` runs the S copies as batched kernels, and one Adam over the
stacked tensors updates each copy exactly as its own Adam would (Adam is elementwise). This measures
it on the MLP VAE step (Bernoulli + KL, batch 64, digits-sized 784 inputs) in
one process, alternating rounds so machine noise hits both alike, and prints the ratio
stacked / sequential of the time for all S seeds to take one step (< 1: stacking is faster).

    python benchmarks/seeds_stacked.py [--seeds 3] [--steps 30] [--rounds 5] [--threads 1]

Every seed's loss after one step equals its sequential twin's within float tolerance (checked before
timing), so the comparison is of the same arithmetic.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class VAE(nn.Module):
    """The mlp_vae nets (784-512-256 -> z, mirrored) with its loss, as one module vmap can call."""

    def __init__(self, z: int = 8) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
        self.mu, self.logvar = nn.Linear(256, z), nn.Linear(256, z)
        self.dec = nn.Sequential(
            nn.Linear(z, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784)
        )

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        h = self.enc(x)
        mu, logvar = self.mu(h), self.logvar(h)
        logits = self.dec(mu + eps * (0.5 * logvar).exp())
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return (rec + kl).mean()


def make_copies(seeds: int) -> list[nn.Module]:
    out = []
    for s in range(seeds):
        torch.manual_seed(s)
        out.append(VAE())
    return out


def sequential_step(models, opts, xs, eps) -> torch.Tensor:
    losses = []
    for m, opt, x, e in zip(models, opts, xs, eps, strict=True):
        loss = m(x, e)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return torch.stack(losses)


class Stacked:
    def __init__(self, models: list[nn.Module]) -> None:
        self.base = copy.deepcopy(models[0]).to("meta")
        params, buffers = stack_module_state(models)
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.buffers = buffers
        self.opt = torch.optim.Adam(self.params.values(), lr=1e-3)

        def one(p, b, x, e):
            return functional_call(self.base, (p, b), (x, e))

        self.loss = vmap(one)

    def step(self, xs: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        losses = self.loss(self.params, self.buffers, xs, eps)
        self.opt.zero_grad(set_to_none=True)
        # Each copy's loss depends only on its own slice of the stacked parameters, so the gradient of
        # the sum is each copy's own gradient.
        losses.sum().backward()
        self.opt.step()
        return losses.detach()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    S, B = args.seeds, args.batch
    g = torch.Generator().manual_seed(0)
    data = torch.rand(args.steps, S, B, 784, generator=g).round()
    noise = torch.randn(args.steps, S, B, 8, generator=g)

    # Same arithmetic first: one step each way from the same weights gives the same losses.
    seq = make_copies(S)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in seq]
    stacked = Stacked(make_copies(S))
    for t in range(2):
        a = sequential_step(seq, opts, data[t], noise[t])
        b = stacked.step(data[t], noise[t])
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-3), (a, b)
    print(f"agreement: per-seed losses equal after 2 steps (max |diff| {float((a - b).abs().max()):.2e})")

    seq_t, stk_t, ratios = [], [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for t in range(args.steps):
            sequential_step(seq, opts, data[t], noise[t])
        seq_t.append((time.perf_counter() - t0) / args.steps)
        t0 = time.perf_counter()
        for t in range(args.steps):
            stacked.step(data[t], noise[t])
        stk_t.append((time.perf_counter() - t0) / args.steps)
        ratios.append(stk_t[-1] / seq_t[-1])
    print(
        f"MLP VAE, {S} seeds, batch {B}, {args.threads} thread(s): sequential "
        f"{statistics.median(seq_t) * 1e3:.2f} ms, stacked {statistics.median(stk_t) * 1e3:.2f} ms per "
        f"step of all seeds"
    )
    print(
        f"ratio stacked/sequential: median of rounds {statistics.median(ratios):.3f}, "
        f"fastest rounds {min(stk_t) / min(seq_t):.3f}  (< 1: stacking is faster)"
    )


if __name__ == "__main__":
    main()
