"""Run the one-process engine: uvicorn with uvloop and httptools, no access log; ``workers`` processes on one
port under uvicorn's supervisor, which starts a worker again when one dies."""

from __future__ import annotations

import os
from pathlib import Path

from distill.errors import MtkdError

from .asgi import CONFIG_ENV, bundle_app, environment_for
from .options import ServeOptions


def local_unavailable() -> str | None:
    """Why the local engine cannot run here (uvicorn or Starlette missing), or None."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        return f"the local engine needs {e.name}: pip install 'mtkd[serve]'"
    return None


def _fastest(module: str, fallback: str) -> str:
    """uvloop / httptools where installed (uvicorn[standard]), else asyncio / h11."""
    try:
        __import__(module)
    except ImportError:
        return fallback
    return module


def serve_local(bundle: str | Path, opts: ServeOptions) -> None:
    """Serve ``bundle`` until interrupted (Ctrl-C or SIGTERM stop it gracefully)."""
    reason = local_unavailable()
    if reason:
        raise MtkdError(reason)
    import uvicorn

    opts = opts.resolved()
    bundle = str(Path(bundle).resolve())
    settings = {
        "host": opts.host,
        "port": opts.port,
        "loop": _fastest("uvloop", "asyncio"),
        "http": _fastest("httptools", "h11"),
        "access_log": False,
        "log_level": "warning",
        "timeout_graceful_shutdown": 5,
    }
    if opts.workers == 1:
        uvicorn.run(bundle_app(bundle, opts), **settings)
        return
    os.environ[CONFIG_ENV] = environment_for(bundle, opts)  # the spawned workers read it
    uvicorn.run("compress.serve.asgi:app_from_environment", factory=True, workers=opts.workers, **settings)


def start_local_process(bundle: str | Path, opts: ServeOptions, ready_s: float = 180.0):
    """``mtkd serve`` with the local engine in a process (and session) of its own, once ``/ready`` answers:
    ``(process, url)``; stop it with :func:`stop_local_process`. For studies and tests that run servers
    beside a load generator."""
    import subprocess
    import sys

    from .server import wait_ready

    opts = opts.resolved()
    args = [sys.executable, "-m", "recipes", "serve", str(bundle), "--host", opts.host, "--port", str(opts.port)]
    args += ["--workers", str(opts.workers), "--threads", str(opts.threads), "--max-batch", str(opts.max_batch)]
    args += ["--batch-wait-ms", str(opts.batch_wait_ms), "--max-queued", str(opts.max_queued)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://{opts.host}:{opts.port}"
    try:
        wait_ready(url, ready_s)
    except MtkdError:
        stop_local_process(proc)
        raise
    return proc, url


def stop_local_process(proc) -> None:
    """Stop a server :func:`start_local_process` started (SIGTERM, then SIGKILL after 30 s)."""
    import signal
    import subprocess

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
