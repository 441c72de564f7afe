"""The adversarial family base: one D/G training step for every GAN, and its games as small loss objects.

A family (DCGAN, MLP GAN, pix2pix, CycleGAN ...) brings its nets and four hooks:

    make_fakes(batch, n)       the generator's output for one step, as any tuple the family likes
                               (batch is None when the G phase draws no batch: unconditional families)
    d_scores(batch, fakes)     [(D(real), D(fake.detach())), ...], one pair per discriminator
    g_scores(fakes)            [D(fake), ...] with the discriminators frozen (see below)
    g_terms(fakes)             extra generator terms, name -> (weight, value) (pix2pix's L1, the cycle loss)

`AdversarialModel` owns the rest, once: the phases ("d" x critic_steps, then "g"), the two Adam
optimizers (from `lr` / `betas`; `optimizer_phases` is derived from `optimizer_nets`), handing the D
phase's fakes to the G phase (kept in one private slot, set by each D phase and emptied by the G
phase), label conditioning, the gradient penalty, and the diagnostics.

The game is the config's `loss`, a name in `GAME_LOSSES` (scores s = D's raw output, a logit for the
likelihood games; sigma the logistic function):

    ns       non-saturating (Goodfellow et al. 2014, sec. 3): D min -log sigma(s_r) - log(1 - sigma(s_f)),
             G min -log sigma(s_f). The default of every BCE family (what the code called "BCE" before).
    bce      the minimax game as written (Goodfellow et al. 2014, eq. 1): D as in ns, G min
             log(1 - sigma(s_f)) = -BCE(s_f, 0). Saturates when D wins; kept for comparison.
    ls       least squares (Mao et al. 2017, a=0, b=c=1): D min 1/2 E[(s_r - 1)^2] + 1/2 E[s_f^2],
             G min 1/2 E[(s_f - 1)^2].
    wgan_gp  Wasserstein with gradient penalty (Gulrajani et al. 2017): D min E[s_f] - E[s_r] +
             gp_weight E[(||grad D(x_hat)||_2 - 1)^2], G min -E[s_f].
    hinge    hinge (Lim & Ye 2017; Miyato et al. 2018): D min E[relu(1 - s_r)] + E[relu(1 + s_f)],
             G min -E[s_f].

Fakes: with one critic step (the reference DCGAN loop) the D phase's fakes, made with gradients, are
reused by the G phase: one generator forward per step, and the G phase draws no batch. With several
critic steps (WGAN-GP's 5) every D phase draws fresh fakes without gradients and the G phase draws its
own, as in the paper's algorithm 1; a conditional family then takes the labels of a real batch (so
class frequencies follow the data), an unconditional one draws no batch.

The discriminator is frozen in the G phase: its plain module (behind any DDP wrapper, so nothing waits
for gradients that never come) runs with requires_grad off, so the G backward computes no D weight
gradients (they were thrown away before). The gradient reaching G is the same.

The discriminator's first-layer gradient norm is read, not recomputed. The runner back-propagates each
phase after `training_step` returns, so when a generator phase starts, the first layer of D still holds
the gradient of the D loss from the step's last discriminator update (the generator's own backward has
not run yet; D's optimizer only clears it at its next phase). Taking its norm costs one small reduction
on the device and no extra backward, and the value stays a device tensor (no host sync) until the step
log flushes. `benchmarks/gan_grad_norm_overhead.py` measures the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from pydantic import Field, field_validator
from torch import nn

from bench.datasets.base import DatasetInfo
from bench.datasets.batches import Batch
from bench.errors import BenchError
from bench.models.base import GenerativeModel, ModelConfig, unwrap
from bench.models.games import GAME_LOSSES, GameLoss, lsgan_d_loss, lsgan_g_loss
from bench.models.losses import gradient_penalty

__all__ = [
    "GAME_LOSSES",
    "GRAD_NORM_KEY",
    "AdversarialConfig",
    "AdversarialModel",
    "GameLoss",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "one_hot",
    "with_label_channels",
]
GRAD_NORM_KEY = "d_layer1_grad_norm"  # logged as "g/d_layer1_grad_norm" (it is read in the g phase)
DEFAULT_GP_WEIGHT = 10.0


# ---------------------------------------------------------------- the config every GAN shares


class AdversarialConfig(ModelConfig):
    lr: float = Field(2e-4, gt=0)
    betas: list[float] = Field(default_factory=lambda: [0.5, 0.999], min_length=2, max_length=2)
    loss: str = Field(
        "ns", description="the game: ns | bce | ls | wgan_gp | hinge (bench/models/adversarial.py)"
    )
    critic_steps: int = Field(1, gt=0, description="D updates per G update")
    gp_weight: float | None = Field(
        None, ge=0, description=f"wgan_gp only: weight of the gradient penalty (None = {DEFAULT_GP_WEIGHT})"
    )

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, v: str) -> str:
        if v not in GAME_LOSSES:
            raise ValueError(f"unknown loss {v!r}; allowed: {', '.join(GAME_LOSSES.names())}")
        return v


# ---------------------------------------------------------------- helpers


def first_layer_grad_norm(net: nn.Module) -> torch.Tensor:
    """L2 norm of the gradient on the first parameter of `net` (its first layer's weight).

    Zero when no gradient is there yet (a generator phase that runs before any D update)."""
    p = next(net.parameters())
    if p.grad is None:
        return torch.zeros((), device=p.device)
    return p.grad.detach().float().norm()


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """(N,) class indices -> (N, K) one-hot rows. A scatter, not F.one_hot, which on the CPU checks the
    labels' range by reading min and max back (tests/train/test_no_host_sync.py runs on the CPU)."""
    out = torch.zeros(labels.shape[0], num_classes, dtype=dtype, device=labels.device)
    return out.scatter_(1, labels.long()[:, None], 1)


def with_label_channels(x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Append the one-hot label as `num_classes` constant planes: (N, C, H, W) -> (N, C+K, H, W)."""
    planes = one_hot(labels, num_classes, x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
    return torch.cat([x, planes], dim=1)


@contextmanager
def frozen(nets: Sequence[nn.Module]) -> Iterator[None]:
    """Parameters of `nets` need no gradient inside the block (autograd records that at forward time,
    so the backward after the block computes none for them)."""
    params = [p for net in nets for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _sum(terms: Sequence[torch.Tensor]) -> torch.Tensor:
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


# ---------------------------------------------------------------- the base


class AdversarialModel(GenerativeModel):
    """The D/G step of every adversarial family; see the module docstring for the hooks."""

    Config: ClassVar[type[AdversarialConfig]] = AdversarialConfig
    family = "gan"
    # phase -> the nets its Adam optimizer steps; "d" and "g" are required, more phases (an encoder
    # trained after the GAN) may follow. `optimizer_phases` is derived from it.
    optimizer_nets: ClassVar[dict[str, tuple[str, ...]]] = {"d": ("D",), "g": ("G",)}
    optimizer_phases = ("d", "g")
    sampling_nets = ("G",)
    sampling_phase = "g"
    supports_penalty: ClassVar[bool] = True  # d_inputs() gives the critic and its inputs
    fakes_need_batch: ClassVar[bool] = False  # fresh fakes need a real batch (translators: its inputs)
    d_loss_scale: ClassVar[float] = 1.0  # pix2pix and CycleGAN halve D's loss (slower D)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.optimizer_phases = tuple(cls.optimizer_nets)

    def __init__(self, cfg: AdversarialConfig, info: DatasetInfo, latent_size: int | None) -> None:
        super().__init__(cfg, info, latent_size)
        self.game = GAME_LOSSES.get(cfg.loss)()
        self.gp_weight = DEFAULT_GP_WEIGHT if cfg.gp_weight is None else cfg.gp_weight
        self.k = info.num_classes if self.conditional else 0  # label classes fed to G and D
        self._held: Any = None  # the D phase's fakes for this step's G phase (reuse_fakes only)
        self._n, self._device = 0, torch.device("cpu")

    @classmethod
    def check(cls, cfg: AdversarialConfig, info: DatasetInfo, latent_size: int | None, where: str) -> None:
        penalty = GAME_LOSSES.get(cfg.loss).penalty
        if cfg.gp_weight is not None and not penalty:
            raise BenchError(
                f"{where}.gp_weight: only the wgan_gp loss has a gradient penalty (loss: {cfg.loss})"
            )
        if penalty and not cls.supports_penalty:
            raise BenchError(
                f"{where}.loss: {cfg.loss} needs a gradient penalty, which this family cannot take"
            )

    @classmethod
    def capture_blocker(cls, cfg: AdversarialConfig) -> str | None:
        if GAME_LOSSES.get(cfg.loss).penalty:
            return f"the {cfg.loss} gradient penalty takes a double backward"
        return None

    # --- what a family defines -------------------------------------------------------------------
    def make_fakes(self, batch: Batch | None, n: int) -> Any:
        raise NotImplementedError

    def d_scores(self, batch: Batch, fakes: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def g_scores(self, fakes: Any) -> list[torch.Tensor]:
        raise NotImplementedError

    def g_terms(self, fakes: Any) -> dict[str, tuple[float, torch.Tensor]]:
        return {}

    def d_inputs(
        self, batch: Batch, fakes: Any
    ) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor]:
        """(critic on images, real images, fake images) for the gradient penalty."""
        raise NotImplementedError

    def extra_phase(self, batch: Batch | None, phase: str) -> dict[str, torch.Tensor]:
        raise ValueError(f"{type(self).__name__} has no phase {phase!r}")

    # --- shared machinery ------------------------------------------------------------------------
    @property
    def reuse_fakes(self) -> bool:
        return self.cfg.critic_steps == 1

    def labels(self, batch: Batch | None) -> torch.Tensor | None:
        """The real batch's labels for a conditional family, else None."""
        if not self.k:
            return None
        if batch is None or batch.y is None:
            raise BenchError(f"{type(self).__name__} is class-conditional and the batch has no labels")
        return batch.y

    @contextmanager
    def _frozen_discriminators(self) -> Iterator[None]:
        """Within the block `self.nets[D]` is D's plain module (no DDP wrapper waiting for gradients)
        with its parameters frozen."""
        saved = {n: self.nets[n] for n in self.discriminators}
        plain = {n: unwrap(net) for n, net in saved.items()}
        self.nets.update(plain)
        try:
            with frozen(list(plain.values())):
                yield
        finally:
            self.nets.update(saved)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = tuple(self.cfg.betas)

        def params(names: tuple[str, ...]) -> list[nn.Parameter]:
            return [p for n in names for p in self.nets[n].parameters()]

        return {
            phase: self.adam(params(names), lr=self.cfg.lr, betas=betas)
            for phase, names in self.optimizer_nets.items()
        }

    def phases(self, step: int) -> Sequence[str]:
        return ("d",) * self.cfg.critic_steps + ("g",)

    def phase_uses_batch(self, phase: str) -> bool:
        if phase != "g":
            return True
        return not self.reuse_fakes and (bool(self.k) or self.fakes_need_batch)

    def training_step(self, batch: Batch | None, phase: str) -> dict[str, torch.Tensor]:
        if phase == "d":
            assert batch is not None
            return self._d_step(batch)
        if phase == "g":
            return self._g_step(batch)
        return self.extra_phase(batch, phase)

    def _d_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        self._held = None
        self._n, self._device = len(batch), batch.x.device
        if self.reuse_fakes:  # made with gradients: the G phase back-propagates through them
            fakes = self._held = self.make_fakes(batch, len(batch))
        else:
            with torch.no_grad():
                fakes = self.make_fakes(batch, len(batch))
        pairs = self.d_scores(batch, fakes)
        losses = [self.game.d(real, fake) for real, fake in pairs]
        loss = _sum(losses)
        out: dict[str, torch.Tensor] = {}
        if len(pairs) == 1:
            out |= self.game.d_stats(*pairs[0])
        else:  # several discriminators: each one's loss, named by its net's suffix (D_A -> d_a)
            names = self.discriminators
            out |= {f"d_{n.split('_')[-1].lower()}": v.detach() for n, v in zip(names, losses, strict=True)}
        if self.game.penalty:
            critic, real_x, fake_x = self.d_inputs(batch, fakes)
            gp = gradient_penalty(critic, real_x, fake_x)
            loss = loss + self.gp_weight * gp
            out["gp"] = gp.detach()
        if self.d_loss_scale != 1.0:
            loss = self.d_loss_scale * loss
        return {"loss": loss, **out}

    @property
    def discriminators(self) -> tuple[str, ...]:
        return self.optimizer_nets["d"]

    def _g_step(self, batch: Batch | None) -> dict[str, torch.Tensor]:
        names = self.discriminators
        if len(names) == 1:
            norms = {GRAD_NORM_KEY: first_layer_grad_norm(self.nets[names[0]])}
        else:
            norms = {
                f"{GRAD_NORM_KEY}_{n.split('_')[-1]}": first_layer_grad_norm(self.nets[n]) for n in names
            }
        fakes, self._held = self._held, None
        if fakes is None:
            if self._n == 0 and batch is None:
                raise RuntimeError(f"{type(self).__name__}: a G phase before any D phase")
            fakes = self.make_fakes(batch, len(batch) if batch is not None else self._n)
        with self._frozen_discriminators():
            adv = _sum([self.game.g(s) for s in self.g_scores(fakes)])
            terms = self.g_terms(fakes)
        if not terms:
            return {"loss": adv, **norms}
        loss = adv
        for weight, value in terms.values():
            loss = loss + weight * value
        return {"loss": loss, "adv": adv.detach(), **{k: v.detach() for k, (_, v) in terms.items()}, **norms}
