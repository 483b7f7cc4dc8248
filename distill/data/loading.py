"""From a task's config to a ``TaskData``: read, map columns, validate, split, encode."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable
from typing import Any

from ..config import DataConfig, SourceConfig, TaskConfig
from ..errors import DataError
from ..tasks import task_type
from . import builtin
from .builtin.noise import Noise
from .examples import SPLITS, BadRows, Example, TaskData
from .readers import READERS, RowError, read_hf

log = logging.getLogger("mtkd.data")

Raw = tuple[str, str | list[str], str | None, Any, str | None]  # where, text, text_pair, label, row id


def resolve_builtin(name: str, cfg: TaskConfig) -> SourceConfig:
    """Turn ``source: builtin`` into an explicit table, chosen by the columns the task names."""
    src = cfg.source
    if src.table is not None:
        if src.table not in builtin.TABLES:
            raise DataError(
                f"tasks.{name}.source.table: unknown built-in table {src.table!r}; "
                f"choose one of: {', '.join(builtin.TABLES)}"
            )
        return src
    kind = task_type(cfg.type)
    wanted = {cfg.tokens, cfg.tags} if kind.per_token else {cfg.text, cfg.label}
    if cfg.text_pair:
        wanted.add(cfg.text_pair)
    tables = builtin.table_for_columns(wanted)
    if len(tables) != 1:
        cols = {t: ", ".join(c) for t, (_, _, c) in builtin.TABLES.items()}
        raise DataError(
            f"tasks.{name}: no single built-in table has columns {sorted(wanted)}; "
            f"set source: {{format: builtin, table: ...}} (tables: {cols})"
        )
    return src.model_copy(update={"table": tables[0]})


def raw_rows(name: str, cfg: TaskConfig, src: SourceConfig) -> dict[str, Iterable[tuple[str, Any]]]:
    """The source's rows per split it provides (missing splits are carved from train later)."""
    if src.format == "builtin":
        rows = builtin.generate_table(src.table, src.size, src.seed, Noise(**src.noise.model_dump()))
        return {"train": ((f"builtin:{src.table}#{i}", r) for i, r in enumerate(rows))}
    if src.format == "hf":
        return {s: read_hf(src.name, src.splits[s], src.subset) for s in SPLITS if s in src.splits}
    reader = READERS.get(src.format)
    files = {"train": src.train, "dev": src.dev, "test": src.test}
    return {s: reader(path, delimiter=src.delimiter, encoding=src.encoding) for s, path in files.items() if path}


def _column(row: dict, col: str, where: str, first: bool, task: str, key: str) -> Any:
    if col in row:
        return row[col]
    if first:  # a column missing from the first row is a mapping mistake, not a bad row
        raise DataError(
            f"{where}: no column {col!r} (columns: {', '.join(map(str, row))}); "
            f"set tasks.{task}.{key} to the right column name"
        )
    raise KeyError(col)


def map_columns(
    name: str, cfg: TaskConfig, rows: Iterable[tuple[str, Any]], bad: BadRows, seen_ids: dict[str, str] | None = None
) -> list[Raw]:
    """Pick the configured columns and check each row's shape; bad rows go to ``bad``.

    With an ``id`` column, ``seen_ids`` (shared across splits) catches repeated ids, including an
    id in both train and test, which would leak training rows into evaluation.
    """
    kind = task_type(cfg.type)
    out: list[Raw] = []
    first = True
    seen_ids = {} if seen_ids is None else seen_ids
    for where, row in rows:
        if isinstance(row, RowError):
            bad.add(where, row.reason)
            continue
        row_id = None
        if cfg.id is not None and cfg.id in row:
            row_id = str(row[cfg.id])
            if row_id in seen_ids:
                bad.add(where, f"duplicate id {row_id!r} (first at {seen_ids[row_id]})")
                continue
            seen_ids[row_id] = where
        try:
            if kind.per_token:
                text = _column(row, cfg.tokens, where, first, name, "tokens")
                label = _column(row, cfg.tags, where, first, name, "tags")
                text = text.split() if isinstance(text, str) else list(text)
                label = label.split() if isinstance(label, str) else list(label)
                pair = None
            else:
                text = _column(row, cfg.text, where, first, name, "text")
                label = _column(row, cfg.label, where, first, name, "label")
                pair = _column(row, cfg.text_pair, where, first, name, "text_pair") if cfg.text_pair else None
        except KeyError as e:
            bad.add(where, f"missing column {e.args[0]!r}")
            continue
        first = False
        problem = kind.check_row(text, pair, label)
        if problem:
            bad.add(where, problem)
        else:
            out.append((where, text, pair, label, row_id))
    return out


def load_task(name: str, cfg: TaskConfig, seed: int, data: DataConfig) -> TaskData:
    """Read, validate, split and encode one task's data."""
    kind = task_type(cfg.type)
    src = resolve_builtin(name, cfg) if cfg.source.format == "builtin" else cfg.source
    bad = {s: BadRows(data.on_error) for s in SPLITS}
    ids: dict[str, str] = {}
    mapped = {s: map_columns(name, cfg, rows, bad[s], ids) for s, rows in raw_rows(name, cfg, src).items()}
    if not mapped.get("train"):
        raise DataError(f"tasks.{name}: no usable training rows (source: {src.train or src.name or src.table})")
    # keyed by the source when tasks on one source must hold the same rows, by the task otherwise
    key = json.dumps(src.model_dump(mode="json"), sort_keys=True) if data.same_rows_per_source else name
    rng = random.Random(f"{seed}:{key}")
    train = mapped["train"]
    rng.shuffle(train)
    for s, frac in (("dev", cfg.split.dev), ("test", cfg.split.test)):
        if s not in mapped:  # carve a seeded split from train
            n = max(1, int(len(mapped["train"]) * frac))
            mapped[s], train = train[:n], train[n:]
    mapped["train"] = train
    labels = kind.label_set([raw[3] for raw in train], cfg.label_separator)
    index = {lab: i for i, lab in enumerate(labels)}
    splits: dict[str, list[Example]] = {}
    unused: list[Example] = []  # a transfer set may have the teacher label their inputs
    for s in SPLITS:
        rows = mapped[s]
        cap = cfg.max_train if s == "train" else cfg.max_eval
        if cap and len(rows) > cap:
            if s == "train":
                unused = [Example(text, None, pair, row_id) for _, text, pair, _, row_id in rows[cap:]]
            rows = rng.sample(rows, cap) if s != "train" else rows[:cap]
        examples = []
        for where, text, pair, label, row_id in rows:
            unseen = [x for x in kind.label_names(label, cfg.label_separator) if x not in index]
            if not kind.numeric and unseen:
                bad[s].add(where, f"label {unseen[0]!r} never seen in train (known: {', '.join(labels[:12])})")
                continue
            examples.append(Example(text, kind.encode_label(label, index, cfg.label_separator), pair, row_id))
        if not examples:
            raise DataError(f"tasks.{name}: the {s} split has no usable rows")
        splits[s] = examples
    report = {
        s: {
            "examples": len(splits[s]),
            "skipped": bad[s].total,
            "skipped_by_reason": dict(bad[s].counts),
            "skipped_samples": bad[s].samples,
        }
        for s in SPLITS
    }
    for s in SPLITS:
        if bad[s].total:
            log.warning("%s/%s: skipped %d bad rows: %s", name, s, bad[s].total, dict(bad[s].counts))
    return TaskData(name, cfg, kind, labels, splits, report, unused)


def load_tasks(tasks: dict[str, TaskConfig], seed: int = 0, data: DataConfig | None = None) -> dict[str, TaskData]:
    """Load every task of a recipe, in recipe order (``data``: file root, caps and bad-row policy; default raise)."""
    data = data or DataConfig()
    return {name: load_task(name, cfg, seed, data) for name, cfg in tasks.items()}
