"""The domain extractor's objective for data without labels: tell by how much an image was rotated
(0, 90, 180 or 270 degrees; Gidaris et al. 2018, "Unsupervised representation learning by predicting
image rotations").

Folders of faces or textures have no labels, and offline there is no Inception. Predicting rotations
needs no labels but does need the net to see what upright images of the domain look like (where eyes
are, which way text runs), so its penultimate features respond to the same defects FD is meant to
catch: noise, blur, wrong shapes. It trains the same `DomainClassifier` as the labelled objectives
(classifier.py, which picks it, caches the net and records it in the protocol), with one head of
four rotation logits; paired and unpaired datasets train it on both sides, inputs and targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import to_unit_range
from bench.features.domain.net import DomainClassifier
from bench.features.domain.objective import TrainingSet

ROTATIONS = 4


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image at 0/90/180/270 degrees (square images) and the index of its rotation."""
    rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(ROTATIONS)])
    labels = torch.arange(ROTATIONS, device=x.device).repeat_interleave(len(x))
    return rotated, labels


class RotationObjective:
    """Cross-entropy on the rotation of every image, each image seen at all four rotations per step."""

    name, expansion = "rotation", ROTATIONS

    def applies(self, info: DatasetInfo, split: ImageSplit) -> bool:
        return True  # every image can be rotated: the fallback when the data has nothing else

    def training_set(self, info: DatasetInfo, split: ImageSplit) -> TrainingSet:
        images = split.images if split.targets is None else torch.cat([split.images, split.targets])
        return TrainingSet(images, (ROTATIONS,))

    def loss(self, net: DomainClassifier, x: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
        rotated, y = rotations(x)
        _, (logits,) = net(rotated)
        return F.cross_entropy(logits, y)

    @torch.no_grad()
    def accuracy(self, net: DomainClassifier, info: DatasetInfo, test: ImageSplit) -> float | None:
        """Share of held-out images (at all four rotations) whose rotation is predicted right."""
        device = next(net.parameters()).device
        right = 0
        for i in range(0, len(test), 250):
            rotated, y = rotations(to_unit_range(test.images[i : i + 250].to(device)))
            right += int((net(rotated)[1][0].argmax(1) == y).sum())
        return right / (ROTATIONS * len(test))
