"""The registry of intermediate-layer KD terms and the base class a term subclasses, apart from the built-in
terms (``distill.kd.layer_transfer``): settings (``distill.kd.config``) check names against it without importing
the implementations, which import the model and the settings in turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..registry import Registry
from ..strict import StrictModel


@dataclass
class LayerOutputs:
    """What one model exposed on a batch: hidden states (embeddings first), attention maps, and the
    Q/K/V projections of each captured layer (keyed by the layer number the term asked for)."""

    hidden_states: tuple[torch.Tensor, ...] | None
    attentions: tuple[torch.Tensor, ...] | None
    qkv: dict[int, dict[str, torch.Tensor]]


class LayerLoss(nn.Module):
    """One intermediate KD term. Subclasses set ``config`` (a StrictModel with a ``weight``), say what
    they read (``needs_hidden_states``, ``needs_attentions``, ``qkv_layers()``) and implement
    ``forward(student_outputs, teacher_outputs, attention_mask)``. Parameters they own (a projection)
    are trained and checkpointed with the student, never saved into it. ``student`` and ``teacher`` are
    ``MultiTaskModel``s; ``check`` receives their ``ModelConfig`` shapes."""

    config: ClassVar[type[StrictModel]]
    needs_hidden_states: ClassVar[bool] = False
    needs_attentions: ClassVar[bool] = False

    def __init__(self, cfg: Any, student: nn.Module, teacher: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg

    def qkv_layers(self) -> tuple[int, int] | None:
        """(student layer, teacher layer) whose Q/K/V projections this term reads, or None."""
        return None

    @classmethod
    def check(cls, cfg: Any, student: Any, teacher: Any) -> None:
        """Raise ValueError when the two shapes cannot be compared (run while the recipe is validated)."""


LAYER_LOSSES: Registry[type[LayerLoss]] = Registry("intermediate KD loss")
