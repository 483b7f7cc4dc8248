"""``mtkd serve``: a bundle behind Ray Serve, with server-side dynamic batching and a bounded queue.

One deployment wraps the bundle's ``Predictor``. Requests that arrive together are answered as one batch
(``@serve.batch``: up to ``max_batch`` requests, waiting at most ``batch_wait_ms`` for them); each replica
accepts ``max_batch`` requests at a time, so that a batch can form at all, and beyond those Ray queues
``max_queued`` more and answers the rest 503 with Retry-After: overload costs refusals, never unbounded
latency. Routes: ``POST /predict`` (``compress/serve/api.py``), ``GET /ready``, ``GET /health``,
``GET /metrics`` (Prometheus). It binds 127.0.0.1 unless told otherwise and starts no dashboard.
"""

# no `from __future__ import annotations`: FastAPI reads the route handlers' annotations at run time
import asyncio
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import Response
from ray import serve
from ray.serve.config import BackpressureConfig

from compress.bundle import Predictor

from .api import ApiError, Limits, answer_batch, parse_request
from .api import Request as ParsedRequest
from .http import json_response, read_limited
from .metrics import ReplicaMetrics
from .options import ServeOptions

http_app = FastAPI(title="mtkd serve", docs_url=None, redoc_url=None, openapi_url=None)


@serve.deployment
@serve.ingress(http_app)
class BundleServer:
    """One replica: the bundle's Predictor, its batcher and its metrics."""

    def __init__(self, bundle: str, options: dict[str, Any]) -> None:
        opts = ServeOptions(**options).resolved()
        torch.set_num_threads(opts.threads)  # ONNX Runtime sessions are sized from torch's count
        self.predictor = Predictor.load(bundle, device=opts.device, batch_size=opts.max_batch)
        self.limits = Limits(opts.max_body_bytes, opts.max_inputs)
        self.metrics = ReplicaMetrics()
        self.bundle = bundle
        self._batched.set_max_batch_size(opts.max_batch)
        self._batched.set_batch_wait_timeout_s(opts.batch_wait_ms / 1000)

    @http_app.post("/predict")
    async def predict(self, http: HttpRequest) -> Response:
        arrived = time.monotonic()
        try:
            request = parse_request(
                await read_limited(http, self.limits.max_body_bytes), self.limits, set(self.predictor.tasks)
            )
        except ApiError as e:
            self.metrics.requests.labels(str(e.status)).inc()
            return json_response({"error": e.message}, e.status)
        request.arrived = arrived
        try:
            done, batch = await self._batched(request)
        except Exception as e:  # a failure of the model itself: this batch's requests get 500, the server lives
            self.metrics.requests.labels("500").inc()
            return json_response({"error": f"{type(e).__name__}: {e}"}, 500)
        self.metrics.requests.labels("200").inc()
        headers = {"x-mtkd-batch-requests": str(batch["requests"]), "x-mtkd-batch-inputs": str(batch["inputs"])}
        return json_response({"outputs": done.answers}, headers=headers)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def _batched(self, requests: list[ParsedRequest]) -> list[tuple[ParsedRequest, dict[str, int]]]:
        started = time.monotonic()
        for r in requests:
            self.metrics.queue_wait.observe(started - r.arrived)
        await asyncio.to_thread(answer_batch, self.predictor, requests)  # the loop keeps taking requests
        batch = {"requests": len(requests), "inputs": sum(len(r.inputs) for r in requests)}
        self.metrics.batch_requests.observe(batch["requests"])
        self.metrics.batch_inputs.observe(batch["inputs"])
        self.metrics.model_seconds.observe(time.monotonic() - started)
        return [(r, batch) for r in requests]

    @http_app.get("/ready")
    async def ready(self) -> Response:
        manifest = self.predictor.manifest
        return json_response(
            {"ready": True, "bundle": self.bundle, "runtime": manifest["runtime"], "tasks": list(self.predictor.tasks)}
        )

    @http_app.get("/health")
    async def health(self) -> Response:
        return json_response({"status": "ok"})

    @http_app.get("/metrics")
    async def metrics_text(self) -> Response:
        return Response(self.metrics.text(), media_type="text/plain; version=0.0.4")

    def check_health(self) -> None:
        """Ray's periodic replica check: a replica without its model is restarted."""
        if self.predictor is None:
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
