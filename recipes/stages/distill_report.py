"""The distill stage's report: per task the student against its teacher, and what the student costs."""

from __future__ import annotations

import math
from typing import Any

from distill.training.evaluate import retention


def report_rows(
    student_m: dict, teacher_m: dict, params: tuple[int, int], latency: dict[str, Any] | None
) -> dict[str, dict]:
    """Per task: student and teacher metric, retention, parameter and latency ratios (a task trained from its
    labels alone, or whose teacher could not be scored, has no teacher figure)."""
    rows = {}
    for task, m in student_m.items():
        teacher = teacher_m[task]["value"] if task in teacher_m else None
        rows[task] = {
            "metric": m["metric"],
            "student": m["value"],
            "teacher": teacher,
            "baseline": m["baseline"],
            "higher_is_better": m["higher_is_better"],
            "retention": None if teacher is None else retention(m["value"], teacher, m["higher_is_better"]),
            "param_ratio": params[0] / params[1],
            "speedup_cpu_b1": latency["speedup"] if latency else None,
        }
    return rows


def _kept(share: float) -> str:
    """A retention as a percentage; a teacher (or an RMSE) at 0 leaves it undefined, said as such."""
    return f"{100 * share:.1f}%" if math.isfinite(share) else "undefined (a score of 0)"


def report_line(row: dict[str, Any]) -> str:
    """One task's result for the log."""
    if row["teacher"] is None:
        return f"{row['metric']} student {row['student']:.4f} (no teacher: learnt from its labels)"
    return (
        f"{row['metric']} student {row['student']:.4f} teacher {row['teacher']:.4f} "
        f"(retention {_kept(row['retention'])})"
    )


def _latency_text(latency: dict[str, Any] | None, params: tuple[int, int]) -> str:
    if "by_batch" not in (latency or {}):  # one multi-task teacher (or none that runs)
        head = (
            f"Student encoder: {params[0] / 1e6:.2f}M parameters, teacher {params[1] / 1e6:.2f}M "
            f"(ratio {params[0] / params[1]:.3f})."
        )
        if latency is None:
            return head + " The teachers are files of outputs: there is no teacher latency to compare."
        return (
            f"{head} Torch CPU latency at batch 1, seq {latency['seq_len']}, {latency['threads']} threads: teacher "
            f"{latency['teacher_ms']:.2f} ms, student {latency['student_ms']:.2f} ms ({latency['speedup']:.2f}× "
            "faster), measured interleaved in one run."
        )
    lines = [
        f"Student: {params[0] / 1e6:.2f}M parameters; the per-task teachers it replaces: {params[1] / 1e6:.2f}M "
        f"together (ratio {params[0] / params[1]:.3f}). Torch CPU latency, seq {latency['seq_len']}, "
        f"{latency['threads']} threads, interleaved in one run (ms per call):",
        "",
        "| batch | " + " | ".join(f"teacher {t}" for t in next(iter(latency["by_batch"].values()))["teachers_ms"])
        + " | all teachers | student | speedup |",
    ]  # fmt: skip
    width = len(next(iter(latency["by_batch"].values()))["teachers_ms"])
    lines.append("|---:|" + "---:|" * (width + 3))
    for batch, row in latency["by_batch"].items():
        each = " | ".join(f"{ms:.2f}" for ms in row["teachers_ms"].values())
        lines.append(
            f"| {batch} | {each} | {row['teachers_total_ms']:.2f} | {row['student_ms']:.2f} | {row['speedup']:.2f}× |"
        )
    return "\n".join(lines)


def report_markdown(rows: dict[str, dict], latency: dict[str, Any] | None, params: tuple[int, int]) -> str:
    """``distill/report.md``: the cost, then one row per task."""
    lines = [
        _latency_text(latency, params),
        "",
        "| task | metric | teacher | student | retention | baseline |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for task, r in rows.items():
        arrow = "↑" if r["higher_is_better"] else "↓"
        teacher = "— (labels only)" if r["teacher"] is None else f"{r['teacher']:.4f}"
        kept = "—" if r["retention"] is None else _kept(r["retention"])
        lines.append(
            f"| {task} | {r['metric']} {arrow} | {teacher} | {r['student']:.4f} | {kept} | {r['baseline']:.4f} |"
        )
    return "\n".join(lines) + "\n"
