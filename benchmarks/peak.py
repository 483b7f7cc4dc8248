"""This device's GEMM peaks (fp32, INT8, bf16), so each result can report its share of the limit: torch's GEMMs
here, each runtime's own in ``benchmarks.runtime_peak``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from compress.runtime.cpu import no_native_bf16


def sustained_rate(fn: Callable[[], object], ops: float, warmup: int = 2, iters: int = 15) -> float:
    """Ops per second that ``fn`` sustains: the 90th percentile of its per-call rates. A peak is a limit, so a
    high percentile rather than a median; not the single fastest call, which on a shared VM now and then
    lands far above what the core sustains (a bf16 product once timed 2,033 GFLOP/s between calls at 700)."""
    return float(np.percentile([ops / seconds for seconds in call_seconds(fn, warmup, iters)], 90))


def call_seconds(fn: Callable[[], object], warmup: int, iters: int) -> list[float]:
    """``fn``'s wall time per call over ``iters`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def gemm_peaks(
    sizes: tuple[int, ...] = (1024, 2048), device: str = "cpu", warmup: int = 2, iters: int = 15
) -> dict[str, float]:
    """Best achieved FLOP/s of large square products: fp32 and bf16 ``torch.mm`` and INT8 ``torch._int_mm``.

    A peak is a limit: the best size's sustained rate (``sustained_rate``), not a median. INT8 counts a
    multiply-add as 2 ops, like FLOPs, so shares of the peaks are comparable. bf16 is measured where
    the device has it natively (a CUDA GPU, or a CPU with AVX-512 BF16 / AMX); elsewhere it is None.
    """
    gen = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    fp32 = int8 = bf16 = fp16 = 0.0
    native_bf16 = device == "cuda" or no_native_bf16() is None
    for n in sizes:
        a, b = torch.randn(n, n, generator=gen).to(device), torch.randn(n, n, generator=gen).to(device)
        qa = torch.randint(-128, 127, (n, n), dtype=torch.int8, generator=gen).to(device)
        qb = torch.randint(-128, 127, (n, n), dtype=torch.int8, generator=gen).to(device)
        ops = 2 * n**3
        fp32 = max(fp32, sustained_rate(lambda a=a, b=b: (torch.mm(a, b), sync()), ops, warmup, iters))
        int8 = max(int8, sustained_rate(lambda a=qa, b=qb: (torch._int_mm(a, b), sync()), ops, warmup, iters))
        if native_bf16:
            ha, hb = a.bfloat16(), b.bfloat16()
            bf16 = max(bf16, sustained_rate(lambda a=ha, b=hb: (torch.mm(a, b), sync()), ops, warmup, iters))
        if device == "cuda":  # tensor cores: an FP16 engine's share is of the FP16 limit, not of FP32's
            ha, hb = a.half(), b.half()
            fp16 = max(fp16, sustained_rate(lambda a=ha, b=hb: (torch.mm(a, b), sync()), ops, warmup, iters))
    return {
        "fp32_flops": fp32,
        "int8_ops": int8,
        "bf16_flops": bf16 or None,
        "fp16_flops": fp16 or None,
        "sizes": list(sizes),
        "device": device,
        "threads": torch.get_num_threads(),
    }


PRECISION_KEYS = {"fp32": "fp32_flops", "int8": "int8_ops", "bf16": "bf16_flops", "fp16": "fp16_flops"}


def peak_for(peak: dict[str, Any] | None, runtime: str, precision: str) -> float | None:
    """The limit a result of ``runtime`` (its label, e.g. ``openvino-2t``) at ``precision`` is measured against:
    that runtime's own GEMM peak at that precision and thread count where it was measured, else torch's at that
    precision; None where that precision's peak was not measured (FP8; FP16 off CUDA): a share of another
    precision's limit would read as a share of this one's."""
    if not peak:
        return None
    own = (peak.get("by_runtime") or {}).get(runtime, {}).get(precision)
    key = PRECISION_KEYS.get(precision)
    return own or (peak.get(key) if key else None)


def peak_lines(peak: dict[str, Any]) -> list[str]:
    """One line per runtime: its GEMM peaks (GFLOP/s for fp32 and bf16, GOP/s for INT8)."""
    torch_peaks = {p: peak.get(k) for p, k in PRECISION_KEYS.items()}
    lines = []
    for runtime, peaks in {f"torch-{peak['threads']}t": torch_peaks, **(peak.get("by_runtime") or {})}.items():
        cells = [f"{p} {v / 1e9:,.1f} {'GOP/s' if p == 'int8' else 'GFLOP/s'}" for p, v in peaks.items() if v]
        lines.append(f"{runtime}: {', '.join(cells)}")
    return lines
