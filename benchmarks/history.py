"""A history of benchmark runs in SQLite, and comparisons that flag regressions."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from distill.errors import MtkdError

from .report import read_jsonl

LATENCY_TOLERANCE = 0.10  # p50 more than 10% slower is a regression
METRIC_TOLERANCE = 0.01  # a task metric more than 1% (relative) worse is a regression

SCHEMA = "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, created TEXT, target TEXT, rows TEXT)"


def record(db: Path, target: str, rows: list[dict]) -> str:
    """Store one benchmark run; returns its id (UTC timestamp)."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as con:
        con.execute(SCHEMA)
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?)",
            (run_id, datetime.now(UTC).isoformat(timespec="seconds"), target, json.dumps(rows, default=str)),
        )
    return run_id


def history(db: Path) -> list[tuple[str, str, str, int]]:
    """(id, created, target, row count) of every recorded run, oldest first."""
    if not db.is_file():
        return []
    with sqlite3.connect(db) as con:
        con.execute(SCHEMA)
        return [(i, c, t, len(json.loads(r))) for i, c, t, r in con.execute("SELECT * FROM runs ORDER BY id")]


def load_rows(ref: str, db: Path) -> list[dict]:
    """Rows of a run given by a history id, a bench directory or a results.jsonl path."""
    path = Path(ref)
    if path.is_dir() and (path / "results.jsonl").is_file():
        return read_jsonl(path / "results.jsonl")
    if path.is_dir() and (path / "bench" / "results.jsonl").is_file():
        return read_jsonl(path / "bench" / "results.jsonl")
    if path.is_file():
        return read_jsonl(path)
    if db.is_file():
        with sqlite3.connect(db) as con:
            con.execute(SCHEMA)
            found = con.execute("SELECT rows FROM runs WHERE id = ?", (ref,)).fetchone()
        if found:
            return json.loads(found[0])
    raise MtkdError(f"{ref}: not a bench directory, results.jsonl or run id in {db} (see mtkd report --history)")


def compare(a: list[dict], b: list[dict]) -> tuple[str, int]:
    """Markdown table of B against A per candidate and shape, and the number of regressions."""
    index = {(r["artifact"], r["runtime"], r["precision"], r["batch_size"], r["seq_len"]): r for r in a}
    lines = [
        "| candidate | batch | seq | p50 A → B (ms) | Δ latency | task deltas | flag |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    regressions = 0
    for r in b:
        k = (r["artifact"], r["runtime"], r["precision"], r["batch_size"], r["seq_len"])
        if k not in index:
            continue
        old = index[k]
        d_lat = r["latency_ms"]["p50"] / old["latency_ms"]["p50"] - 1
        flags = ["slower"] if d_lat > LATENCY_TOLERANCE else []
        deltas = []
        for task, m in r.get("tasks", {}).items():
            if task not in old.get("tasks", {}):
                continue
            before, after = old["tasks"][task]["value"], m["value"]
            deltas.append(f"{task} {after - before:+.4f}")
            worse = (before - after) if m["higher_is_better"] else (after - before)
            if before and worse / abs(before) > METRIC_TOLERANCE:
                flags.append(f"{task} worse")
        regressions += bool(flags)
        lines.append(
            f"| {k[0]}/{k[1]}/{k[2]} | {k[3]} | {k[4]} | {old['latency_ms']['p50']:.2f} → "
            f"{r['latency_ms']['p50']:.2f} | {100 * d_lat:+.1f}% | {', '.join(deltas) or '–'} | "
            f"{'REGRESSION: ' + ', '.join(flags) if flags else 'ok'} |"
        )
    return "\n".join(lines) + "\n", regressions
