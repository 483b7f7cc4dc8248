"""The serving study of docs/results: a run's student and teacher bundles behind ``mtkd serve``'s engines.

``python docs/results/scripts/serve_study.py runs/quickstart --out runs/serve-study`` exports the student and the
teacher's FP32 export as bundles, then, one engine at a time with nothing else running (an idle engine's processes stay
down while another is measured):
- local: the default one-process engine (adaptive batching), the student with batch size 1 beside it;
- ray-before: Ray Serve with the 2026-12-03 study's settings (batch wait 2 ms); ray-wait-0: batch wait 0 alone;
  ray: this release's Ray defaults (batch wait 0, RAY_SERVE_THROUGHPUT_OPTIMIZED=1); every Ray variant without
  the access log, serving the same ASGI app as the local engine;
for each: the in-process Predictor's p50 and p99 on the same inputs right before (the server's own cost is
the difference), a closed-loop concurrency sweep (servers taking turns at each point), the best throughput
within p99 ≤ 50 ms and ≤ 10 ms with every request answered, mean batch sizes, adaptive batching against
batch size 1, and the student-over-teacher throughput ratio against the in-process speed ratio.
Writes ``report.md``, ``results.jsonl`` and ``throughput-p99.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from benchmarks.http_sweep import best_within, request_items, sweep, sweep_plot, sweep_table
from benchmarks.load import run_load
from compress.bundle import Predictor
from compress.serve.local import start_local_process, stop_local_process
from compress.serve.options import ServeOptions
from distill.data.loading import load_tasks
from recipes.cli import main as mtkd
from recipes.loader import load_recipe

PORT = 8765


def export_bundles(run: Path, out: Path, student: str | None, teacher: str) -> dict[str, Path]:
    """The student bundle (``student`` or export's default choice) and the teacher's, under ``out``."""
    bundles = {"student": out / "student-bundle", "teacher": out / "teacher-bundle"}
    for name, path in bundles.items():
        if not (path / "bundle.json").is_file():
            chosen = teacher if name == "teacher" else student
            assert (
                mtkd(["export", str(run), "--out", str(path), "--no-verify", *(["--artifact", chosen] * bool(chosen))])
                == 0
            )
    return bundles


def in_process(bundle: Path, pool: list[Any], requests: int) -> dict[str, float]:
    """p50 and p99 of one-input calls through the bundle's Predictor in this process, one thread (as served)."""
    torch.set_num_threads(1)
    predictor = Predictor.load(bundle)
    local = [(x["text"], x["text_pair"]) if isinstance(x, dict) and "text_pair" in x else x for x in pool]
    local = [x["words"] if isinstance(x, dict) else x for x in local]
    result = run_load(lambda x: predictor.predict([x]), local, 1, requests, progress=False)
    return {"p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"], "throughput_rps": result["throughput_rps"]}


def local_servers(bundles: dict[str, Path]) -> tuple[dict[str, str], list]:
    opts = ServeOptions(port=PORT)
    specs = {
        "local student": (bundles["student"], opts),
        "local teacher": (bundles["teacher"], ServeOptions(port=PORT + 1)),
        "local student, batch 1": (bundles["student"], ServeOptions(port=PORT + 2, max_batch=1)),
    }
    started = {label: start_local_process(bundle, o) for label, (bundle, o) in specs.items()}
    return {label: url for label, (_, url) in started.items()}, [proc for proc, _ in started.values()]


RAY_VARIANTS = {  # label: (batch wait ms, throughput-optimized)
    "ray-before": (2.0, False),  # the settings of the 2026-12-03 study
    "ray": (0.0, False),  # this release's defaults: batch wait 0
    "ray-throughput-optimized": (
        0.0,
        True,
    ),  # and RAY_SERVE_THROUGHPUT_OPTIMIZED=1 (mtkd serve --ray-throughput-optimized)
}


def ray_servers(bundles: dict[str, Path], label: str) -> dict[str, str]:
    import os

    import ray

    from compress.serve.server import start

    wait_ms, optimized = RAY_VARIANTS[label]
    os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1" if optimized else "0"  # the new instance's processes read it
    ray.init(num_cpus=max(3, os.cpu_count() or 1), include_dashboard=False, logging_level=logging.WARNING)
    opts = ServeOptions(engine="ray", port=PORT, batch_wait_ms=wait_ms, threads=1, throughput_optimized=optimized)
    return {
        f"{label} student": start(bundles["student"], opts, name="student", route_prefix="/student"),
        f"{label} teacher": start(bundles["teacher"], opts, name="teacher", route_prefix="/teacher"),
    }


def study(run: Path, out: Path, args: argparse.Namespace) -> str:
    out.mkdir(parents=True, exist_ok=True)
    recipe = load_recipe(str(run / "recipe.yaml"))
    task = args.task or next(iter(recipe.tasks))
    pool = request_items(load_tasks({task: recipe.tasks[task]}, recipe.seed, recipe.data)[task].splits["test"])
    bundles = export_bundles(run, out, args.student, args.teacher)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    rows: list[dict[str, Any]] = []
    local: dict[str, dict[str, float]] = {}
    rounds: list[dict[str, Any]] = []
    for engine in args.engines.split(","):
        local[engine] = {name: in_process(bundles[name], pool, args.requests) for name in ("student", "teacher")}
        if engine == "local":
            urls, procs = local_servers(bundles)
            try:
                sweep(urls, pool, [1], (), 200, 30.0)  # warm-up, not reported: each server's first calls are cold
                rows += [{**r, "engine": engine} for r in sweep(urls, pool, concurrencies, (), args.requests, 60.0)]
                rounds = one_client_rounds(urls, pool, args.rounds)
            finally:
                for proc in procs:
                    stop_local_process(proc)
        else:
            from compress.serve.server import stop

            urls = ray_servers(bundles, engine)
            try:
                sweep(urls, pool, [1], (), 200, 30.0)  # warm-up, not reported
                rows += [{**r, "engine": engine} for r in sweep(urls, pool, concurrencies, (), args.requests, 60.0)]
            finally:
                stop()
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (out / "in_process.json").write_text(json.dumps(local, indent=1), encoding="utf-8")
    (out / "one_client.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rounds), encoding="utf-8")
    sweep_plot(rows, out / "throughput-p99.png", 50.0)
    return report(rows, local, task, len(pool)) + one_client_text(rounds)


def one_client_rounds(urls: dict[str, str], pool: list[Any], rounds: int) -> list[dict[str, Any]]:
    """Adaptive batching against batch size 1 at one client, alternating rounds in both orders (one sweep point
    is too short to tell two servers ~1.5 ms apart)."""
    pair = {k: urls[k] for k in ("local student", "local student, batch 1")}
    flipped = dict(reversed(pair.items()))
    return [*sweep(pair, pool, [1] * rounds, (), 1500, 60.0), *sweep(flipped, pool, [1] * rounds, (), 1500, 60.0)]


def one_client_text(rounds: list[dict[str, Any]]) -> str:
    if not rounds:
        return ""
    mean = {
        s: sum(r["throughput_rps"] for r in rounds if r["server"] == s) / (len(rounds) / 2)
        for s in {r["server"] for r in rounds}
    }
    ratio = mean["local student"] / mean["local student, batch 1"]
    return (
        f"\n- local, one client, {len(rounds) // 2} rounds of 1,500 requests each, both orders: adaptive batching "
        f"{mean['local student']:.1f} req/s, batch size 1 {mean['local student, batch 1']:.1f} req/s: {ratio:.3f}×"
    )


def report(rows: list[dict], local: dict[str, dict[str, dict[str, float]]], task: str, pool: int) -> str:
    lines = [
        f"Inputs: {pool} test inputs of `{task}` at their real lengths, one per request.",
        "",
        sweep_table(rows),
        "",
    ]
    by = {(r["server"], r["concurrency"]): r for r in rows}
    best: dict[tuple[str, float], dict | None] = {}
    for server in dict.fromkeys(r["server"] for r in rows):
        for budget in (50.0, 10.0):
            best[server, budget] = b = best_within(rows, server, budget)
            what = (
                f"{b['throughput_rps']:.1f} req/s at {b['concurrency']} clients (mean batch {b['mean_batch'] or 0:.1f})"
                if b
                else "none"
            )
            lines.append(f"- {server}: best throughput with p99 ≤ {budget:g} ms, every request answered: {what}")
    lines.append("")
    for engine, models in local.items():
        for name, own in models.items():
            served = by.get((f"{engine} {name}", 1))
            if served:
                lines.append(
                    f"- {engine}, {name}, 1 client: p50 {served['p50_ms']:.2f} ms served vs {own['p50_ms']:.2f} ms "
                    f"in-process (the server adds {served['p50_ms'] - own['p50_ms']:.2f} ms); "
                    f"p99 {served['p99_ms']:.2f} vs {own['p99_ms']:.2f} ms "
                    f"(adds {served['p99_ms'] - own['p99_ms']:.2f} ms)"
                )
        s, t = best.get((f"{engine} student", 50.0)), best.get((f"{engine} teacher", 50.0))
        if s and t:
            served_ratio = s["throughput_rps"] / t["throughput_rps"]
            own_ratio = models["teacher"]["p50_ms"] / models["student"]["p50_ms"]
            lines.append(
                f"- {engine}: student over teacher within p99 ≤ 50 ms {served_ratio:.2f}×; in-process speed ratio "
                f"(p50, one input, 1 thread) {own_ratio:.2f}×: {100 * served_ratio / own_ratio:.0f}% of it"
            )
    for c in sorted({r["concurrency"] for r in rows}):
        batched, single = by.get(("local student", c)), by.get(("local student, batch 1", c))
        if batched and single and single["throughput_rps"]:
            gain = batched["throughput_rps"] / single["throughput_rps"]
            lines.append(f"- local, adaptive batching at {c} clients: {gain:.2f}× the throughput of batch size 1")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="serve_study", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs") / "serve-study")
    parser.add_argument("--task", help="whose test inputs are sent (default: the recipe's first task)")
    parser.add_argument("--student", help="the student artifact (default: export's choice)")
    parser.add_argument("--teacher", default="teacher-fp32", help="the teacher artifact")
    parser.add_argument("--engines", default="local,ray-before,ray-wait-0,ray")
    parser.add_argument("--concurrency", default="1,2,4,8,16,32,64")
    parser.add_argument("--requests", type=int, default=400, help="requests per load point")
    parser.add_argument("--rounds", type=int, default=5, help="one-client rounds per order, adaptive vs batch 1")
    args = parser.parse_args(argv)
    text = study(args.run, args.out, args)
    (args.out / "report.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
