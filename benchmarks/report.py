"""Benchmark outputs: ``results.jsonl``, ``report.md`` and one accuracy–latency Pareto PNG per task."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distill.io import atomic_path
from distill.retention import kept

from .brought import replaces_section, task_teacher_row
from .peak import peak_for, peak_lines
from .real_length import real_length_markdown
from .rows import alternative_row, at_shape, label, reference_row, student_reference, task_names, worst_drop


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def add_peak_share(rows: list[dict], peak: dict[str, float] | None) -> None:
    """Each row's achieved FLOP/s as a share of the GEMM peak of its runtime at its precision (``peak_for``)."""
    for r in rows:
        limit = peak_for(peak, r["runtime"], r["precision"]) if r.get("achieved_flops") else None
        r["peak_share"] = r["achieved_flops"] / limit if limit else None


def fastest_within(rows: list[dict], tolerance: float) -> list[str]:
    """Per (batch, seq): the fastest student artifact/runtime/precision whose every task is within
    ``tolerance`` of the FP32 student, its speedup over that student in torch and its share of the peak."""
    lines = [
        f"## Fastest student within {100 * tolerance:g}% of the FP32 student on every task",
        "",
        "| batch | seq | artifact / runtime / precision | p50 ms | vs FP32 student (torch) | worst task drop "
        "| share of its runtime's peak at its precision |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for shape in sorted({(r["batch_size"], r["seq_len"]) for r in rows}):
        here = [r for r in at_shape(rows, shape) if not r["artifact"].startswith("teacher") and r["tasks"]]
        ref = student_reference(here)
        if ref is None:
            continue
        fits = [r for r in here if worst_drop(r, ref) <= tolerance]
        best = min(fits, key=lambda r: r["latency_ms"]["p50"])
        share = f"{100 * best['peak_share']:.1f}%" if best.get("peak_share") else "–"
        lines.append(
            f"| {shape[0]} | {shape[1]} | {label(best)} | {best['latency_ms']['p50']:.2f} | "
            f"{_x(ref['latency_ms']['p50'] / best['latency_ms']['p50'])} | {100 * worst_drop(best, ref):.2f}% | "
            f"{share} |"
        )
    return lines if len(lines) > 4 else []


@dataclass
class Measured:
    """One bench's results as the report reads them: grid rows, what was skipped and why, the report's main
    shape, the GEMM peak, the accuracy tolerance of the 'fastest student' table, and the real-length rows."""

    rows: list[dict]
    skipped: list[dict]
    shape: tuple[int, int]
    peak: dict | None = None
    tolerance: float = 0.01
    real_length: list[dict] = field(default_factory=list)


def markdown(measured: Measured) -> str:
    """The human report: per-task accuracy against latency at one shape, then the whole grid."""
    rows, skipped, shape, peak = measured.rows, measured.skipped, measured.shape, measured.peak
    env = rows[0]["env"] if rows else {}
    lines = [
        "# Benchmark report",
        "",
        f"Device: {env.get('cpu', '?')}, {env.get('cores', '?')} cores, {env.get('torch_threads', '?')} torch "
        f"threads, GPU: {env.get('gpu') or 'none'}. Latency: warm-up excluded, candidates interleaved in rounds, "
        "each figure the median over rounds.",
    ]
    if peak:
        lines.append(
            f"GEMM peaks on this device (best of square products {peak['sizes']}, {peak['threads']} threads; each "
            "result's share is of its own runtime's peak at its precision where measured, else torch's): "
            + "; ".join(peak_lines(peak))
            + "."
        )
    fastest = fastest_within(rows, measured.tolerance)
    lines += ["", *fastest, ""] if fastest else []
    real = real_length_markdown(measured.real_length)
    lines += [*real, ""] if real else []
    main = at_shape(rows, shape)
    ref, alt = reference_row(main), alternative_row(main)
    if alt:
        lines.append(
            f"speedup: against the teacher in torch FP32 at its fastest thread count; vs {alt['artifact']}: against "
            f"the teacher's own quantized export ({label(alt)}, {alt['latency_ms']['p50']:.2f} ms), what a user who "
            "does not distil would deploy."
        )
    replaces = replaces_section(rows, measured.tolerance)
    lines += ["", *replaces] if replaces else []
    if replaces and ref is None:
        lines += ["", "retention and speedup per task: against that task's own teacher (teacher.<task>, torch FP32)."]
    tasks = task_names(main)
    alt_head = f" vs {alt['artifact']} |" if alt else ""
    for task in tasks:
        lines += [
            "",
            f"## {task} (batch {shape[0]}, sequence {shape[1]})",
            "",
            f"| artifact | runtime | precision | metric | retention | p50 ms | p99 ms | speedup |{alt_head} size MB |",
            "|---|---|---|---:|---:|---:|---:|---:|" + ("---:|" if alt else "") + "---:|",
        ]
        own = ref if ref and task in ref["tasks"] else task_teacher_row(main, task)  # else the task's own teacher
        for r in main:
            if task not in (r["tasks"] or {}):
                continue
            m = r["tasks"][task]
            rt = kept(m, own["tasks"][task]["value"]) if own else None
            speed = own["latency_ms"]["p50"] / r["latency_ms"]["p50"] if own else None
            vs_alt = f" {_x(alt['latency_ms']['p50'] / r['latency_ms']['p50'])} |" if alt else ""
            lines.append(
                f"| {r['artifact']} | {r['runtime']} | {r['precision']} | {m['metric']} {m['value']:.4f} | "
                f"{_pct(rt)} | {r['latency_ms']['p50']:.2f} | {r['latency_ms']['p99']:.2f} | "
                f"{_x(speed)} |{vs_alt} {r['size_mb']:.1f} |"
            )
    lines += [
        "",
        "## Latency grid",
        "",
        "| candidate | batch | seq | p50 ms | p99 ms | samples/s | share of peak |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (label(r), r["batch_size"], r["seq_len"])):
        share = f"{100 * r['peak_share']:.1f}%" if r.get("peak_share") else "–"
        lines.append(
            f"| {label(r)} | {r['batch_size']} | {r['seq_len']} | {r['latency_ms']['p50']:.2f} | "
            f"{r['latency_ms']['p99']:.2f} | {r['throughput']:.1f} | {share} |"
        )
    if skipped:
        lines += ["", "## Not measured here", ""] + [f"- {s['candidate']}: {s['reason']}" for s in skipped]
    return "\n".join(lines) + "\n"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _x(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}×"


def pareto_front(points: list[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of points no other point beats on both latency (lower) and metric."""

    def better(a: tuple[float, float], b: tuple[float, float]) -> bool:
        at_least = a[0] <= b[0] and (a[1] >= b[1] if higher_is_better else a[1] <= b[1])
        strictly = a[0] < b[0] or (a[1] > b[1] if higher_is_better else a[1] < b[1])
        return at_least and strictly

    return [i for i, p in enumerate(points) if not any(better(q, p) for j, q in enumerate(points) if j != i)]


MARKERS = "osD^v<>ph*"


def marker_styles(n: int) -> list[tuple[str, str]]:
    """``n`` distinct (marker, colour) pairs: marker and colour advance together, and each round of the
    markers shifts the colours by one, so that no two of the first 100 groups look alike."""
    return [(MARKERS[k % len(MARKERS)], f"C{(k + k // len(MARKERS)) % 10}") for k in range(n)]


def is_teacher(row: dict) -> bool:
    """A teacher's point (the teacher, its exports, a brought per-task teacher), drawn apart from students."""
    return str(row["artifact"]).startswith("teacher")


def pareto_plots(rows: list[dict], shape: tuple[int, int], out_dir: Path) -> list[Path]:
    """One PNG per task: metric against p50 latency at ``shape`` (log scale), the Pareto front drawn
    through and labelled; every other point is coloured by runtime and precision, named in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    main = at_shape(rows, shape)
    paths = []
    shown = main
    for task in task_names(shown):
        main = [r for r in shown if task in (r["tasks"] or {})]  # a brought teacher answers its own task only
        pts = [(r["latency_ms"]["p50"], r["tasks"][task]["value"]) for r in main]
        hib = main[0]["tasks"][task]["higher_is_better"]
        front = sorted(pareto_front(pts, hib), key=lambda i: pts[i][0])
        fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(main):
            groups.setdefault(f"{r['runtime']} {r['precision']}", []).append(i)
        styles = marker_styles(len(groups))
        for (group, idx), (marker, colour) in zip(sorted(groups.items()), styles, strict=True):
            for teachers in (False, True):  # teachers hollow, students filled: same runtime, same marker and colour
                mine = [i for i in idx if is_teacher(main[i]) == teachers]
                if mine:
                    ax.scatter([pts[i][0] for i in mine], [pts[i][1] for i in mine], marker=marker, s=34, zorder=3,
                               facecolors="none" if teachers else colour, edgecolors=colour, linewidths=1.3,
                               label=group if not teachers or len(mine) == len(idx) else None)  # fmt: skip
        ax.scatter([], [], marker="o", facecolors="none", edgecolors="black", label="hollow: teacher")
        ax.scatter([], [], marker="o", color="black", label="filled: student")
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], color="black", linewidth=1, alpha=0.6,
                label="Pareto front", zorder=2)  # fmt: skip
        for k, i in enumerate(front):  # the front is numbered and named in the legend: 20+ labels would overlap
            ax.annotate(str(k + 1), pts[i], textcoords="offset points", xytext=(5, 4), fontsize=8, weight="bold")
            ax.plot([], [], " ", label=f"{k + 1}: {label(main[i])}")
        ax.set_xscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")  # 3, 4, 6, 10 ms rather than 3×10⁰
        ax.xaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(2.0, 5.0)))  # 2 and 5 of each decade
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.set_xlabel(f"p50 latency, ms, log scale (batch {shape[0]}, seq {shape[1]})")
        metric = main[0]["tasks"][task]["metric"]
        ax.set_ylabel(f"{metric} ({'higher' if hib else 'lower'} is better)")
        ax.set_title(f"{task}: accuracy vs latency")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
        fig.tight_layout()
        path = out_dir / f"pareto-{task}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        paths.append(path)
    return paths


def write_all(out_dir: Path, measured: Measured) -> dict[str, Any]:
    """Write results.jsonl (and real-length.jsonl), report.md and the Pareto PNGs; return what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    add_peak_share(measured.rows, measured.peak)
    write_jsonl(out_dir / "results.jsonl", measured.rows)
    with atomic_path(out_dir / "report.md") as tmp:
        tmp.write_text(markdown(measured), encoding="utf-8")
    if measured.real_length:
        write_jsonl(out_dir / "real-length.jsonl", measured.real_length)
    plots = pareto_plots(measured.rows, measured.shape, out_dir)
    return {"rows": len(measured.rows), "skipped": measured.skipped, "plots": [p.name for p in plots]}
