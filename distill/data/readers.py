"""Readers for raw rows: CSV, JSONL, CoNLL and Hugging Face ``datasets``.

Every reader yields ``(where, row)`` pairs, ``where`` naming the file and line, so a bad row can
be reported precisely. Rows that cannot even be parsed are yielded as ``(where, RowError)``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..registry import Registry


@dataclass(frozen=True)
class RowError:
    """A row that could not be parsed; the caller applies the bad-row policy."""

    reason: str


Rows = Iterator[tuple[str, "dict[str, Any] | RowError"]]
READERS: Registry = Registry("data format")


def _open_text(path: str, encoding: str):
    try:
        return open(path, encoding=encoding, newline="")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None


def _decode_guard(path: str, encoding: str, lines: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from lines
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: not valid {encoding} (byte {e.start} of a line: {e.reason}); "
            f"re-encode the file or set source.encoding"
        ) from None


@READERS.register("csv")
def read_csv(path: str, delimiter: str = ",", encoding: str = "utf-8", **_: Any) -> Rows:
    """Rows of a CSV file with a header line; a row with the wrong field count is a RowError."""
    with _open_text(path, encoding) as f:
        reader = csv.reader(_decode_guard(path, encoding, f), delimiter=delimiter)
        header = next(reader, None)
        if not header:
            raise DataError(f"{path}: empty file (a header line is required)")
        header = [h.lstrip("\ufeff").strip() for h in header]
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row or all(not c.strip() for c in row):
                continue  # blank lines are layout, not data
            if len(row) != len(header):
                yield where, RowError(f"expected {len(header)} fields, found {len(row)}")
            else:
                yield where, dict(zip(header, row, strict=True))


@READERS.register("jsonl")
def read_jsonl(path: str, encoding: str = "utf-8", **_: Any) -> Rows:
    """One JSON object per line; blank lines are skipped, malformed ones are RowErrors."""
    with _open_text(path, encoding) as f:
        n = 0
        for n, line in enumerate(_decode_guard(path, encoding, f), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield f"{path}:{n}", RowError(f"not valid JSON ({e.msg})")
                continue
            yield f"{path}:{n}", obj if isinstance(obj, dict) else RowError("a line must hold a JSON object")
        if n == 0:
            raise DataError(f"{path}: empty file")


@READERS.register("conll")
def read_conll(path: str, encoding: str = "utf-8", **_: Any) -> Rows:
    """``token<TAB>tag`` per line, a blank line between sequences.

    Split on the *last* tab and never strip the token: a space can be a token.
    """
    with _open_text(path, encoding) as f:
        tokens: list[str] = []
        tags: list[str] = []
        start, problem, seen = 1, None, False
        for n, raw in enumerate(_decode_guard(path, encoding, f), 1):
            line = raw.rstrip("\r\n")
            seen = True
            if line == "":
                if tokens or problem:
                    yield f"{path}:{start}", RowError(problem) if problem else {"tokens": tokens, "tags": tags}
                tokens, tags, start, problem = [], [], n + 1, None
                continue
            if "\t" not in line:
                problem = problem or f"line {n} has no tab between token and tag"
                continue
            token, tag = line.rsplit("\t", 1)
            if not tag.strip():
                problem = problem or f"line {n} has an empty tag"
            tokens.append(token)
            tags.append(tag.strip())
        if tokens or problem:
            yield f"{path}:{start}", RowError(problem) if problem else {"tokens": tokens, "tags": tags}
        if not seen:
            raise DataError(f"{path}: empty file")


def read_hf(name: str, split: str, subset: str | None = None) -> Rows:
    """Rows of one split of a Hugging Face dataset: a hub id, a ``save_to_disk`` folder or a data folder.

    ClassLabel columns (and sequences of them) are turned back into their label names.
    """
    import datasets

    try:
        if Path(name, "dataset_dict.json").is_file():
            ds = datasets.load_from_disk(name)[split]
        else:
            ds = datasets.load_dataset(name, subset, split=split)
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise DataError(f"hf dataset {name!r} split {split!r}: {e}") from None
    decoders = {}
    for col, feat in ds.features.items():
        if isinstance(feat, datasets.ClassLabel):
            decoders[col] = feat.int2str
        elif isinstance(feat, (datasets.Sequence, datasets.List)) and isinstance(feat.feature, datasets.ClassLabel):
            decoders[col] = lambda ids, f=feat.feature: [f.int2str(i) for i in ids]
    for i, row in enumerate(ds):
        yield f"{name}[{split}]#{i}", {k: decoders[k](v) if k in decoders else v for k, v in row.items()}
