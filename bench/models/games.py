"""The adversarial games a GAN family may play (its config's `loss`): D's loss on (real, fake) scores,
G's on fake scores, and what D logs. Scores are D's raw outputs (a logit for the likelihood games).
bench/models/adversarial.py plays the chosen one; `GAME_LOSSES` names them.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from bench.models.losses import gan_d_loss_bce, gan_g_loss_bce
from bench.registry import Registry


def lsgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares D loss (Mao et al. 2017, a=0, b=1): 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2]."""
    return 0.5 * (real_scores.float() - 1).pow(2).mean() + 0.5 * fake_scores.float().pow(2).mean()


def lsgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares G loss (c=1): 1/2 E[(D(G(z))-1)^2]."""
    return 0.5 * (fake_scores.float() - 1).pow(2).mean()


class GameLoss:
    """One adversarial game: D's loss on (real, fake) scores, G's on fake scores, what D logs."""

    paper: ClassVar[str]
    penalty: ClassVar[bool] = False  # adds gp_weight * the gradient penalty to D's loss

    def d(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g(self, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d_stats(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Detached numbers logged beside D's loss."""
        return {}


GAME_LOSSES: Registry[type[GameLoss]] = Registry("adversarial loss")


class _Likelihood(GameLoss):
    def d(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return gan_d_loss_bce(real, fake)

    def d_stats(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "d_real": torch.sigmoid(real.detach().float()).mean(),
            "d_fake": torch.sigmoid(fake.detach().float()).mean(),
        }


@GAME_LOSSES.register("ns")
class NonSaturating(_Likelihood):
    paper = "Goodfellow et al. 2014, sec. 3 (non-saturating G)"

    def g(self, fake: torch.Tensor) -> torch.Tensor:
        return gan_g_loss_bce(fake)


@GAME_LOSSES.register("bce")
class Minimax(_Likelihood):
    paper = "Goodfellow et al. 2014, eq. 1 (minimax, saturating G)"

    def g(self, fake: torch.Tensor) -> torch.Tensor:
        # log(1 - sigmoid(s)) = -softplus(s) = -BCE(s, 0)
        return -F.softplus(fake.float()).mean()


@GAME_LOSSES.register("ls")
class LeastSquares(GameLoss):
    paper = "Mao et al. 2017, Least Squares GANs"

    def d(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return lsgan_d_loss(real, fake)

    def g(self, fake: torch.Tensor) -> torch.Tensor:
        return lsgan_g_loss(fake)


@GAME_LOSSES.register("wgan_gp")
class WassersteinGP(GameLoss):
    paper = "Gulrajani et al. 2017, Improved Training of Wasserstein GANs"
    penalty = True

    def d(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.float().mean() - real.float().mean()

    def g(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.float().mean()

    def d_stats(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"wasserstein": (real.float().mean() - fake.float().mean()).detach()}


@GAME_LOSSES.register("hinge")
class Hinge(GameLoss):
    paper = "Lim & Ye 2017, Geometric GAN; Miyato et al. 2018, Spectral Normalization"

    def d(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real.float()).mean() + F.relu(1 + fake.float()).mean()

    def g(self, fake: torch.Tensor) -> torch.Tensor:
        return -fake.float().mean()

    def d_stats(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"d_margin": (real.float().mean() - fake.float().mean()).detach()}
