"""A small U-Net for noise prediction (Ho et al. 2020, scaled down): residual blocks with GroupNorm and
SiLU, a sinusoidal time embedding added in every block, two down-samplings, no attention."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer position encoding of timesteps t (B,): [sin(t w_i), cos(t w_i)], w_i = 10000^(-i/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, t_dim: int) -> None:
        super().__init__()
        self.block1 = nn.Sequential(_norm(c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.time = nn.Sequential(nn.SiLU(), nn.Linear(t_dim, c_out))
        self.block2 = nn.Sequential(_norm(c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.block1(x) + self.time(temb)[:, :, None, None]
        return self.block2(h) + self.skip(x)


class UNet(nn.Module):
    """(x_t, t) -> predicted noise, same shape as x_t. One residual block per level on each side;
    levels at `base * mults[i]` channels, halving the size between levels (so the resolution must be
    divisible by 2 ** (len(mults) - 1))."""

    def __init__(self, channels: int, base: int, mults: Sequence[int]) -> None:
        super().__init__()
        self.base = base
        t_dim = 4 * base
        self.time = nn.Sequential(nn.Linear(base, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.stem = nn.Conv2d(channels, base, 3, padding=1)
        widths = [base * m for m in mults]
        self.down, self.pool = nn.ModuleList(), nn.ModuleList()
        c = base
        for i, w in enumerate(widths):
            self.down.append(ResBlock(c, w, t_dim))
            self.pool.append(
                nn.Conv2d(w, w, 3, stride=2, padding=1) if i < len(widths) - 1 else nn.Identity()
            )
            c = w
        self.mid1, self.mid2 = ResBlock(c, c, t_dim), ResBlock(c, c, t_dim)
        self.up, self.unpool = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up.append(ResBlock(c + w, w, t_dim))  # joined with the skip of the same level
            self.unpool.append(
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w, widths[i - 1], 3, padding=1)
                )
                if i > 0
                else nn.Identity()
            )
            c = widths[i - 1] if i > 0 else w
        self.head = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(sinusoidal_embedding(t, self.base))
        h = self.stem(x)
        skips = []
        for block, pool in zip(self.down, self.pool, strict=True):
            h = block(h, temb)
            skips.append(h)
            h = pool(h)
        h = self.mid2(self.mid1(h, temb), temb)
        for block, unpool in zip(self.up, self.unpool, strict=True):
            h = unpool(block(torch.cat([h, skips.pop()], 1), temb))
        return self.head(h)
