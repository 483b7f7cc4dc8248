"""The Backend interface every runtime implements (torch, ONNX Runtime, TensorRT).

Inputs and outputs are NumPy arrays so every runtime sees the same thing: ``input_ids``,
``attention_mask`` and ``token_type_ids`` (int64, shape batch × sequence) in, and one float32
array per task head out, keyed by task name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
from transformers import PretrainedConfig

from distill.errors import MtkdError
from distill.io import read_json
from distill.model import META, HeadSpec
from distill.registry import Registry

RUNTIMES: Registry[type[Backend]] = Registry("runtime")
Batch = dict[str, np.ndarray]


class Backend(ABC):
    """A loaded artifact that maps a tokenized batch to per-task outputs."""

    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]]

    def __init__(
        self, artifact: Path, precision: str = "fp32", device: str = "cpu", max_batch: int | None = None
    ) -> None:
        """``max_batch``: the largest batch the caller will feed; runtimes that build for a fixed shape
        range (ONNX Runtime's TensorRT provider) size their profile by it, the others ignore it."""
        reason = self.unavailable(artifact, precision, device)
        if reason:
            raise MtkdError(f"{self.name} cannot run {artifact} at {precision} on {device}: {reason}")
        self.artifact, self.precision, self.device, self.max_batch = Path(artifact), precision, device, max_batch

    @classmethod
    def accepts(cls, artifact: Path) -> bool:
        """Whether this runtime reads this kind of artifact at all (a model directory, an ONNX file, ...)."""
        return True

    @classmethod
    def unavailable(cls, artifact: Path, precision: str, device: str) -> str | None:
        """Why this runtime cannot run here (missing library, device or precision), or None."""
        if precision not in cls.precisions:
            return f"precision {precision} not supported (supported: {', '.join(cls.precisions)})"
        return None

    @property
    @abstractmethod
    def heads(self) -> list[HeadSpec]:
        """The task heads this artifact computes, in output order."""

    @abstractmethod
    def __call__(self, batch: Batch) -> dict[str, np.ndarray]:
        """Per-task outputs (float32) for one batch."""

    @property
    def model_config(self) -> PretrainedConfig | None:
        """The encoder's Hugging Face config when known (for FLOPs and vocabulary size)."""
        return None

    def num_parameters(self) -> int | None:
        return None

    def size_mb(self) -> float:
        """Bytes on disk of the artifact's weights, in MB."""
        files = [self.artifact] if self.artifact.is_file() else [p for p in self.artifact.rglob("*") if p.is_file()]
        return sum(p.stat().st_size for p in files) / 1e6


def heads_of(model_dir: Path) -> list[HeadSpec]:
    """Task heads listed in a model directory's ``mtkd.json``."""
    meta = read_json(Path(model_dir) / META)
    return [HeadSpec.from_meta(t) for t in meta["tasks"]]


def load_backend(
    runtime: str, artifact: Path, precision: str = "fp32", device: str = "cpu", max_batch: int | None = None
) -> Backend:
    """Instantiate the registered runtime ``runtime`` on ``artifact`` (``max_batch``: see :class:`Backend`)."""
    return RUNTIMES.get(runtime)(artifact, precision, device, max_batch=max_batch)
