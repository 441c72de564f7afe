"""Pieces every adversarial family shares: least-squares losses, label conditioning, D diagnostics.

The discriminator's first-layer gradient norm is read, not recomputed. The runner back-propagates each
phase after `training_step` returns, so when a generator phase starts, the first layer of D still holds
the gradient of the D loss from the step's last discriminator update (the generator's own backward has
not run yet; D's optimizer only clears it at its next phase). Taking its norm costs one small reduction
on the device and no extra backward, and the value stays a device tensor (no host sync) until the step
log flushes. `benchmarks/gan_grad_norm_overhead.py` measures the cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GRAD_NORM_KEY = "d_layer1_grad_norm"  # logged as "g/d_layer1_grad_norm" (it is read in the g phase)


def lsgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares D loss (Mao et al. 2017, a=0, b=1): 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2]."""
    return 0.5 * (real_scores.float() - 1).pow(2).mean() + 0.5 * fake_scores.float().pow(2).mean()


def lsgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares G loss (c=1): 1/2 E[(D(G(z))-1)^2]."""
    return 0.5 * (fake_scores.float() - 1).pow(2).mean()


def first_layer_grad_norm(net: nn.Module) -> torch.Tensor:
    """L2 norm of the gradient on the first parameter of `net` (its first layer's weight).

    Zero when no gradient is there yet (a generator phase that runs before any D update)."""
    p = next(net.parameters())
    if p.grad is None:
        return torch.zeros((), device=p.device)
    return p.grad.detach().float().norm()


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    return F.one_hot(labels.long(), num_classes).to(dtype)


def with_label_channels(x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Append the one-hot label as `num_classes` constant planes: (N, C, H, W) -> (N, C+K, H, W)."""
    planes = one_hot(labels, num_classes, x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
    return torch.cat([x, planes], dim=1)
