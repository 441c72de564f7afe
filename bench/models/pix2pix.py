"""pix2pix (Isola et al. 2017): a paired conditional GAN, input (a sketch) -> target (a photo).

G is a U-Net: strided 4x4 convs halve the size down to 1x1 (channels width, 2w, 4w, 8w, then 8w), and
transposed convs come back up, each joined to the encoder stage of the same size; dropout 0.5 on the
three innermost up-samplings, as in the paper. D is a PatchGAN: it judges (input, image) pairs patch by
patch (70x70 at the paper's 256x256 with d_layers 3). Loss: the adversarial
game (`loss`, BCE non-saturating by default) + `l1_weight` (100) * L1.
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
from bench.metrics.paired import WINDOW as SSIM_WINDOW
from bench.metrics.paired import psnr, ssim
from bench.models.base import MODELS
from bench.models.cyclegan import conv_out
from bench.models.translation import Translator, TranslatorConfig


class Pix2PixConfig(TranslatorConfig):
    l1_weight: float = Field(100.0, ge=0)
    d_layers: int = Field(3, gt=0, description="strided convs of the PatchGAN (3 = the paper's 70x70)")


class Translation(NamedTuple):
    source: torch.Tensor
    target: torch.Tensor
    fake: torch.Tensor


class UNet(nn.Module):
    def __init__(self, channels: int, resolution: int, width: int) -> None:
        super().__init__()
        self.sizes = [resolution]
        while self.sizes[-1] > 1:
            self.sizes.append(conv_out(self.sizes[-1]))
        depth = len(self.sizes) - 1
        chans = [width * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        prev = channels
        for i, c in enumerate(chans):
            # Outermost: no activation before, no norm; innermost: no norm (1x1, as in the paper).
            self.down.append(
                nn.Sequential(
                    nn.LeakyReLU(0.2) if i > 0 else nn.Identity(),
                    nn.Conv2d(prev, c, 4, 2, 1),
                    nn.BatchNorm2d(c) if 0 < i < depth - 1 else nn.Identity(),
                )
            )
            prev = c
        self.up = nn.ModuleList()
        self.up_post = nn.ModuleList()
        for j, i in enumerate(reversed(range(depth))):
            c_in = chans[i] if j == 0 else 2 * chans[i]  # below the innermost: joined with the skip
            c_out = chans[i - 1] if i > 0 else channels
            self.up.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1))
            if i == 0:
                self.up_post.append(nn.Tanh())
            else:
                post: list[nn.Module] = [nn.BatchNorm2d(c_out)]
                if j < 3:
                    post.append(nn.Dropout(0.5))
                self.up_post.append(nn.Sequential(*post))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        depth = len(self.down)
        for j, (up, post) in enumerate(zip(self.up, self.up_post, strict=True)):
            i = depth - 1 - j
            h = skips[i] if j == 0 else torch.cat([x, skips[i]], dim=1)
            x = post(up(F.relu(h), output_size=[self.sizes[i]] * 2))
        return x


def patchgan_size(resolution: int, layers: int) -> int:
    size = resolution
    for _ in range(layers):
        size = conv_out(size)
    return size - 2  # two stride-1 4x4 convs with padding 1 each take one off


class PatchGAN(nn.Module):
    """(input, image) pairs -> a map of patch logits, (N, 1, h, w)."""

    def __init__(self, channels: int, width: int, layers: int) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(2 * channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = width
        for i in range(1, layers + 1):
            out = width * min(2**i, 8)
            stride = 2 if i < layers else 1
            mods += [nn.Conv2d(c, out, 4, stride, 1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, True)]
            c = out
        mods.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([source, image], dim=1))


@MODELS.register("pix2pix")
class Pix2Pix(Translator):
    """Nets G (U-Net) and D (PatchGAN); `sample` translates pooled training inputs."""

    Config = Pix2PixConfig
    paper = "Isola et al. 2017, Image-to-Image Translation with Conditional Adversarial Networks"
    needs_pairing = "paired"
    d_loss_scale = 0.5  # halved as in the paper, which slows D relative to G

    def __init__(self, cfg: Pix2PixConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        self.nets["G"] = UNet(info.channels, info.resolution, cfg.g_width)
        self.nets["D"] = PatchGAN(info.channels, cfg.d_width, cfg.d_layers)
        self._add_pool(cfg, info)

    @classmethod
    def check(cls, cfg: Pix2PixConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        super().check(cfg, info, latent_size, where)
        if info.resolution < SSIM_WINDOW:
            raise BenchError(
                f"{where}: resolution {info.resolution} is smaller than SSIM's {SSIM_WINDOW}x{SSIM_WINDOW} "
                f"window (a test metric); allowed: {SSIM_WINDOW} or more"
            )
        if patchgan_size(info.resolution, cfg.d_layers) < 1:
            raise BenchError(
                f"{where}.d_layers: {cfg.d_layers} strided convs leave no patch at resolution "
                f"{info.resolution}; use fewer"
            )

    def make_fakes(self, batch: Batch | None, n: int) -> Translation:
        assert batch is not None
        x = batch.x
        return Translation(x, self._targets(batch, "paired targets"), self.nets["G"](x))

    def d_scores(self, batch: Batch, fakes: Translation) -> list[tuple[torch.Tensor, torch.Tensor]]:
        D = self.nets["D"]
        return [(D(fakes.source, fakes.target), D(fakes.source, fakes.fake.detach()))]

    def g_scores(self, fakes: Translation) -> list[torch.Tensor]:
        return [self.nets["D"](fakes.source, fakes.fake)]

    def g_terms(self, fakes: Translation) -> dict[str, tuple[float, torch.Tensor]]:
        return {"l1": (self.cfg.l1_weight, F.l1_loss(fakes.fake.float(), fakes.target.float()))}

    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        self._check_direction(direction)
        if direction != "AB":
            raise ValueError("pix2pix translates inputs to targets only (direction 'AB')")
        return self.nets["G"](x.to(self.device)).float()

    @torch.no_grad()
    def test_metrics(self, test: ImageSplit, batch_size: int, generator: torch.Generator) -> dict[str, float]:
        """L1 (images in [-1, 1]), PSNR (dB) and SSIM (images in [0, 1]) of G(input) vs the targets."""
        if test.targets is None:
            return {}
        sums = torch.zeros(3, dtype=torch.float64)
        for i in range(0, len(test), batch_size):
            x = to_unit_range(test.images[i : i + batch_size].to(self.device))
            y = to_unit_range(test.targets[i : i + batch_size].to(self.device))
            fake = self.translate(x, "AB")
            l1 = (fake - y).abs().flatten(1).mean(1)
            a, b = (fake + 1) / 2, (y + 1) / 2
            sums += torch.stack([l1.double().sum(), psnr(a, b).sum(), ssim(a, b).sum()]).cpu()
        l1, p, s = (sums / len(test)).tolist()
        return {"l1": l1, "psnr": p, "ssim": s}
