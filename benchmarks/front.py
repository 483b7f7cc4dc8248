"""The accuracy–speed front of several students of one teacher: every INT8 form of each student benched in one
interleaved run beside the teacher in PyTorch FP32 and the teacher through Optimum's quantizer; per student
what it keeps of the teacher (the distill report's paired-bootstrap intervals) against how much faster its best
INT8 form runs; a plot; and the fastest student that keeps what the user asks.

Each student is a run directory (``distill/``, ``quantize/``); the teacher and data are the first run's.
Students appear in the bench as ``<run>:<artifact>``, so one bench holds them all and every ratio is measured
side by side.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from compress.run_artifacts import discover_artifacts
from distill.errors import MtkdError
from distill.io import read_json
from distill.retention import kept

from .rows import alternative_row, at_shape, reference_row, student_reference, worst_drop

TEACHER_FORMS = ("teacher", "teacher-optimum-dynamic-int8")


def int8_forms(run: Path) -> dict[str, Path]:
    """Every INT8 ONNX form of ``run``'s student (its quantize stage's artifacts, the teacher's left out)."""
    from compress.runtime.onnxruntime_backend import artifact_precision

    found = {
        f"{run.name}:{name}": path
        for name, path in discover_artifacts(run).items()
        if not name.startswith("teacher") and artifact_precision(path) == "int8"
    }
    if not found:
        raise MtkdError(f"{run}: no INT8 artifact; run its quantize stage first (mtkd run ... --stages quantize)")
    return found


def front_artifacts(teacher_run: Path, students: list[Path]) -> dict[str, Path]:
    """The teacher's forms (its model from ``teacher_run``; its Optimum export from the first run that made one)
    and every student run's INT8 forms."""
    teacher = discover_artifacts(teacher_run)
    if "teacher" not in teacher:
        raise MtkdError(f"{teacher_run}: no teacher model (its teacher stage makes it)")
    artifacts = {"teacher": teacher["teacher"]}
    for run in (teacher_run, *students):
        peer = discover_artifacts(run).get(TEACHER_FORMS[1])
        if peer is not None:
            artifacts[TEACHER_FORMS[1]] = peer
            break
    for run in students:
        artifacts.update(int8_forms(run))
    return artifacts


def fastest_int8(
    rows: list[dict], shape: tuple[int, int], tolerance: float, fp32: dict | None = None
) -> tuple[dict, dict] | None:
    """(the fastest INT8 student row within ``tolerance`` of the FP32 student, the teacher's torch FP32 row);
    the FP32 student is its bench row, else ``fp32`` (a row-like ``{"tasks": {task: {"value": ...}}}``)."""
    here = at_shape(rows, shape)
    teacher = reference_row(here)
    ref = student_reference([r for r in here if not r["artifact"].startswith("teacher")]) or fp32
    fits = [r for r in here if r["precision"] == "int8" and not r["artifact"].startswith("teacher") and r["tasks"]]
    fits = [r for r in fits if ref is None or worst_drop(r, ref) <= tolerance]
    if teacher is None or not fits:
        return None
    return min(fits, key=lambda r: r["latency_ms"]["p50"]), teacher


def run_rows(run: Path, shared: list[dict]) -> list[dict] | None:
    """``run``'s rows of a shared bench: the teacher's and this run's ``<run>:<artifact>`` rows (renamed back)."""
    prefix = f"{run.name}:"
    mine = [{**r, "artifact": r["artifact"][len(prefix) :]} for r in shared if r["artifact"].startswith(prefix)]
    return [r for r in shared if r["artifact"].startswith("teacher")] + mine if mine else None


def student_row(run: Path, tolerance: float, shared: list[dict] | None) -> dict[str, Any]:
    """One student's figures: FP32 retention per task with intervals, its best INT8 form's speed and retention
    at batch 1 and 32 × the bench's longest sequence."""
    report = read_json(run / "distill" / "report.json")
    out: dict[str, Any] = {"run": str(run), "params": report["encoder_params"][0], "tasks": report["tasks"]}
    out["transfer"] = sum(t["inputs"] for t in report.get("transfer", {}).values())
    out["calibrated"] = report.get("both_calibrated", {})  # regression heads: gain kept with both calibrated
    rows = run_rows(run, shared) if shared is not None else None
    if rows:
        seq = max(r["seq_len"] for r in rows)
        fp32 = {"tasks": {t: {"value": m["student"]} for t, m in report["tasks"].items()}}  # the distilled student
        for batch in (1, 32):
            found = fastest_int8(rows, (batch, seq), tolerance, fp32)
            if found:
                best, teacher = found
                out[f"b{batch}"] = {
                    "artifact": best["artifact"],
                    "label": f"{best['artifact']} / {best['runtime']}",
                    "ms": best["latency_ms"]["p50"],
                    "teacher_ms": teacher["latency_ms"]["p50"],
                    "speedup": teacher["latency_ms"]["p50"] / best["latency_ms"]["p50"],
                    "kept": {t: kept(m, report["tasks"][t]["teacher"]) for t, m in best["tasks"].items()},
                }
        out["seq"] = seq
    return out


def keeps(student: dict[str, Any], keep: dict[str, float], batch: int = 1) -> bool:
    """Whether the student keeps at least ``keep[task]`` of the teacher on every task named: its FP32 retention
    and its fastest INT8 form's (both must hold)."""
    fast = student.get(f"b{batch}")
    if fast is None:
        return False
    for task, share in keep.items():
        fp32 = student["tasks"][task]["retention"]
        if not (math.isfinite(fp32) and fp32 >= share and fast["kept"].get(task, -math.inf) >= share):
            return False
    return True


def fastest_keeping(students: list[dict[str, Any]], keep: dict[str, float], batch: int = 1) -> dict | None:
    """The fastest student (its best INT8 form at ``batch``) that keeps what ``keep`` asks, or None."""
    ok = [s for s in students if keeps(s, keep, batch)]
    return max(ok, key=lambda s: s[f"b{batch}"]["speedup"], default=None)


def _ci(c: list[float] | None) -> str:
    return f" [{100 * c[0]:.1f}, {100 * c[1]:.1f}]" if c and all(map(math.isfinite, c)) else ""


def _kept_metric(student: dict[str, Any], task: str, metric: str) -> str:
    c = student["tasks"][task].get("intervals", {}).get(metric)
    return f"{100 * c['retention']:.1f}%{_ci(c['retention_ci'])}" if c else "—"


def _calibrated(student: dict[str, Any], task: str) -> str:
    c = student.get("calibrated", {}).get(task)
    return f"{100 * c['retention']:.1f}%{_ci(c['retention_ci'])}" if c else "—"


def front_table(students: list[dict[str, Any]], task: str) -> str:
    """Markdown: per student, every task's FP32 retention with its interval, the ranking task's Spearman and
    NDCG@10 retention and (a regression) its gain kept with both calibrated on dev, and its best INT8 form's
    speedup and retention at batch 1 and 32."""
    tasks = list(students[0]["tasks"])
    head = "| student | encoder params | transfer rows | " + " | ".join(f"{t} kept [95% CI]" for t in tasks)
    head += f" | {task} Spearman kept | {task} NDCG@10 kept | {task} kept, both calibrated on dev"
    lines = [head + f" | INT8 b1: speedup ({task} kept) | b32 speedup |"]
    lines.append("|---|---:|---:|" + "---:|" * (len(tasks) + 5))
    for s in students:
        cells = [f"{100 * s['tasks'][t]['retention']:.1f}%{_ci(s['tasks'][t].get('retention_ci'))}" for t in tasks]
        b1, b32 = s.get("b1"), s.get("b32")
        speed1 = f"{b1['speedup']:.2f}× ({100 * b1['kept'][task]:.1f}%)" if b1 else "not benched"
        speed32 = f"{b32['speedup']:.2f}×" if b32 else "—"
        lines.append(
            f"| {Path(s['run']).name} | {s['params'] / 1e6:.2f}M | {s['transfer']:,} | " + " | ".join(cells)
            + f" | {_kept_metric(s, task, 'spearman')} | {_kept_metric(s, task, 'ndcg@10')} | {_calibrated(s, task)}"
            + f" | {speed1} | {speed32} |"
        )  # fmt: skip
    return "\n".join(lines) + "\n"


def peer_line(rows: list[dict], task: str) -> str:
    """The teacher through Optimum's quantizer (what a user who does not distil deploys) in the same bench."""
    parts = []
    for batch in sorted({r["batch_size"] for r in rows}):
        here = at_shape(rows, (batch, max(r["seq_len"] for r in rows)))
        teacher, peer = reference_row(here), alternative_row(here)
        if teacher and peer:
            speed = teacher["latency_ms"]["p50"] / peer["latency_ms"]["p50"]
            share = kept(peer["tasks"][task], teacher["tasks"][task]["value"]) if peer.get("tasks") else None
            parts.append(
                f"batch {batch}: {speed:.2f}×" + (f" ({100 * share:.1f}% of {task})" if share is not None else "")
            )
    return f"{alternative_row(rows)['artifact'] if parts else 'no teacher peer'}: " + ("; ".join(parts) or "—")


def front_plot(students: list[dict[str, Any]], task: str, path: Path, keep: float | None = None) -> Path:
    """The accuracy–speed front: each benched student's share of the teacher's ``task`` (its gain over the mean
    for an error metric), with its interval, against its best INT8 form's speedup at batch 1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for s in students:
        if "b1" not in s:
            continue
        r = s["tasks"][task]
        lo, hi = r.get("retention_ci") or [r["retention"]] * 2
        y = 100 * r["retention"]
        ax.errorbar(s["b1"]["speedup"], y, yerr=[[y - 100 * lo], [100 * hi - y]], fmt="o", capsize=4)
        ax.annotate(Path(s["run"]).name, (s["b1"]["speedup"], y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.axhline(100, color="grey", lw=0.8, ls="--")
    if keep is not None:
        ax.axhline(100 * keep, color="tab:red", lw=0.8, ls=":", label=f"asked: {100 * keep:.0f}% kept")
        ax.legend(loc="lower left", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("best INT8 form's speedup over the teacher in torch FP32 (batch 1, same bench run; log scale)")
    ax.set_ylabel(f"{task}: share of the teacher kept (%)\n(an error metric: of its gain over the mean)")
    ax.set_title(f"{task}: what each student keeps against how fast it runs\n(FP32 student, 95% paired-bootstrap CI)")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
