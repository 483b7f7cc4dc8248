"""The teacher stage's report: the dev curve per task, why training stopped, and the teacher against the
classical yardstick (TF-IDF + a linear model, a CRF for tags) trained on the very same rows.

A teacher below the yardstick on a task is not worth distilling there: the report and the log say so
plainly, per task, so the student is not made from it unnoticed.
"""

from __future__ import annotations

import logging
from typing import Any

from distill.baselines import run_baselines
from distill.data.examples import TaskData

log = logging.getLogger("mtkd")


def dev_curve(history: list[dict[str, Any]]) -> list[str]:
    """One Markdown row per epoch: each task's dev metric."""
    if not history:
        return []
    tasks = list(history[0]["dev"])
    head = "| epoch | " + " | ".join(f"{t} {history[0]['dev'][t]['metric']}" for t in tasks) + " |"
    rows = [head, "|---:|" + "---:|" * len(tasks)]
    for row in history:
        rows.append(f"| {row['epoch']} | " + " | ".join(f"{row['dev'][t]['value']:.4f}" for t in tasks) + " |")
    return rows


def yardstick(tasks: dict[str, TaskData], test: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task the yardstick's test metric beside the teacher's, and whether the teacher is below it."""
    out = {}
    for name, base in run_baselines({t: tasks[t] for t in test}).items():
        teacher = test[name]["value"]
        below = teacher < base["value"] if base["higher_is_better"] else teacher > base["value"]
        out[name] = {"metric": base["metric"], "teacher": teacher, "yardstick": base["value"], "below": below}
        if below:
            log.warning(
                "teacher %s: %s %.4f is below the classical yardstick's %.4f on the same rows: a student of this "
                "teacher is not worth making for %s (train it longer, at another rate, or distil from the labels)",
                name, base["metric"], teacher, base["value"], name,
            )  # fmt: skip
    return out


def teacher_markdown(history: list[dict[str, Any]], reason: str | None, yard: dict[str, dict[str, Any]]) -> str:
    """``teacher/report.md``: why training stopped, the dev curve, the yardstick table."""
    lines = [f"Training stopped: {reason}.", "", *dev_curve(history), ""] if reason else []
    lines += [
        "The teacher against the classical yardstick (TF-IDF + linear model; CRF for tags), same rows, test split:",
        "",
        "| task | metric | teacher | yardstick | teacher below it? |",
        "|---|---|---:|---:|---|",
    ]
    for task, y in yard.items():
        verdict = "**yes: not worth distilling as it is**" if y["below"] else "no"
        lines.append(f"| {task} | {y['metric']} | {y['teacher']:.4f} | {y['yardstick']:.4f} | {verdict} |")
    return "\n".join(lines) + "\n"
