"""``mtkd serve`` (a bundle behind Ray Serve) and ``mtkd loadtest`` (in-process, or against a server's URL)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import threading
from pathlib import Path
from typing import Any

from distill.errors import MtkdError

log = logging.getLogger("mtkd")


def add_serve_commands(sub: argparse._SubParsersAction) -> None:
    """The ``serve`` and ``loadtest`` subcommands."""
    srv = sub.add_parser("serve", help="serve a bundle over HTTP: adaptive batching, bounded queue, deadlines")
    srv.add_argument("bundle", type=Path)
    srv.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="local: one process per worker; ray: Ray Serve"
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--workers", type=int, default=1, help="local: processes on the port (a dead one restarts)")
    srv.add_argument("--replicas", type=int, default=1, help="ray: replicas of the deployment")
    srv.add_argument("--threads", type=int, help="runtime threads per worker (default: the cores left, shared out)")
    srv.add_argument("--max-batch", type=int, default=32, help="requests per server-side batch")
    srv.add_argument(
        "--batch-wait-ms", type=float, default=0.0, help="0: adaptive batching; above: also wait for a batch to fill"
    )
    srv.add_argument("--max-ongoing", type=int, help="ray: requests a replica takes at once (default: --max-batch)")
    srv.add_argument("--max-queued", type=int, default=64, help="requests queued beyond the running batch; then 503")
    srv.add_argument("--timeout-s", type=float, default=20.0, help="a request unanswered this long gets 504")
    srv.add_argument("--max-body-bytes", type=int, default=1_000_000)
    srv.add_argument("--max-inputs", type=int, default=256, help="inputs per request")
    srv.add_argument("--device", choices=("cpu", "cuda"), help="default: the device the bundle was exported for")
    srv.add_argument("--address", help="ray: join an existing Ray cluster (e.g. auto, or ray://head:10001)")
    srv.add_argument(
        "--ray-throughput-optimized",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ray: RAY_SERVE_THROUGHPUT_OPTIMIZED=1 for the Ray instance it starts (default on)",
    )
    srv.add_argument("--write-config", type=Path, metavar="FILE", help="ray: write the Ray Serve config and exit")

    load = sub.add_parser("loadtest", help="load a bundle in-process, or a server (--url): p50/p99, req/s, outcomes")
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


def run_serve(args: argparse.Namespace) -> int:
    """Write the config file, or start the server and keep it up until interrupted."""
    from compress.serve.options import ServeOptions

    ray = args.engine == "ray" or args.address or args.write_config
    opts = ServeOptions(
        engine="ray" if ray else "local",
        host=args.host,
        port=args.port,
        workers=args.workers,
        replicas=args.replicas,
        threads=args.threads,
        max_batch=args.max_batch,
        max_ongoing=args.max_ongoing,
        batch_wait_ms=args.batch_wait_ms,
        max_queued=args.max_queued,
        request_timeout_s=args.timeout_s,
        throughput_optimized=args.ray_throughput_optimized,
        max_body_bytes=args.max_body_bytes,
        max_inputs=args.max_inputs,
        device=args.device,
    )
    if not (args.bundle / "bundle.json").is_file():
        raise MtkdError(f"{args.bundle}: not a bundle (no bundle.json); make one with `mtkd export`")
    if not ray:
        from compress.serve.local import serve_local

        opts = opts.resolved()
        where = f"http://{args.host}:{args.port}"
        shape = f"{opts.workers} worker(s) × {opts.threads} thread(s)"
        print(f"serving {args.bundle} at {where}/predict ({shape}); Ctrl-C stops")
        serve_local(args.bundle, opts)
        return 0
    from compress.serve.server import start, stop, write_config

    if args.write_config:
        print(f"{write_config(args.bundle, opts, args.write_config)}: serve deploy {args.write_config}")
        return 0
    url = start(args.bundle, opts, args.address)
    print(f"serving {args.bundle} at {url}/predict (ready: {url}/ready, metrics: {url}/metrics); Ctrl-C stops")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop cleanly
        stopped.wait()
    stop(joined=args.address is not None)
    return 0


def run_loadtest(args: argparse.Namespace) -> int:
    """In-process against a bundle, or a sweep against one or more servers."""
    if not args.url:
        if args.bundle is None:
            raise MtkdError("loadtest needs a BUNDLE, or --url of a running server")
        from .export import run_loadtest as in_process

        print(in_process(args.bundle, args.threads, args.requests or 1000, args.texts))
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
