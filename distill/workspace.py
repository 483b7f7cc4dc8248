"""What the training verbs share: where a step writes and how it runs (``Placement``), and with it the tasks and
the tokenizer that reads them (``Workspace``). One value instead of the same five arguments on every verb.

    work = Workspace(tasks, tokenizer, "runs/api/teacher", seed=0)
    teacher = train_teacher(work, ModelConfig(layers=4, hidden=256, heads=4), TrainConfig(epochs=2))
    student = distil(teacher.model, StudentModelConfig(layers=2, hidden=128, heads=2), work.at("runs/api/student"),
                     DistillConfig(logits=LogitsKD()), TrainConfig(epochs=3))
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from .data.examples import TaskData
from .encoding import EncodedSplit, encode_tasks

Encoded = dict[str, dict[str, EncodedSplit]]  # task → split → encoded examples


def _cpu() -> torch.device:
    return torch.device("cpu")


@dataclass(frozen=True)
class Placement:
    """Where a training step writes (``out``: its checkpoints, best model, logs), on which device, with which seed
    (initialisation and batch order), and whether it continues from its last checkpoint."""

    out: Path
    device: torch.device = field(default_factory=_cpu)
    seed: int = 0
    resume: bool = False

    def __post_init__(self) -> None:  # paths and device names as users write them
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "device", torch.device(self.device))

    def at(self, out: str | Path) -> Placement:
        """The same placement writing to ``out``."""
        return replace(self, out=Path(out))


@dataclass(frozen=True)
class Workspace:
    """A step's tasks, their tokenizer and its placement (``out``, ``device``, ``seed``, ``resume``)."""

    tasks: dict[str, TaskData]
    tokenizer: PreTrainedTokenizerBase
    out: Path
    device: torch.device = field(default_factory=_cpu)
    seed: int = 0
    resume: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "device", torch.device(self.device))

    @property
    def placement(self) -> Placement:
        """Where and how, without the tasks."""
        return Placement(self.out, self.device, self.seed, self.resume)

    @property
    def pad_id(self) -> int:
        """The tokenizer's padding id."""
        return self.tokenizer.pad_token_id

    def at(self, out: str | Path) -> Workspace:
        """The same workspace writing to ``out``."""
        return replace(self, out=Path(out))

    def only(self, tasks: dict[str, TaskData]) -> Workspace:
        """The same workspace over other tasks (a subset, or tasks with more rows)."""
        return replace(self, tasks=tasks)

    def encode(self, max_len: int) -> Encoded:
        """Every split of every task tokenized at ``max_len`` (a new copy each call: callers may extend it)."""
        return encode_tasks(self.tokenizer, self.tasks, max_len)
