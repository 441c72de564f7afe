"""What image-to-image families share: how `sample` is defined for a model that translates, not draws.

A translator has no prior to draw from, so `sample(n, g)` translates source-domain images A -> B. The
images come from a pool of `sample_pool` training images of the source domain that `finalize` picks
with the run's generator after training. The pool is a buffer of the A->B generator, so checkpoints
carry it and a model loaded later samples the same way. It never changes during training, so DDP is
told not to broadcast it every forward. `sample` walks a generator-seeded permutation of the pool:
with n <= pool size no image is translated twice.

Its samples.png (`sample_grid`) shows test-split inputs, their translations and the targets in labelled
rows, since translations alone cannot be judged.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import Batch, to_unit_range
from bench.errors import BenchError
from bench.models.adversarial import AdversarialConfig, AdversarialModel
from bench.models.base import SampleGrid, image_shape

DIRECTIONS = ("AB", "BA")
GRID_COLUMNS = 8  # test images per row of samples.png


class TranslatorConfig(AdversarialConfig):
    g_width: int = Field(64, gt=0, description="generator channels after its first conv")
    d_width: int = Field(64, gt=0, description="discriminator channels after its first conv")
    sample_pool: int = Field(
        1000, gt=0, description="source-domain training images kept for sample(): translated A -> B"
    )


class Translator(AdversarialModel):
    family = "image-to-image"
    uses_latent = False
    supports_penalty = False  # the discriminators score (input, image) pairs or use BatchNorm
    fakes_need_batch = True  # fakes are translations of a real batch
    pool_net = "G"  # the net that holds the pool buffer

    def _add_pool(self, cfg: TranslatorConfig, info: DatasetInfo) -> None:
        net = self.nets[self.pool_net]
        net.register_buffer(
            "sample_pool", torch.zeros(cfg.sample_pool, *image_shape(info), dtype=torch.uint8)
        )
        net.register_buffer("sample_pool_filled", torch.zeros((), dtype=torch.bool))
        net._ddp_params_and_buffers_to_ignore = ["sample_pool", "sample_pool_filled"]

    def _pool_owner(self) -> nn.Module:
        net = self.nets[self.pool_net]
        return getattr(net, "module", net)  # the plain module behind DDP

    def finalize(self, train: ImageSplit, generator: torch.Generator) -> None:
        owner = self._pool_owner()
        size = owner.sample_pool.shape[0]
        perm = torch.randperm(len(train), generator=generator, device=generator.device).cpu()
        idx = perm[torch.arange(size) % len(train)]  # a small split fills the pool by cycling
        owner.sample_pool.copy_(train.images[idx].to(owner.sample_pool.device))
        owner.sample_pool_filled.fill_(True)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        owner = self._pool_owner()
        if not bool(owner.sample_pool_filled):
            raise RuntimeError(f"{type(self).__name__}.sample needs finalize() to pick its source images")
        size = owner.sample_pool.shape[0]
        perm = torch.randperm(size, generator=generator, device=generator.device).to(owner.sample_pool.device)
        x = to_unit_range(owner.sample_pool[perm[torch.arange(n, device=perm.device) % size]])
        return self.translate(x, "AB")

    @torch.no_grad()
    def sample_grid(self, generator: torch.Generator, test: ImageSplit) -> SampleGrid:
        """GRID_COLUMNS test images per row, picked by `generator`, in the rows of `grid_rows`."""
        if test.targets is None:
            raise BenchError(f"{type(self).__name__}.sample_grid needs a test split with targets")

        def pick(count: int) -> torch.Tensor:
            return torch.randperm(count, generator=generator, device=generator.device).cpu()[:GRID_COLUMNS]

        idx = pick(len(test))
        # Paired targets are the inputs' own (the same rows); an unpaired domain B gets its own pick.
        tidx = idx if self.needs_pairing == "paired" else pick(len(test.targets))
        source = to_unit_range(test.images[idx].to(self.device))
        target = to_unit_range(test.targets[tidx].to(self.device))
        rows = self.grid_rows(source, target)
        width = min(len(x) for _, x in rows)  # an unpaired test domain may hold fewer images
        return SampleGrid(
            torch.cat([x[:width].float() for _, x in rows]),
            nrow=width,
            row_labels=tuple(label for label, _ in rows),
        )

    def grid_rows(self, source: torch.Tensor, target: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """(label, images) rows of samples.png, top to bottom: paired translation's input, output, target."""
        return [("input", source), ("output", self.translate(source, "AB")), ("target", target)]

    @staticmethod
    def _targets(batch: Batch, what: str) -> torch.Tensor:
        if batch.target is None:
            raise BenchError(f"this model needs {what}; the batch has no targets")
        return batch.target

    @staticmethod
    def _check_direction(direction: str) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
