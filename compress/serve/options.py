"""How ``mtkd serve`` serves a bundle: a plain dataclass, importable without uvicorn or Ray (config files, the CLI)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from distill.errors import MtkdError

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class ServeOptions:
    """How the bundle is served: which engine, where, how many workers (or replicas) and threads, how batches
    form, what is refused."""

    engine: str = "local"  # local: one process per worker (uvicorn); ray: Ray Serve (clusters)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # local engine: processes on one port (a dead one is started again)
    replicas: int = 1  # ray engine: replicas of the deployment
    threads: int | None = None  # runtime threads per worker or replica (default: the cores left, shared out)
    max_batch: int = 32  # requests per server-side batch
    max_ongoing: int | None = None  # ray: requests a replica takes at once (default max_batch: batches can fill)
    # 0: adaptive (a request that finds the model idle runs at once; those that come meanwhile form the next
    # batch); above 0: a batch also waits this long after its first request to fill
    batch_wait_ms: float = 0.0
    max_queued: int = 64  # requests waiting beyond the batch being answered; then 503
    retry_after_s: float = 1.0
    request_timeout_s: float = 20.0  # a request still unanswered after this gets 504 (never a hang)
    health_check_s: float = 2.0  # ray: how often Ray checks each replica (a dead one is replaced)
    # ray: RAY_SERVE_THROUGHPUT_OPTIMIZED=1 for the Ray instance mtkd starts (user code and router on one loop,
    # buffered request logs): with the ASGI app as ingress it took 5 ms off a request (2026-12-06 serving study);
    # a cluster joined with --address keeps its own environment
    throughput_optimized: bool = True
    max_body_bytes: int = 1_000_000
    max_inputs: int = 256
    device: str | None = None  # default: the device the bundle was exported for

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise MtkdError(f"serve engine {self.engine!r}: choose {' or '.join(ENGINES)}")
        positive = ("port", "workers", "replicas", "max_batch", "max_queued", "max_body_bytes", "max_inputs")
        bad = [f"{name}={getattr(self, name)}" for name in positive if getattr(self, name) < 1]
        if self.threads is not None and self.threads < 1:
            bad.append(f"threads={self.threads}")
        if self.max_ongoing is not None and self.max_ongoing < self.max_batch:
            bad.append(f"max_ongoing={self.max_ongoing} (below max_batch, batches could never fill)")
        if (
            bad
            or self.batch_wait_ms < 0
            or self.retry_after_s < 0
            or min(self.request_timeout_s, self.health_check_s) <= 0
        ):
            raise MtkdError(f"serve options must be positive: {', '.join(bad) or 'waits and timeouts'}")

    def resolved(self, cpus: int | None = None) -> ServeOptions:
        """These options with ``threads`` set: given, or for the local engine the cores left after one per worker
        for its HTTP loop, shared out (at least 1); for Ray 1 per replica, as Ray reserves a CPU each."""
        if self.threads is not None:
            return self
        cpus = cpus or os.cpu_count() or 1
        threads = max(1, (cpus - self.workers) // self.workers) if self.engine == "local" else 1
        return replace(self, threads=threads)
