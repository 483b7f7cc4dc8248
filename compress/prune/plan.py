"""What to remove: targets and schedule (the recipe's ``prune`` section) turned into head and neuron lists."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, field_validator

from distill.config import StrictModel, registered_name

from .importance import IMPORTANCES, Scores
from .vocabulary import VocabularyConfig


class PruneConfig(StrictModel):
    """Structured pruning targets (fractions removed), scope, schedule and recovery."""

    artifact: Literal["student", "teacher"] = "student"
    """what is pruned: the student or the teacher"""
    importance: str = Field("taylor", description="a registered importance score: magnitude, taylor, head_mask")
    heads: float = Field(0.0, ge=0, lt=1, description="fraction of attention heads removed")
    ffn: float = Field(0.0, ge=0, lt=1, description="fraction of FFN neurons removed")
    layers: list[int] = Field(default_factory=list, description="whole layers removed (indices before pruning)")
    scope: Literal["global", "per_layer"] = Field("global", description="rank across all layers or within each")
    steps: int = Field(1, ge=1, description="1: one-shot; more: prune a share, recover, repeat")
    score_batches: int = Field(8, ge=1, description="batches per task for data-driven scores")
    recover_epochs: int = Field(1, ge=0, description="logit distillation from the unpruned model after each step")
    recover_lr: float = Field(2e-4, gt=0)
    """learning rate of the recovery distillation"""
    ffn_multiple: int = Field(8, ge=1, description="kept FFN widths rounded up to a multiple (GEMM tiles; 2:4 needs 4)")
    sparsity: Literal["none", "unstructured", "2:4"] = Field(
        "none", description="masks baked in after the structured steps (for sparse tensor cores; no CPU speedup)"
    )
    sparsity_level: float = Field(0.5, ge=0, lt=1, description="for unstructured masks")
    vocabulary: VocabularyConfig | None = Field(
        None, description="drop embedding rows of tokens the training texts do not use (before heads and FFN)"
    )

    @field_validator("importance")
    @classmethod
    def _known_importance(cls, name: str) -> str:
        return registered_name(IMPORTANCES, "importance score", name)


def _lowest(scores: list[torch.Tensor], fraction: float, scope: str, floor: int) -> dict[int, list[int]]:
    """Indices to remove per layer: the lowest-scored ``fraction``, keeping at least ``floor`` per layer."""
    drop: dict[int, list[int]] = {}
    if fraction <= 0:
        return drop
    if scope == "per_layer":
        for layer, s in enumerate(scores):
            n = min(round(fraction * len(s)), len(s) - floor)
            if n > 0:
                drop[layer] = s.argsort()[:n].tolist()
        return drop
    ranked = sorted((float(v), layer, i) for layer, s in enumerate(scores) for i, v in enumerate(s))
    budget = round(fraction * len(ranked))  # rounded: floors would undershoot over several steps
    left = {layer: len(s) for layer, s in enumerate(scores)}
    for _, layer, i in ranked:
        if budget == 0:
            break
        if left[layer] > floor:
            drop.setdefault(layer, []).append(i)
            left[layer] -= 1
            budget -= 1
    return drop


def _to_multiple(score: torch.Tensor, gone: list[int], multiple: int) -> list[int]:
    """Adjust a layer's removals so the kept count is the nearest multiple of ``multiple`` (at least one)."""
    kept = len(score) - len(gone)
    spare = kept % multiple
    if not spare:
        return gone
    if spare * 2 >= multiple or kept - spare < multiple:  # round the kept count up: spare the best removed
        return gone[: len(gone) - (multiple - spare)]
    dropped = set(gone)  # round down: also remove the lowest-scored of the kept
    extra = [i for i in score.argsort().tolist() if i not in dropped][:spare]
    return gone + extra


def plan_step(
    scores: Scores, heads: float, ffn: float, scope: str, ffn_multiple: int = 1
) -> tuple[dict[int, list[int]], dict[int, torch.Tensor]]:
    """(heads to remove per layer, FFN neurons to *keep* per layer) for this step's fractions; each
    layer keeps the nearest multiple of ``ffn_multiple`` neurons to what the ranking asked for."""
    head_drop = _lowest(scores.heads, heads, scope, floor=1)
    ffn_drop = _lowest(scores.ffn, ffn, scope, floor=ffn_multiple)
    keep = {}
    for layer, gone in ffn_drop.items():
        gone = _to_multiple(scores.ffn[layer], gone, ffn_multiple)
        mask = torch.ones(len(scores.ffn[layer]), dtype=torch.bool)
        mask[gone] = False
        keep[layer] = mask.nonzero().flatten()
    return head_drop, keep


def step_fraction(target: float, steps: int) -> float:
    """The fraction of what is *left* to remove at each step so that ``steps`` equal geometric steps
    reach ``target`` of the original: (1 - target)^(1/steps) is kept each time."""
    if target <= 0:
        return 0.0
    return 1 - (1 - target) ** (1 / steps)
