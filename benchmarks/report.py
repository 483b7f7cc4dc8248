"""Benchmark outputs: ``results.jsonl``, ``report.md`` and one accuracy–latency Pareto PNG per task."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from distill.io import atomic_path
from distill.training.evaluate import retention

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


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def at_shape(rows: list[dict], shape: tuple[int, int]) -> list[dict]:
    return [r for r in rows if (r["batch_size"], r["seq_len"]) == tuple(shape)]


def add_peak_share(rows: list[dict], peak: dict[str, float] | None) -> None:
    """Each row's achieved FLOP/s as a share of this device's GEMM peak for its precision."""
    for r in rows:
        limit = None
        if peak and r.get("achieved_flops"):
            limit = peak["int8_ops"] if r["precision"] == "int8" else peak["fp32_flops"]
        r["peak_share"] = r["achieved_flops"] / limit if limit else None


def markdown(rows: list[dict], skipped: list[dict], shape: tuple[int, int], peak: dict | None) -> str:
    """The human report: per-task accuracy against latency at one shape, then the whole grid."""
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
            f"GEMM peak on this device: fp32 {peak['fp32_flops'] / 1e9:.1f} GFLOP/s, "
            f"INT8 {peak['int8_ops'] / 1e9:.1f} GOP/s."
        )
    main = at_shape(rows, shape)
    ref, alt = reference_row(main), alternative_row(main)
    if alt:
        lines.append(
            f"speedup: against the teacher in torch FP32 at its fastest thread count; vs {alt['artifact']}: against "
            f"the teacher's own quantized export ({label(alt)}, {alt['latency_ms']['p50']:.2f} ms), what a user who "
            "does not distil would deploy."
        )
    tasks = list(main[0]["tasks"]) if main and main[0]["tasks"] else []
    alt_head = f" vs {alt['artifact']} |" if alt else ""
    for task in tasks:
        lines += [
            "",
            f"## {task} (batch {shape[0]}, sequence {shape[1]})",
            "",
            f"| artifact | runtime | precision | metric | retention | p50 ms | p99 ms | speedup |{alt_head} size MB |",
            "|---|---|---|---:|---:|---:|---:|---:|" + ("---:|" if alt else "") + "---:|",
        ]
        for r in main:
            m = r["tasks"][task]
            rt = retention(m["value"], ref["tasks"][task]["value"], m["higher_is_better"]) if ref else None
            speed = ref["latency_ms"]["p50"] / r["latency_ms"]["p50"] if ref else None
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


def pareto_plots(rows: list[dict], shape: tuple[int, int], out_dir: Path) -> list[Path]:
    """One PNG per task: metric against p50 latency at ``shape``, the Pareto front drawn through."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = at_shape(rows, shape)
    paths = []
    for task in main[0]["tasks"] if main else {}:
        pts = [(r["latency_ms"]["p50"], r["tasks"][task]["value"]) for r in main]
        hib = main[0]["tasks"][task]["higher_is_better"]
        front = sorted(pareto_front(pts, hib), key=lambda i: pts[i][0])
        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color="tab:blue", zorder=3)
        ax.plot(
            [pts[i][0] for i in front],
            [pts[i][1] for i in front],
            color="tab:orange",
            marker="o",
            markersize=11,
            markerfacecolor="none",
            label="Pareto front",
            zorder=2,
        )
        for r, p in zip(main, pts, strict=True):
            ax.annotate(label(r), p, textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xlabel(f"p50 latency, ms (batch {shape[0]}, seq {shape[1]})")
        metric = main[0]["tasks"][task]["metric"]
        ax.set_ylabel(f"{metric} ({'higher' if hib else 'lower'} is better)")
        ax.set_title(f"{task}: accuracy vs latency")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"pareto-{task}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        paths.append(path)
    return paths


def write_all(
    out_dir: Path, rows: list[dict], skipped: list[dict], shape: tuple[int, int], peak: dict | None
) -> dict[str, Any]:
    """Write results.jsonl, report.md and the Pareto PNGs; return what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    add_peak_share(rows, peak)
    write_jsonl(out_dir / "results.jsonl", rows)
    with atomic_path(out_dir / "report.md") as tmp:
        tmp.write_text(markdown(rows, skipped, shape, peak), encoding="utf-8")
    plots = pareto_plots(rows, shape, out_dir)
    return {"rows": len(rows), "skipped": skipped, "plots": [p.name for p in plots]}
