"""Tasks that read the very same training inputs train together: one encoder pass, every head's loss.

Two heads on one text (review category and review sentiment) would otherwise pay the encoder
twice for the same batch; with ``train.share_inputs`` the sampler draws the group as one unit
and each step back-propagates the sum of its heads' losses. Only exact matches group (same
token ids and segment ids, row by row), so a task with its own rows, augmented copies, or a
different ``max_len`` truncation simply stays on its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch

from ..data.examples import TaskData
from ..encoding import EncodedSplit


def _fingerprint(split: EncodedSplit) -> str:
    digest = hashlib.sha256()
    for ids, types in zip(split.input_ids, split.token_type_ids, strict=True):
        digest.update(repr((ids, types)).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def shared_input_groups(
    tasks: dict[str, TaskData], train_splits: dict[str, EncodedSplit], share: bool
) -> dict[str, list[str]]:
    """Unit name → member tasks, in task order; the unit is named after its first member.

    Token-tagging tasks never group: their loss (and its share when a batch is split across
    ranks) counts labelled tokens, not rows, so a joint step would weight them differently.
    """
    if not share:
        return {t: [t] for t in tasks}
    units: dict[str, list[str]] = {}
    lead_of: dict[tuple[int, str], str] = {}
    for t in tasks:
        split = train_splits[t]
        if tasks[t].kind.per_token or split.synthetic:
            units[t] = [t]
            continue
        key = (len(split), _fingerprint(split))
        if key in lead_of:
            units[lead_of[key]].append(t)
        else:
            lead_of[key] = t
            units[t] = [t]
    return units


def joint_labels(
    train_splits: Mapping[str, EncodedSplit], members: list[str], idx: list[int]
) -> dict[str, torch.Tensor]:
    """Each member's labels for the same rows (a group never holds a tagging task)."""
    return {t: torch.tensor([train_splits[t].targets[i] for i in idx]) for t in members}
