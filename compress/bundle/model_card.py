"""The bundle's README.md: what the model does, how well, how fast, and how to call it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manifest import BundleManifest


def _metrics_table(manifest: BundleManifest) -> list[str]:
    lines = ["| task | type | input | labels | metric | value | naive baseline |", "|---|---|---|---:|---|---:|---:|"]
    for task in manifest.tasks:
        m = manifest.metrics.get(task["name"], {})
        value = f"{m['value']:.4f}" if "value" in m else "–"
        base = f"{m['baseline']:.4f}" if "baseline" in m else "–"
        arrow = "" if not m else " ↑" if m.get("higher_is_better", True) else " ↓"
        lines.append(
            f"| {task['name']} | {task['type']} | {task['input']} | {len(task['labels'])} | "
            f"{m.get('metric', '–')}{arrow} | {value} | {base} |"
        )
    return lines


def _latency_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["No latency was measured for this artifact (run the recipe's `bench` stage)."]
    env = rows[0].get("env", {})
    lines = [
        f"Measured by the bench stage on {env.get('cpu', '?')} ({env.get('cores', '?')} cores, "
        f"{env.get('torch_threads', '?')} threads, GPU: {env.get('gpu') or 'none'}).",
        "",
        "| runtime | precision | batch | seq | p50 ms | p99 ms | samples/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["runtime"], r["batch_size"], r["seq_len"])):
        lat = r["latency_ms"]
        lines.append(
            f"| {r['runtime']} | {r['precision']} | {r['batch_size']} | {r['seq_len']} | "
            f"{lat['p50']:.2f} | {lat['p99']:.2f} | {r['throughput']:.1f} |"
        )
    return lines


def model_card(manifest: BundleManifest, latency: list[dict[str, Any]]) -> str:
    """Markdown model card for a bundle manifest and the bench rows measured on its artifact."""
    src = manifest.source
    title = src.get("artifact_name") or src.get("artifact", "model")
    lines = [
        f"# {title}",
        "",
        f"Multi-task encoder bundle made by mtkd from `{src.get('run', src.get('artifact'))}`: "
        f"`{manifest.model}` ({manifest.precision}"
        + (f", preset `{manifest.preset}`" if manifest.preset else "")
        + f") for {manifest.runtime}, max length {manifest.max_len} tokens.",
        "",
        "## Tasks and test metrics",
        "",
        *_metrics_table(manifest),
        "",
        "## Latency",
        "",
        *_latency_table(latency),
        "",
        "## Use",
        "",
        "```python",
        "from compress.bundle import Predictor",
        "",
        'predictor = Predictor.load("path/to/this/bundle")  # checks every file\'s SHA-256 first',
        'predictor.predict(["a product title"])              # text tasks (and tag tasks, with character spans)',
        'predictor.predict([("a query", "a product title")])  # pair tasks',
        "```",
        "",
        "or `mtkd predict path/to/this/bundle 'a product title'` (a TAB separates a query from a title).",
        "",
        "Library versions at build time: "
        + ", ".join(f"{k} {v}" for k, v in sorted(manifest.libraries.items()))
        + ". File checksums are in `bundle.json`.",
        "",
    ]
    return "\n".join(lines)
