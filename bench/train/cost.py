"""What a cell cost: seconds, device-seconds, images drawn, peak memory, on which device.

Read once per cell at its end (never per step), by the runner, into result.json's `cost`.
"""

from __future__ import annotations

import platform
import resource
import sys

import torch

from bench.datasets.batches import BatchStream


def images_seen(stream: BatchStream) -> int:
    """Training images drawn over the whole cell, resumes included: the stream's position counts every
    batch drawn since step 0 (each of the cell's processes draws its share of one global batch)."""
    draws = stream.epoch * stream.batches_per_epoch + stream.position
    return draws * stream.batch_size * stream.num_processes


def peak_memory(device: torch.device) -> tuple[int, str]:
    """(bytes, kind): CUDA's peak allocation on a GPU, else the process's peak resident set size."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024), "max_rss"  # Linux reports KiB


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"
