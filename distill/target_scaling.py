"""Standardised regression targets: a head learns z = (y − mean) / std and answers in the data's units.

A raw price (mean 120, std 300) gives an MSE near 1e5 at initialisation: it swamps every other head's
loss, the gradient clip and the learned task weights. With standardisation the head's output layer
learns z and a fixed affine map (inside ``forward``, so ONNX, TensorRT and the bundle all answer in
the data's units) turns it back into y; the loss is divided by std², which is exactly the MSE on z.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
from torch import nn

log = logging.getLogger(__name__)

#: ``standardize: null`` (auto) standardises a target whose mean or std is this far from unit scale
AUTO_LIMIT = 10.0


class StandardizedHead(nn.Module):
    """Wraps a regression head: ``mean + std · head(x)``; mean and std live in ``mtkd.json``."""

    def __init__(self, head: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.head = head
        # not persistent: the model's metadata holds them, so the weights file keeps one meaning
        self.register_buffer("mean", torch.tensor(float(mean)), persistent=False)
        self.register_buffer("std", torch.tensor(float(std)), persistent=False)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.head(sequence_output) * self.std + self.mean


def target_scale(name: str, targets: Sequence[float], standardize: bool | None) -> tuple[float, float] | None:
    """(mean, std) of a regression task's training targets when its head should learn them standardised.

    ``standardize`` True or False decides; None (auto) standardises only targets far from unit scale
    (|mean| or std above ``AUTO_LIMIT``, or std below 1 / ``AUTO_LIMIT``), so a 0–3 relevance grade
    trains as it always did and a price does not swamp the other heads.
    """
    if standardize is False or not targets:
        return None
    mean = math.fsum(targets) / len(targets)
    std = math.sqrt(math.fsum((y - mean) ** 2 for y in targets) / len(targets))
    if std == 0.0:  # a constant target: nothing to scale by; centring alone still helps
        std = 1.0
    far = abs(mean) > AUTO_LIMIT or std > AUTO_LIMIT or std < 1 / AUTO_LIMIT
    if standardize is None and not far:
        return None
    log.info("%s: regression targets standardised (mean %.4g, std %.4g)", name, mean, std)
    return mean, std
