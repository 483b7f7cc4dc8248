"""What the training loop trains against: an objective's type, and how one step asks it for per-task losses
(below both the loop and the self-distillation anchors, which wrap an objective)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..errors import MtkdError
from ..model import MultiTaskModel

# ``objective(model, task, batch) -> loss``; an objective that also has ``losses(model, tasks, batch)
# -> {task: loss}`` can train several heads on one batch (``train.share_inputs``)
Objective = Callable[[MultiTaskModel, str, dict[str, Any]], torch.Tensor]


def objective_losses(
    objective: Objective, model: MultiTaskModel, tasks: list[str], batch: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """Per-task losses of one step: one call for a joint batch, the plain call for one task."""
    if len(tasks) == 1:
        return {tasks[0]: objective(model, tasks[0], batch)}
    joint = getattr(objective, "losses", None)
    if joint is None:
        raise MtkdError("train.share_inputs needs an objective with losses(model, tasks, batch)")
    return joint(model, tasks, batch)
