"""Class-conditioned samples: the dataset classifier's accuracy on them and FD per class, generated
through `sample_given` into a tensor (never torch-fidelity's conditional wrapper)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.config import EvalConfig, StrictModel
from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import to_unit_range
from bench.eval.conditional import conditional_metrics
from bench.eval.evaluate import domain
from bench.eval.reference import reference_features
from bench.models.base import GenerativeModel


class _Lookup(GenerativeModel):
    """Test-only conditional "generator": returns real images of the asked-for class (or of class 0
    whatever is asked, when `ignore_labels`), so the expected accuracy is known."""

    Config = StrictModel
    family, paper, conditional = "test", "-", True

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, ignore_labels: bool) -> None:
        super().__init__(StrictModel(), None, None)  # type: ignore[arg-type]
        self.nets = {"dummy": nn.Linear(1, 1)}
        self.images, self.labels, self.ignore = images, labels, ignore_labels

    def optimizers(self):
        return {}

    def training_step(self, batch, phase):
        raise NotImplementedError

    def sample(self, n, generator):
        raise NotImplementedError

    def sample_given(self, labels, generator):
        out = []
        for y in labels.tolist():
            pool = (self.labels == (0 if self.ignore else y)).nonzero().flatten()
            i = pool[torch.randint(len(pool), (1,), generator=generator)]
            out.append(self.images[i])
        return to_unit_range(torch.cat(out))


@pytest.fixture(scope="module")
def setup():
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    ctx = DataContext.from_env()
    train, test = src.load("train", ctx), src.load("test", ctx)
    ext = domain(src.info(), train, test, ctx.cache_dir.parent)
    ref = reference_features(
        test.images,
        test.labels,
        ext,
        {"dataset": "digits", "split": "test"},
        ctx.cache_dir.parent,
        200,
        False,
    )
    return train, ext, ref


def test_accuracy_and_fd_per_class(setup) -> None:
    train, ext, ref = setup
    ev = EvalConfig(n_samples=200, batch_size=64)
    good = conditional_metrics(_Lookup(train.images, train.labels, False), ext, ref, 10, ev, False)
    bad = conditional_metrics(_Lookup(train.images, train.labels, True), ext, ref, 10, ev, False)
    assert good["cond_accuracy_digits"] >= 0.9  # the classifier's own accuracy on real digits
    assert bad["cond_accuracy_digits"] == pytest.approx(0.1, abs=0.02)  # only the class-0 tenth
    assert {f"fd_digits_class{c}" for c in range(10)} <= set(good)
    assert good["fd_digits_class_mean"] < bad["fd_digits_class_mean"]
    assert bad["fd_digits_class0"] < bad["fd_digits_class5"]  # asked for 5, got 0s
