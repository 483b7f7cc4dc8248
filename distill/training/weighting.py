"""How each step's task loss is weighted: fixed per-task weights, or weights learned during training.

Registered by name (``train.weighting``); a scheme is an ``nn.Module`` so learned weights are
trained, checkpointed and resumed with the model.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import Registry

WEIGHTINGS: Registry[type[TaskWeighting]] = Registry("task weighting")


class TaskWeighting(nn.Module):
    """Turns one task's loss into the loss that is back-propagated."""

    #: learning-rate multiplier for this module's own parameters (see ``optim.build_optimizer``)
    lr_scale: float = 1.0

    def __init__(self, tasks: list[str], weights: dict[str, float]) -> None:
        super().__init__()
        self.static = {t: weights.get(t, 1.0) for t in tasks}

    def forward(self, task: str, loss: torch.Tensor) -> torch.Tensor:
        return loss * self.static[task]

    def effective(self) -> dict[str, float]:
        """The weight each task's loss currently gets (for logs and history)."""
        return dict(self.static)


WEIGHTINGS.register("static")(TaskWeighting)


@WEIGHTINGS.register("uncertainty")
class UncertaintyWeighting(TaskWeighting):
    """Homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

    Each task has a learned log-variance ``s``; its loss becomes ``exp(-s) · L + s / 2``, so a task
    whose loss stays high (noisy, hard) is down-weighted, and ``s / 2`` stops every weight from
    collapsing to zero. ``s`` starts at 0 (weight 1, the static scheme) and learns 10× faster than
    the network: each task's ``s`` only moves on that task's steps.
    """

    lr_scale = 10.0

    def __init__(self, tasks: list[str], weights: dict[str, float]) -> None:
        super().__init__(tasks, weights)
        self.log_vars = nn.ParameterDict({t: nn.Parameter(torch.zeros(())) for t in tasks})

    def forward(self, task: str, loss: torch.Tensor) -> torch.Tensor:
        s = self.log_vars[task]
        return (torch.exp(-s) * loss + 0.5 * s) * self.static[task]

    def effective(self) -> dict[str, float]:
        return {t: float(torch.exp(-s.detach())) * self.static[t] for t, s in self.log_vars.items()}
