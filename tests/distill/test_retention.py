"""Retention as the share of the teacher's gain over the mean, and its paired bootstrap interval."""

import math

import numpy as np
import pytest

from distill.data.examples import Example, TaskData
from distill.retention import drop, kept, paired_bootstrap, retention
from distill.tasks import TASK_TYPES


def regression_task(train: list[float], test: list[float]) -> TaskData:
    splits = {"train": [Example("q", y) for y in train], "dev": [], "test": [Example("q", y) for y in test]}
    return TaskData("relevance", None, TASK_TYPES.get("regression")(), [], splits, {})


def test_an_error_metric_keeps_a_share_of_the_gain_over_the_mean_not_a_ratio_of_errors():
    # the ecommerce-en figures: the RMSE ratio said 94.4%, the student keeps 41% of the teacher's gain
    assert pytest.approx(0.944, abs=1e-3) == 0.4686 / 0.4965
    assert retention(0.4965, 0.4686, False, baseline=0.5159) == pytest.approx(0.4101, abs=1e-3)
    assert retention(0.75, 0.5, False, baseline=1.0) == pytest.approx(0.5)
    assert retention(1.2, 0.5, False, baseline=1.0) == pytest.approx(-0.4)  # worse than the mean: below 0
    assert math.isnan(retention(0.9, 1.1, False, baseline=1.0))  # a teacher worse than the mean keeps nothing
    assert retention(0.9, 0.6, True, baseline=0.3) == pytest.approx(1.5)  # higher is better: the plain ratio
    row = {"value": 0.4965, "higher_is_better": False, "baseline": 0.5159}
    assert kept(row, 0.4686) == pytest.approx(0.4101, abs=1e-3)
    assert drop(row, 0.4686) == pytest.approx(0.5899, abs=1e-3)
    # no gain to keep: a tolerance falls back to the relative rise of the error
    assert drop({"value": 1.2, "higher_is_better": False, "baseline": 1.0}, 1.1) == pytest.approx(1 - 1.1 / 1.2)


def test_the_bootstrap_of_a_student_equal_to_its_teacher_or_to_the_mean_is_exact():
    rng = np.random.default_rng(0)
    gold = list(rng.normal(2.0, 0.5, 400))
    task = regression_task(gold, gold)
    teacher = [g + e for g, e in zip(gold, rng.normal(0, 0.3, 400), strict=True)]
    same = paired_bootstrap(task, "test", teacher, teacher, resamples=200)["rmse"]
    assert same["retention"] == pytest.approx(1.0) and same["retention_ci"] == pytest.approx([1.0, 1.0])
    mean = paired_bootstrap(task, "test", [float(np.mean(gold))] * 400, teacher, resamples=200)["rmse"]
    assert mean["retention"] == pytest.approx(0.0, abs=1e-9)
    assert mean["retention_ci"] == pytest.approx([0.0, 0.0], abs=1e-9)


def test_paired_resamples_make_a_retention_interval_narrower_than_either_model_s():
    rng = np.random.default_rng(1)
    n = 500
    gold = rng.normal(2.0, 0.5, n)
    task = regression_task(list(gold), list(gold))
    noise = rng.normal(0, 0.3, n)
    teacher = gold + noise
    student = gold + 1.05 * noise  # the same errors, 5% larger: the gain share is known to lie near 0.9
    out = paired_bootstrap(task, "test", list(student), list(teacher), resamples=400)
    rmse = out["rmse"]
    lo, hi = rmse["retention_ci"]
    assert lo <= rmse["retention"] <= hi
    # the same rows score both, so the noise they share cancels: resampling them apart is far wider
    draw = np.random.default_rng(2)
    base_of = lambda idx: np.sqrt(np.mean((gold.mean() - gold[idx]) ** 2))  # noqa: E731
    rmse_of = lambda pred, idx: np.sqrt(np.mean((pred[idx] - gold[idx]) ** 2))  # noqa: E731
    apart = []
    for _ in range(400):
        i, j = draw.integers(0, n, n), draw.integers(0, n, n)
        apart.append((base_of(i) - rmse_of(student, i)) / (base_of(j) - rmse_of(teacher, j)))
    wide = np.percentile(apart, 97.5) - np.percentile(apart, 2.5)
    assert hi - lo < wide / 3
    # the point estimate is the formula on the whole split
    base = np.sqrt(np.mean((gold.mean() - gold) ** 2))
    s, t = np.sqrt(np.mean((student - gold) ** 2)), np.sqrt(np.mean((teacher - gold) ** 2))
    assert rmse["retention"] == pytest.approx((base - s) / (base - t))
    # correlations come as ratios beside the gain share, with their own intervals
    assert set(out) == {"rmse", "pearson", "spearman"}
    assert out["spearman"]["retention"] == pytest.approx(out["spearman"]["student"] / out["spearman"]["reference"])
    assert out["spearman"]["retention_ci"][0] <= out["spearman"]["retention"] <= out["spearman"]["retention_ci"][1]


def test_a_classification_bootstrap_uses_the_task_s_own_accuracy():
    kind = TASK_TYPES.get("classification")()
    gold = [i % 3 for i in range(300)]
    splits = {"train": [Example("t", g) for g in gold], "dev": [], "test": [Example("t", g) for g in gold]}
    task = TaskData("intent", None, kind, ["a", "b", "c"], splits, {})
    student = [g if i % 10 else (g + 1) % 3 for i, g in enumerate(gold)]  # 90% right
    out = paired_bootstrap(task, "test", student, gold, resamples=300)["accuracy"]
    assert out["student"] == pytest.approx(0.9) and out["reference"] == 1.0
    assert out["retention"] == pytest.approx(0.9)
    assert out["retention_ci"][0] < 0.9 < out["retention_ci"][1]


def test_predictions_of_the_wrong_length_are_refused():
    task = regression_task([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="3 rows"):
        paired_bootstrap(task, "test", [1.0, 2.0], [1.0, 2.0, 3.0])


def test_a_pair_task_s_ndcg_at_10_is_retained_per_query_with_whole_queries_resampled():
    rng = np.random.default_rng(3)
    queries = [f"q{i}" for i in range(60) for _ in range(5)]  # 60 queries, 5 titles each
    gold = rng.integers(1, 4, len(queries)).astype(float)
    test = [Example(q, float(y), f"title {i}") for i, (q, y) in enumerate(zip(queries, gold, strict=True))]
    splits = {"train": test, "dev": [], "test": test}
    task = TaskData("relevance", None, TASK_TYPES.get("regression")(), [], splits, {})
    teacher = gold + rng.normal(0, 0.3, len(gold))
    reversed_ = -teacher  # ranks every query's titles backwards
    same = paired_bootstrap(task, "test", list(teacher), list(teacher), resamples=100)["ndcg@10"]
    assert same["queries"] == 60 and same["retention"] == pytest.approx(1.0)
    assert same["retention_ci"] == pytest.approx([1.0, 1.0])
    worse = paired_bootstrap(task, "test", list(reversed_), list(teacher), resamples=100)["ndcg@10"]
    assert worse["student"] < worse["reference"] and worse["retention"] < 0.95
    lo, hi = worse["retention_ci"]
    assert lo <= worse["retention"] <= hi < 1.0
    # a one-text regression has no queries to rank within
    assert "ndcg@10" not in paired_bootstrap(regression_task(list(gold), list(gold)), "test", list(gold), list(gold))
