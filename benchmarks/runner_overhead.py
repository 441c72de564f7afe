"""Overhead of bench's training loop against a bare hand-written PyTorch loop.

Same DCGAN nets, same digits data, same batch, same threads, in the same process; the two loops
alternate in rounds so that machine noise hits both alike. Prints per-step times and the ratio
runner / bare (1.00 = no overhead) three ways: the median over rounds of each round's ratio (a
runner round against the bare round just before it, which cancels the slow drift of a shared VM's
speed; the headline figure), the ratio of the medians, and the ratio of the fastest rounds (the least
disturbed ones, the estimator `timeit` recommends). When they disagree the machine was busy: re-run.

    python benchmarks/runner_overhead.py [--steps 60] [--rounds 5] [--batch 64] [--width 32]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.cell.run import make_accelerator
from bench.config import TrainConfig
from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import BatchStream
from bench.models.dcgan import DCGAN, DCGANConfig
from bench.train.loop import fit
from bench.train.steplog import StepLog


def bare_loop(G, D, images: torch.Tensor, steps: int, batch: int, z_dim: int) -> float:
    """The reference DCGAN loop, written out by hand: seconds per step."""
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    data = images.float() / 127.5 - 1
    n, pos = len(data), 0
    perm = torch.randperm(n)
    ones, zeros = torch.ones(batch), torch.zeros(batch)
    t0 = time.perf_counter()
    for _ in range(steps):
        for _phase in range(2):  # a fresh batch per phase, as the runner does
            if pos + batch > n:
                perm, pos = torch.randperm(n), 0
            x = data[perm[pos : pos + batch]]
            pos += batch
            if _phase == 0:
                fake = G(torch.randn(batch, z_dim))
                loss = F.binary_cross_entropy_with_logits(D(x), ones) + F.binary_cross_entropy_with_logits(
                    D(fake.detach()), zeros
                )
                opt_d.zero_grad(set_to_none=True)
                loss.backward()
                opt_d.step()
            else:
                loss = F.binary_cross_entropy_with_logits(D(fake), ones)
                opt_g.zero_grad(set_to_none=True)
                loss.backward()
                opt_g.step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads for both loops; 0 = all cores")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    source = DATASETS.get("digits")(DATASETS.get("digits").Args())
    info, train = source.info(), source.load("train", DataContext.from_env())
    cfg = DCGANConfig(g_width=args.width, d_width=args.width)

    torch.manual_seed(0)
    model = DCGAN(cfg, info, args.latent)
    accelerator = make_accelerator(TrainConfig(steps=1))
    opts = model.optimizers()
    model.nets = {name: accelerator.prepare_model(net) for name, net in model.nets.items()}  # as cell.py
    stream = BatchStream(train, args.batch, accelerator.device, seed=0)

    torch.manual_seed(0)
    bare = DCGAN(cfg, info, args.latent)  # fresh nets of the same design for the hand-written loop
    bare_g, bare_d = bare.nets["G"], bare.nets["D"]

    with tempfile.TemporaryDirectory() as tmp:
        log = StepLog(Path(tmp) / "metrics.jsonl")
        step = 0

        def runner(steps: int) -> float:
            nonlocal step
            t0 = time.perf_counter()
            fit(model, opts, stream, accelerator, log, step, step + steps, log_every=50)
            step += steps
            return (time.perf_counter() - t0) / steps

        runner(10)  # warm-up: allocator, first-call paths
        bare_loop(bare_g, bare_d, train.images, 10, args.batch, args.latent)
        r_times, b_times = [], []
        for _ in range(args.rounds):
            b_times.append(bare_loop(bare_g, bare_d, train.images, args.steps, args.batch, args.latent))
            r_times.append(runner(args.steps))
    b, r = statistics.median(b_times), statistics.median(r_times)
    print(
        f"DCGAN width {args.width}, latent {args.latent}, batch {args.batch}, digits 28x28, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds x {args.steps} steps"
    )
    for label, med, times in (("bare PyTorch loop", b, b_times), ("bench runner     ", r, r_times)):
        print(f"{label} : {med * 1e3:8.2f} ms/step (rounds: {', '.join(f'{t * 1e3:.1f}' for t in times)})")
    paired = statistics.median(rt / bt for rt, bt in zip(r_times, b_times, strict=True))
    print(
        f"ratio runner/bare : {paired:.3f} (median of per-round ratios), {r / b:.3f} (ratio of medians), "
        f"{min(r_times) / min(b_times):.3f} (fastest rounds)"
    )


if __name__ == "__main__":
    main()
