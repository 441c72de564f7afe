"""Built-in data and the batch stream."""

from __future__ import annotations

import torch

from bench.datasets import DATASETS, DataContext
from bench.datasets.batches import BatchStream, to_uint8, to_unit_range


def test_digits_are_real_fixed_and_stratified() -> None:
    src = DATASETS.get("digits")(DATASETS.get("digits").Args())
    train, test = (src.load(s, DataContext.from_env()) for s in ("train", "test"))
    assert train.images.shape == (1437, 1, 28, 28) and test.images.shape == (360, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.images.max() == 255
    assert torch.bincount(test.labels).min() >= 35  # stratified: every class ~36 times
    assert src.info().splits == {"train": len(train), "test": len(test)}


def test_stream_resumes_exactly_and_splits_batches_across_processes() -> None:
    split = DATASETS.get("digits")(DATASETS.get("digits").Args()).load("train", DataContext.from_env())
    a = BatchStream(split, 100, torch.device("cpu"), seed=3)
    seen = [a.next().x for _ in range(20)]  # crosses an epoch boundary (14 batches per epoch)
    b = BatchStream(split, 100, torch.device("cpu"), seed=3)
    for _ in range(9):
        b.next()
    state = b.state_dict()
    c = BatchStream(split, 100, torch.device("cpu"), seed=3)
    c.load_state_dict(state)
    assert all(torch.equal(seen[i], c.next().x) for i in range(9, 20))
    # Two processes of 50 together see exactly the one-process batch of 100.
    r0 = BatchStream(split, 50, torch.device("cpu"), seed=3, rank=0, num_processes=2)
    r1 = BatchStream(split, 50, torch.device("cpu"), seed=3, rank=1, num_processes=2)
    assert torch.equal(torch.cat([r0.next().x, r1.next().x]), seen[0])
    # uint8 -> [-1, 1] -> uint8 is lossless.
    assert torch.equal(to_unit_range(to_uint8(seen[0])), seen[0])
    assert torch.equal(to_uint8(to_unit_range(split.images[:100])), split.images[:100])
