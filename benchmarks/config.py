"""The benchmark grid a recipe (or ``mtkd bench``) asks for."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from compress.runtime import RUNTIMES
from distill.config import StrictModel


class BenchConfig(StrictModel):
    """Batch sizes × sequence lengths × runtimes × precisions, and how long to measure each point."""

    batch_sizes: list[int] = Field(default_factory=lambda: [1, 8, 32], min_length=1)
    """batch sizes of the grid"""
    seq_lens: list[int] = Field(default_factory=lambda: [32, 128], min_length=1)
    """sequence lengths of the grid"""
    runtimes: list[str] = Field(default_factory=lambda: ["torch"], min_length=1)
    """registered runtimes to measure: torch, torch-cast, torch-compile, torch-cudagraph, onnxruntime, openvino,
    onnxruntime-trt, tensorrt, …"""
    precisions: list[str] = Field(default_factory=lambda: ["fp32"], min_length=1)
    """precisions to measure where a runtime and artifact allow"""
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    """cpu, cuda, or auto (cuda where available)"""
    threads: list[int] | None = Field(
        None,
        description="CPU thread counts to sweep (torch and ONNX Runtime alike); default: torch's current one. "
        "Tiny models at batch 1 often run fastest on one thread",
    )
    warmup: int = Field(3, ge=0, description="unmeasured calls per candidate before timing")
    iters: int = Field(10, ge=1, description="timed calls per candidate per round")
    rounds: int = Field(3, ge=1, description="interleaved rounds; each statistic is the median over rounds")
    accuracy: bool = Field(True, description="evaluate every task on the test split through each runtime")
    report_shape: tuple[int, int] | None = Field(None, description="(batch, seq) of the report's main table")
    real_length_examples: int = Field(
        32,
        ge=0,
        description="test examples per task also timed at their own lengths, each batch padded to its longest "
        "(examples and tokens per second on real text); 0: off",
    )
    tolerance: float = Field(
        0.01, ge=0, lt=1, description="relative drop on any task allowed in the report's 'fastest student' table"
    )

    @model_validator(mode="after")
    def _positive(self) -> BenchConfig:
        if self.threads is not None and (not self.threads or min(self.threads) < 1):
            raise ValueError("threads must list counts ≥ 1")
        if min(self.batch_sizes) < 1 or min(self.seq_lens) < 2:
            raise ValueError("batch sizes must be ≥ 1 and sequence lengths ≥ 2")
        unknown = [r for r in self.runtimes if r not in RUNTIMES]
        if unknown:
            raise ValueError(f"unknown runtime {unknown[0]!r}; choose from: {', '.join(RUNTIMES.names())}")
        return self

    @property
    def shape(self) -> tuple[int, int]:
        """The reference shape: as configured, else batch 1 at the longest sequence."""
        return self.report_shape or (min(self.batch_sizes), max(self.seq_lens))
