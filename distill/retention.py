"""How much of a reference model a smaller one keeps, and how sure that figure is.

For metrics where higher is better (accuracy, F1, correlations) retention is the ratio of the two
scores. For an error metric (RMSE) a ratio flatters: a teacher at 0.469 and a student at 0.497 read
as "94%" while the mean predictor sits at 0.516 — the student keeps 41% of what the teacher gains
over the mean. So retention of an error metric is that share of the gain:
``(baseline - student) / (baseline - teacher)``. Every retention can carry a 95% interval from a
paired bootstrap on the test split: the same resampled rows score both models.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from .metrics import ndcg_per_group

Metric = Callable[[np.ndarray], float]  # resampled row indices -> a metric on those rows


def retention(value: float, reference: float, higher_is_better: bool, baseline: float | None = None) -> float:
    """``value`` as a share of ``reference``: their ratio where higher is better; for an error metric
    the share of the reference's gain over ``baseline`` (the constant predictor) that ``value`` keeps.

    NaN where it is undefined: a reference of 0, or one no better than the baseline. An error metric
    without a baseline falls back to ``reference / value`` (only for callers that have none)."""
    if higher_is_better:
        return value / reference if reference else float("nan")
    if baseline is None or not math.isfinite(baseline):
        return reference / value if value else float("inf")
    gain = baseline - reference
    return (baseline - value) / gain if gain > 0 else float("nan")


def kept(metrics: dict[str, Any], reference: float) -> float:
    """Retention of one metrics row (``value``, ``higher_is_better``, ``baseline``) against a reference value."""
    return retention(metrics["value"], reference, metrics["higher_is_better"], metrics.get("baseline"))


def drop(metrics: dict[str, Any], reference: float) -> float:
    """What a tolerance is checked against: the share lost against ``reference`` (negative when better).
    Where a reference has no gain over the baseline to keep, an error metric's drop is its relative rise."""
    share = kept(metrics, reference)
    if math.isnan(share) and not metrics["higher_is_better"]:
        share = retention(metrics["value"], reference, False)
    return 1 - share


def _rank(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, axis=-1)


def _pearson(p: np.ndarray, g: np.ndarray) -> float:
    if np.ptp(p) == 0 or np.ptp(g) == 0:
        return float("nan")
    return float(np.corrcoef(p, g)[0, 1])


# vectorised forms of the built-in metrics; any other metric is computed by its task type's ``score``
FAST_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "rmse": lambda p, g: float(np.sqrt(np.mean((p - g) ** 2))),
    "pearson": _pearson,
    "spearman": lambda p, g: _pearson(_rank(p), _rank(g)),
    "accuracy": lambda p, g: float(np.mean(p == g)),
}


def metric_on_rows(task: Any, split: str, preds: Sequence[Any], name: str) -> Metric:
    """``name`` of ``preds`` against ``task``'s gold targets of ``split``, on any subset of rows."""
    golds = [ex.target for ex in task.splits[split]]
    fast = FAST_METRICS.get(name)
    if fast is not None and not task.kind.per_token and np.ndim(golds[0]) == 0:
        p, g = np.asarray(preds, dtype=float), np.asarray(golds, dtype=float)
        return lambda idx: fast(p[idx], g[idx])
    return lambda idx: task.kind.score([preds[i] for i in idx], [golds[i] for i in idx], task.labels)[name]


def baseline_preds(task: Any, split: str) -> list[Any]:
    """The constant predictor's outputs (train mean, majority class) for every row of ``split``."""
    const = task.kind.baseline_prediction([ex.target for ex in task.splits["train"]], task.labels)
    return [[const] * len(ex.target) if task.kind.per_token else const for ex in task.splits[split]]


def _interval(values: np.ndarray, confidence: float) -> list[float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return [float("nan"), float("nan")]
    tail = 100 * (1 - confidence) / 2
    return [float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))]


def paired_bootstrap(
    task: Any,
    split: str,
    student: Sequence[Any],
    reference: Sequence[Any],
    metrics: Sequence[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """Per metric (default: the task's primary one, and Pearson and Spearman for a regression): the
    student's and the reference's value with a ``confidence`` interval, and the retention with its
    interval, each resample scoring both models (and the constant baseline) on the same rows."""
    kind = task.kind
    names = list(metrics or [kind.primary_metric, *(("pearson", "spearman") if kind.numeric else ())])
    n = len(task.splits[split])
    if len(student) != n or len(reference) != n:
        raise ValueError(f"{task.name}/{split}: {n} rows, {len(student)} and {len(reference)} predictions")
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, n, n) for _ in range(resamples)]
    everything = np.arange(n)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        higher = kind.higher_is_better if name == kind.primary_metric else True
        s, r = metric_on_rows(task, split, student, name), metric_on_rows(task, split, reference, name)
        # an error metric's retention is a share of the gain over the constant predictor, resampled too
        b = None if higher else metric_on_rows(task, split, baseline_preds(task, split), name)

        def keep(idx: np.ndarray, s=s, r=r, b=b, higher=higher) -> tuple[float, float, float]:
            sv, rv = s(idx), r(idx)
            return sv, rv, retention(sv, rv, higher, None if b is None else b(idx))

        sampled = np.array([keep(idx) for idx in draws])
        sv, rv, kv = keep(everything)
        out[name] = {
            "higher_is_better": higher,
            "student": sv,
            "student_ci": _interval(sampled[:, 0], confidence),
            "reference": rv,
            "reference_ci": _interval(sampled[:, 1], confidence),
            "retention": kv,
            "retention_ci": _interval(sampled[:, 2], confidence),
            "resamples": resamples,
            "confidence": confidence,
        }
    if kind.numeric and metrics is None and task.splits[split] and task.splits[split][0].text_pair is not None:
        out["ndcg@10"] = query_bootstrap(task, split, student, reference, resamples, seed, confidence)
    return out


def query_bootstrap(
    task: Any,
    split: str,
    student: Sequence[float],
    reference: Sequence[float],
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """NDCG@10 per query of both models and the retention, with intervals from resampling whole queries (rows
    of one query are not independent: a row bootstrap would split the ranking NDCG is computed on)."""
    examples = task.splits[split]
    golds, groups = [ex.target for ex in examples], [ex.text for ex in examples]
    s, r = ndcg_per_group(student, golds, groups), ndcg_per_group(reference, golds, groups)
    rng = np.random.default_rng(seed)
    sampled = []
    for _ in range(resamples):
        idx = rng.integers(0, len(s), len(s)) if len(s) else np.arange(0)
        sv, rv = (float(np.mean(s[idx])), float(np.mean(r[idx]))) if len(idx) else (float("nan"),) * 2
        sampled.append((sv, rv, retention(sv, rv, True)))
    values = np.array(sampled)
    sv, rv = (float(np.mean(s)), float(np.mean(r))) if len(s) else (float("nan"),) * 2
    return {
        "higher_is_better": True,
        "student": sv,
        "student_ci": _interval(values[:, 0], confidence),
        "reference": rv,
        "reference_ci": _interval(values[:, 1], confidence),
        "retention": retention(sv, rv, True),
        "retention_ci": _interval(values[:, 2], confidence),
        "resamples": resamples,
        "confidence": confidence,
        "queries": len(s),
    }
