"""What the training loop trains against: an objective's type, and how one step asks it for per-task losses
(below both the loop and the self-distillation anchors, which wrap an objective)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

from ..errors import MtkdError
from ..model import MultiTaskModel

# ``objective(model, task, batch) -> loss``: any callable; the protocols below are what more it may offer
Objective = Callable[[MultiTaskModel, str, dict[str, Any]], torch.Tensor]


@runtime_checkable
class JointObjective(Protocol):
    """An objective that trains several heads on one batch (``train.share_inputs``): a loss per task."""

    def __call__(self, model: MultiTaskModel, task: str, batch: dict[str, Any]) -> torch.Tensor: ...

    def losses(self, model: MultiTaskModel, tasks: list[str], batch: dict[str, Any]) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class ScheduledObjective(Protocol):
    """An objective that changes over training (teacher annealing): told the share of training done each step,
    from the step counter, so a resumed run is told the same."""

    def set_progress(self, share: float) -> None: ...


def objective_losses(
    objective: Objective, model: MultiTaskModel, tasks: list[str], batch: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """Per-task losses of one step: one call for a joint batch, the plain call for one task."""
    if len(tasks) == 1:
        return {tasks[0]: objective(model, tasks[0], batch)}
    if not isinstance(objective, JointObjective):
        raise MtkdError("train.share_inputs needs an objective with losses(model, tasks, batch)")
    return objective.losses(model, tasks, batch)
