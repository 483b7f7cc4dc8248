"""``mtkd loadtest``: a bundle loaded in-process, or one or more servers swept by concurrency or arrival rate."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from distill.errors import MtkdError

log = logging.getLogger("mtkd")


def add_arguments(load: argparse.ArgumentParser) -> None:
    """In-process (a bundle, threads, requests) or against URLs (load points, inputs, budget, output)."""
    load.add_argument("bundle", type=Path, nargs="?", help="a bundle, called in-process (not with --url)")
    load.add_argument("--threads", type=int, default=8, help="in-process: threads")
    load.add_argument("--requests", type=int, help="in-process: per thread (1000); --url: per load point (500)")
    load.add_argument("--url", action="append", metavar="[LABEL=]URL", help="a server (repeatable: side by side)")
    load.add_argument("--concurrency", help="--url: closed-loop clients, a comma list (default 1,4,16)")
    load.add_argument("--rate", help="--url: open-loop arrival rates in requests/s, a comma list")
    load.add_argument("--seconds", type=float, default=30.0, help="--url: longest time per load point")
    load.add_argument("--inputs", type=Path, metavar="RUN", help="--url: a run whose test split gives the inputs")
    load.add_argument("--task", help="--url: the task of --inputs whose test inputs are sent (default: the first)")
    load.add_argument("--p99-ms", type=float, default=50.0, help="--url: the latency budget reported against")
    load.add_argument("--out", type=Path, help="--url: write results.jsonl, report.md and the plot here")
    load.add_argument("texts", nargs="*", metavar="TEXT", help="request pool (default: built-in product phrases)")


def run(args: argparse.Namespace) -> int:
    """In-process against a bundle, or a sweep against one or more servers."""
    if not args.url:
        if args.bundle is None:
            raise MtkdError("loadtest needs a BUNDLE, or --url of a running server")
        print(in_process_load(args.bundle, args.threads, args.requests or 1000, args.texts))
        return 0
    from benchmarks.http_sweep import best_within, sweep, sweep_plot, sweep_table

    targets = dict(_target(u, i) for i, u in enumerate(args.url))
    concurrencies = _numbers(args.concurrency, int) if args.concurrency or not args.rate else []
    rows = sweep(
        targets,
        _pool(args),
        concurrencies or [1, 4, 16],
        _numbers(args.rate, float),
        args.requests or 500,
        args.seconds,
    )
    report = [sweep_table(rows), ""]
    for server in targets:
        best = best_within(rows, server, args.p99_ms)
        what = f"{best['throughput_rps']:.1f} req/s" if best else "no load point"
        report.append(f"- {server}: best throughput with p99 ≤ {args.p99_ms:g} ms and every request answered: {what}")
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        (args.out / "report.md").write_text(text + "\n", encoding="utf-8")
        print(f"plot: {sweep_plot(rows, args.out / 'throughput-p99.png', args.p99_ms)}")
    return 0


def _target(spec: str, index: int) -> tuple[str, str]:
    label, sep, url = spec.partition("=")
    return (label, url) if sep and not label.startswith("http") else (f"server{index + 1}", spec)


def _numbers(spec: str | None, kind: type) -> list[Any]:
    try:
        return [kind(x) for x in spec.split(",") if x.strip()] if spec else []
    except ValueError as e:
        raise MtkdError(f"expected a comma list of numbers, got {spec!r}") from e


def _pool(args: argparse.Namespace) -> list[Any]:
    """The request inputs: a run's test split (real lengths), else the texts given, else built-in phrases."""
    if args.inputs:
        from benchmarks.http_sweep import request_items
        from distill.data.loading import load_tasks
        from recipes.loader import load_recipe

        recipe = load_recipe(str(args.inputs / "recipe.yaml"))
        task = args.task or next(iter(recipe.tasks))
        if task not in recipe.tasks:
            raise MtkdError(f"--task {task}: {args.inputs} has {', '.join(recipe.tasks)}")
        data = load_tasks({task: recipe.tasks[task]}, recipe.seed, recipe.data)[task]
        return request_items(data.splits["test"])
    if args.texts:
        return list(args.texts)
    words = ["red", "cotton", "shirt", "wireless", "earbuds", "steel", "pan", "dog", "leash", "oak", "desk", "gel"]
    return [" ".join(words[(i + k) % len(words)] for k in range(3 + i % 9)) for i in range(64)]


def in_process_load(bundle: Path, threads: int, requests: int, texts: list[str]) -> str:
    """One thread, then ``threads`` threads, each making ``requests`` single-input calls."""
    from benchmarks.load import load_report, run_load
    from compress.bundle import Predictor

    from .predict import parse_line

    predictor = Predictor.load(bundle)
    pool = [parse_line(t) for t in texts] or sample_inputs(predictor)

    def call(x: Any) -> Any:
        return predictor.predict([x])

    single = run_load(call, pool, 1, requests)
    loaded = run_load(call, pool, threads, requests)
    if loaded["errors"] or single["errors"]:
        log.error("load test errors: %s", (single["error_samples"] + loaded["error_samples"])[:5])
    return load_report(single, loaded)


def sample_inputs(predictor: Any) -> list[str | tuple[str, str]]:
    """Varied inputs for a load test when none are given: texts (or pairs, for a pairs-only bundle)."""
    kinds = {t["input"] for t in predictor.tasks.values()}
    words = ["red", "cotton", "shirt", "wireless", "earbuds", "steel", "pan", "dog", "leash", "oak", "desk", "gel"]
    texts = [" ".join(words[(i + k) % len(words)] for k in range(3 + i % 9)) for i in range(64)]
    if kinds <= {"pair"}:
        return [(t, texts[-i - 1]) for i, t in enumerate(texts)]
    return list(texts)
