"""Load against a running server (``mtkd serve``): closed loop at a concurrency, open loop at an arrival rate.

Closed loop: ``concurrency`` clients, each sending its next request when the last is answered. Open loop:
requests leave on a fixed schedule at ``rate`` per second whatever the server does, and each latency counts
from the request's scheduled time, so a server that falls behind is charged for the wait it causes
(no coordinated omission). Both stop at ``requests`` requests or ``seconds`` seconds, whichever first. One
input per request, from a pool (a task's test split at its real lengths); every answer is counted by outcome
(200, 4xx, 503, other, failed to connect or timed out) and the batch each was served in is read from the
server's ``x-mtkd-batch-requests`` header.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from tqdm.auto import tqdm


@dataclass
class Tally:
    """What one load run saw: latencies of answered requests, outcomes, batch sizes, wall time."""

    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)
    batches: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str, ms: float, batch: str | None) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            if outcome == "200":
                self.latencies_ms.append(ms)
                if batch:
                    self.batches[int(batch)] += 1


def outcome_of(status: int) -> str:
    if status == 200 or status == 503:
        return str(status)
    return "4xx" if 400 <= status < 500 else "other"


class Client:
    """One keep-alive HTTP connection to the server's ``/predict`` (one per client thread)."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.timeout_s = parts.hostname or "127.0.0.1", parts.port or 80, timeout_s
        self.path = (parts.path.rstrip("/") or "") + "/predict"
        self.conn: http.client.HTTPConnection | None = None

    def post(self, item: Any) -> tuple[str, str | None]:
        """(outcome, the batch size the server reports) for one request holding ``item``."""
        body = json.dumps({"inputs": [item]})
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            self.conn.request("POST", self.path, body, {"content-type": "application/json"})
            response = self.conn.getresponse()
            response.read()
            return outcome_of(response.status), response.getheader("x-mtkd-batch-requests")
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None  # reconnect on the next request
            return "failed", None


def closed_loop(url: str, pool: Sequence[Any], concurrency: int, requests: int, seconds: float) -> dict[str, Any]:
    """``concurrency`` clients back to back until ``requests`` are sent or ``seconds`` pass."""
    tally, sent, lock = Tally(), [0], threading.Lock()
    deadline = time.perf_counter() + seconds
    bar = tqdm(total=requests, desc=f"closed loop ×{concurrency}", unit="req", disable=None)

    def client() -> None:
        conn = Client(url)
        while time.perf_counter() < deadline:
            with lock:
                if sent[0] >= requests:
                    return
                k = sent[0]
                sent[0] += 1
            t0 = time.perf_counter()
            outcome, batch = conn.post(pool[k % len(pool)])
            tally.add(outcome, (time.perf_counter() - t0) * 1e3, batch)
            bar.update(1)

    wall = _run_threads([client] * concurrency)
    bar.close()
    return summary(tally, wall, mode="closed", concurrency=concurrency)


def open_loop(url: str, pool: Sequence[Any], rate: float, requests: int, seconds: float) -> dict[str, Any]:
    """Requests sent on a fixed schedule of ``rate`` per second; latency from each one's scheduled time."""
    tally = Tally()
    total = min(requests, max(1, int(rate * seconds)))
    local = threading.local()
    bar = tqdm(total=total, desc=f"open loop {rate:g}/s", unit="req", disable=None)

    def send(k: int, due: float) -> None:
        if not hasattr(local, "client"):
            local.client = Client(url)
        outcome, batch = local.client.post(pool[k % len(pool)])
        tally.add(outcome, (time.perf_counter() - due) * 1e3, batch)
        bar.update(1)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(256, max(8, int(rate)))) as workers:
        for k in range(total):
            due = start + k / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            workers.submit(send, k, due)
    bar.close()
    return summary(tally, time.perf_counter() - start, mode="open", rate=rate)


def _run_threads(targets: list) -> float:
    threads = [threading.Thread(target=t) for t in targets]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def summary(tally: Tally, wall: float, **point: Any) -> dict[str, Any]:
    """Percentiles of the answered requests, throughput of answered requests per second, every outcome's
    count and the batch sizes the server formed (share of answers served in each size)."""
    ms = np.asarray(tally.latencies_ms) if tally.latencies_ms else np.asarray([np.nan])
    answered = sum(tally.batches.values())
    return {
        **point,
        "requests": sum(tally.outcomes.values()),
        "outcomes": dict(tally.outcomes),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "p99_ms": float(np.percentile(ms, 99)),
        "throughput_rps": tally.outcomes.get("200", 0) / wall if wall > 0 else 0.0,
        "mean_batch": sum(k * v for k, v in tally.batches.items()) / answered if answered else None,
        "batches": {str(k): v for k, v in sorted(tally.batches.items())},
        "wall_s": wall,
    }
