"""Load benchmark: many threads sending single requests through one shared Predictor.

What a server does with a bundle: one loaded model, concurrent callers. It reports errors (any
exception counts, with the first few messages), per-request latency percentiles and throughput,
beside one thread measured in the same run so the concurrency gain is a ratio, not a guess.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm


def run_load(
    call: Callable[[Any], Any], requests: Sequence[Any], threads: int, per_thread: int, progress: bool = True
) -> dict[str, Any]:
    """``threads`` threads each make ``per_thread`` calls of ``call(request)`` (cycling ``requests``)."""
    if threads < 1 or per_thread < 1 or not requests:
        raise ValueError("threads, requests per thread and the request pool must all be non-empty")
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[str] = []
    lock = threading.Lock()
    bar = tqdm(total=threads * per_thread, desc=f"load {threads} threads", unit="req", disable=not progress)
    start_gate = threading.Barrier(threads)

    def worker(k: int) -> None:
        start_gate.wait()  # all threads start together: the load is concurrent from the first request
        for i in range(per_thread):
            request = requests[(k * per_thread + i) % len(requests)]
            t0 = time.perf_counter()
            try:
                call(request)
            except Exception as e:  # a load test counts failures instead of stopping at the first
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
            latencies[k].append(time.perf_counter() - t0)
            with lock:
                bar.update(1)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    bar.close()
    ms = np.array([x for per in latencies for x in per]) * 1e3
    return {
        "threads": threads,
        "requests": int(ms.size),
        "errors": len(errors),
        "error_samples": errors[:5],
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "throughput_rps": ms.size / wall,
        "wall_s": wall,
    }


def load_report(single: dict[str, Any], loaded: dict[str, Any]) -> str:
    """Markdown table of a one-thread and an N-thread run of the same bundle, with the throughput ratio."""
    lines = ["| threads | requests | errors | p50 ms | p99 ms | requests/s |", "|---:|---:|---:|---:|---:|---:|"]
    for r in (single, loaded):
        lines.append(
            f"| {r['threads']} | {r['requests']} | {r['errors']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['throughput_rps']:.1f} |"
        )
    ratio = loaded["throughput_rps"] / single["throughput_rps"]
    lines.append(f"\nThroughput with {loaded['threads']} threads: {ratio:.2f}× one thread's, same run.")
    return "\n".join(lines)
