"""This device's GEMM peak (fp32 and INT8), so each result can report its share of the limit."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from compress.runtime.cpu import no_native_bf16


def _best_seconds(fn: Callable[[], object], warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_peaks(
    sizes: tuple[int, ...] = (1024, 2048), device: str = "cpu", warmup: int = 2, iters: int = 5
) -> dict[str, float]:
    """Best achieved FLOP/s of large square products: fp32 and bf16 ``torch.mm`` and INT8 ``torch._int_mm``.

    A peak is a limit, so it is the fastest call over several sizes, not a median. INT8 counts a
    multiply-add as 2 ops, like FLOPs, so shares of the peaks are comparable. bf16 is measured where
    the device has it natively (a CUDA GPU, or a CPU with AVX-512 BF16 / AMX); elsewhere it is None.
    """
    gen = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    fp32 = int8 = bf16 = 0.0
    native_bf16 = device == "cuda" or no_native_bf16() is None
    for n in sizes:
        a, b = torch.randn(n, n, generator=gen).to(device), torch.randn(n, n, generator=gen).to(device)
        qa = torch.randint(-128, 127, (n, n), dtype=torch.int8, generator=gen).to(device)
        qb = torch.randint(-128, 127, (n, n), dtype=torch.int8, generator=gen).to(device)
        ops = 2 * n**3
        fp32 = max(fp32, ops / _best_seconds(lambda a=a, b=b: (torch.mm(a, b), sync()), warmup, iters))
        int8 = max(int8, ops / _best_seconds(lambda a=qa, b=qb: (torch._int_mm(a, b), sync()), warmup, iters))
        if native_bf16:
            ha, hb = a.bfloat16(), b.bfloat16()
            bf16 = max(bf16, ops / _best_seconds(lambda a=ha, b=hb: (torch.mm(a, b), sync()), warmup, iters))
    return {
        "fp32_flops": fp32,
        "int8_ops": int8,
        "bf16_flops": bf16 or None,
        "sizes": list(sizes),
        "device": device,
        "threads": torch.get_num_threads(),
    }
