"""Unstructured and 2:4 semi-structured sparsity: zeros baked into the weights, shapes unchanged.

Masks make no dense kernel faster — a CPU multiplies the zeros anyway. 2:4 (two non-zeros in every
group of four consecutive input weights) is the pattern NVIDIA's sparse tensor cores run at up
to twice the speed, when TensorRT builds with its sparse-weights flag; the model config records
``sparsity`` so the engine build knows to ask for it. Reports say "no CPU speedup".
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from distill.model import MultiTaskModel

from .importance import layers_of

SPARSITY = "sparsity"  # config.json: {"pattern": ..., "level": ...} for the engine builder


def magnitude_mask(weight: torch.Tensor, level: float) -> torch.Tensor:
    """Keep-mask zeroing the ``level`` fraction of weights with the smallest magnitude (ties: by position)."""
    n = round(level * weight.numel())
    mask = torch.ones(weight.numel(), dtype=torch.bool)
    if n:
        mask[weight.detach().abs().flatten().argsort(stable=True)[:n]] = False
    return mask.view_as(weight)


def two_four_mask(weight: torch.Tensor) -> torch.Tensor:
    """Keep-mask with the two largest magnitudes of every four consecutive weights along the input axis."""
    out_features, in_features = weight.shape
    if in_features % 4:
        raise ValueError(f"2:4 sparsity needs an input size divisible by 4, got {in_features}")
    groups = weight.detach().abs().reshape(out_features, in_features // 4, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(2, groups.topk(2, dim=2).indices, True)
    return keep.reshape(out_features, in_features)


def sparsify(model: MultiTaskModel, pattern: Literal["unstructured", "2:4"], level: float = 0.5) -> dict[str, float]:
    """Zero weights of every encoder Linear in place; returns the achieved sparsity per pattern."""
    zeros = total = 0
    for layer in layers_of(model):
        for module in layer.modules():
            if isinstance(module, nn.Linear):
                mask = two_four_mask(module.weight) if pattern == "2:4" else magnitude_mask(module.weight, level)
                with torch.no_grad():
                    module.weight.mul_(mask)
                zeros += int((~mask).sum())
                total += mask.numel()
    achieved = zeros / max(total, 1)
    setattr(model.config, SPARSITY, {"pattern": pattern, "level": achieved, "cpu_speedup": False})
    return {"pattern": pattern, "sparsity": achieved}
