"""A sweep of load against one or more servers side by side (student and teacher bundles under the same load):
a table, a throughput-versus-p99 plot, and each server's best throughput within a p99 budget."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distill.data.examples import Example

from .http_load import closed_loop, open_loop


def request_items(examples: Sequence[Example], limit: int = 2000) -> list[Any]:
    """Request inputs from a task's examples at their real lengths: texts, pairs, or pre-split words."""
    items: list[Any] = []
    for ex in examples[:limit]:
        if isinstance(ex.text, list):
            items.append({"words": ex.text})
        elif ex.text_pair is not None:
            items.append({"text": ex.text, "text_pair": ex.text_pair})
        else:
            items.append(ex.text)
    return items


def sweep(
    targets: dict[str, str],
    pool: Sequence[Any],
    concurrencies: Sequence[int] = (),
    rates: Sequence[float] = (),
    requests: int = 500,
    seconds: float = 30.0,
) -> list[dict[str, Any]]:
    """Every target at every concurrency (closed loop) and every rate (open loop), targets taking turns at
    each point so that they meet the same machine state."""
    rows = []
    for concurrency in concurrencies:
        for label, url in targets.items():
            rows.append({"server": label, **closed_loop(url, pool, concurrency, requests, seconds)})
    for rate in rates:
        for label, url in targets.items():
            rows.append({"server": label, **open_loop(url, pool, rate, requests, seconds)})
    return rows


def best_within(rows: list[dict[str, Any]], server: str, p99_ms: float) -> dict[str, Any] | None:
    """The sweep point with the highest throughput whose p99 stays within ``p99_ms`` and that lost nothing
    (every request answered 200), for one server."""
    ok = [
        r
        for r in rows
        if r["server"] == server and r["p99_ms"] <= p99_ms and r["outcomes"].get("200", 0) == r["requests"]
    ]
    return max(ok, key=lambda r: r["throughput_rps"], default=None)


def sweep_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per server and load point."""
    lines = [
        "| server | load | requests | 200 | 503 | 4xx / other / failed | p50 ms | p95 ms | p99 ms | req/s "
        "| mean batch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        load = f"{r['concurrency']} clients" if r["mode"] == "closed" else f"{r['rate']:g} req/s offered"
        o = r["outcomes"]
        bad = f"{o.get('4xx', 0)} / {o.get('other', 0)} / {o.get('failed', 0)}"
        batch = f"{r['mean_batch']:.1f}" if r["mean_batch"] else "–"
        lines.append(
            f"| {r['server']} | {load} | {r['requests']} | {o.get('200', 0)} | {o.get('503', 0)} | {bad} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['throughput_rps']:.1f} | {batch} |"
        )
    return "\n".join(lines)


def sweep_plot(rows: list[dict[str, Any]], path: Path, p99_budget_ms: float | None = None) -> Path:
    """Throughput (x) against p99 (y, log) per server, each point labelled with its load."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    markers = ["o", "s", "^", "D", "v", "P"]
    for k, server in enumerate(dict.fromkeys(r["server"] for r in rows)):
        for mode, style in (("closed", "-"), ("open", "--")):
            pts = [r for r in rows if r["server"] == server and r["mode"] == mode]
            if not pts:
                continue
            ax.plot(
                [r["throughput_rps"] for r in pts],
                [r["p99_ms"] for r in pts],
                style,
                marker=markers[k % len(markers)],
                color=f"C{k}",
                label=f"{server} ({'clients' if mode == 'closed' else 'offered rate'})",
            )
            for r in pts:
                tag = f"{r['concurrency']}" if mode == "closed" else f"{r['rate']:g}/s"
                ax.annotate(
                    tag, (r["throughput_rps"], r["p99_ms"]), textcoords="offset points", xytext=(4, 4), fontsize=7
                )
    if p99_budget_ms:
        ax.axhline(p99_budget_ms, color="grey", linestyle=":", linewidth=1, label=f"p99 = {p99_budget_ms:g} ms")
    ax.set_yscale("log")
    ax.set_xlabel("answered requests per second")
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.set_title("Throughput against p99 under load (labels: clients or offered rate)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
