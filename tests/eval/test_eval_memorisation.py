"""mem_domain through a cell's own evaluation (CellEvaluation.final): a "generator" that returns training
images is flagged as copying and gets closest_pairs.png showing zero-distance pairs; one that returns
held-out test images is not flagged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from PIL import Image

from bench.cell.evaluate import CellEvaluation
from bench.config import CellConfig, EvalConfig, TrainConfig
from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import to_unit_range
from bench.errors import BenchError
from bench.eval.evaluate import domain, evaluate_samples
from bench.eval.memorisation import GALLERY
from bench.models import MODELS

pytestmark = pytest.mark.usefixtures("one_blas_thread")


class Replayer:
    """Stands in for a trained model: its samples are images of one split, drawn with the generator."""

    conditional = False
    has_ema = False

    def __init__(self, images: torch.Tensor) -> None:
        self.images, self.device = images, torch.device("cpu")

    def train(self, mode: bool = True) -> Replayer:
        return self

    def sample(self, n: int, g: torch.Generator) -> torch.Tensor:
        return to_unit_range(self.images[torch.randint(len(self.images), (n,), generator=g)])


@pytest.fixture(scope="module")
def digits():
    source = DATASETS.get("digits")(DATASETS.get("digits").Args())
    ctx = DataContext.from_env()
    return source, source.info(), ctx, source.load("train", ctx), source.load("test", ctx)


def _evaluation(digits, cell_dir: Path) -> CellEvaluation:
    source, info, ctx, train, _ = digits
    family = MODELS.get("mlp_gan")
    cfg = CellConfig(
        model="mlp_gan",
        model_args=family.Config().model_dump(mode="json"),
        dataset="digits",
        dataset_args={},
        latent_size=4,
        seed=0,
        train=TrainConfig(steps=1),
        eval=EvalConfig(metrics=["fd", "mem_domain"], n_samples=300, sample_block=100, batch_size=150),
    )
    return CellEvaluation(cfg, source, info, train, ctx, Accelerator(cpu=True), cell_dir, 0)


def test_a_generator_of_training_images_is_flagged(digits, tmp_path: Path) -> None:
    train = digits[3]
    metrics, protocol = _evaluation(digits, tmp_path).final(Replayer(train.images))
    assert metrics["mem_copies_digits"] == 1.0
    assert metrics["mem_authentic_digits"] == 0.0  # every sample sits on a training image
    assert metrics["mem_ct_digits"] < -3
    assert metrics["mem_authentic_test_digits"] > 0.3  # what held-out images score
    assert set(protocol["fingerprints"]) >= {"mem_copies_digits", "mem_ct_digits", "fd_digits"}
    gallery = tmp_path / GALLERY
    with Image.open(gallery) as png:
        assert png.width > 300 and png.height > 150


def test_a_generator_of_held_out_images_is_not_flagged(digits, tmp_path: Path) -> None:
    test = digits[4]
    metrics, _ = _evaluation(digits, tmp_path).final(Replayer(test.images))
    assert metrics["mem_copies_digits"] == 0.0
    assert abs(metrics["mem_ct_digits"]) < 3
    assert metrics["mem_authentic_digits"] > 0.5 * metrics["mem_authentic_test_digits"]
    assert (tmp_path / GALLERY).exists()


def test_memorisation_without_the_training_split_is_refused(digits) -> None:
    source, info, ctx, train, test = digits
    ext = domain(info, train, test, ctx.cache_dir.parent)
    ev = EvalConfig(metrics=["mem_domain"], n_samples=100)
    with pytest.raises(
        BenchError, match="mem_domain: memorisation compares samples with the generators' training split"
    ):
        evaluate_samples(
            lambda j, size, g: torch.zeros(size, 1, 28, 28),
            torch.device("cpu"),
            test,
            {"dataset": "digits", "split": "test"},
            ev,
            ["mem_domain"],
            {"domain": ext},
            ctx.cache_dir.parent,
            False,
        )


def test_the_gallery_pairs_are_the_scored_samples(digits, tmp_path: Path) -> None:
    """The gallery redraws the chosen samples from their blocks: they are the images that were scored."""
    from bench.eval.generate import generate_uint8
    from bench.eval.memorisation import samples_at

    train = digits[3]
    model = Replayer(train.images)
    ev = EvalConfig(n_samples=250, sample_block=100)
    sampler = lambda j, size, g: model.sample(size, g)  # noqa: E731
    every = generate_uint8(sampler, torch.device("cpu"), 250, 100, ev.seed)
    picked = [3, 120, 249, 101]
    assert torch.equal(samples_at(sampler, torch.device("cpu"), 250, ev, picked), every[picked])


def test_bench_eval_on_a_folder_refuses_memorisation_in_one_line(digits, tmp_path: Path) -> None:
    """A folder of images has no training split next to it: one clear error, before any extraction."""
    from bench.commands.eval_images import run_eval

    test = digits[4]
    for i in range(30):
        Image.fromarray(test.images[i, 0].numpy()).save(tmp_path / f"{i:03d}.png")
    with pytest.raises(BenchError, match=r"^mem_domain: memorisation compares samples .* or leave it out$"):
        run_eval(str(tmp_path), "digits", ["mem_domain"])
