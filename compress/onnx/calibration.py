"""Calibration for static INT8: real model inputs from the recipe's data, and how ranges are read.

Static quantization fixes every activation's scale ahead of time from the ranges seen on these
batches, so they must look like production traffic: the recipe's own split, every task mixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field
from transformers import AutoTokenizer

from distill.config import StrictModel
from distill.data.examples import TaskData
from distill.encoding import encode_examples

Feed = dict[str, np.ndarray]


class CalibrationConfig(StrictModel):
    """Which examples calibrate static presets, and how activation ranges are estimated."""

    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    """range estimator: minmax, entropy or percentile"""
    samples: int = Field(256, ge=1, description="examples, drawn round-robin over the tasks")
    split: Literal["train", "dev"] = "train"
    """which split the calibration examples come from"""
    batch_size: int = Field(16, ge=1)
    """examples per calibration batch"""
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


def calibration_batches(fp32: Path, tasks: dict[str, TaskData], cfg: CalibrationConfig, max_len: int) -> Calibration:
    """``cfg.samples`` examples of the chosen split, round-robin over the tasks, as input batches of one
    shape (histogram calibrators stack every batch's activations, so lengths and sizes must agree)."""
    tokenizer = AutoTokenizer.from_pretrained(fp32)
    per_task = {name: task.splits[cfg.split] for name, task in tasks.items()}
    quota = dict.fromkeys(per_task, 0)
    for i in range(cfg.samples):  # round-robin so every task's inputs shape the activation ranges
        names = [n for n in per_task if quota[n] < len(per_task[n])]
        if not names:
            break
        quota[names[i % len(names)]] += 1
    rows: list[tuple[list[int], list[int]]] = []
    for name, task in tasks.items():
        enc = encode_examples(tokenizer, per_task[name][: quota[name]], task.kind, max_len)
        rows += zip(enc.input_ids, enc.token_type_ids, strict=True)
    size = min(cfg.batch_size, len(rows))
    length = max(len(ids) for ids, _ in rows)
    feeds = []
    for start in range(0, len(rows) - size + 1, size):  # a ragged last batch is dropped
        ids = np.full((size, length), tokenizer.pad_token_id, dtype=np.int64)
        types, mask = np.zeros_like(ids), np.zeros_like(ids)
        for r, (row_ids, row_types) in enumerate(rows[start : start + size]):
            ids[r, : len(row_ids)], types[r, : len(row_ids)], mask[r, : len(row_ids)] = row_ids, row_types, 1
        feeds.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
    settings = {"split": cfg.split, "samples": len(feeds) * size, "per_task": quota, "batches": len(feeds)}
    if cfg.method == "percentile":
        settings["percentile"] = cfg.percentile
    return Calibration(feeds, cfg.method, cfg.percentile, settings)
