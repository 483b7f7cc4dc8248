"""The serving study of docs/results: a run's student and teacher bundles behind ``mtkd serve`` on this machine.

``python -m tools.serve_study runs/quickstart --out runs/serve-study`` exports the student (the default
artifact) and the teacher's FP32 export as bundles, serves both (and the student once more without batching,
``max_batch`` 1) side by side from one Ray instance, then, with nothing else running:
- sweeps closed-loop concurrency over all three, the servers taking turns at each point;
- reports each one's best throughput with p99 within the budget and every request answered, and dynamic
  batching's gain over batch size 1 at each concurrency (the batch-1 server takes as many requests at once
  as the batching one, answering them one by one);
- measures the server's own cost: its p50 at concurrency 1 beside the same bundle's Predictor called
  in-process, in the same run.
Writes ``report.md``, ``results.jsonl`` and ``throughput-p99.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import ray

from benchmarks.http_sweep import best_within, request_items, sweep, sweep_plot, sweep_table
from benchmarks.load import run_load
from compress.bundle import Predictor
from compress.serve.options import ServeOptions
from compress.serve.server import start, stop
from distill.data.loading import load_tasks
from recipes.cli import main as mtkd
from recipes.loader import load_recipe


def export_bundles(run: Path, out: Path, teacher_artifact: str) -> dict[str, Path]:
    """The student bundle (export's default choice) and the teacher's, under ``out``."""
    bundles = {"student": out / "student-bundle", "teacher": out / "teacher-bundle"}
    for name, path in bundles.items():
        if not (path / "bundle.json").is_file():
            extra = ["--artifact", teacher_artifact] if name == "teacher" else []
            assert mtkd(["export", str(run), "--out", str(path), "--no-verify", *extra]) == 0
    return bundles


def in_process_p50(bundle: Path, pool: list[Any], requests: int) -> float:
    """p50 of one-input calls through the bundle's Predictor in this process, one thread."""
    predictor = Predictor.load(bundle)
    local = [tuple(x.values()) if isinstance(x, dict) and "text_pair" in x else x for x in pool]
    local = [x["words"] if isinstance(x, dict) else x for x in local]
    return run_load(lambda x: predictor.predict([x]), local, 1, requests, progress=False)["p50_ms"]


def study(run: Path, out: Path, task: str | None, concurrencies: list[int], requests: int, budget: float) -> str:
    out.mkdir(parents=True, exist_ok=True)
    recipe = load_recipe(str(run / "recipe.yaml"))
    task = task or next(iter(recipe.tasks))
    pool = request_items(load_tasks({task: recipe.tasks[task]}, recipe.seed, recipe.data)[task].splits["test"])
    bundles = export_bundles(run, out, "teacher-fp32")
    opts = ServeOptions(port=8765)
    # three one-thread replicas on this machine's cores: Ray must be told it may place them all, since only
    # one of them is under load at any time (the sweep's servers take turns)
    ray.init(num_cpus=max(3, os.cpu_count() or 1), include_dashboard=False, logging_level=logging.WARNING)
    urls = {
        "student": start(bundles["student"], opts, name="student", route_prefix="/student"),
        "teacher": start(bundles["teacher"], opts, name="teacher", route_prefix="/teacher"),
        "student, batch 1": start(
            bundles["student"],
            ServeOptions(port=8765, max_batch=1, max_ongoing=opts.max_batch),
            name="student-b1",
            route_prefix="/student-b1",
        ),
    }
    try:
        rows = sweep(urls, pool, concurrencies, (), requests, 60.0)
    finally:
        stop()
    local = {name: in_process_p50(bundles[name], pool, requests) for name in ("student", "teacher")}
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    sweep_plot(rows, out / "throughput-p99.png", budget)
    return report(rows, local, budget, task, len(pool))


def report(rows: list[dict], local: dict[str, float], budget: float, task: str, pool: int) -> str:
    lines = [
        f"Inputs: {pool} test inputs of `{task}` at their real lengths, one per request.",
        "",
        sweep_table(rows),
        "",
    ]
    for server in dict.fromkeys(r["server"] for r in rows):
        best = best_within(rows, server, budget)
        what = f"{best['throughput_rps']:.1f} req/s at {best['concurrency']} clients" if best else "none"
        lines.append(f"- {server}: best throughput with p99 ≤ {budget:g} ms and every request answered: {what}")
    by = {(r["server"], r["concurrency"]): r for r in rows}
    lines.append("")
    for c in sorted({r["concurrency"] for r in rows}):
        batched, single = by.get(("student", c)), by.get(("student, batch 1", c))
        if batched and single and single["throughput_rps"]:
            gain = batched["throughput_rps"] / single["throughput_rps"]
            lines.append(f"- dynamic batching at {c} clients: {gain:.2f}× the throughput of batch size 1")
    lines.append("")
    for name, p50 in local.items():
        served = by.get((name, 1))
        if served:
            lines.append(
                f"- {name}: p50 at 1 client {served['p50_ms']:.2f} ms through the server, {p50:.2f} ms through "
                f"Predictor in-process: the server adds {served['p50_ms'] - p50:.2f} ms"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serve_study", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs") / "serve-study")
    parser.add_argument("--task", help="whose test inputs are sent (default: the recipe's first task)")
    parser.add_argument("--concurrency", default="1,2,4,8,16,32")
    parser.add_argument("--requests", type=int, default=400, help="requests per load point")
    parser.add_argument("--p99-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    text = study(args.run, args.out, args.task, concurrencies, args.requests, args.p99_ms)
    (args.out / "report.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
