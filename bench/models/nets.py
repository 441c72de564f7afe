"""Networks shared by several families, sized from the dataset's resolution and channels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from bench.errors import BenchError


def mlp(sizes: Sequence[int], slopes: Sequence[float | None]) -> nn.Sequential:
    """Linear layers between `sizes`; after layer i a LeakyReLU(slopes[i]), or ReLU where it is 0, or
    nothing where it is None (the output layer)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        s = slopes[i]
        if s is not None:
            layers.append(nn.ReLU() if s == 0 else nn.LeakyReLU(s))
    return nn.Sequential(*layers)


def dcgan_plan(resolution: int) -> tuple[int, int]:
    """(start size, number of 2x up-samplings) with start * 2**n == resolution and start in {4, 7}.

    4 is DCGAN's own start for 32 and 64; 7 lets 28x28 (MNIST-sized) images use the same design."""
    for start in (4, 7):
        n = resolution // start
        if resolution % start == 0 and n >= 2 and n & (n - 1) == 0:
            return start, int(math.log2(n))
    raise BenchError(f"resolution {resolution} is not 4*2^k or 7*2^k (k >= 1), which DCGAN nets need")


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z -> transposed convs (BatchNorm, ReLU), halving channels while doubling size -> tanh image."""

    def __init__(self, z_dim: int, channels: int, resolution: int, width: int) -> None:
        super().__init__()
        start, n = dcgan_plan(resolution)
        c = width * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, c, start, 1, 0, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c // 2),
                nn.ReLU(True),
            ]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Image -> strided convs (LeakyReLU 0.2; BatchNorm after the first unless norm='none') -> one score.

    The score is a logit (DCGAN: the sigmoid lives in the loss) or a critic value (WGAN). With
    `out_features` > 1 the same stack is an encoder or embedding: (N, out_features)."""

    def __init__(
        self, channels: int, resolution: int, width: int, norm: str = "batch", out_features: int = 1
    ) -> None:
        super().__init__()
        start, n = dcgan_plan(resolution)
        c = width
        layers: list[nn.Module] = [nn.Conv2d(channels, c, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for _ in range(n - 1):
            layers.append(nn.Conv2d(c, c * 2, 4, 2, 1, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(c * 2))
            layers.append(nn.LeakyReLU(0.2, True))
            c *= 2
        layers.append(nn.Conv2d(c, out_features, start, 1, 0))
        self.net = nn.Sequential(*layers)
        self.out_features = out_features
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.view(x.shape[0]) if self.out_features == 1 else out.view(x.shape[0], -1)
