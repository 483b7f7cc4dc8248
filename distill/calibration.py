"""Calibrating regression heads on the dev split: an affine map folded into the head's output layer.

A regression head can rank well and still miss on RMSE by a shift or a scale: on ecommerce-en the 2 × 384
student's relevance scores correlate at 90% of the teacher's, yet its mean prediction sits 0.16 above the
test mean, and its RMSE keeps only 42% of the teacher's gain over the mean predictor. The least-squares
map ``y ≈ a · prediction + b``, fitted on dev (never test), removes that; folded into the head's last
linear layer, every export (ONNX, TensorRT, the bundle) answers calibrated with no extra operation.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .data.examples import TaskData
from .retention import paired_bootstrap
from .target_scaling import StandardizedHead

log = logging.getLogger("mtkd")


def fit_affine(preds: list[float], golds: list[float]) -> tuple[float, float]:
    """(a, b) minimising the squared error of ``a · pred + b``; the identity when predictions are constant."""
    p, g = np.asarray(preds, dtype=float), np.asarray(golds, dtype=float)
    if len(p) < 2 or np.ptp(p) == 0:
        return 1.0, 0.0
    a, b = np.polyfit(p, g, 1)
    return float(a), float(b)


@torch.no_grad()
def fold_affine(head: nn.Module, a: float, b: float) -> None:
    """Make ``head`` answer ``a · y + b`` where it answered ``y``, by rescaling its output layer."""
    inner, mean, std = head, 0.0, 1.0
    if isinstance(head, StandardizedHead):  # y = mean + std · z: fold into z's layer
        inner, mean, std = head.head, float(head.mean), float(head.std)
    out = inner.out
    out.weight.mul_(a)
    out.bias.mul_(a).add_((a * mean + b - mean) / std)


def calibrate_regression(
    model: nn.Module, tasks: dict[str, TaskData], dev_preds: dict[str, list[Any]]
) -> dict[str, dict[str, float]]:
    """Fit and fold the dev map into every regression head of ``model``; returns per task a, b and the dev RMSE
    before and after (a map that would not lower the dev RMSE is not applied)."""
    out = {}
    for name, preds in dev_preds.items():
        task = tasks[name]
        if not task.kind.numeric or task.kind.per_token:
            continue
        golds = [ex.target for ex in task.splits["dev"]]
        a, b = fit_affine(preds, golds)
        before = _rmse(preds, golds)
        after = _rmse([a * p + b for p in preds], golds)
        applied = after < before
        if applied:
            fold_affine(model.heads[name], a, b)
        out[name] = {"a": a, "b": b, "dev_rmse_before": before, "dev_rmse_after": after, "applied": applied}
        log.info("calibration %s: y = %.4f · prediction %+.4f; dev RMSE %.4f -> %.4f%s", name, a, b, before,
                 after, "" if applied else " (not applied)")  # fmt: skip
    return out


def _rmse(preds: list[float], golds: list[float]) -> float:
    return math.sqrt(float(np.mean((np.asarray(preds, float) - np.asarray(golds, float)) ** 2)))


def both_calibrated(
    task: TaskData, student: dict[str, list[float]], teacher: dict[str, list[float]], seed: int = 0
) -> dict[str, Any]:
    """The student's share of the teacher's gain over the mean on test with BOTH mapped onto the dev labels by
    their own dev-fitted affine map (``student``/``teacher``: predictions on ``dev`` and ``test``), beside the
    raw share: how much of the loss is scale, not ranking. Maps are fitted on dev, never test."""
    golds = [ex.target for ex in task.splits["dev"]]
    preds = {"student": student, "teacher": teacher}
    maps = {who: fit_affine(p["dev"], golds) for who, p in preds.items()}
    mapped = {who: [a * x + b for x in preds[who]["test"]] for who, (a, b) in maps.items()}
    interval = paired_bootstrap(task, "test", mapped["student"], mapped["teacher"], metrics=["rmse"], seed=seed)["rmse"]
    return {
        "maps": {who: {"a": a, "b": b} for who, (a, b) in maps.items()},
        "student_rmse": interval["student"],
        "teacher_rmse": interval["reference"],
        "retention": interval["retention"],
        "retention_ci": interval["retention_ci"],
    }
