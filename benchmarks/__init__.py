"""Latency and accuracy per task, runtime, precision, batch size and sequence length: the harness that
sweeps the grid, reports and plots, the history of runs, and ``mtkd doctor``. The verb:

    from benchmarks import BenchConfig, bench
"""

from __future__ import annotations

from distill.registry import lazy_exports

_PUBLIC = {"bench": "benchmarks.api", "BenchConfig": "benchmarks.config", "diagnose": "benchmarks.doctor"}
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_exports(__name__, _PUBLIC)
