"""One teacher per task, brought from outside: what every kind (a checkpoint, a file of outputs) answers.

A ``TaskTeacher`` gives, per example of its task, its outputs in the task's label order: logits
``[labels]`` for a sequence task (``[1]`` for regression, in the data's units), per-word logits
``[words, labels]`` for a token task (a NaN row: no answer for that word). The student's tokenizer
never matters here: mapping words onto the student's sub-tokens is ``distill.teachers.targets``' job,
so each teacher keeps its own tokenizer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from ..data.examples import Example, TaskData
from ..decoding import decode_words
from ..training.evaluate import score_predictions


class TaskTeacher(ABC):
    """A teacher of one task."""

    kind: ClassVar[str]  # "checkpoint", "outputs", ...
    #: True when it can answer for text it has never seen (augmented copies); a file of outputs cannot
    scores_new_text: ClassVar[bool] = True

    def __init__(self, task: TaskData) -> None:
        self.task = task

    @abstractmethod
    def outputs(self, examples: list[Example]) -> list[torch.Tensor | None]:
        """Per example, its outputs in the task's label order; None where this teacher has no answer."""

    def describe(self) -> dict[str, Any]:
        """What the teacher stage records about it (kind, source, provenance)."""
        return {"kind": self.kind}

    def latency_module(self) -> torch.nn.Module | None:
        """The model to time against the student (None when there is nothing to run: a file)."""
        return None


def decode_outputs(task: TaskData, outputs: list[torch.Tensor], examples: list[Example]) -> list[Any]:
    """Predictions in the task's target encoding, decoded exactly as a student's are (tags: the best valid
    BIO/BIOES path over words)."""
    if not task.kind.per_token:
        return task.kind.decode(torch.stack(outputs)) if outputs else []
    preds = []
    for out, ex in zip(outputs, examples, strict=True):
        known = [w for w in range(len(out)) if not bool(out[w].isnan().any())]  # NaN: a word past max_len
        log_probs = torch.log_softmax(out[known].float(), -1).numpy().astype(np.float64)
        preds.append(decode_words(log_probs, known, len(ex.text), task.labels))
    return preds


def teacher_predictions(teacher: TaskTeacher, split: str = "test") -> list[Any] | None:
    """The teacher's decoded predictions on one split of its task; None when it has no answer for some
    example there (a file of outputs that holds only training rows)."""
    examples = teacher.task.splits[split]
    outputs = teacher.outputs(examples)
    if any(o is None for o in outputs):
        return None
    return decode_outputs(teacher.task, outputs, examples)


def teacher_metrics(teacher: TaskTeacher, split: str = "test") -> dict[str, Any] | None:
    """The teacher's metrics on one split of its task, by the code that scores every model (None as above)."""
    preds = teacher_predictions(teacher, split)
    return None if preds is None else score_predictions(teacher.task, split, preds)
