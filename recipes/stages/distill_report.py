"""The distill stage's report: per task the student against its teacher, and what the student costs."""

from __future__ import annotations

import math
from typing import Any

from distill.retention import kept


def report_rows(
    student_m: dict,
    teacher_m: dict,
    params: tuple[int, int],
    latency: dict[str, Any] | None,
    intervals: dict[str, dict[str, dict]] | None = None,
) -> dict[str, dict]:
    """Per task: student and teacher metric, retention (an error metric's: the share of the teacher's gain over
    the mean), its paired-bootstrap interval and, for a regression, the correlation ratios; parameter and
    latency ratios (a task trained from its labels alone, or whose teacher could not be scored, has no teacher
    figure)."""
    rows = {}
    for task, m in student_m.items():
        teacher = teacher_m[task]["value"] if task in teacher_m else None
        ci = (intervals or {}).get(task, {})
        rows[task] = {
            "metric": m["metric"],
            "student": m["value"],
            "teacher": teacher,
            "baseline": m["baseline"],
            "higher_is_better": m["higher_is_better"],
            "retention": None if teacher is None else kept(m, teacher),
            "retention_ci": ci.get(m["metric"], {}).get("retention_ci"),
            "intervals": ci,
            "param_ratio": params[0] / params[1],
            "speedup_cpu_b1": latency["speedup"] if latency else None,
        }
    return rows


def share_text(share: float, ci: list[float] | None = None) -> str:
    """A retention as a percentage with its interval; where it is undefined (a teacher at 0, or an error
    metric's teacher no better than the mean predictor) that is said."""
    if not math.isfinite(share):
        return "undefined (a teacher at 0 or no better than the mean)"
    interval = f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci and all(map(math.isfinite, ci)) else ""
    return f"{100 * share:.1f}%{interval}"


def _correlations(row: dict[str, Any]) -> str:
    """A regression's Spearman, Pearson and (rows sharing queries) NDCG@10 per query: the student's as a share of
    the teacher's, with intervals."""
    parts = []
    for name in ("spearman", "pearson", "ndcg@10"):
        c = row["intervals"].get(name)
        if c:
            parts.append(
                f"{name} {c['student']:.4f} vs {c['reference']:.4f} = {share_text(c['retention'], c['retention_ci'])}"
            )
    return "; ".join(parts)


def report_line(row: dict[str, Any]) -> str:
    """One task's result for the log."""
    if row["teacher"] is None:
        return f"{row['metric']} student {row['student']:.4f} (no teacher: learnt from its labels)"
    share = "share of the teacher's gain over the mean " if not row["higher_is_better"] else ""
    corr = _correlations(row)
    return (
        f"{row['metric']} student {row['student']:.4f} teacher {row['teacher']:.4f} "
        f"({share}kept {share_text(row['retention'], row.get('retention_ci'))}){'; ' + corr if corr else ''}"
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
        "| task | metric | teacher | student | retention [95% CI] | baseline |",
        "|---|---|---:|---:|---:|---:|",
    ]
    notes = []
    for task, r in rows.items():
        arrow = "↑" if r["higher_is_better"] else "↓"
        teacher = "— (labels only)" if r["teacher"] is None else f"{r['teacher']:.4f}"
        share = "—" if r["retention"] is None else share_text(r["retention"], r.get("retention_ci"))
        lines.append(
            f"| {task} | {r['metric']} {arrow} | {teacher} | {r['student']:.4f} | {share} | {r['baseline']:.4f} |"
        )
        if r["teacher"] is not None and _correlations(r):
            notes.append(f"- {task}: {_correlations(r)}")
    lines += [
        "",
        "Retention: student / teacher; for an error metric (RMSE) the share of the teacher's gain over the "
        "mean predictor (the baseline) that the student keeps, (baseline − student) / (baseline − teacher). "
        "Intervals: paired bootstrap over the test rows (1,000 resamples, both models on the same rows).",
        *(["", *notes] if notes else []),
    ]
    return "\n".join(lines) + "\n"


def dev_epochs(history: list[dict[str, Any]], kept: int) -> str:
    """Which epoch the saved student is from, and each head's own best dev epoch (a head that peaks before the
    kept epoch is a candidate for ``train.task_patience`` or teacher annealing)."""
    if not history:
        return ""
    best: dict[str, tuple[float, int]] = {}
    for row in history:
        for task, m in row["dev"].items():
            score = m["value"] if m["higher_is_better"] else -m["value"]
            if task not in best or score > best[task][0]:
                best[task] = (score, row["epoch"])
    heads = ", ".join(f"{t} {e}" for t, (_, e) in best.items())
    text = f"The student is its epoch {kept} (best mean dev skill); each head's best dev epoch: {heads}."
    anchored = history[-1].get("anchored", {})
    if anchored:
        since = {t: next(r["epoch"] for r in history if t in r.get("anchored", {})) for t in anchored}
        taught = ", ".join(f"{t} by its epoch-{e} model from epoch {since[t]}" for t, e in anchored.items())
        text += f" Self-distilled after their peak (train.after_peak): {taught}."
    return text


def calibrated_text(calibrated: dict[str, dict[str, Any]]) -> str:
    """What each regression head keeps of the teacher's gain over the mean with both calibrated on dev (empty
    when no regression task has a teacher that answered dev)."""
    lines = []
    for task, c in calibrated.items():
        s, t = c["maps"]["student"], c["maps"]["teacher"]
        lines.append(
            f"- {task}: with both calibrated on dev (student a = {s['a']:.3f}, b = {s['b']:+.3f}; teacher a = "
            f"{t['a']:.3f}, b = {t['b']:+.3f}) the student keeps {share_text(c['retention'], c['retention_ci'])} of "
            f"the teacher's gain over the mean (test RMSE {c['student_rmse']:.4f} vs {c['teacher_rmse']:.4f})"
        )
    if not lines:
        return ""
    return "\n".join(["Regression heads calibrated on dev (the maps fitted on dev, never test):", "", *lines])


def loss_table(history: list[dict[str, Any]]) -> str:
    """Each task's mean training loss per epoch and the weight it entered the sum with: a head whose loss is a
    small share of the total is easily drowned by the others (empty without a history)."""
    tasks = list(dict.fromkeys(t for row in history for t in row.get("train_loss", {})))
    if not tasks:
        return ""
    lines = ["Training loss per task and epoch (mean over the epoch's steps; × the weight it was summed with):", ""]
    lines += ["| epoch | " + " | ".join(tasks) + " |", "|---:|" + "---:|" * len(tasks)]
    for row in history:
        losses, weights = row.get("train_loss", {}), row.get("task_weights") or {}
        cells = [f"{losses[t]:.4f} × {weights.get(t, 1.0):.2f}" if t in losses else "—" for t in tasks]
        lines.append(f"| {row['epoch']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
