"""``mtkd metrics``: a run's per-task test metrics, or with ``--stage quantize`` its artifacts."""

from __future__ import annotations

import argparse
from pathlib import Path

from distill.io import read_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The run and the stage."""
    p.add_argument("run", type=Path, help="a run directory (e.g. runs/quickstart)")
    p.add_argument("--stage", default="teacher")


def quantize_table(run: Path) -> str:
    """Markdown table of ``<run>/quantize/report.json``: each artifact's size, worst drop and fallback."""
    lines = ["| artifact | precision | size MB | worst task drop vs FP32 | within tolerance | layers kept in FP32 |"]
    lines.append("|---|---|---:|---:|---|---|")
    for name, r in read_json(run / "quantize" / "report.json").items():
        if "failed" in r:
            lines.append(f"| {name} (peer) | – | – | failed: {r['failed'][:90]}… | – | – |")
            continue
        worst = max(r["drop_vs_fp32"].values())
        kept = ", ".join(r["fp32_layers"]) or "–"
        label = f"{name} (peer)" if r.get("peer") else name
        lines.append(
            f"| {label} | {r['precision']} | {r['size_mb']:.2f} | {100 * worst:.2f}% | "
            f"{'yes' if r['within_tolerance'] else 'no'} | {kept} |"
        )
    return "\n".join(lines)


def metrics_table(run: Path, stage: str) -> str:
    """Markdown table of ``<run>/<stage>/metrics.json``: metric, value, baseline per task."""
    if stage == "quantize":
        return quantize_table(run)
    rows = read_json(run / stage / "metrics.json")
    lines = [f"| task | metric | {stage} | baseline |", "|---|---|---:|---:|"]
    for task, m in rows.items():
        arrow = "↑" if m["higher_is_better"] else "↓"
        lines.append(f"| {task} | {m['metric']} {arrow} | {m['value']:.4f} | {m['baseline']:.4f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the table."""
    print(metrics_table(args.run, args.stage))
    return 0
