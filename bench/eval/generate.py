"""Samples for evaluation, generated in seeded blocks and shared among processes, and their features.

Sample i belongs to block i // sample_block, and block j is drawn by one `model.sample(size, g)` call
from its own generator seeded by (seed, j). The block size is a protocol setting (eval.sample_block),
not the extraction batch size: the samples are the same whatever eval.batch_size is and however many
processes share the work. Process r draws blocks r, r + P, r + 2P ..., extracts their features in
batches of batch_size, and the features are gathered and put back in block order
(tests/eval/test_eval_distributed.py, tests/eval/test_eval_sampling.py). Samples, features and the gathered
result stay on the sampling device (uint8 images, float32 features): nothing goes through the host.

Why blocks and not one generator per sample: families draw their noise inside `sample(n, g)` (labels,
then z; mixture components, then noise; DDPM's noise at every step), so a per-sample generator would
mean one model call per image. What still changes the samples besides (seed, i, sample_block) is the
generator's device kind (a CUDA generator draws other numbers than a CPU one); it is recorded as
`rng_device` in the fingerprint.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from accelerate import Accelerator

from bench.datasets.batches import to_uint8
from bench.features.extractor import Extractor
from bench.features.fidelity import extract_features
from bench.models.base import GenerativeModel

# (block index, block size, generator) -> float NCHW in [-1, 1]
Sampler = Callable[[int, int, torch.Generator], torch.Tensor]


def unconditional(model: GenerativeModel) -> Sampler:
    return lambda j, size, g: model.sample(size, g)


def class_conditioned(model: GenerativeModel, labels: torch.Tensor, sample_block: int) -> Sampler:
    """Samples of model.sample_given for labels[i] (labels are split into the same blocks)."""
    return lambda j, size, g: model.sample_given(
        labels[j * sample_block : j * sample_block + size].to(model.device), g
    )


def chunk_seed(seed: int, block: int) -> int:
    return seed * 1_000_003 + block


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The seeds of eval.repeats independent sample sets: the first is eval.seed itself (so repeats: 1
    is the plain evaluation), the others come from numpy's SeedSequence of (seed, r)."""
    return [seed] + [int(np.random.SeedSequence([seed, r]).generate_state(1)[0]) for r in range(1, repeats)]


def block_sizes(n: int, sample_block: int) -> list[int]:
    return [min(sample_block, n - i) for i in range(0, n, sample_block)]


@torch.no_grad()
def generate_uint8(
    sampler: Sampler,
    device: torch.device,
    n: int,
    sample_block: int,
    seed: int,
    blocks: list[int] | None = None,
    precision: str = "fp32",
) -> torch.Tensor:
    """The uint8 samples of `blocks` (default: all) on `device`, concatenated in the given order."""
    sizes = block_sizes(n, sample_block)
    out = []
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    for j in range(len(sizes)) if blocks is None else blocks:
        g = torch.Generator(device).manual_seed(chunk_seed(seed, j))
        with autocast:
            out.append(to_uint8(sampler(j, sizes[j], g)))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8, device=device)


@torch.no_grad()
def generated_features(
    sampler: Sampler,
    device: torch.device,
    n: int,
    sample_block: int,
    batch_size: int,
    seed: int,
    extractors: list[Extractor],
    cuda: bool,
    precision: str = "fp32",
    accelerator: Accelerator | None = None,
) -> dict[str, dict[str, torch.Tensor]]:
    """extractor key -> layer -> (n, D) features of the n samples, identical on every process, on the
    extractor's device (the accelerator's with several processes).

    With an accelerator of P > 1 processes, every process must call this (the features are gathered).
    """
    world = accelerator.num_processes if accelerator is not None else 1
    rank = accelerator.process_index if accelerator is not None else 0
    sizes = block_sizes(n, sample_block)
    mine = list(range(rank, len(sizes), world))
    images = generate_uint8(sampler, device, n, sample_block, seed, mine, precision)
    local = {
        e.key: extract_features(images, e.fidelity_name, e.weights, batch_size, cuda, e.layers, precision)
        if len(images)
        else {}
        for e in extractors
    }
    if world == 1:
        return local
    assert accelerator is not None
    slots = math.ceil(len(sizes) / world)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for e in extractors:
        out[e.key] = {}
        for layer in e.layers:
            dim = _feature_dim(local[e.key].get(layer), accelerator)
            # Every process sends the same shape: one sample_block block per slot, its block or zeros.
            padded = torch.zeros(slots * sample_block, dim, device=accelerator.device)
            offset = 0
            for s, j in enumerate(mine):
                padded[s * sample_block : s * sample_block + sizes[j]] = local[e.key][layer][
                    offset : offset + sizes[j]
                ].to(accelerator.device)
                offset += sizes[j]
            everything = accelerator.gather(padded)
            rows = []
            for j, size in enumerate(sizes):
                r, s = j % world, j // world
                start = (r * slots + s) * sample_block
                rows.append(everything[start : start + size])
            out[e.key][layer] = torch.cat(rows)
    return out


def _feature_dim(local: torch.Tensor | None, accelerator: Accelerator) -> int:
    """The feature width, known even on a process that drew no block (n smaller than P blocks)."""
    d = torch.tensor([local.shape[1] if local is not None else 0], device=accelerator.device)
    return int(accelerator.gather(d).max())
