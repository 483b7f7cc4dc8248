"""The bench report's view of brought teachers (``teacher.<task>`` rows): one student call replaces a call to
every per-task teacher, so the student is set against their sum, shape by shape."""

from __future__ import annotations

from .rows import THREADS, at_shape, label, student_reference, worst_drop

PREFIX = "teacher."  # the artifact name of the checkpoint a user brought for a task: teacher.<task>


def task_teacher_row(rows: list[dict], task: str) -> dict | None:
    """The brought teacher of ``task`` in torch FP32 (at its fastest thread count)."""
    refs = [
        r
        for r in rows
        if r["artifact"] == PREFIX + task and THREADS.sub("", r["runtime"]) == "torch" and r["precision"] == "fp32"
    ]
    return min(refs, key=lambda r: r["latency_ms"]["p50"], default=None)


def replaces_section(rows: list[dict], tolerance: float) -> list[str]:
    """Per shape: each brought teacher, their sum, the FP32 student and the fastest student within
    ``tolerance`` of it on every task, in one table."""
    names = sorted({r["artifact"][len(PREFIX) :] for r in rows if r["artifact"].startswith(PREFIX)})
    if not names:
        return []
    lines = [
        "## The student against the per-task teachers it replaces",
        "",
        "Each teacher in torch FP32; one student call answers every task, so it is set against their sum. The "
        f"fastest student: within {100 * tolerance:g}% of the FP32 student on every task.",
        "",
        "| batch | seq | " + " | ".join(f"teacher {n} ms" for n in names) + " | all teachers ms | student (torch fp32) "
        "ms | speedup | fastest student | ms | speedup |",
        "|---:|---:|" + "---:|" * len(names) + "---:|---:|---:|---|---:|---:|",
    ]  # fmt: skip
    for shape in sorted({(r["batch_size"], r["seq_len"]) for r in rows}):
        here = at_shape(rows, shape)
        teachers = [task_teacher_row(here, n) for n in names]
        students = [r for r in here if not r["artifact"].startswith("teacher") and r["tasks"]]
        ref = student_reference(students)
        if any(t is None for t in teachers) or ref is None:
            continue
        total = sum(t["latency_ms"]["p50"] for t in teachers)
        best = min((r for r in students if worst_drop(r, ref) <= tolerance), key=lambda r: r["latency_ms"]["p50"])
        each = " | ".join(f"{t['latency_ms']['p50']:.2f}" for t in teachers)
        lines.append(
            f"| {shape[0]} | {shape[1]} | {each} | {total:.2f} | {ref['latency_ms']['p50']:.2f} | "
            f"{total / ref['latency_ms']['p50']:.2f}× | {label(best)} | "
            f"{best['latency_ms']['p50']:.2f} | {total / best['latency_ms']['p50']:.2f}× |"
        )
    return lines if len(lines) > 6 else []
