"""The domain extractor's network: a small conv net with one head per label (the objectives in
objective.py, rotation.py and classifier.py train it)."""

from __future__ import annotations

import torch
from torch import nn


class DomainClassifier(nn.Module):
    """Three stride-2 conv blocks -> global pooling -> a feature layer -> one head per label."""

    def __init__(
        self, channels: int, resolution: int, head_sizes: list[int], width: int, feat_dim: int
    ) -> None:
        super().__init__()
        self.channels, self.resolution = channels, resolution
        blocks: list[nn.Module] = []
        c_in = channels
        for c in (width, width * 2, width * 4):
            blocks += [nn.Conv2d(c_in, c, 3, 2, 1), nn.BatchNorm2d(c), nn.ReLU(True)]
            c_in = c
        self.trunk = nn.Sequential(
            *blocks, nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(c_in * 4, feat_dim), nn.ReLU(True)
        )
        self.heads = nn.ModuleList(nn.Linear(feat_dim, k) for k in head_sizes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x: float in [-1, 1] at the classifier's resolution -> (features, logits of each head)."""
        f = self.trunk(x)
        return f, [h(f) for h in self.heads]
