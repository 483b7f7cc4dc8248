"""Per-task-type metrics and the naive baselines they are judged against.

Built on scikit-learn, SciPy and seqeval rather than hand-written formulas.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import stats
from seqeval.metrics import f1_score as entity_f1
from seqeval.scheme import IOB2, IOBES
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, ndcg_score


def classification_metrics(preds: Sequence[int], golds: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro-F1 over the labels present in gold or predictions."""
    return {
        "accuracy": float(accuracy_score(golds, preds)),
        "macro_f1": float(f1_score(golds, preds, average="macro", zero_division=0)),
    }


def multilabel_metrics(preds: np.ndarray, golds: np.ndarray) -> dict[str, float]:
    """Micro and macro F1 over multi-hot matrices (rows are examples)."""
    return {
        "micro_f1": float(f1_score(golds, preds, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(golds, preds, average="macro", zero_division=0)),
    }


def regression_metrics(preds: Sequence[float], golds: Sequence[float]) -> dict[str, float]:
    """RMSE, Pearson and Spearman; correlations are NaN for constant predictions (e.g. baselines)."""
    p, g = np.asarray(preds, dtype=float), np.asarray(golds, dtype=float)
    out = {"rmse": float(math.sqrt(mean_squared_error(g, p)))}
    if np.ptp(p) == 0 or np.ptp(g) == 0:
        out.update(pearson=float("nan"), spearman=float("nan"))
    else:
        out["pearson"] = float(stats.pearsonr(p, g).statistic)
        out["spearman"] = float(stats.spearmanr(p, g).statistic)
    return out


def ndcg_per_group(preds: Sequence[float], golds: Sequence[float], groups: Sequence[str], k: int = 10) -> np.ndarray:
    """NDCG@k of each group (one query's candidate products) in order of first appearance; groups of one
    document are skipped, since any ranking of one item is perfect and would only inflate the mean."""
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    return np.array(
        [
            ndcg_score([[golds[i] for i in idx]], [[preds[i] for i in idx]], k=k)
            for idx in by_group.values()
            if len(idx) > 1
        ],
        dtype=float,
    )


def grouped_ndcg(preds: Sequence[float], golds: Sequence[float], groups: Sequence[str], k: int = 10) -> float:
    """Mean NDCG@k over groups of more than one document (``ndcg_per_group``)."""
    values = ndcg_per_group(preds, golds, groups, k)
    return float(np.mean(values)) if len(values) else float("nan")


def _scheme(tags: Sequence[Sequence[str]]):
    """BIOES when any S-/E- tag appears, else IOB2; strict mode needs the right one."""
    prefixes = {t[:2] for seq in tags for t in seq}
    return IOBES if prefixes & {"S-", "E-"} else IOB2


def token_metrics(preds: Sequence[Sequence[str]], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-level F1 (seqeval, strict scheme) and plain token accuracy."""
    flat_p = [t for s in preds for t in s]
    flat_g = [t for s in golds for t in s]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on sequences with no entities
        f1 = entity_f1(list(map(list, golds)), list(map(list, preds)), mode="strict", scheme=_scheme(golds))
    return {"entity_f1": float(f1), "token_accuracy": float(accuracy_score(flat_g, flat_p))}


def majority(values: Sequence) -> object:
    """Most frequent value, ties broken by first occurrence (deterministic)."""
    return Counter(values).most_common(1)[0][0]
