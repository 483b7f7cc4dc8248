"""Task types: what a head looks like, how it is trained, decoded and scored.

A task type is one registered subclass of ``TaskType``; the model, the training loop and the
evaluator only talk to this interface, so adding a type touches nothing else.
"""

from __future__ import annotations

import math
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
    #: one target per word (tagging) rather than one per text: padding and sub-token alignment apply
    per_token: ClassVar[bool] = False
    #: the head answers a number (regression): no label set, optional standardisation
    numeric: ClassVar[bool] = False
    #: several labels per example, each on or off (sigmoid outputs)
    multi_label: ClassVar[bool] = False

    # -- what the label kind implies for the data: row checks, the label set, the target encoding --

    def check_row(self, text: Any, pair: Any, label: Any) -> str | None:
        """Why a mapped row is unusable (counted or raised by the loader), or None."""
        if not isinstance(text, str) or not text.strip():
            return "empty text"
        if pair is not None and (not isinstance(pair, str) or not pair.strip()):
            return "empty text_pair"
        if label is None or (isinstance(label, str) and not label.strip()):
            return "empty label"
        return None

    def label_names(self, label: Any, sep: str) -> list[str]:
        """The label names one row's label holds."""
        return [str(label).strip()]

    def label_set(self, train_labels: list[Any], sep: str) -> list[str]:
        """Sorted labels seen in train ('O' first, so index 0 of a tag set is 'outside')."""
        seen = {name for y in train_labels for name in self.label_names(y, sep)}
        return sorted(seen, key=lambda s: (s != "O", s))

    def encode_label(self, label: Any, index: dict[str, int], sep: str) -> Any:
        """A row's label in target encoding (a class id by default)."""
        return index[self.label_names(label, sep)[0]]

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
        preds = [[const] * len(g) if self.per_token else const for g in golds]
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
    multi_label = True

    def label_names(self, label, sep):
        return [p.strip() for p in label.split(sep)] if isinstance(label, str) else [str(x) for x in label]

    def encode_label(self, label, index, sep):
        hot = [0] * len(index)
        for name in self.label_names(label, sep):
            hot[index[name]] = 1
        return hot

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
    numeric = True

    def check_row(self, text, pair, label):
        problem = super().check_row(text, pair, label)
        if problem:
            return problem
        try:
            value = float(label)
        except (TypeError, ValueError):
            return f"label {label!r} is not a number"
        return None if math.isfinite(value) else f"label {label!r} is not finite"

    def label_set(self, train_labels, sep):
        return []

    def encode_label(self, label, index, sep):
        return float(label)

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
    per_token = True

    def check_row(self, text, pair, label):
        if not text:
            return "empty token list"
        return f"{len(text)} tokens but {len(label)} tags" if len(text) != len(label) else None

    def label_names(self, label, sep):
        return [str(t) for t in label]

    def encode_label(self, label, index, sep):
        return [index[name] for name in self.label_names(label, sep)]

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
