"""The domain extractor of every dataset: a classifier on class labels (with the true class count), a
multi-label net on binary attributes (CelebA), a rotation predictor on unlabelled images. Each, trained
on real images, gives an FD (torch-fidelity's, on the features the evaluation extracts) near 0 between
two real splits that grows with every step of noise and of blur; each is cached and recorded in the
protocol by objective and head sizes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from unittest import mock

import pytest
import torch

from bench.cell.evaluate import reference_side
from bench.datasets import DATASETS, DataContext
from bench.datasets.base import ImageSplit
from bench.datasets.celeba import ATTRIBUTES
from bench.datasets.fabricate import write_celeba, write_images, write_tiny_imagenet
from bench.eval import evaluate
from bench.eval.protocol import metric_fingerprint
from bench.features.domain import classifier as domain
from bench.features.domain.classifier import DomainExtractorFile, choose_objective, domain_extractor
from bench.features.domain.sanity import digits_as, sanity_fds

# A small net and budget so each objective trains in a second or two; the recipe's defaults are bigger.
SMALL = {"width": 8, "feat_dim": 32, "batch": 128, "max_steps": 40}
md5_ok = mock.patch("torchvision.datasets.utils.check_md5", return_value=True)


@pytest.fixture
def small_recipe(monkeypatch, one_blas_thread) -> None:
    # One thread: on the shared 2-core machine a second one made 40 small steps 15x slower.
    for k, v in SMALL.items():
        monkeypatch.setitem(domain.RECIPE, k, v)


def source(name: str, **args):
    cls = DATASETS.get(name)
    return cls(cls.Args(**args))


@pytest.mark.parametrize("objective", ["classes", "attributes", "rotation"])
def test_fd_is_near_zero_for_real_images_and_rises_with_noise_and_blur(
    objective: str, tmp_path: Path, small_recipe
) -> None:
    info, train, test = digits_as(objective)
    f = domain_extractor(info, train, test, tmp_path)
    assert f.objective == objective
    assert f.head_sizes == {"classes": (10,), "attributes": (4,), "rotation": (4,)}[objective]
    assert (
        f.test_accuracy is not None
        and f.test_accuracy > {"classes": 0.3, "attributes": 0.6, "rotation": 0.4}[objective]
    )

    real, noisy, blurred = sanity_fds(f.path, train, test)  # on the features evaluation extracts
    assert noisy == sorted(noisy) and len(set(noisy)) == 3, noisy
    assert blurred == sorted(blurred) and len(set(blurred)) == 3, blurred
    # A classifier is built to ignore small changes; at these levels every objective sees them.
    assert 0 <= real < 0.5 * min(noisy[0], blurred[0]), (real, noisy, blurred)

    # Cached by data, objective and recipe: the same call loads the file instead of training again.
    with mock.patch.object(domain, "_train", side_effect=AssertionError("trained again")):
        again = domain_extractor(info, train, test, tmp_path)
    assert again == f and len(list((tmp_path / "extractors").glob("*.pt"))) == 1


def test_each_dataset_gets_the_objective_its_files_allow(tmp_path: Path, monkeypatch) -> None:
    ctx = DataContext(data_root=tmp_path / "data", cache_dir=tmp_path / "cache")
    monkeypatch.setenv("BENCH_DATA", str(ctx.data_root))  # info() reads class lists from the files
    write_tiny_imagenet(ctx.data_root, ("n01443537", "n01629819", "n01641577"), per_class=2, val_per_class=1)
    write_celeba(ctx.data_root)
    pets = ctx.data_root / "pets"
    write_images(pets / "cat", ["0.png", "1.png"], value=10)
    write_images(pets / "dog", ["0.png", "1.png"], value=200)
    for side, n in (("trainA", 3), ("trainB", 5), ("testA", 1), ("testB", 1)):
        write_images(ctx.data_root / "zebras" / side, [f"{i}.png" for i in range(n)])

    def chosen(name: str, **args) -> tuple[str, tuple[int, ...], int]:
        src = source(name, **args)
        with md5_ok:
            train = src.load("train", ctx)
        objective = choose_objective(src.info(), train)
        data = objective.training_set(src.info(), train)
        return objective.name, data.head_sizes, len(data.images)

    # tiny-ImageNet's files name 3 classes: 3 outputs, not 200 (and its info says 3 everywhere).
    assert source("tiny_imagenet").info().num_classes == 3
    assert chosen("tiny_imagenet") == ("classes", (3,), 6)
    assert chosen("folder", path="pets", labeled=True, resolution=8) == ("classes", (2,), 2)
    assert chosen("folder", path="pets", resolution=8) == ("rotation", (4,), 3)
    # Both sides of an unpaired dataset, which a translation's outputs are compared with.
    assert chosen("folder_unpaired", path="zebras", resolution=8) == ("rotation", (4,), 8)
    assert chosen("celeba", resolution=16) == ("attributes", (40,), 12)
    assert chosen("celeba", label="Male", resolution=16) == ("classes", (2,) * 41, 12)
    # celeba_domains: faces of both domains with their attributes (A alone always wears glasses).
    with md5_ok:
        domains = source("celeba_domains", a={"Eyeglasses": 1}, b={"Eyeglasses": 0}, resolution=16).load(
            "train", ctx
        )
    assert chosen("celeba_domains", a={"Eyeglasses": 1}, b={"Eyeglasses": 0}, resolution=16) == (
        "attributes",
        (40,),
        12,
    )
    glasses = ATTRIBUTES.index("Eyeglasses")
    assert set(domains.target_factors[:, glasses].tolist()) == {0} and set(
        domains.factors[:, glasses].tolist()
    ) == {1}
    # The reference of a translation (domain B) keeps B's attributes for the held-out accuracy.
    info = source("celeba_domains", a={"Eyeglasses": 1}, b={"Eyeglasses": 0}).info()
    assert torch.equal(reference_side(info, domains).factors, domains.target_factors)


def test_a_label_outside_the_declared_classes_is_refused(tmp_path: Path) -> None:
    info, train, _ = digits_as("classes")
    with pytest.raises(ValueError, match="outside the 3 classes"):
        domain_extractor(dataclasses.replace(info, num_classes=3), train, None, tmp_path)


COMMON = {"n_generated": 100, "n_real": 100, "real_split": "ds/test", "seed": 0}


def test_the_protocol_and_fingerprint_name_the_objective_and_its_heads(tmp_path: Path, monkeypatch) -> None:
    info, train, _ = digits_as("classes")
    base = DomainExtractorFile(
        path=tmp_path / "x.pt",
        sha256="ab" * 32,
        name="ds",
        objective="classes",
        head_sizes=(10,),
        data_key="k1",
        trained_on="cpu",
    )

    def scored(f: DomainExtractorFile) -> tuple[str, dict]:
        monkeypatch.setattr("bench.features.domain.classifier.domain_extractor", lambda *a, **k: f)
        ext = evaluate.domain(info, train, None, tmp_path)
        return metric_fingerprint(COMMON, ext, None), ext.protocol()

    fp, protocol = scored(base)
    assert protocol["extractor"] == "domain:ds:classes:10"
    assert protocol["extractor_objective"] == "classes" and protocol["extractor_heads"] == [10]
    assert protocol["extractor_data_key"] == "k1" and protocol["extractor_trained_on"] == "cpu"
    assert scored(dataclasses.replace(base))[0] == fp  # same extractor, same fingerprint
    assert scored(dataclasses.replace(base, head_sizes=(200,)))[0] != fp
    assert scored(dataclasses.replace(base, objective="rotation", head_sizes=(4,)))[0] != fp
    assert scored(dataclasses.replace(base, objective="attributes"))[0] != fp


def test_it_trains_on_the_accelerator_when_there_is_one(tmp_path: Path, monkeypatch, small_recipe) -> None:
    with (
        mock.patch("torch.cuda.is_available", return_value=True),
        mock.patch("torch.cuda.current_device", return_value=1),
    ):
        assert domain.training_device() == torch.device("cuda", 1)
    info, train, _ = digits_as("rotation")
    train = ImageSplit(train.images[:64])
    seen: list[torch.device] = []
    real_train = domain._train

    def spy(info, objective, data, test, device):
        seen.append(device)
        return real_train(info, objective, data, test, torch.device("cpu"))  # no GPU on the test machine

    monkeypatch.setattr(domain, "_train", spy)
    monkeypatch.setattr(domain, "training_device", lambda: torch.device("cuda", 0))
    f = domain_extractor(info, train, None, tmp_path)
    assert seen == [torch.device("cuda", 0)] and f.trained_on == "cuda"


def test_a_truncated_rotation_extractor_is_rebuilt(tmp_path: Path, caplog, small_recipe) -> None:
    info, train, _ = digits_as("rotation")
    train = ImageSplit(train.images[:64])
    first = domain_extractor(info, train, None, tmp_path)
    first.path.write_bytes(first.path.read_bytes()[:100])
    with caplog.at_level("WARNING"):
        again = domain_extractor(info, train, None, tmp_path)
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    assert again.path == first.path and again.objective == "rotation" and again.sha256 == first.sha256


def test_bench_eval_scores_against_an_unlabelled_dataset_on_its_domain_extractor(
    tmp_path: Path, monkeypatch, one_blas_thread
) -> None:
    from bench.commands.eval_images import run_eval

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    write_celeba(tmp_path / "data")
    fake = tmp_path / "fake"
    write_images(fake, [f"{i}.png" for i in range(4)], value=90, size=(64, 64))
    with md5_ok:
        out = run_eval(str(fake), "celeba", ["fd"])  # CelebA has no class label: its 40 attributes
    assert set(out["metrics"]) == {"fd_celeba"}
    assert out["protocol"]["extractor"] == "domain:celeba:attributes:40"
