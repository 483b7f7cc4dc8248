"""The one-process engine of ``mtkd serve``: an ASGI app (Starlette) around a bundle's ``Predictor`` with an
adaptive batcher, served by uvicorn (uvloop, httptools, no access log).

Routes as the Ray engine's: ``POST /predict`` (``compress/serve/api.py``), ``GET /ready``, ``GET /health``,
``GET /metrics`` (Prometheus). A full queue answers 503 with Retry-After, a request not answered within
``request_timeout_s`` 504, a failure of the model 500 for that batch only. Under ``--workers N`` uvicorn's
supervisor runs N such processes on one port and starts a worker again when one dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response
from starlette.routing import Route

from .api import ApiError, Limits, answer_batch, parse_request
from .batcher import AdaptiveBatcher, DeadlineExceeded, Overloaded
from .http import json_response, read_limited
from .metrics import ReplicaMetrics
from .options import ServeOptions

CONFIG_ENV = "MTKD_SERVE_CONFIG"  # how uvicorn's worker processes learn the bundle and options


class BundleRoutes:
    """The routes' handlers around one predictor, its batcher and its metrics."""

    def __init__(self, predictor: Any, opts: ServeOptions, bundle: str) -> None:
        self.predictor, self.opts, self.bundle = predictor, opts, bundle
        self.limits, self.metrics = Limits(opts.max_body_bytes, opts.max_inputs), ReplicaMetrics()
        self.batcher = AdaptiveBatcher(
            lambda requests: answer_batch(predictor, requests),
            opts.max_batch,
            opts.max_queued,
            opts.batch_wait_ms / 1000,
            self.metrics,
        )
        self.tasks = set(predictor.tasks)
        self.retry = {"Retry-After": f"{max(1, round(opts.retry_after_s))}"}

    def refused(self, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        self.metrics.requests.labels(str(status)).inc()
        return json_response({"error": message}, status, headers)

    async def predict(self, http: HttpRequest) -> Response:
        arrived = time.monotonic()
        try:
            request = parse_request(await read_limited(http, self.limits.max_body_bytes), self.limits, self.tasks)
        except ApiError as e:
            return self.refused(e.status, e.message)
        request.arrived = arrived
        try:
            batch = await self.batcher.submit(request, self.opts.request_timeout_s)
        except Overloaded as e:
            return self.refused(503, str(e), self.retry)
        except DeadlineExceeded as e:
            return self.refused(504, str(e))
        except Exception as e:  # the model failed on this batch; the server lives on
            return self.refused(500, f"{type(e).__name__}: {e}")
        self.metrics.requests.labels("200").inc()
        headers = {"x-mtkd-batch-requests": str(batch["requests"]), "x-mtkd-batch-inputs": str(batch["inputs"])}
        return json_response({"outputs": request.answers}, headers=headers)

    async def ready(self, _: HttpRequest) -> Response:
        runtime = self.predictor.manifest.runtime
        tasks = list(self.predictor.tasks)
        return json_response(
            {"ready": True, "bundle": self.bundle, "runtime": runtime, "tasks": tasks, "pid": os.getpid()}
        )

    async def health(self, _: HttpRequest) -> Response:
        return json_response({"status": "ok"})

    async def metrics_text(self, _: HttpRequest) -> Response:
        return Response(self.metrics.text(), media_type="text/plain; version=0.0.4")


def create_app(predictor: Any, opts: ServeOptions, bundle: str = "") -> Starlette:
    """The ASGI app answering with ``predictor`` (a bundle's ``Predictor``, or anything with its
    ``predict(inputs, tasks)``, ``tasks`` and ``manifest``)."""
    routes = BundleRoutes(predictor, opts, bundle)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        routes.batcher.start()
        yield
        await routes.batcher.stop()

    table = [
        Route("/predict", routes.predict, methods=["POST"]),
        Route("/ready", routes.ready),
        Route("/health", routes.health),
        Route("/metrics", routes.metrics_text),
    ]
    return Starlette(routes=table, lifespan=lifespan)


def bundle_app(bundle: str, opts: ServeOptions) -> Starlette:
    """The app for a bundle on disk: its Predictor loaded with ``opts.threads`` runtime threads."""
    import torch

    from compress.bundle import Predictor

    torch.set_num_threads(opts.threads)  # ONNX Runtime sessions are sized from torch's count
    predictor = Predictor.load(bundle, device=opts.device, batch_size=opts.max_batch)
    return create_app(predictor, opts, bundle)


def app_from_environment() -> Starlette:
    """uvicorn's factory in each worker process: the bundle and options from ``$MTKD_SERVE_CONFIG``."""
    config = json.loads(os.environ[CONFIG_ENV])
    return bundle_app(config["bundle"], ServeOptions(**config["options"]))


def environment_for(bundle: str, opts: ServeOptions) -> str:
    """The ``$MTKD_SERVE_CONFIG`` value that :func:`app_from_environment` reads."""
    return json.dumps({"bundle": bundle, "options": asdict(opts)})
