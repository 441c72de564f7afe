"""CycleGAN (Zhu et al. 2017) between two unpaired domains A and B, with the course recipe's nets.

G (one per direction): strided-conv encoder 64-128-256-512 (BatchNorm, LeakyReLU 0.2) and a mirrored
transposed-conv decoder (BatchNorm, ReLU, tanh); each up-sampling restores the exact size of the matching
encoder stage, so any resolution works (28 goes 14-7-3-1 and back). D (one per domain): strided convs
64-128-256-512 then Linear -> 1000 -> 1. Losses: the adversarial game (`loss`, BCE non-saturating
by default), plus `cycle_weight` * L1 cycle loss
both ways, plus optionally `identity_weight` * L1(G_AB(b), b) + L1(G_BA(a), a). The paper's pool of
past fakes is not used: D sees the current fakes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import Batch, to_unit_range
from bench.errors import BenchError
from bench.models.base import MODELS
from bench.models.translation import Translator, TranslatorConfig

STAGES = (1, 2, 4, 8)  # channel multiples of the width: 64-128-256-512 at width 64
MIN_RESOLUTION = 2 ** len(STAGES)  # the last stride-2 conv still has a pixel to work on


def conv_out(size: int) -> int:
    """Spatial size after a 4x4 conv with stride 2 and padding 1."""
    return (size + 2 - 4) // 2 + 1


class CycleGANConfig(TranslatorConfig):
    d_hidden: int = Field(1000, gt=0, description="width of D's hidden linear layer")
    cycle_weight: float = Field(10.0, ge=0)
    identity_weight: float = Field(
        0.0, ge=0, description="0 = no identity loss (the paper uses 5 for photos)"
    )


class Cycle(NamedTuple):
    a: torch.Tensor
    b: torch.Tensor
    fake_b: torch.Tensor  # G_AB(a)
    fake_a: torch.Tensor  # G_BA(b)


class EncoderDecoder(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int) -> None:
        super().__init__()
        chans = [width * m for m in STAGES]
        self.sizes = [resolution]
        for _ in chans:
            self.sizes.append(conv_out(self.sizes[-1]))
        self.down = nn.ModuleList()
        prev = channels
        for i, c in enumerate(chans):
            norm = nn.BatchNorm2d(c) if i > 0 else nn.Identity()
            self.down.append(nn.Sequential(nn.Conv2d(prev, c, 4, 2, 1), norm, nn.LeakyReLU(0.2, True)))
            prev = c
        outs = [*reversed(chans[:-1]), channels]
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(a, b, 4, 2, 1) for a, b in zip(reversed(chans), outs, strict=True)
        )
        self.up_norm = nn.ModuleList(nn.BatchNorm2d(c) for c in outs[:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.down:
            x = layer(x)
        last = len(self.up) - 1
        for i, layer in enumerate(self.up):
            x = layer(x, output_size=[self.sizes[last - i]] * 2)
            x = torch.tanh(x) if i == last else F.relu(self.up_norm[i](x))
        return x


class ConvLinearDiscriminator(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int, hidden: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev, size = channels, resolution
        for i, m in enumerate(STAGES):
            layers += [nn.Conv2d(prev, width * m, 4, 2, 1)]
            layers += [nn.BatchNorm2d(width * m)] if i > 0 else []
            layers += [nn.LeakyReLU(0.2, True)]
            prev, size = width * m, conv_out(size)
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(prev * size * size, hidden), nn.LeakyReLU(0.2, True), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).view(x.shape[0])


@MODELS.register("cyclegan")
class CycleGAN(Translator):
    """Nets G_AB, G_BA, D_A (real A vs G_BA(b)), D_B (real B vs G_AB(a)); `sample` translates A -> B."""

    Config = CycleGANConfig
    paper = "Zhu et al. 2017, Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks"
    needs_pairing = "unpaired"
    pool_net = "G_AB"
    optimizer_nets = {"d": ("D_A", "D_B"), "g": ("G_AB", "G_BA")}
    sampling_nets = ("G_AB", "G_BA")
    d_loss_scale = 0.5  # halved as in the paper, which slows D relative to G

    def __init__(self, cfg: CycleGANConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        c, r = info.channels, info.resolution
        for name in ("G_AB", "G_BA"):
            self.nets[name] = EncoderDecoder(c, r, cfg.g_width)
        for name in ("D_A", "D_B"):
            self.nets[name] = ConvLinearDiscriminator(c, r, cfg.d_width, cfg.d_hidden)
        self._add_pool(cfg, info)

    @classmethod
    def check(cls, cfg: CycleGANConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        super().check(cfg, info, latent_size, where)
        if info.resolution < MIN_RESOLUTION:
            raise BenchError(
                f"{where}: resolution {info.resolution} is too small for {len(STAGES)} stride-2 convs; "
                f"allowed: {MIN_RESOLUTION} or more"
            )

    def make_fakes(self, batch: Batch | None, n: int) -> Cycle:
        assert batch is not None
        a, b = batch.x, self._targets(batch, "a batch of domain B (an unpaired dataset)")
        return Cycle(a, b, self.nets["G_AB"](a), self.nets["G_BA"](b))

    def d_scores(self, batch: Batch, fakes: Cycle) -> list[tuple[torch.Tensor, torch.Tensor]]:
        D_A, D_B = self.nets["D_A"], self.nets["D_B"]
        # D_B first, as the recipe's loop (BatchNorm statistics are per net, so the order only fixes
        # the arithmetic for the record).
        score_b = (D_B(fakes.b), D_B(fakes.fake_b.detach()))
        score_a = (D_A(fakes.a), D_A(fakes.fake_a.detach()))
        return [score_a, score_b]

    def g_scores(self, fakes: Cycle) -> list[torch.Tensor]:
        return [self.nets["D_B"](fakes.fake_b), self.nets["D_A"](fakes.fake_a)]

    def g_terms(self, fakes: Cycle) -> dict[str, tuple[float, torch.Tensor]]:
        a, b, fake_b, fake_a = fakes
        cycle = F.l1_loss(self.nets["G_BA"](fake_b).float(), a.float()) + F.l1_loss(
            self.nets["G_AB"](fake_a).float(), b.float()
        )
        terms = {"cycle_l1": (self.cfg.cycle_weight, cycle)}
        if self.cfg.identity_weight > 0:
            identity = F.l1_loss(self.nets["G_AB"](b).float(), b.float()) + F.l1_loss(
                self.nets["G_BA"](a).float(), a.float()
            )
            terms["identity_l1"] = (self.cfg.identity_weight, identity)
        return terms

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        self._check_direction(direction)
        return self.nets["G_" + direction](x.to(self.device)).float()

    def grid_rows(self, source: torch.Tensor, target: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """Both directions, each input above its translation (unpaired: B is no target of A)."""
        return [
            ("A", source),
            ("A->B", self.translate(source, "AB")),
            ("B", target),
            ("B->A", self.translate(target, "BA")),
        ]

    @torch.no_grad()
    def test_metrics(self, test: ImageSplit, batch_size: int, generator: torch.Generator) -> dict[str, float]:
        """Mean absolute cycle error per pixel (images in [-1, 1]) on the test split, both ways."""
        out = {}
        for direction, images in (("ABA", test.images), ("BAB", test.targets)):
            if images is None:
                continue
            total = torch.zeros((), dtype=torch.float64)
            for i in range(0, len(images), batch_size):
                x = to_unit_range(images[i : i + batch_size].to(self.device))
                back = self.translate(self.translate(x, direction[:2]), direction[1:])
                total += (back - x).abs().sum().double().cpu()
            out[f"cycle_l1_{direction}"] = float(total / images.numel())
        return out
