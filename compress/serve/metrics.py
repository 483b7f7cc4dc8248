"""A replica's Prometheus metrics: requests by outcome, queue wait, batch sizes and model time per batch.

Each replica keeps its own registry and answers ``GET /metrics`` with it (with one replica, the server's
whole picture). Requests Ray's proxy refuses before they reach a replica (503 on a full queue) are counted
by Ray Serve's own metrics, not here.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TIME_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class ReplicaMetrics:
    """The counters and histograms of one replica, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mtkd_requests", "requests answered by this replica, by HTTP status", ["status"], registry=self.registry
        )
        self.queue_wait = Histogram(
            "mtkd_queue_wait_seconds",
            "from a request's arrival at the replica to the start of its batch",
            buckets=TIME_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = Histogram(
            "mtkd_batch_requests", "requests per server-side batch", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self.batch_inputs = Histogram(
            "mtkd_batch_inputs", "inputs per server-side batch", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self.model_seconds = Histogram(
            "mtkd_batch_model_seconds",
            "tokenization, model and decoding time per batch",
            buckets=TIME_BUCKETS,
            registry=self.registry,
        )

    def text(self) -> bytes:
        """The Prometheus text exposition of this replica's metrics."""
        return generate_latest(self.registry)
