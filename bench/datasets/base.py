"""What every dataset hands the harness: whole splits as one uint8 tensor, plus what users choose by.

Small datasets live in memory as a single uint8 NCHW tensor so batches are slices, not DataLoader
iterations; conversion to float and normalisation happen on the batch, on the training device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class DatasetInfo:
    """Facts a user chooses a dataset by; shown by `bench list datasets`."""

    name: str
    resolution: int
    channels: int
    num_classes: int  # classes of the primary label; 0 when unlabeled
    # split name -> number of images; 0 when known only once the files are read (image folders,
    # attribute-selected CelebA): grid validation then skips the size checks.
    splits: dict[str, int]
    source: str
    licence: str
    class_names: tuple[str, ...] = ()
    # Extra discrete labels (for example dSprites' latent factors): name -> number of values.
    factors: dict[str, int] = field(default_factory=dict)
    description: str = ""
    # "none": images only; "paired": every image has a target image (sketch -> photo); "unpaired": a
    # second domain of its own size (CycleGAN). Targets share the images' resolution and channels.
    pairing: str = "none"


@dataclass
class ImageSplit:
    """One split held in memory.

    images:  uint8 tensor (N, C, H, W), values 0..255.
    labels:  int64 tensor (N,) with the primary class, or None when unlabeled.
    factors: int64 tensor (N, F) of extra discrete labels in `DatasetInfo.factors` order, or None.
    targets: uint8 tensor (M, C, H, W): the paired targets (M == N, row i pairs with image i) or the
             second domain of an unpaired dataset (any M); None for plain datasets.
    target_factors: int64 tensor (M, F) of the targets' discrete labels (celeba_domains: domain B's
             attributes, which the domain extractor trains on with A's), or None.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    factors: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    target_factors: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}"
            )
        n = self.images.shape[0]
        for name, t in (("labels", self.labels), ("factors", self.factors)):
            if t is not None and t.shape[0] != n:
                raise ValueError(f"{name} has {t.shape[0]} rows for {n} images")
        if self.targets is not None and (
            self.targets.dtype != torch.uint8 or self.targets.shape[1:] != self.images.shape[1:]
        ):
            raise ValueError(
                f"targets must be uint8 shaped like the images {tuple(self.images.shape[1:])}, "
                f"got {self.targets.dtype} {tuple(self.targets.shape)}"
            )

        if self.target_factors is not None and (
            self.targets is None or self.target_factors.shape[0] != self.targets.shape[0]
        ):
            raise ValueError("target_factors needs one row per target image")

    def __len__(self) -> int:
        return self.images.shape[0]
