"""Samples for evaluation, generated in seeded chunks and shared among processes, and their features.

Sample i belongs to chunk i // batch_size, and chunk j is drawn from its own generator seeded by
(seed, j). So the set of samples does not depend on how many processes share the work: process r
draws chunks r, r + P, r + 2P ..., extracts their features, and the features are gathered and put
back in chunk order. One process or several give the same metric (tests/test_eval_distributed.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from accelerate import Accelerator

from bench.datasets.batches import to_uint8
from bench.eval.fidelity import extract_features
from bench.eval.protocol import Extractor
from bench.models.base import GenerativeModel

# (chunk index, chunk size, generator) -> float NCHW in [-1, 1]
Sampler = Callable[[int, int, torch.Generator], torch.Tensor]


def unconditional(model: GenerativeModel) -> Sampler:
    return lambda j, size, g: model.sample(size, g)


def class_conditioned(model: GenerativeModel, labels: torch.Tensor, batch_size: int) -> Sampler:
    """Samples of model.sample_given for labels[i] (labels are split into the same chunks)."""
    return lambda j, size, g: model.sample_given(
        labels[j * batch_size : j * batch_size + size].to(model.device), g
    )


def chunk_seed(seed: int, chunk: int) -> int:
    return seed * 1_000_003 + chunk


def _chunk_sizes(n: int, batch_size: int) -> list[int]:
    return [min(batch_size, n - i) for i in range(0, n, batch_size)]


@torch.no_grad()
def generate_uint8(
    sampler: Sampler,
    device: torch.device,
    n: int,
    batch_size: int,
    seed: int,
    chunks: list[int] | None = None,
    precision: str = "fp32",
) -> torch.Tensor:
    """The uint8 samples of `chunks` (default: all) on the CPU, concatenated in the given order."""
    sizes = _chunk_sizes(n, batch_size)
    out = []
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    for j in range(len(sizes)) if chunks is None else chunks:
        g = torch.Generator(device).manual_seed(chunk_seed(seed, j))
        with autocast:
            out.append(to_uint8(sampler(j, sizes[j], g)).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.uint8)


@torch.no_grad()
def generated_features(
    sampler: Sampler,
    device: torch.device,
    n: int,
    batch_size: int,
    seed: int,
    extractors: list[Extractor],
    cuda: bool,
    precision: str = "fp32",
    accelerator: Accelerator | None = None,
) -> dict[str, dict[str, torch.Tensor]]:
    """extractor key -> layer -> (n, D) features of the n samples, identical on every process.

    With an accelerator of P > 1 processes, every process must call this (the features are gathered).
    """
    world = accelerator.num_processes if accelerator is not None else 1
    rank = accelerator.process_index if accelerator is not None else 0
    sizes = _chunk_sizes(n, batch_size)
    mine = list(range(rank, len(sizes), world))
    images = generate_uint8(sampler, device, n, batch_size, seed, mine, precision)
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
            # Every process sends the same shape: one batch_size block per slot, its chunk or zeros.
            padded = torch.zeros(slots * batch_size, dim)
            offset = 0
            for s, j in enumerate(mine):
                padded[s * batch_size : s * batch_size + sizes[j]] = local[e.key][layer][
                    offset : offset + sizes[j]
                ]
                offset += sizes[j]
            everything = accelerator.gather(padded.to(accelerator.device)).cpu()
            rows = []
            for j, size in enumerate(sizes):
                r, s = j % world, j // world
                start = (r * slots + s) * batch_size
                rows.append(everything[start : start + size])
            out[e.key][layer] = torch.cat(rows)
    return out


def _feature_dim(local: torch.Tensor | None, accelerator: Accelerator) -> int:
    """The feature width, known even on a process that drew no chunk (n smaller than P batches)."""
    d = torch.tensor([local.shape[1] if local is not None else 0], device=accelerator.device)
    return int(accelerator.gather(d).max())
