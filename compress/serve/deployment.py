"""``mtkd serve --engine ray``: the one-process engine's ASGI app (``compress/serve/asgi.py``: the same routes,
limits, adaptive batcher, 503 and 504) as the ingress of a Ray Serve deployment, for clusters.

Each replica builds the app around the bundle's ``Predictor`` (``__serve_build_asgi_app__``, after the
constructor); Ray runs its lifespan, so the batcher starts on the replica's loop. A replica takes
``max_ongoing`` requests at once (default ``max_batch``: fewer and batches could never fill), Ray queues
``max_queued`` more and answers the rest 503 with Retry-After; its proxy answers 408 after
``request_timeout_s``. It binds 127.0.0.1 unless told otherwise and starts no dashboard.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from ray import serve
from ray.serve.config import BackpressureConfig

from .asgi import bundle_app
from .options import ServeOptions


@serve.deployment
@serve.ingress()
class BundleServer:
    """One replica: the bundle's ASGI app (Predictor, batcher, metrics)."""

    def __init__(self, bundle: str, options: dict[str, Any]) -> None:  # not `self.app`: Ray's wrapper has one
        self.asgi = bundle_app(bundle, ServeOptions(**options).resolved())

    def __serve_build_asgi_app__(self):
        return self.asgi

    def check_health(self) -> None:
        """Ray's periodic replica check: a replica without its app is restarted."""
        if self.asgi is None:
            raise RuntimeError("the bundle is not loaded")


def build_app(bundle: str | Path, opts: ServeOptions):
    """The Ray Serve application serving ``bundle`` with ``opts``."""
    opts = opts.resolved()
    deployment = BundleServer.options(
        num_replicas=opts.replicas,
        max_ongoing_requests=opts.max_ongoing or opts.max_batch,  # fewer and batches could never fill
        max_queued_requests=opts.max_queued,
        backpressure_config=BackpressureConfig(status_code=503, retry_after_s=opts.retry_after_s),
        ray_actor_options={"num_cpus": opts.threads},
        health_check_period_s=opts.health_check_s,
        health_check_timeout_s=max(5.0, 3 * opts.health_check_s),
        logging_config={"enable_access_log": False},  # a log line per request costs the replica's loop
    )
    return deployment.bind(str(Path(bundle).resolve()), asdict(opts))


def app_builder(args: dict[str, Any]):
    """For ``serve deploy`` / KubeRay config files: ``args`` holds ``bundle`` and any ServeOptions field."""
    known = {f.name for f in fields(ServeOptions)}
    unknown = set(args) - known - {"bundle"}
    if unknown or "bundle" not in args:
        raise ValueError(f"args need bundle and may hold {sorted(known)}; unknown: {sorted(unknown)}")
    return build_app(args["bundle"], ServeOptions(**{k: v for k, v in args.items() if k != "bundle"}))
