"""Reading bench result rows: which row is the reference, the student, the teacher's export, a shape."""

from __future__ import annotations

import re

from distill.retention import drop

REFERENCE = ("teacher", "torch", "fp32")  # speedups and retention are relative to this
THREADS = re.compile(r"-\d+t$")  # "onnxruntime-1t": the runtime at one thread, when the grid sweeps threads


def key(row: dict) -> tuple[str, str, str]:
    return row["artifact"], row["runtime"], row["precision"]


def reference_row(rows: list[dict]) -> dict | None:
    """The teacher in torch FP32 (at its fastest thread count when the grid sweeps threads)."""
    refs = [r for r in rows if (r["artifact"], THREADS.sub("", r["runtime"]), r["precision"]) == REFERENCE]
    return min(refs, key=lambda r: r["latency_ms"]["p50"], default=None)


def alternative_row(rows: list[dict]) -> dict | None:
    """The fastest quantized export of the teacher itself (``quantize.teacher_presets``): what a user who
    does not distil would deploy, so every student's speed is also shown against it."""
    alts = [r for r in rows if r["artifact"].startswith("teacher-") and r["precision"] != "fp32"]
    return min(alts, key=lambda r: r["latency_ms"]["p50"], default=None)


def label(row: dict) -> str:
    return "/".join(key(row))


def at_shape(rows: list[dict], shape: tuple[int, int]) -> list[dict]:
    return [r for r in rows if (r["batch_size"], r["seq_len"]) == tuple(shape)]


def student_reference(rows: list[dict]) -> dict | None:
    """The FP32 model the compressed artifacts came from, in torch (the pruned model, else the student)."""
    for name in ("pruned", "student"):
        refs = [r for r in rows if r["artifact"] == name and THREADS.sub("", r["runtime"]) == "torch"]
        refs = [r for r in refs if r["precision"] == "fp32"]
        if refs:
            return min(refs, key=lambda r: r["latency_ms"]["p50"])
    return None


def worst_drop(row: dict, ref: dict) -> float:
    """The largest relative loss on any task against ``ref`` (0 when no task is worse)."""
    drops = [drop(m, ref["tasks"][t]["value"]) for t, m in row["tasks"].items()]
    return max([0.0, *drops])


def task_names(rows: list[dict]) -> list[str]:
    """Every task some row was scored on, in first-seen order (a brought teacher's row holds its own task)."""
    return list(dict.fromkeys(t for r in rows for t in (r.get("tasks") or {})))
