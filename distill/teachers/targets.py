"""Per-task teachers in place of one multi-task teacher, and their answers placed on the student's sub-tokens.

Teachers answer per example and per word (``distill.teachers.base``); the student trains on its own
tokenization. ``student_targets`` puts each sequence answer on its example and each word's answer on the
word's first sub-token (where the student's tag loss reads), so a teacher with another vocabulary
teaches the same positions a tag is trained on. An augmented copy is scored afresh by a teacher that
can read new text (its sub-tokens decoded back to text); a file of outputs cannot, so the copy keeps the
answer for the row it was copied from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from ..data.examples import Example, TaskData
from ..decoding import first_subtokens
from ..encoding import EncodedSplit
from ..kd.teacher_cache import TeacherLogits
from ..model import MultiTaskModel
from ..training.evaluate import score_predictions
from .base import TaskTeacher, teacher_predictions

log = logging.getLogger("mtkd")


@dataclass
class TaskTeachers:
    """One teacher per task that has one; the other tasks learn from their labels alone. ``encoder``: the
    layers of one designated teacher (its base encoder, no heads) for ``init: teacher_layers`` and
    intermediate-layer KD, when its vocabulary is the student's."""

    teachers: dict[str, TaskTeacher]
    encoder: MultiTaskModel | None = None
    encoder_task: str | None = None
    train: TeacherLogits | None = field(default=None, repr=False)  # answers on the training rows, once computed

    def train_outputs(self) -> TeacherLogits:
        """Every teacher's answers on its task's training rows (NaN rows where a teacher has none)."""
        if self.train is None:
            rows = {}
            for name, teacher in self.teachers.items():
                log.info("teacher %s: scoring %d training rows", name, len(teacher.task.splits["train"]))
                examples = teacher.task.splits["train"]
                rows[name] = [
                    _or_nan(o, teacher.task, ex) for o, ex in zip(teacher.outputs(examples), examples, strict=True)
                ]
            self.train = TeacherLogits(rows)
        return self.train

    def test_metrics(self) -> dict[str, dict[str, Any]]:
        """Each teacher's metrics on its task's test split (teachers without test answers are left out)."""
        return {t: score_predictions(self.teachers[t].task, "test", p) for t, p in self.test_predictions().items()}

    def test_predictions(self) -> dict[str, list[Any]]:
        """Each teacher's decoded predictions on its task's test split (those without test answers left out)."""
        out = {}
        for name, teacher in self.teachers.items():
            preds = teacher_predictions(teacher, "test")
            if preds is None:
                log.info("teacher %s: no answers for the test rows, so it is not scored", name)
            else:
                out[name] = preds
        return out

    def num_parameters(self) -> int:
        """Parameters of every teacher that runs (all of them: what the student replaces)."""
        modules = [t.latency_module() for t in self.teachers.values()]
        return sum(p.numel() for m in modules if m is not None for p in m.parameters())

    def describe(self) -> dict[str, Any]:
        return {name: t.describe() for name, t in self.teachers.items()}


def _or_nan(out: torch.Tensor | None, task: TaskData, example: Example) -> torch.Tensor:
    if out is not None:
        return out
    width = 1 if task.kind.numeric else len(task.labels)
    return torch.full((len(example.text), width) if task.kind.per_token else (width,), float("nan"))


def student_targets(
    teachers: TaskTeachers,
    tasks: dict[str, TaskData],
    encoded: dict[str, EncodedSplit],
    tokenizer: PreTrainedTokenizerBase,
) -> TeacherLogits:
    """The teachers' answers row for row of the student's (possibly augmented) training splits."""
    words = teachers.train_outputs()
    out: dict[str, list[torch.Tensor]] = {}
    for name, teacher in teachers.teachers.items():
        split, task = encoded[name], tasks[name]
        answers = list(words.logits[name])
        copies = [i for i, synthetic in enumerate(split.synthetic) if synthetic]
        if copies:
            answers += _copy_answers(teacher, split, copies, words.logits[name], tokenizer)
        rows = range(len(split))
        out[name] = [_placed(answers[i], split, i) if task.kind.per_token else answers[i] for i in rows]
    return TeacherLogits(out)


def _placed(per_word: torch.Tensor, split: EncodedSplit, i: int) -> torch.Tensor:
    """Per-word answers at each word's first sub-token of row ``i``; other positions zero (never read)."""
    row = per_word.new_zeros((len(split.input_ids[i]), per_word.shape[-1]))
    for w, pos in enumerate(first_subtokens(split.word_ids[i], per_word.shape[0])):
        if pos is not None:
            row[pos] = per_word[w]
    return row


def _copy_answers(
    teacher: TaskTeacher, split: EncodedSplit, copies: list[int], originals: list[torch.Tensor], tokenizer
) -> list[torch.Tensor]:
    """Answers for augmented copies: scored afresh from their decoded text, or the original row's."""
    sources = [split.source[i] for i in copies]
    if not teacher.scores_new_text:
        return [originals[s] for s in sources]
    examples = teacher.task.splits["train"]
    decoded = [decoded_copy(split, i, tokenizer, examples[s]) for i, s in zip(copies, sources, strict=True)]
    return [_or_nan(o, teacher.task, ex) for o, ex in zip(teacher.outputs(decoded), decoded, strict=True)]


def decoded_copy(split: EncodedSplit, i: int, tokenizer: PreTrainedTokenizerBase, original: Example) -> Example:
    """Row ``i`` of the student's split as text again (for a teacher with its own tokenizer): its words for a
    token task (words past the student's max_len as in ``original``), or its one or two texts."""
    ids = split.input_ids[i]
    frame = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.bos_token_id,
             tokenizer.eos_token_id} - {None}  # fmt: skip
    if split.word_ids:
        words = list(original.text)
        for w in range(len(words)):
            pieces = [t for t, wid in zip(ids, split.word_ids[i], strict=True) if wid == w]
            if pieces:
                words[w] = tokenizer.decode(pieces).strip() or words[w]
        return Example(words, original.target, None, original.id)
    segments, current = [], []
    for pos, t in enumerate(ids):
        new_segment = t in frame or (pos and split.token_type_ids[i][pos] != split.token_type_ids[i][pos - 1])
        if new_segment and current:
            segments.append(current)
            current = []
        if t not in frame:
            current.append(t)
    segments += [current] if current else []
    texts = [tokenizer.decode(s).strip() for s in segments] or [""]
    pair = (texts[1] if len(texts) > 1 else "") if original.text_pair is not None else None
    return Example(texts[0], original.target, pair, original.id)
