"""Settings of the KD terms: prediction-layer KD (with teacher annealing), ranking KD, intermediate-layer
terms, the TinyBERT schedule, augmentation, transfer sets, and the ``DistillConfig`` that holds them.

Re-exported by ``distill.config`` (recipes compose them through it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..strict import StrictModel, registered_name
from ..transfer.config import TransferConfig
from .layer_registry import LAYER_LOSSES
from .losses import LOGIT_LOSSES

LayerMap = Literal["uniform", "last"] | list[list[int]]


class LogitsKD(StrictModel):
    """Prediction-layer KD: loss = alpha · KD + (1 − alpha) · hard-label loss."""

    temperature: float = Field(2.0, gt=0)
    """softmax temperature of the KD loss (scaled by T²)"""
    alpha: float = Field(0.5, ge=0, le=1, description="0 = hard labels only, 1 = teacher only")
    task_alpha: dict[str, float] = Field(
        default_factory=dict,
        description="per-task alpha overriding ``alpha``, e.g. 0 for a head whose teacher is no better than "
        "its baseline (its soft targets would only pull the student towards the teacher's errors)",
    )

    loss: str | None = Field(
        None,
        description="a registered logit KD loss (distill.kd.losses.LOGIT_LOSSES, yours included) for every head; "
        "default: each head's own by its label kind (softmax KL, Bernoulli KL, MSE, per-token KL)",
    )
    task_loss: dict[str, str] = Field(default_factory=dict, description="per-task loss overriding ``loss``")
    anneal: bool = Field(
        False,
        description="teacher annealing (BAM, Clark et al. 2019): each head's KD share falls linearly from 1 at the "
        "first step to 0 at the last, so its target moves from the teacher's output to the gold label (alpha is "
        "then unused; transfer and augmented rows, which have no label, keep the teacher)",
    )

    @field_validator("task_alpha")
    @classmethod
    def _fractions(cls, task_alpha: dict[str, float]) -> dict[str, float]:
        bad = {t: a for t, a in task_alpha.items() if not 0 <= a <= 1}
        if bad:
            raise ValueError(f"task_alpha must lie in [0, 1], got {bad}")
        return task_alpha

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, name: str | None) -> str | None:
        return None if name is None else registered_name(LOGIT_LOSSES, "logit KD loss", name)

    @field_validator("task_loss")
    @classmethod
    def _known_task_losses(cls, names: dict[str, str]) -> dict[str, str]:
        from .losses import LOGIT_LOSSES

        return {task: registered_name(LOGIT_LOSSES, "logit KD loss", name) for task, name in names.items()}

    def alpha_for(self, task: str) -> float:
        return self.task_alpha.get(task, self.alpha)

    def loss_for(self, task: str, label_kind: str) -> str:
        """The registered loss that distils ``task``: its own override, the recipe's, or its label kind's."""
        return self.task_loss.get(task) or self.loss or label_kind


class RankingKD(StrictModel):
    """Ranking KD for pair tasks with a score head: the teacher's score differences between titles of one query
    (Margin-MSE), added to each row's own KD; ``train.group_pairs`` puts whole queries in a batch."""

    tasks: list[str] | None = Field(None, description="the tasks it applies to (default: every pair regression task)")
    loss: str = "margin_mse"
    """a registered ranking KD loss (distill.kd.ranking.RANKING_LOSSES, yours included)"""
    weight: float = Field(1.0, ge=0)
    """weight of this loss"""

    @field_validator("loss")
    @classmethod
    def _known(cls, name: str) -> str:
        from .ranking import RANKING_LOSSES

        return registered_name(RANKING_LOSSES, "ranking KD loss", name)


class HiddenKD(StrictModel):
    """Hidden-state MSE through a learned projection when widths differ (and the embedding layer)."""

    layer_map: LayerMap = "uniform"
    """which teacher layer each student layer matches: uniform, last, or explicit [[student, teacher], ...]"""
    embeddings: bool = True
    """also match the embedding layer's output"""
    weight: float = Field(1.0, ge=0)
    """weight of this loss"""


class AttentionKD(StrictModel):
    """Attention-map KL per head (TinyBERT); needs equal head counts."""

    layer_map: LayerMap = "uniform"
    """which teacher layer each student layer matches: uniform, last, or explicit pairs"""
    weight: float = Field(1.0, ge=0)
    """weight of this loss"""


class RelationKD(StrictModel):
    """MiniLM-v2 Q-Q, K-K and V-V relation KL on one layer pair; any widths and head counts."""

    teacher_layer: int = Field(-1, description="1-based; -1 = last")
    student_layer: int = Field(-1, description="1-based; -1 = last")
    heads: int = Field(4, ge=1, description="relation heads; must divide both hidden sizes")
    relations: list[Literal["q", "k", "v"]] = Field(default_factory=lambda: ["q", "k", "v"], min_length=1)
    """which self-attention relations to transfer (q, k, v)"""
    weight: float = Field(1.0, ge=0)
    """weight of this loss"""


class TwoStageConfig(StrictModel):
    """TinyBERT's schedule: intermediate layers first, then the prediction layer."""

    intermediate_epochs: int = Field(2, ge=1)
    """epochs of the first phase (intermediate losses only)"""


class AugmentConfig(StrictModel):
    """Augmented training inputs for distillation, labelled by the teacher (soft targets only)."""

    method: Literal["mlm", "mask"] = Field(
        "mlm",
        description="mlm: a masked LM proposes each replacement (needs a pretrain stage or a "
        "from_pretrained teacher with an MLM head); mask: replaced tokens stay [MASK]",
    )
    copies: int = Field(1, ge=1, description="augmented copies of each training example")
    prob: float = Field(0.15, gt=0, le=1, description="share of a copy's ordinary tokens replaced")
    top_k: int = Field(8, ge=1, description="replacements drawn from the MLM's k best other tokens")
    max_examples: int | None = Field(None, ge=1, description="per task, how many training examples get copies")
    mlm: str | None = Field(None, description="path of the masked LM (default: the pretrain stage's)")


class DistillConfig(StrictModel):
    """Which KD signals to use; any missing section is off (``logits: null`` = hard labels only)."""

    logits: LogitsKD | None = Field(default_factory=LogitsKD)
    """prediction-layer KD (null: hard labels only)"""
    hidden: HiddenKD | None = None
    """hidden-state KD (off when absent)"""
    attention: AttentionKD | None = None
    """attention-map KD (off when absent)"""
    relation: RelationKD | None = None
    """MiniLM-v2 relation KD (off when absent)"""
    two_stage: TwoStageConfig | None = None
    """TinyBERT's two-phase schedule (off when absent)"""
    augment: AugmentConfig | None = None
    """teacher-labelled augmented copies of the training inputs (off when absent)"""
    ranking: RankingKD | None = None
    """ranking KD on pair tasks with a score head: Margin-MSE over titles of one query (off when absent)"""
    transfer: TransferConfig | None = None
    """per task, inputs beyond the labelled rows that the teacher labels: unlabelled files, rows a cap left out,
    generated query-title pairs (off when absent)"""
    cache_teacher_logits: bool = Field(True, description="compute teacher logits once, on disk")
    layers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="more intermediate KD terms by registered name (distill.kd.layer_transfer.LAYER_LOSSES, yours "
        "included), each with its settings: {name: {weight: 0.5, ...}}",
    )

    @field_validator("layers")
    @classmethod
    def _known_layer_losses(cls, layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, settings in layers.items():
            if name in BUILTIN_LAYER_KEYS:
                raise ValueError(f"layers: {name!r} has its own key, student.distill.{name}")
            registered_name(LAYER_LOSSES, "intermediate KD loss", name)
            LAYER_LOSSES.get(name).config.model_validate(settings or {})
        return layers

    @model_validator(mode="after")
    def _augment_needs_teacher_targets(self) -> DistillConfig:
        if self.augment is not None and self.logits is None:
            raise ValueError("distill.augment needs distill.logits: augmented examples are labelled by the teacher")
        if self.ranking is not None and self.logits is None:
            raise ValueError("distill.ranking needs distill.logits: it reads the teacher's scores")
        if self.transfer is not None and self.logits is None:
            raise ValueError("distill.transfer needs distill.logits: transfer inputs are labelled by the teacher")
        return self

    def layer_terms(self) -> list[tuple[str, StrictModel]]:
        """Every intermediate KD term that is on, as (registered name, validated settings)."""
        builtin = [(key, getattr(self, key)) for key in BUILTIN_LAYER_KEYS if getattr(self, key) is not None]
        extra = [(name, LAYER_LOSSES.get(name).config.model_validate(v or {})) for name, v in self.layers.items()]
        return builtin + extra

    @property
    def intermediate(self) -> bool:
        return bool(self.layer_terms())


BUILTIN_LAYER_KEYS = ("hidden", "attention", "relation")  # their own recipe keys, in the order they are summed
