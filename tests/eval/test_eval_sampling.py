"""Evaluation samples depend on (seed, index, sample block) only: not on the extraction batch size; the
fingerprint changes exactly when the samples or the computation change; eval.repeats averages
independent sample sets and records each."""

from __future__ import annotations

import pytest
import torch

from bench.config import EvalConfig
from bench.datasets import DATASETS, DataContext
from bench.eval.evaluate import domain, evaluate_samples
from bench.eval.generate import generate_uint8, repeat_seeds, unconditional
from bench.eval.protocol import metric_fingerprint
from bench.models import MODELS

IDENTITY = {"dataset": "digits", "split": "test"}


@pytest.fixture(scope="module")
def setup():
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    info, ctx = src.info(), DataContext.from_env()
    train, test = src.load("train", ctx), src.load("test", ctx)
    ext = domain(info, train, test, ctx.cache_dir.parent)
    family = MODELS.get("mlp_gan")
    torch.manual_seed(0)
    model = family(family.Config(), info, 8)
    model.train(False)
    return model, test, ext, ctx.cache_dir.parent


def _run(setup, **changes):
    model, test, ext, cache = setup
    ev = EvalConfig(
        **{"metrics": ["fd", "kid"], "n_samples": 1000, "kid_subset_size": 100, "kid_subsets": 5, **changes}
    )
    return evaluate_samples(
        unconditional(model),
        torch.device("cpu"),
        test,
        IDENTITY,
        ev,
        list(ev.metrics),
        {"domain": ext},
        cache,
        False,
        num_classes=10,
    )[:2]


def test_samples_do_not_depend_on_how_many_are_drawn(setup) -> None:
    model = setup[0]
    small = generate_uint8(unconditional(model), torch.device("cpu"), 300, 250, seed=0)
    large = generate_uint8(unconditional(model), torch.device("cpu"), 600, 250, seed=0)
    assert torch.equal(small, large[:300])  # sample i is the same whatever N is
    other = generate_uint8(unconditional(model), torch.device("cpu"), 300, 250, seed=1)
    assert not torch.equal(small, other)


def test_batch_sizes_give_the_same_fd_and_the_same_fingerprint(setup) -> None:
    runs = {bs: _run(setup, batch_size=bs) for bs in (50, 250, 1000)}
    fd = {bs: s["fd_digits"] for bs, (s, _) in runs.items()}
    fps = {bs: p["fingerprints"] for bs, (_, p) in runs.items()}
    # Features per image agree across extraction batches to float32 rounding; FD to 1e-6 relative.
    for bs in (250, 1000):
        assert fd[bs] == pytest.approx(fd[50], rel=1e-6), fd
        assert fps[bs] == fps[50]
    assert runs[50][1]["batch_size"] == 50  # still recorded, just not fingerprinted


def test_fingerprints_change_exactly_when_samples_or_computation_change(setup) -> None:
    base_scores, base = _run(setup, n_samples=200)
    fp = base["fingerprints"]
    # Every one of these changes the samples (or the images compared with) -> every fingerprint moves.
    for change in (
        {"seed": 1},
        {"sample_block": 100},
        {"n_samples": 210},
        {"n_real": 300},
        {"precision": "bf16"},
    ):
        scores, p = _run(setup, **{"n_samples": 200, **change})
        assert p["fingerprints"]["fd_digits"] != fp["fd_digits"], change
        assert p["fingerprints"]["kid_digits"] != fp["kid_digits"], change
    # A block of a different size holds other samples: the FD moves too (it is not only a label).
    assert _run(setup, n_samples=200, sample_block=100)[0]["fd_digits"] != base_scores["fd_digits"]
    # KID's own settings change KID's fingerprint and value, never FD's.
    scores, p = _run(setup, n_samples=200, kid_subsets=7)
    assert p["fingerprints"]["kid_digits"] != fp["kid_digits"]
    assert (
        p["fingerprints"]["fd_digits"] == fp["fd_digits"] and scores["fd_digits"] == base_scores["fd_digits"]
    )
    # The generator's device kind draws other numbers: it is part of the fingerprint.
    assert base["rng_device"] == "cpu"
    ext = setup[2]
    assert metric_fingerprint({**base, "rng_device": "cuda"}, ext, None) != metric_fingerprint(
        base, ext, None
    )


def test_repeats_average_independent_sample_sets_and_record_each(setup) -> None:
    one, p1 = _run(setup, n_samples=200)
    three, p3 = _run(setup, n_samples=200, repeats=3)
    rep = p3["eval_repeats"]
    assert rep["seeds"] == repeat_seeds(0, 3) and rep["seeds"][0] == 0 and len(set(rep["seeds"])) == 3
    values = rep["values"]["fd_digits"]
    assert len(values) == 3 and len(set(values)) == 3  # independent sets, not copies
    assert values[0] == one["fd_digits"]  # the first repeat is the plain evaluation
    assert three["fd_digits"] == pytest.approx(sum(values) / 3, rel=1e-12)
    assert set(rep["values"]) == set(three)
    assert p3["fingerprints"]["fd_digits"] != p1["fingerprints"]["fd_digits"]  # a mean of 3 is another number
