"""Batches sliced from a split held as one uint8 tensor on the training device.

No DataLoader, no workers, no per-sample Python: a batch is an index into a tensor that already sits
where the model runs. The order is a seeded permutation per epoch, so a stream's position is two
integers and resuming mid-epoch reproduces the exact batches an uninterrupted run would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.datasets.base import ImageSplit


@dataclass
class Batch:
    """x: float NCHW in [-1, 1] on the device; y: int64 labels or None; target: the paired target of
    each x, or a batch of the second domain of an unpaired dataset (float in [-1, 1]), or None."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    target: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 0..255 (the inverse of `to_unit_range`, rounding to nearest)."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)


class BatchStream:
    """Endless batches of `batch_size` for one process of `num_processes`.

    Every process walks the same global permutation; each global batch of batch_size * num_processes
    is cut into contiguous per-process shares, so the union over processes is one plain batch.
    """

    def __init__(
        self,
        split: ImageSplit,
        batch_size: int,
        device: torch.device,
        seed: int,
        rank: int = 0,
        num_processes: int = 1,
        channels_last: bool = False,
        paired: bool = True,
    ) -> None:
        global_batch = batch_size * num_processes
        if global_batch > len(split):
            raise ValueError(f"batch of {global_batch} is larger than the {len(split)} training images")
        self.images = split.images.to(device)
        if channels_last:
            self.images = self.images.contiguous(memory_format=torch.channels_last)
        self.labels = split.labels.to(device) if split.labels is not None else None
        self.targets = split.targets.to(device) if split.targets is not None else None
        if self.targets is not None and channels_last:
            self.targets = self.targets.contiguous(memory_format=torch.channels_last)
        # Paired targets follow their images; an unpaired second domain is walked by its own permutation.
        self.paired = self.targets is not None and len(self.targets) == len(self.images) and paired
        self.batch_size, self.rank, self.num_processes = batch_size, rank, num_processes
        self.seed, self.device = seed, device
        self.epoch, self.position = 0, 0
        self._perm = self._permutation(0)
        self._target_perm = self._target_permutation(0)

    @property
    def batches_per_epoch(self) -> int:
        return len(self.images) // (self.batch_size * self.num_processes)

    def _permutation(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.images), generator=g).to(self.device)

    def _target_permutation(self, epoch: int) -> torch.Tensor | None:
        if self.targets is None or self.paired:
            return None
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 500_000)
        return torch.randperm(len(self.targets), generator=g).to(self.device)

    def next(self) -> Batch:
        if self.position >= self.batches_per_epoch:  # drop the ragged tail: every batch is full size
            self.epoch, self.position = self.epoch + 1, 0
            self._perm = self._permutation(self.epoch)
            self._target_perm = self._target_permutation(self.epoch)
        start = (self.position * self.num_processes + self.rank) * self.batch_size
        idx = self._perm[start : start + self.batch_size]
        self.position += 1
        x = to_unit_range(self.images[idx])
        y = self.labels[idx] if self.labels is not None else None
        target = None
        if self.targets is not None:
            if self.paired:
                t_idx = idx
            else:  # the second domain may be smaller or larger: wrap around its own permutation
                assert self._target_perm is not None
                t_idx = self._target_perm[
                    torch.arange(start, start + self.batch_size, device=self.device) % len(self.targets)
                ]
            target = to_unit_range(self.targets[t_idx])
        return Batch(x, y, target)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._perm = self._permutation(self.epoch)
        self._target_perm = self._target_permutation(self.epoch)
