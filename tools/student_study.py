"""The students of one teacher side by side: what each keeps of the teacher (with the distill report's paired
bootstrap intervals) against how much faster its best INT8 form runs, and the accuracy–speed front as a plot.

    python -m tools.student_study runs/ecommerce-en runs/en-256 --task relevance --plot front.png

Each run directory holds one student (``distill/``); its speed comes from its own bench run (``bench/``), taken
against the teacher measured in that same run (torch FP32 at its best thread count), at batch 1 and 32 ×
the bench's longest sequence, or with ``--bench`` from one bench of them all (``tools.study_bench``). A run
without a bench is listed without speed.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from benchmarks.report import read_jsonl
from benchmarks.rows import alternative_row, at_shape, reference_row, student_reference, worst_drop
from distill.io import read_json
from distill.retention import kept


def _ci(c: list[float] | None) -> str:
    return f" [{100 * c[0]:.1f}, {100 * c[1]:.1f}]" if c and all(map(math.isfinite, c)) else ""


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


def run_rows(run: Path, shared: list[dict] | None) -> list[dict] | None:
    """``run``'s bench rows: from a shared bench (``tools.study_bench``: the teacher's rows and this run's
    ``<run>:<artifact>`` rows, named as in its own bench), else from its own bench, else None."""
    if shared is not None:
        prefix = f"{run.name}:"
        mine = [{**r, "artifact": r["artifact"][len(prefix) :]} for r in shared if r["artifact"].startswith(prefix)]
        return [r for r in shared if r["artifact"].startswith("teacher")] + mine if mine else None
    bench = run / "bench" / "results.jsonl"
    return read_jsonl(bench) if bench.is_file() else None


def student_row(run: Path, task: str, tolerance: float, shared: list[dict] | None = None) -> dict[str, Any]:
    """One student's figures: FP32 retention per task with intervals, its INT8 form's speed and retention."""
    report = read_json(run / "distill" / "report.json")
    out: dict[str, Any] = {"run": str(run), "params": report["encoder_params"][0], "tasks": report["tasks"]}
    out["transfer"] = sum(t["inputs"] for t in report.get("transfer", {}).values())
    rows = run_rows(run, shared)
    if rows:
        seq = max(r["seq_len"] for r in rows)
        fp32 = {"tasks": {t: {"value": m["student"]} for t, m in report["tasks"].items()}}  # the distilled student
        for batch in (1, 32):
            found = fastest_int8(rows, (batch, seq), tolerance, fp32)
            if found:
                best, teacher = found
                out[f"b{batch}"] = {
                    "label": f"{best['artifact']} / {best['runtime']}",
                    "ms": best["latency_ms"]["p50"],
                    "teacher_ms": teacher["latency_ms"]["p50"],
                    "speedup": teacher["latency_ms"]["p50"] / best["latency_ms"]["p50"],
                    "kept": {t: kept(m, report["tasks"][t]["teacher"]) for t, m in best["tasks"].items()},
                }
        out["seq"] = seq
    return out


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


def table(students: list[dict[str, Any]], task: str) -> str:
    """Markdown: per student, every task's FP32 retention with its interval, the regression's correlation
    ratios, and its best INT8 form's speedup and retention at batch 1 and 32."""
    tasks = list(students[0]["tasks"])
    head = "| student | transfer rows | " + " | ".join(f"{t} kept [95% CI]" for t in tasks)
    lines = [head + f" | {task} Spearman kept | INT8 b1 × seq: speedup ({task} kept) | b32 speedup |"]
    lines.append("|---|---:|" + "---:|" * (len(tasks) + 3))
    for s in students:
        cells = [f"{100 * s['tasks'][t]['retention']:.1f}%{_ci(s['tasks'][t].get('retention_ci'))}" for t in tasks]
        rank = s["tasks"][task].get("intervals", {}).get("spearman")
        spear = f"{100 * rank['retention']:.1f}%{_ci(rank['retention_ci'])}" if rank else "—"
        b1, b32 = s.get("b1"), s.get("b32")
        speed1 = f"{b1['speedup']:.2f}× ({100 * b1['kept'][task]:.1f}%)" if b1 else "not benched"
        speed32 = f"{b32['speedup']:.2f}×" if b32 else "—"
        lines.append(
            f"| {s['run']} | {s['transfer']:,} | " + " | ".join(cells) + f" | {spear} | {speed1} | {speed32} |"
        )
    return "\n".join(lines) + "\n"


def plot(students: list[dict[str, Any]], task: str, path: Path) -> None:
    """The accuracy–speed front: each benched student's share of the teacher's ``task`` gain (with its
    interval) against its INT8 speedup at batch 1."""
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
        ax.annotate(Path(s["run"]).name + (" + transfer" if s["transfer"] else ""), (s["b1"]["speedup"], y),
                    textcoords="offset points", xytext=(6, 6), fontsize=8)  # fmt: skip
    ax.axhline(100, color="grey", lw=0.8, ls="--")
    ax.axhline(90, color="tab:red", lw=0.8, ls=":", label="target: 90% of the gain")
    ax.axvline(10, color="tab:green", lw=0.8, ls=":", label="target: 10× the teacher")
    ax.set_xlabel("best INT8 form's speedup over the teacher in torch FP32 (batch 1, same bench run)")
    ax.set_ylabel(f"{task}: share of the teacher's gain\nover the mean predictor (%)")
    ax.set_title(f"{task}: what each student keeps against how fast it runs\n(FP32 student, 95% paired-bootstrap CI)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--task", default="relevance", help="the task the plot and the speed columns follow")
    parser.add_argument("--tolerance", type=float, default=0.01, help="INT8 forms within this drop of the FP32")
    parser.add_argument("--plot", type=Path, help="write the accuracy–speed front here (PNG)")
    parser.add_argument("--bench", type=Path, help="speeds from one shared bench (tools.study_bench's results.jsonl)")
    args = parser.parse_args(argv)
    shared = read_jsonl(args.bench) if args.bench else None
    students = [student_row(run, args.task, args.tolerance, shared) for run in args.runs]
    print(table(students, args.task), end="")
    if shared is not None:
        print(peer_line(shared, args.task))
    if args.plot:
        plot(students, args.task, args.plot)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
