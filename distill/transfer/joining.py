"""Transfer rows into the student's training: built, scored once when the answers are cached, and
appended to each task's training split as teacher-only (``synthetic``) rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..data.examples import Example, TaskData
from ..encoding import EncodedSplit, encode_examples
from ..errors import MtkdError
from ..io import stable_hash
from .config import TransferConfig
from .inputs import TransferInputs, transfer_inputs
from .scores import Scorer, score_transfer

log = logging.getLogger("mtkd")


@dataclass
class TransferRows:
    """Per task: the inputs, the teacher's scores on them (None while the teacher runs live) and a report."""

    inputs: dict[str, TransferInputs]
    scores: dict[str, torch.Tensor] | None = None

    def report(self) -> dict[str, Any]:
        return {t: {"inputs": len(x.examples), "from": x.counts, "skipped": x.skipped} for t, x in self.inputs.items()}


def build_transfer(
    cfg: TransferConfig, tasks: dict[str, TaskData], taught: set[str], seed: int, on_error: str = "raise"
) -> TransferRows:
    """Every configured task's transfer inputs; a task that is not in the recipe or has no teacher is an error."""
    for name in cfg.tasks:
        if name not in tasks:
            raise MtkdError(f"transfer.tasks.{name}: no such task (tasks: {', '.join(tasks)})")
        if name not in taught:
            raise MtkdError(f"transfer.tasks.{name}: the task has no teacher to label its transfer inputs")
    return TransferRows({t: transfer_inputs(tasks[t], c, seed, on_error) for t, c in cfg.tasks.items()})


def transfer_key(rows: TransferRows, teacher_identity: Any, chunk_rows: int) -> str:
    """What the scores depend on: the teacher, the inputs' content and the chunking."""
    content = {t: stable_hash([[ex.text, ex.text_pair] for ex in x.examples]) for t, x in rows.inputs.items()}
    return stable_hash({"teacher": teacher_identity, "inputs": content, "chunk_rows": chunk_rows})


def score_rows(rows: TransferRows, scorer: Scorer, cache_root: Path, identity: Any, chunk_rows: int) -> TransferRows:
    """``rows`` with the teacher's scores, from ``cache_root/transfer-<key>`` where already scored."""
    key = transfer_key(rows, identity, chunk_rows)
    inputs = {t: x.examples for t, x in rows.inputs.items()}
    return replace(rows, scores=score_transfer(scorer, inputs, cache_root / f"transfer-{key}", key, chunk_rows))


def append_rows(split: EncodedSplit, task: TaskData, tokenizer, examples: list[Example], max_len: int) -> EncodedSplit:
    """``split`` followed by ``examples`` encoded for the student, marked teacher-only; their targets are
    the constant baseline's (a placeholder no loss reads)."""
    placeholder = task.kind.baseline_prediction([ex.target for ex in task.splits["train"]], task.labels)
    encoded = encode_examples(tokenizer, [replace(ex, target=placeholder) for ex in examples], task.kind, max_len)
    n = len(split)
    return replace(
        split,
        input_ids=split.input_ids + encoded.input_ids,
        token_type_ids=split.token_type_ids + encoded.token_type_ids,
        targets=split.targets + encoded.targets,
        truncated=split.truncated + encoded.truncated,
        synthetic=(split.synthetic or [False] * n) + [True] * len(encoded),
        source=(split.source or list(range(n))) + [-1] * len(encoded),
    )


@dataclass
class TransferJob:
    """What ``distil`` needs to add a transfer set: its rows, how the teacher scores them and where the
    scores are kept (``identity``: what names the teacher in the cache key)."""

    rows: TransferRows
    scorer: Scorer
    cache_root: Path
    identity: Any
    chunk_rows: int = 2048

    def join(
        self, encoded: dict[str, dict[str, EncodedSplit]], cached, tasks: dict[str, TaskData], tokenizer, max_len: int
    ) -> None:
        """Append the rows to the training splits; where the teacher's answers are cached (``cached``, a
        ``TeacherLogits`` over the splits as they were) its scores on them follow, computed once. Where the
        teacher runs live (intermediate KD) it labels them as they are drawn, like every other row."""
        if cached is not None:
            self.rows = score_rows(self.rows, self.scorer, self.cache_root, self.identity, self.chunk_rows)
            for task, scores in (self.rows.scores or {}).items():
                cached.logits[task] = list(cached.logits[task]) + list(scores.unbind(0))
        else:
            log.info("transfer: the teacher runs live on every batch (intermediate KD) and labels transfer rows so")
        for task, x in self.rows.inputs.items():
            encoded[task]["train"] = append_rows(encoded[task]["train"], tasks[task], tokenizer, x.examples, max_len)
