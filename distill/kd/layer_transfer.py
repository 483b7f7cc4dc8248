"""Intermediate-layer KD terms, registered by name: a new term is one class.

A term compares what student and teacher expose on the same batch — hidden states, attention
maps, or the query/key/value projections of one layer — and returns an unweighted loss; the
objective multiplies it by its config's ``weight`` and adds it to every head's loss. Its settings
are a typed config (``config``), so a recipe validates them like any other section::

    from distill.kd.layer_transfer import LAYER_LOSSES, LayerLoss, LayerOutputs

    class CosineConfig(StrictModel):
        weight: float = 1.0

    @LAYER_LOSSES.register("last-cosine")
    class LastCosine(LayerLoss):
        config = CosineConfig
        needs_hidden_states = True

        def forward(self, s: LayerOutputs, t: LayerOutputs, mask):
            ...

    # recipe: student.distill.layers: {last-cosine: {weight: 0.5}}

The built-ins are TinyBERT's hidden-state MSE and attention KL and MiniLM-v2's relation KL; they
keep their own recipe keys (``student.distill.hidden`` / ``attention`` / ``relation``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import AttentionKD, HiddenKD, ModelConfig, RelationKD
from ..model import MultiTaskModel
from ..student import encoder_layers, layer_map
from .layer_registry import LAYER_LOSSES, LayerLoss, LayerOutputs
from .losses import attention_kl, hidden_mse, relation_kl

__all__ = ["LAYER_LOSSES", "AttentionTransfer", "HiddenTransfer", "LayerLoss", "LayerOutputs", "RelationTransfer"]


def _pairs(cfg: HiddenKD | AttentionKD, student: MultiTaskModel, teacher: MultiTaskModel) -> list[tuple[int, int]]:
    """(student layer, teacher layer) pairs of ``cfg.layer_map``; 0 is the embedding layer."""
    return layer_map(len(encoder_layers(student)), len(encoder_layers(teacher)), cfg.layer_map)


@LAYER_LOSSES.register("hidden")
class HiddenTransfer(LayerLoss):
    """TinyBERT hidden-state MSE, through one learned projection when the widths differ."""

    config = HiddenKD
    needs_hidden_states = True

    def __init__(self, cfg: HiddenKD, student: MultiTaskModel, teacher: MultiTaskModel) -> None:
        super().__init__(cfg, student, teacher)
        self.pairs = _pairs(cfg, student, teacher)
        if cfg.embeddings and (0, 0) not in self.pairs:
            self.pairs.insert(0, (0, 0))
        s_width, t_width = student.config.hidden_size, teacher.config.hidden_size
        self.projection = nn.Linear(s_width, t_width) if s_width != t_width else nn.Identity()

    def forward(self, s: LayerOutputs, t: LayerOutputs, mask: torch.Tensor) -> torch.Tensor:
        parts = [hidden_mse(self.projection(s.hidden_states[i]), t.hidden_states[j], mask) for i, j in self.pairs]
        return torch.stack(parts).mean()


@LAYER_LOSSES.register("attention")
class AttentionTransfer(LayerLoss):
    """TinyBERT attention-map KL per head; equal head counts only."""

    config = AttentionKD
    needs_attentions = True

    def __init__(self, cfg: AttentionKD, student: MultiTaskModel, teacher: MultiTaskModel) -> None:
        super().__init__(cfg, student, teacher)
        self.pairs = [(i, j) for i, j in _pairs(cfg, student, teacher) if i > 0 and j > 0]  # embeddings: no attention

    def forward(self, s: LayerOutputs, t: LayerOutputs, mask: torch.Tensor) -> torch.Tensor:
        parts = [attention_kl(s.attentions[i - 1], t.attentions[j - 1], mask) for i, j in self.pairs]
        return torch.stack(parts).mean()

    @classmethod
    def check(cls, cfg: AttentionKD, student: ModelConfig, teacher: ModelConfig) -> None:
        if student.heads != teacher.heads:
            raise ValueError(
                f"student.distill.attention needs equal head counts (teacher {teacher.heads}, "
                f"student {student.heads}); use student.distill.relation, which works across head counts"
            )


@LAYER_LOSSES.register("relation")
class RelationTransfer(LayerLoss):
    """MiniLM-v2 Q-Q, K-K and V-V relation KL on one layer pair; any widths and head counts."""

    config = RelationKD

    def qkv_layers(self) -> tuple[int, int]:
        return self.cfg.student_layer, self.cfg.teacher_layer

    def forward(self, s: LayerOutputs, t: LayerOutputs, mask: torch.Tensor) -> torch.Tensor:
        i, j = self.qkv_layers()
        parts = [relation_kl(s.qkv[i][r], t.qkv[j][r], mask, self.cfg.heads) for r in self.cfg.relations]
        return torch.stack(parts).mean()

    @classmethod
    def check(cls, cfg: RelationKD, student: ModelConfig, teacher: ModelConfig) -> None:
        if student.hidden % cfg.heads or teacher.hidden % cfg.heads:
            raise ValueError(
                f"student.distill.relation.heads ({cfg.heads}) must divide both hidden sizes "
                f"(teacher {teacher.hidden}, student {student.hidden})"
            )
