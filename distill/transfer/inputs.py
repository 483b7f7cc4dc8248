"""A task's transfer inputs: unlabelled files, the rows a cap left out, generated pairs — one list of
``Example`` (``target`` None), without duplicates and without the task's own training inputs.

Bad input is a one-line ``DataError`` naming file and line, or, under ``data.on_error: skip``, counted
per reason (``TransferInputs.skipped``) and reported.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..data.examples import BadRows, Example, TaskData
from ..data.readers import READERS, RowError
from ..errors import DataError
from .config import TaskTransfer, TransferFile
from .pairs import generated_pairs

log = logging.getLogger("mtkd")


@dataclass
class TransferInputs:
    """One task's transfer examples and where they came from."""

    examples: list[Example]
    counts: dict[str, int] = field(default_factory=dict)  # part → inputs it added (after de-duplication)
    skipped: dict[str, Any] = field(default_factory=dict)  # reason → count, and a few samples


def read_text_lines(path: str, encoding: str = "utf-8") -> Iterator[tuple[str, dict[str, Any] | RowError]]:
    """One input a line (a pair: two texts split by a tab); a line that is not ``encoding`` is a bad row,
    not the end of the file."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below; decoded line by line)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    with handle:
        for n, raw in enumerate(handle, 1):
            where = f"{path}:{n}"
            try:
                line = raw.decode(encoding).rstrip("\r\n")
            except UnicodeDecodeError as e:
                yield where, RowError(f"not valid {encoding} (byte {e.start}: {e.reason})")
                continue
            if not line.strip():
                yield where, RowError("empty line")
                continue
            parts = line.split("\t")
            if len(parts) > 2:
                yield where, RowError(f"{len(parts)} tab-separated fields (one text, or two for a pair)")
                continue
            yield where, {"text": parts[0], **({"text_pair": parts[1]} if len(parts) == 2 else {})}


def file_rows(spec: TransferFile) -> Iterator[tuple[str, dict[str, Any] | RowError]]:
    """The rows of an unlabelled file, by its format: one text a line, or csv/jsonl records."""
    fmt = spec.resolved_format
    if fmt == "text":
        return read_text_lines(spec.path, spec.encoding)
    return READERS.get(fmt)(spec.path, encoding=spec.encoding)


def file_examples(task: TaskData, spec: TransferFile, bad: BadRows) -> list[Example]:
    """The inputs of one file for ``task``: a pair task needs both texts, a one-text task exactly one."""
    pair_task = task.config.text_pair is not None
    text_col, pair_col = ("text", "text_pair") if spec.resolved_format == "text" else (spec.text, spec.text_pair)
    if spec.resolved_format != "text" and pair_task and pair_col is None:
        raise DataError(f"{spec.path}: task {task.name} reads pairs; set text_pair (the second text's column)")
    if spec.resolved_format != "text" and not pair_task and pair_col is not None:
        raise DataError(f"{spec.path}: task {task.name} reads one text, but text_pair is set")
    out, first = [], True
    for where, row in file_rows(spec):
        if isinstance(row, RowError):
            bad.add(where, row.reason)
            continue
        if first and text_col not in row:
            raise DataError(f"{where}: no column {text_col!r} (columns: {', '.join(map(str, row))})")
        first = False
        text, pair = row.get(text_col), row.get(pair_col) if pair_col else None
        if pair_task and pair is None:
            bad.add(where, f"task {task.name} reads pairs: a line needs two tab-separated texts (or the pair column)")
        elif not pair_task and pair is not None:
            bad.add(where, f"a pair for task {task.name}, which reads one text")
        elif (
            not isinstance(text, str)
            or not text.strip()
            or (pair_task and (not isinstance(pair, str) or not pair.strip()))
        ):
            bad.add(where, "empty text")
        else:
            out.append(Example(text.strip(), None, pair.strip() if pair_task else None))
    if not out and not bad.total:
        raise DataError(f"{spec.path}: no inputs in the file")
    return out


def _key(ex: Example) -> tuple[str, str | None]:
    return str(ex.text), ex.text_pair


def transfer_inputs(task: TaskData, cfg: TaskTransfer, seed: int, on_error: str = "raise") -> TransferInputs:
    """``task``'s transfer examples in a fixed order (files, then unused rows, then generated pairs), each
    input once and none that is already a training input; ``cfg.max_rows`` samples them (seeded)."""
    if task.kind.per_token:
        raise DataError(
            f"transfer.tasks.{task.name}: transfer sets serve sequence tasks (texts and pairs); for tags use "
            "student.distill.augment, which copies training rows with words replaced"
        )
    seen = {_key(ex) for ex in task.splits["train"]}
    bad = BadRows(on_error)
    parts: list[tuple[str, list[Example]]] = [(f.path, file_examples(task, f, bad)) for f in cfg.files]
    if cfg.unused_rows:
        if not task.unused:
            log.info("transfer %s: no training rows were left out by a cap", task.name)
        parts.append(("unused_rows", [Example(ex.text, None, ex.text_pair) for ex in task.unused]))
    if cfg.pairs is not None:
        if task.config.text_pair is None:
            raise DataError(f"transfer.tasks.{task.name}.pairs: the task reads one text, not query-title pairs")
        parts.append(("pairs", generated_pairs(task, cfg.pairs, seed)))
    examples, counts = [], {}
    for name, part in parts:
        fresh = [ex for ex in part if _key(ex) not in seen and not seen.add(_key(ex))]
        counts[name] = len(fresh)
        examples += fresh
    if cfg.max_rows is not None and len(examples) > cfg.max_rows:
        rng = random.Random(f"transfer:{seed}:{task.name}")
        examples = [examples[i] for i in sorted(rng.sample(range(len(examples)), cfg.max_rows))]
    skipped = {"total": bad.total, "by_reason": dict(bad.counts), "samples": bad.samples}
    if bad.total:
        log.warning("transfer %s: skipped %d bad inputs: %s", task.name, bad.total, dict(bad.counts))
    log.info("transfer %s: %d inputs (%s)", task.name, len(examples), ", ".join(f"{k} {v}" for k, v in counts.items()))
    return TransferInputs(examples, counts, skipped)
