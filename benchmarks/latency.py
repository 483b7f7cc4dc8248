"""Latency measured fairly on a shared, noisy machine.

Candidates are timed interleaved in rounds (A B C, A B C, ...) after a warm-up that is not
measured; each statistic is the median over rounds, so a slow moment hurts every candidate
alike and ratios measured in one run can be trusted.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from distill.model import MultiTaskModel


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds per call: percentiles, mean and standard deviation; ``samples`` counted calls."""

    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    std: float
    samples: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def summarize(samples_ms: list[float]) -> LatencyStats:
    """Percentiles (linear interpolation), mean and population std of one set of timings."""
    a = np.asarray(samples_ms, dtype=float)
    p50, p90, p95, p99 = np.percentile(a, [50, 90, 95, 99])
    return LatencyStats(float(p50), float(p90), float(p95), float(p99), float(a.mean()), float(a.std()), len(a))


def median_of_rounds(rounds: list[LatencyStats]) -> LatencyStats:
    """Each statistic's median over rounds; the sample count is the total."""
    fields = ("p50", "p90", "p95", "p99", "mean", "std")
    med = {f: statistics.median(getattr(r, f) for r in rounds) for f in fields}
    return LatencyStats(**med, samples=sum(r.samples for r in rounds))


Timer = Callable[[Callable[[], object]], float]  # runs one call, returns its milliseconds


def wall_timer(clock: Callable[[], float] = time.perf_counter) -> Timer:
    """Host wall-clock time of a call (runtimes here return host arrays, so the call has finished)."""

    def timed(fn: Callable[[], object]) -> float:
        start = clock()
        fn()
        return (clock() - start) * 1000.0

    return timed


def cuda_timer() -> Timer:
    """Time of a call between CUDA events on the current stream, waiting for the end event."""
    import torch

    def timed(fn: Callable[[], object]) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    return timed


def interleaved(
    candidates: dict[str, Callable[[], object]],
    warmup: int = 5,
    iters: int = 20,
    rounds: int = 5,
    clock: Callable[[], float] = time.perf_counter,
    timer: Timer | None = None,
) -> dict[str, LatencyStats]:
    """Time every candidate ``iters`` times per round, rounds interleaved; warm-up calls not counted."""
    timed = timer or wall_timer(clock)
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    per_round: dict[str, list[LatencyStats]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            per_round[name].append(summarize([timed(fn) for _ in range(iters)]))
    return {name: median_of_rounds(stats) for name, stats in per_round.items()}


def on_cpu(model: MultiTaskModel) -> MultiTaskModel:
    """``model`` itself when it is on the CPU, else a CPU copy (never moves the caller's model)."""
    if all(p.device.type == "cpu" for p in model.parameters()):
        return model
    return copy.deepcopy(model).cpu()


def torch_latency_ratio(teacher: MultiTaskModel, student: MultiTaskModel, seq_len: int, vocab: int) -> dict[str, Any]:
    """Teacher and student forward latency in torch on CPU at batch 1, interleaved in one run."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (1, seq_len), generator=gen)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    # CPU copies of models that live elsewhere: the caller's models stay on their device
    models = {"teacher": on_cpu(teacher).eval(), "student": on_cpu(student).eval()}

    def runner(model: MultiTaskModel):
        def call() -> None:
            with torch.inference_mode():
                model(**batch)

        return call

    stats = interleaved({name: runner(m) for name, m in models.items()}, warmup=5, iters=20, rounds=5)
    return {
        "device": "cpu",
        "batch_size": 1,
        "seq_len": seq_len,
        "threads": torch.get_num_threads(),
        "teacher_ms": stats["teacher"].p50,
        "student_ms": stats["student"].p50,
        "speedup": stats["teacher"].p50 / stats["student"].p50,
    }


def teachers_latency(
    teachers: dict[str, torch.nn.Module], student: MultiTaskModel, seq_len: int, batch_sizes: tuple[int, ...] = (1, 32)
) -> dict[str, Any]:
    """The student against every per-task teacher it replaces (torch on CPU, interleaved in one run): each
    teacher's latency, their sum (calling all of them is what one student call replaces) and the speedup."""
    gen = torch.Generator().manual_seed(0)
    models = {name: on_cpu(m).eval() for name, m in teachers.items()}
    models["student"] = on_cpu(student).eval()
    out: dict[str, Any] = {"device": "cpu", "seq_len": seq_len, "threads": torch.get_num_threads(), "by_batch": {}}
    for batch in batch_sizes:
        calls = {}
        for name, model in models.items():
            ids = torch.randint(5, model.config.vocab_size, (batch, seq_len), generator=gen)
            inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            calls[name] = _inference_call(model, inputs)
        stats = interleaved(calls, warmup=3, iters=10 if batch > 1 else 20, rounds=5)
        teachers_ms = {name: stats[name].p50 for name in teachers}
        total = sum(teachers_ms.values())
        out["by_batch"][str(batch)] = {
            "teachers_ms": teachers_ms,
            "teachers_total_ms": total,
            "student_ms": stats["student"].p50,
            "speedup": total / stats["student"].p50,
        }
    first = out["by_batch"][str(batch_sizes[0])]
    out.update(batch_size=batch_sizes[0], teacher_ms=first["teachers_total_ms"], student_ms=first["student_ms"])
    out["speedup"] = first["speedup"]
    return out


def _inference_call(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> Callable[[], None]:
    def call() -> None:
        with torch.inference_mode():
            model(**inputs)

    return call
