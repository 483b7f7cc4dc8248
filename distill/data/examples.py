"""Typed examples and the per-task data bundle every later step consumes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..config import TaskConfig
from ..errors import DataError
from ..tasks import TaskType

SPLITS = ("train", "dev", "test")


@dataclass
class Example:
    """One input with its target already encoded for the task type.

    ``text`` is a string, or a list of words for token classification; ``target`` is a class
    id, a multi-hot list, a float, or a list of tag ids (one per word). ``id`` keys precomputed
    teacher outputs to the row.
    """

    text: str | list[str]
    target: Any
    text_pair: str | None = None
    id: str | None = None  # the row's ``tasks.<name>.id`` column, when the task names one


@dataclass
class BadRows:
    """Applies ``data.on_error``: raise on the first bad row, or count and remember a few."""

    policy: str
    counts: Counter = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def add(self, where: str, reason: str) -> None:
        if self.policy == "raise":
            raise DataError(f"{where}: {reason}; fix the row, or set data.on_error: skip to skip and count such rows")
        self.counts[reason.split(" (")[0]] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{where}: {reason}")

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class TaskData:
    """A task's label set, its three splits and a report of what was read and skipped."""

    name: str
    config: TaskConfig
    kind: TaskType
    labels: list[str]
    splits: dict[str, list[Example]]
    report: dict[str, Any]
    unused: list[Example] = field(default_factory=list)  # training rows a cap left out (inputs only, no target)

    def label_name(self, index: int) -> str:
        return self.labels[index]
