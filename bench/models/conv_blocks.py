"""Convolutional stacks of the conv VAE, sized to any resolution by exact stride-2 arithmetic."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def halvings(resolution: int, n: int) -> list[int]:
    """Feature-map sizes through n stride-2, 3x3, padding-1 convs: 28 -> 14 -> 7 -> 4 -> 2."""
    sizes = [resolution]
    for _ in range(n):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def up3x3(c_in: int, c_out: int, size_in: int, size_out: int) -> nn.ConvTranspose2d:
    """The transposed mirror of a 3x3 stride-2 conv; output_padding picks the odd or even size."""
    pad = size_out - (2 * size_in - 1)
    assert pad in (0, 1), (size_in, size_out)
    return nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=pad)


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convs (BatchNorm, LeakyReLU 0.01) of `widths` channels, then linear mu and logvar."""

    def __init__(self, channels: int, resolution: int, widths: Sequence[int], latent: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.BatchNorm2d(w), nn.LeakyReLU(0.01)]
            c = w
        self.convs = nn.Sequential(*layers, nn.Flatten())
        flat = c * halvings(resolution, len(widths))[-1] ** 2
        self.mu, self.logvar = nn.Linear(flat, latent), nn.Linear(flat, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.convs(x)
        return self.mu(h), self.logvar(h)


class ConvDecoder(nn.Module):
    """The encoder's mirror: linear to the smallest map, transposed 3x3 stride-2 convs (BatchNorm,
    LeakyReLU 0.01) back to full size, a 3x3 conv to the image's channels and tanh."""

    def __init__(self, channels: int, resolution: int, widths: Sequence[int], latent: int) -> None:
        super().__init__()
        sizes = halvings(resolution, len(widths))
        rev = list(reversed(widths))
        self.start = (rev[0], sizes[-1], sizes[-1])
        self.fc = nn.Linear(latent, math.prod(self.start))
        layers: list[nn.Module] = []
        outs = [*rev[1:], rev[-1]]  # 256 -> 128 -> 64 -> 32 -> 32: the last up-sampling keeps 32
        for i, (c_in, c_out) in enumerate(zip(rev, outs, strict=True)):
            size_in, size_out = sizes[-1 - i], sizes[-2 - i]
            layers += [up3x3(c_in, c_out, size_in, size_out), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.01)]
        layers += [nn.Conv2d(outs[-1], channels, 3, padding=1), nn.Tanh()]
        self.convs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.convs(self.fc(z).view(z.shape[0], *self.start))
