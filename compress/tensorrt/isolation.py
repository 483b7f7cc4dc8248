"""One engine's failure is that engine's row, never the end of the compile stage."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("mtkd")


def isolated(engine: str, variant: str, out: Path, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``build()``'s row, or a ``failed`` row when it raises anything (TensorRT's pybind ``RuntimeError``, a
    refused graph, a failed accuracy pass): one precision TensorRT cannot do must not cost the others.
    ``KeyboardInterrupt`` and other ``BaseException``s still stop the stage."""
    try:
        return build()
    except Exception as e:
        log.warning("compile %s failed: %s: %s", engine, type(e).__name__, e)
        shutil.rmtree(out, ignore_errors=True)
        return {"variant": variant, "failed": f"{type(e).__name__}: {e}"}
