"""Conditional VAE (Sohn et al. 2015; CS231n's CVAE): the FC-VAE with a one-hot label joined to the
encoder's input and to z, so the decoder draws a chosen class."""

from __future__ import annotations

import torch

from bench.datasets.base import DatasetInfo
from bench.errors import BenchError
from bench.models.adversarial import one_hot
from bench.models.base import MODELS
from bench.models.fc_vae import FCVAE, FCVAEConfig


@MODELS.register("cvae")
class CVAE(FCVAE):
    paper = (
        "Sohn et al. 2015, Learning Structured Output Representation using Deep Conditional Generative Models"
    )
    conditional = True
    needs_labels = True

    @classmethod
    def check(cls, cfg: FCVAEConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        super().check(cfg, info, latent_size, where)
        if info.num_classes < 2:
            raise BenchError(f"{where}: cvae needs class labels; {info.name} has {info.num_classes} classes")

    @classmethod
    def condition_size(cls, info: DatasetInfo) -> int:
        return info.num_classes

    def condition(self, y: torch.Tensor | None, like: torch.Tensor) -> list[torch.Tensor]:
        if y is None:
            raise ValueError("cvae needs the labels of its images (y)")
        return [one_hot(y, self.info.num_classes, like.dtype)]

    @torch.no_grad()
    def sample_given(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        labels = labels.to(self.device)
        return self.decode(self.prior(len(labels), generator), labels)
