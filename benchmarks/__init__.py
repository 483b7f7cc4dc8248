"""Latency and accuracy per task, runtime, precision, batch size and sequence length: the harness that
sweeps the grid, reports and plots, the history of runs, and ``mtkd doctor``. The verb:

    from benchmarks import BenchConfig, bench
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {"bench": "benchmarks.api", "BenchConfig": "benchmarks.config", "diagnose": "benchmarks.doctor"}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
