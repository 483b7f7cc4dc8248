"""``mtkd serve``: a bundle over HTTP, in one process per worker (default) or behind Ray Serve."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from pathlib import Path

log = logging.getLogger("mtkd")


def add_arguments(srv: argparse.ArgumentParser) -> None:
    """The bundle, the engine and its shape, batching, limits, and Ray's own options."""
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


def run(args: argparse.Namespace) -> int:
    """Write the config file, or start the server and keep it up until interrupted."""
    from compress.bundle.manifest import BundleManifest
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
    BundleManifest.read(args.bundle)  # a folder that is not a bundle is refused before anything starts
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
