"""Task types: what a head looks like, how it is trained, decoded and scored.

A task type is one registered subclass of ``TaskType``; the model, the training loop and the
evaluator only talk to this interface, so adding a type touches nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import metrics as M
from .registry import Registry

IGNORE_INDEX = -100  # positions without a target (padding, non-first sub-tokens)

TASK_TYPES: Registry[type[TaskType]] = Registry("task type")


class SequenceHead(nn.Module):
    """Pooled [CLS] representation → dense → tanh → dropout → logits (BERT-style)."""

    def __init__(self, hidden: int, outputs: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, outputs)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        pooled = torch.tanh(self.dense(sequence_output[:, 0]))
        return self.out(self.dropout(pooled))


class TokenHead(nn.Module):
    """One linear projection per token position."""

    def __init__(self, hidden: int, outputs: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, outputs)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(sequence_output))


class TaskType(ABC):
    """Behaviour shared by all tasks of one type. Subclasses are stateless."""

    name: ClassVar[str]
    #: True when the type requires a second text (any sequence type accepts one via ``text_pair``)
    pair: ClassVar[bool] = False
    #: label kind: "class" (one name), "classes" (list of names), "score" (float), "tags" (list)
    label_kind: ClassVar[str]
    primary_metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True

    def num_outputs(self, labels: Sequence[str]) -> int:
        return len(labels)

    def head(self, hidden: int, labels: Sequence[str], dropout: float) -> nn.Module:
        return SequenceHead(hidden, self.num_outputs(labels), dropout)

    @abstractmethod
    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Supervised loss on a batch."""

    @abstractmethod
    def decode(self, logits: torch.Tensor) -> list[Any]:
        """Per-example predictions in target encoding (ids, multi-hot rows or floats)."""

    @abstractmethod
    def score(self, preds: list[Any], golds: list[Any], labels: Sequence[str]) -> dict[str, float]:
        """All metrics for predictions vs gold targets (target encoding)."""

    @abstractmethod
    def baseline_prediction(self, train_golds: list[Any], labels: Sequence[str]) -> Any:
        """The constant prediction of the naive baseline (majority class / train mean)."""

    def baseline(self, train_golds: list[Any], golds: list[Any], labels: Sequence[str]) -> float:
        """Primary metric of the constant baseline on the given split."""
        const = self.baseline_prediction(train_golds, labels)
        preds = [[const] * len(g) if self.label_kind == "tags" else const for g in golds]
        return self.score(preds, golds, labels)[self.primary_metric]


@TASK_TYPES.register("classification")
class Classification(TaskType):
    name = "classification"
    label_kind = "class"
    primary_metric = "accuracy"

    def loss(self, logits, target):
        return F.cross_entropy(logits, target)

    def decode(self, logits):
        return logits.argmax(-1).tolist()

    def score(self, preds, golds, labels):
        return M.classification_metrics(preds, golds)

    def baseline_prediction(self, train_golds, labels):
        return M.majority(train_golds)


@TASK_TYPES.register("pair_classification")
class PairClassification(Classification):
    """Two texts (query, product title) encoded together as one sequence pair."""

    name = "pair_classification"
    pair = True


@TASK_TYPES.register("multilabel_classification")
class MultiLabelClassification(TaskType):
    name = "multilabel_classification"
    label_kind = "classes"
    primary_metric = "micro_f1"

    def loss(self, logits, target):
        return F.binary_cross_entropy_with_logits(logits, target.float())

    def decode(self, logits):
        return (logits > 0).int().tolist()

    def score(self, preds, golds, labels):
        return M.multilabel_metrics(np.asarray(preds), np.asarray(golds))

    def baseline_prediction(self, train_golds, labels):
        # each label on when it is on in most training rows (usually none)
        return (np.asarray(train_golds).mean(0) > 0.5).astype(int).tolist()


@TASK_TYPES.register("regression")
class Regression(TaskType):
    name = "regression"
    label_kind = "score"
    primary_metric = "rmse"
    higher_is_better = False

    def num_outputs(self, labels):
        return 1

    def loss(self, logits, target):
        return F.mse_loss(logits.squeeze(-1), target.float())

    def decode(self, logits):
        return logits.squeeze(-1).float().tolist()

    def score(self, preds, golds, labels):
        return M.regression_metrics(preds, golds)

    def baseline_prediction(self, train_golds, labels):
        return float(np.mean(train_golds))


@TASK_TYPES.register("token_classification")
class TokenClassification(TaskType):
    """Per-word tags; targets are tag ids per word, aligned to sub-tokens at encoding time."""

    name = "token_classification"
    label_kind = "tags"
    primary_metric = "entity_f1"

    def head(self, hidden, labels, dropout):
        return TokenHead(hidden, len(labels), dropout)

    def loss(self, logits, target):
        return F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE_INDEX)

    def decode(self, logits):
        return logits.argmax(-1).tolist()

    def score(self, preds, golds, labels):
        names = [[labels[i] for i in seq] for seq in golds]
        return M.token_metrics([[labels[i] for i in seq] for seq in preds], names)

    def baseline_prediction(self, train_golds, labels):
        return M.majority([t for seq in train_golds for t in seq])


def task_type(name: str) -> TaskType:
    """An instance of the registered task type ``name``."""
    return TASK_TYPES.get(name)()
