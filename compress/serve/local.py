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
