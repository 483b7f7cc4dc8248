"""Start and stop ``mtkd serve --engine ray`` on a local Ray instance or an existing cluster; write its config."""

from __future__ import annotations

import logging
import os
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from distill.errors import MtkdError

from .options import ServeOptions

APP_NAME = "mtkd"

log = logging.getLogger("mtkd")


def serve_unavailable() -> str | None:
    """Why ``mtkd serve`` cannot run here (Ray Serve missing), or None."""
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError as e:
        return f"Ray Serve is not installed ({e.name}): pip install 'mtkd[serve]'"
    return None


def start(
    bundle: str | Path,
    opts: ServeOptions,
    address: str | None = None,
    ready_s: float = 120.0,
    name: str = APP_NAME,
    route_prefix: str = "/",
) -> str:
    """Deploy ``bundle`` and return the server's URL once ``/ready`` answers. Without ``address`` a local
    Ray instance is started (no dashboard); with one, the application joins that cluster. Several bundles
    can be served side by side under their own ``name`` and ``route_prefix`` (one HTTP port for all)."""
    reason = serve_unavailable()
    if reason:
        raise MtkdError(reason)
    opts = opts.resolved()
    import ray
    from ray import serve

    from .deployment import build_app

    if not ray.is_initialized():
        if opts.throughput_optimized and not address:  # read by the Serve processes the new instance starts
            os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
        if address:
            ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        else:
            cpus = os.cpu_count() or 1
            if opts.replicas * opts.threads > cpus:
                log.warning("serve: %d replicas × %d threads on %d CPUs", opts.replicas, opts.threads, cpus)
            ray.init(
                num_cpus=max(cpus, opts.replicas * opts.threads), include_dashboard=False, logging_level=logging.WARNING
            )
    serve.start(http_options={"host": opts.host, "port": opts.port, "request_timeout_s": opts.request_timeout_s})
    serve.run(build_app(bundle, opts), name=name, route_prefix=route_prefix)
    host = "127.0.0.1" if opts.host in ("0.0.0.0", "::") else opts.host
    url = f"http://{host}:{opts.port}{route_prefix.rstrip('/')}"
    wait_ready(url, ready_s)
    return url


def wait_ready(url: str, timeout_s: float) -> None:
    """Poll ``/ready`` until it answers 200 (the replicas loaded the bundle)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/ready", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise MtkdError(f"{url}/ready did not answer within {timeout_s:.0f} s")
        time.sleep(0.2)


def stop(joined: bool = False, name: str = APP_NAME) -> None:
    """Stop serving: on a cluster this process joined, remove only its application (other applications and
    the cluster stay); else stop Serve and the local Ray instance this process started."""
    import ray
    from ray import serve

    if joined:
        serve.delete(name)
    else:
        serve.shutdown()
    ray.shutdown()


def config_file(bundle: str | Path, opts: ServeOptions) -> dict[str, Any]:
    """The Ray Serve config (``serve deploy FILE``, or a KubeRay RayService's serveConfigV2) for the bundle."""
    args = {
        "bundle": str(Path(bundle).resolve()),
        **{k: v for k, v in asdict(opts.resolved()).items() if k not in ("engine", "host", "port", "workers")},
    }
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": opts.host, "port": opts.port, "request_timeout_s": opts.request_timeout_s},
        "applications": [
            {
                "name": APP_NAME,
                "route_prefix": "/",
                "import_path": "compress.serve.deployment:app_builder",
                "args": args,
            }
        ],
    }


def write_config(bundle: str | Path, opts: ServeOptions, path: Path) -> Path:
    """Write :func:`config_file` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(config_file(bundle, opts), sort_keys=False), encoding="utf-8")
    return path
