"""Losses against hand computations on fixed inputs."""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.models.losses import (
    bce_with_logits_sum,
    gan_d_loss_bce,
    gan_g_loss_bce,
    gaussian_kl,
    gradient_penalty,
)


def test_gaussian_kl_matches_closed_form() -> None:
    mu = torch.tensor([[0.5, -1.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    # 0.5 * sum(mu^2 + var - 1 - log var) = 0.5 * ((0.25 + 1 - 1 - 0) + (1 + 4 - 1 - log 4))
    expected = 0.5 * (0.25 + (4.0 - math.log(4.0)))
    assert torch.allclose(gaussian_kl(mu, logvar), torch.tensor([expected]))
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max() == 0


def test_bernoulli_nll_sums_pixels() -> None:
    logits = torch.tensor([[0.0, 2.0]])
    target = torch.tensor([[1.0, 0.0]])
    expected = math.log(2.0) + math.log(1 + math.exp(2.0))
    assert torch.allclose(bce_with_logits_sum(logits, target), torch.tensor([expected]))


def test_gan_bce_losses() -> None:
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    sig = torch.sigmoid
    d = -(sig(real).log().mean()) - (1 - sig(fake)).log().mean()
    g = -(sig(fake).log().mean())
    assert torch.allclose(gan_d_loss_bce(real, fake), d)
    assert torch.allclose(gan_g_loss_bce(fake), g)


def test_gradient_penalty_of_a_linear_critic_is_analytic() -> None:
    # D(x) = w . x has gradient w everywhere, so the penalty is (||w|| - 1)^2 for any interpolate.
    critic = nn.Sequential(nn.Flatten(), nn.Linear(4, 1, bias=False))
    with torch.no_grad():
        critic[1].weight.copy_(torch.tensor([[1.0, 2.0, 2.0, 0.0]]))  # ||w|| = 3
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake)
    assert torch.allclose(gp, torch.tensor(4.0))
    gp.backward()  # the penalty is differentiable w.r.t. the critic (create_graph=True)
    w = critic[1].weight
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(w.grad, 2 * 2 * w.detach() / 3)
