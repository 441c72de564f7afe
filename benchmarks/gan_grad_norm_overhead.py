"""Cost of logging the discriminator's first-layer gradient norm, per training step.

The norm is read from the gradient the D update left behind (bench/models/adversarial.py), so its cost
is one reduction over one weight tensor. This times the same model's steps through the runner's loop
with the norm on and with it replaced by a constant, alternating in rounds so machine noise hits both
alike, and prints the per-step times and their ratio (1.00 = free), from medians and fastest rounds.

    python benchmarks/gan_grad_norm_overhead.py [--model fc_gan] [--steps 60] [--rounds 5] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.cell.run import make_accelerator
from bench.config import TrainConfig
from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import BatchStream
from bench.models import MODELS, adversarial, dcgan, mlp_gan
from bench.train.loop import fit
from bench.train.steplog import StepLog

MODULES = (adversarial, dcgan, mlp_gan)  # every module that imported first_layer_grad_norm by name


def _constant(net: torch.nn.Module) -> torch.Tensor:
    return torch.zeros(())


def time_steps(name: str, with_norm: bool, steps: int, batch: int, log_every: int) -> float:
    """Seconds per step of `name` on digits through `fit`; the norm on or replaced by a constant."""
    original = adversarial.first_layer_grad_norm
    for m in MODULES:
        if hasattr(m, "first_layer_grad_norm"):
            m.first_layer_grad_norm = original if with_norm else _constant
    try:
        family = MODELS.get(name)
        info = DATASETS.get("digits")(DATASETS.get("digits").Args()).info()
        torch.manual_seed(0)
        model = family(family.Config(), info, family.default_latent_size)
        accelerator = make_accelerator(TrainConfig(device="cpu", steps=steps))
        split = DATASETS.get("digits")(DATASETS.get("digits").Args()).load("train", DataContext())
        stream = BatchStream(split, batch, torch.device("cpu"), seed=0)
        with tempfile.TemporaryDirectory() as tmp:
            log = StepLog(Path(tmp) / "metrics.jsonl")
            model.begin(steps)
            t0 = time.perf_counter()
            fit(model, model.optimizers(), stream, accelerator, log, 0, steps, log_every)
            return (time.perf_counter() - t0) / steps
    finally:
        for m in MODULES:
            if hasattr(m, "first_layer_grad_norm"):
                m.first_layer_grad_norm = original


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fc_gan")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    time_steps(args.model, True, 5, args.batch, 5)  # warm-up
    on, off = [], []
    for _ in range(args.rounds):
        on.append(time_steps(args.model, True, args.steps, args.batch, 50))
        off.append(time_steps(args.model, False, args.steps, args.batch, 50))
    print(
        f"{args.model}: batch {args.batch}, {args.steps} steps x {args.rounds} rounds, {args.threads} threads"
    )
    print(f"  with norm    median {statistics.median(on) * 1e3:.2f} ms/step, fastest {min(on) * 1e3:.2f}")
    print(f"  without norm median {statistics.median(off) * 1e3:.2f} ms/step, fastest {min(off) * 1e3:.2f}")
    print(
        f"  ratio with/without: median {statistics.median(on) / statistics.median(off):.3f}, "
        f"fastest {min(on) / min(off):.3f}"
    )


if __name__ == "__main__":
    main()
