"""Precomputed teacher outputs: a teacher that cannot run here (a service, an LLM that labelled the data).

One JSON object per line, keyed by the task's row id (``tasks.<name>.id``)::

    {"labels": ["refund", "shipping", "other"]}          the label order of the lines below (or per line)
    {"id": "r17", "logits": [2.1, -0.3, 0.4]}            or "probs": [0.81, 0.07, 0.12]
    {"id": "r18", "probs": [[0.9, 0.1], [0.2, 0.8]]}     a token task: one row per word
    {"id": "q4", "value": 2.35}                          a regression task

Probabilities become log-probabilities (sigmoid logits for multi-label), so every KD loss reads
logits. Each line is checked (JSON, id known and unique, labels, shape against the row's words,
finite numbers, probabilities in [0, 1] summing to 1 where classes exclude each other); a bad line is
an error naming file and line, or under ``data.on_error: skip`` counted and reported, and its row then
learns from its label alone.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from ..data.examples import SPLITS, BadRows, Example, TaskData
from ..errors import DataError, TeacherMismatch
from .base import TaskTeacher
from .labels import label_order

log = logging.getLogger("mtkd")
VALUE_KEYS = ("logits", "probs", "value")


class OutputsTeacher(TaskTeacher):
    """Outputs read from a JSONL file, by row id."""

    kind = "outputs"
    scores_new_text = False

    def __init__(self, task: TaskData, by_id: dict[str, torch.Tensor], path: str, report: dict[str, Any]) -> None:
        super().__init__(task)
        self.by_id, self.path, self.report = by_id, path, report

    @classmethod
    def load(
        cls, path: str | Path, task: TaskData, label_map: dict[str, str] | None = None, on_error: str = "raise"
    ) -> OutputsTeacher:
        """Read and check every line against ``task``'s rows; ``on_error``: raise, or skip and count."""
        if task.config.id is None:
            raise TeacherMismatch(
                f"teacher.outputs.{task.name}: precomputed outputs are keyed by row id; set tasks.{task.name}.id "
                "to the column that holds it"
            )
        path = Path(path)
        if not path.is_file():
            raise DataError(f"teacher.outputs.{task.name}: {path} does not exist")
        rows = {ex.id: ex for s in SPLITS for ex in task.splits[s]}
        reader = _Reader(task, rows, label_map, BadRows(on_error))
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    reader.line(f"{path}:{number}", line)
        by_id, bad = reader.by_id, reader.bad
        missing = [ex.id for ex in task.splits["train"] if ex.id not in by_id]
        if missing and on_error == "raise":
            raise DataError(
                f"{path}: {len(missing)} of {len(task.splits['train'])} training rows of task {task.name!r} have no "
                f"teacher output (ids {', '.join(map(repr, missing[:5]))}); add them, or set data.on_error: skip "
                "to train those rows from their labels alone"
            )
        report = {
            "lines": len(by_id),
            "skipped": bad.total,
            "skipped_by_reason": dict(bad.counts),
            "skipped_samples": bad.samples,
            "train_rows_without_output": len(missing),
        }
        if bad.total or missing:
            log.warning(
                "teacher %s: %d bad lines skipped, %d training rows learn from labels alone", task.name, bad.total,
                len(missing),
            )  # fmt: skip
        return cls(task, by_id, str(path), report)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, **self.report}

    def outputs(self, examples: list[Example]) -> list[torch.Tensor | None]:
        return [self.by_id.get(ex.id) if ex.id is not None else None for ex in examples]


class _Reader:
    """Checks one line at a time; keeps the label order a header line sets."""

    def __init__(self, task: TaskData, rows: dict[str | None, Example], label_map, bad: BadRows) -> None:
        self.task, self.rows, self.label_map, self.bad = task, rows, label_map, bad
        self.by_id: dict[str, torch.Tensor] = {}
        self.order: list[int] | None = None

    def line(self, where: str, text: str) -> None:
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            return self.bad.add(where, f"not JSON ({e.msg})")
        if not isinstance(row, dict):
            return self.bad.add(where, f"a JSON {type(row).__name__}, not an object")
        if "labels" in row and not self.task.kind.numeric:
            self.order = label_order(where, [str(x) for x in row["labels"]], self.task.labels, self.label_map)
        if "id" not in row:
            if set(row) != {"labels"}:
                self.bad.add(where, "no 'id'")
            return None
        row_id = str(row["id"])
        problem = self._problem(row_id, row)
        if problem:
            return self.bad.add(where, problem)
        try:
            self.by_id[row_id] = self._tensor(row, self.rows[row_id])
        except ValueError as e:
            self.bad.add(where, str(e))
        return None

    def _problem(self, row_id: str, row: dict) -> str | None:
        if row_id in self.by_id:
            return f"id {row_id!r} repeated"
        if row_id not in self.rows:
            return f"id {row_id!r} is not a row of task {self.task.name!r}"
        given = [k for k in VALUE_KEYS if k in row]
        if len(given) != 1:
            return f"needs exactly one of {', '.join(VALUE_KEYS)} (has {', '.join(given) or 'none'})"
        if given[0] == "value" and not self.task.kind.numeric:
            return f"'value' is for regression; task {self.task.name!r} takes logits or probs"
        if not self.task.kind.numeric and self.order is None:
            return 'no label order: put {"labels": [...]} on a line before, or on this one'
        return None

    def _tensor(self, row: dict, example: Example) -> torch.Tensor:
        key = next(k for k in VALUE_KEYS if k in row)
        kind = self.task.kind
        values = [row[key]] if key == "value" else row[key]
        try:
            x = torch.tensor(values, dtype=torch.float32)
        except (TypeError, ValueError):
            raise ValueError(f"{key} is not a list of numbers") from None
        width = 1 if kind.numeric else len(self.task.labels)
        shape = (len(example.text), width) if kind.per_token else (width,)
        if tuple(x.shape) != shape:
            what = f"{len(example.text)} words × {width} labels" if kind.per_token else f"{width} values"
            raise ValueError(f"{key} has shape {list(x.shape)}, expected {what}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{key} holds NaN or infinity")
        if self.order is not None:
            x = x[..., self.order]
        return _as_logits(x, kind.label_kind) if key == "probs" else x


def _as_logits(p: torch.Tensor, label_kind: str) -> torch.Tensor:
    """Probabilities as the logits a KD loss reads (log-probabilities; log-odds for independent labels)."""
    if bool((p < 0).any()) or bool((p > 1).any()):
        raise ValueError("probs must lie in [0, 1]")
    if label_kind == "classes":
        p = p.clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)
    if not bool(torch.allclose(p.sum(-1), torch.ones(p.shape[:-1]), atol=1e-3)):
        raise ValueError(f"probs sum to {p.sum(-1).flatten()[0]:.4f}, not 1 (classes exclude each other)")
    return torch.log(p.clamp_min(1e-12))
