"""Calibration for static INT8: real model inputs from the recipe's data, and how ranges are read.

Static quantization fixes every activation's scale ahead of time from the ranges seen on these
batches, so they must look like production traffic: the recipe's own split, every task mixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field

from distill.config import StrictModel

Feed = dict[str, np.ndarray]


class CalibrationConfig(StrictModel):
    """Which examples calibrate static presets, and how activation ranges are estimated."""

    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    samples: int = Field(256, ge=1, description="examples, drawn round-robin over the tasks")
    split: Literal["train", "dev"] = "train"
    batch_size: int = Field(16, ge=1)
    percentile: float = Field(99.999, gt=50, le=100, description="for method: percentile")


@dataclass
class Calibration:
    """Batches of model inputs plus the range estimator, handed to static presets."""

    feeds: list[Feed]
    method: str = "minmax"
    percentile: float = 99.999
    settings: dict[str, Any] = field(default_factory=dict)

    def reader(self, input_names: set[str]):
        """An ONNX Runtime ``CalibrationDataReader`` over the feeds (only the graph's own inputs)."""
        from onnxruntime.quantization import CalibrationDataReader

        feeds = [{k: v for k, v in f.items() if k in input_names} for f in self.feeds]

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter(feeds)

            def get_next(self) -> Feed | None:
                return next(self._it, None)

            def rewind(self) -> None:
                self._it = iter(feeds)

        return Reader()

    def ort_method(self):
        from onnxruntime.quantization import CalibrationMethod

        return {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[self.method]

    def ort_options(self) -> dict[str, Any]:
        return {"CalibPercentile": self.percentile} if self.method == "percentile" else {}
