"""How ``mtkd serve`` serves a bundle: a plain dataclass, importable without Ray (config files, the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from distill.errors import MtkdError


@dataclass(frozen=True)
class ServeOptions:
    """How the bundle is served: where, how many replicas and threads, how batches form, what is refused."""

    host: str = "127.0.0.1"
    port: int = 8000
    replicas: int = 1
    threads: int = 1  # torch / ONNX Runtime threads per replica
    max_batch: int = 32  # requests per server-side batch
    max_ongoing: int | None = None  # requests a replica takes at once (default max_batch: batches can fill)
    batch_wait_ms: float = 2.0  # longest wait for a batch to fill once its first request is there
    max_queued: int = 64  # requests Ray holds beyond those the replicas have taken; then 503
    retry_after_s: float = 1.0
    request_timeout_s: float = 20.0  # the proxy answers a request still unanswered after this (never a hang)
    health_check_s: float = 2.0  # how often Ray checks each replica (a dead one is replaced)
    max_body_bytes: int = 1_000_000
    max_inputs: int = 256
    device: str | None = None  # default: the device the bundle was exported for

    def __post_init__(self) -> None:
        positive = ("port", "replicas", "threads", "max_batch", "max_queued", "max_body_bytes", "max_inputs")
        bad = [f"{name}={getattr(self, name)}" for name in positive if getattr(self, name) < 1]
        if self.max_ongoing is not None and self.max_ongoing < self.max_batch:
            bad.append(f"max_ongoing={self.max_ongoing} (below max_batch, batches could never fill)")
        if (
            bad
            or self.batch_wait_ms < 0
            or self.retry_after_s < 0
            or min(self.request_timeout_s, self.health_check_s) <= 0
        ):
            raise MtkdError(f"serve options must be positive: {', '.join(bad) or 'waits and timeouts'}")
