"""Classical baselines (TF-IDF + linear models, CRF for tags) and the per-query ranking metric."""

from __future__ import annotations

import math

import pytest

from distill.baselines import run_baselines, token_features
from distill.config import TaskConfig
from distill.metrics import grouped_ndcg
from tests.conftest import builtin_task, prepare_tasks


@pytest.fixture(scope="module")
def baselines():
    cfgs = {n: TaskConfig(**builtin_task(n, s)) for n, s in (("category", 400), ("score", 300), ("attributes", 300))}
    tasks, _, _ = prepare_tasks(cfgs)
    return tasks, run_baselines(tasks)


def test_baselines_beat_the_majority_and_report_like_the_teacher(baselines):
    tasks, results = baselines
    assert set(results) == set(tasks)
    for name, m in results.items():
        assert {"metric", "value", "baseline", "higher_is_better", "split", "n"} <= set(m)
        assert m["split"] == "test" and m["n"] == len(tasks[name].splits["test"])
        better = m["value"] > m["baseline"] if m["higher_is_better"] else m["value"] < m["baseline"]
        assert better, (name, m)
    assert results["attributes"]["value"] > 0.5  # the CRF finds entities, not just 'O'
    assert 0 < results["score"]["ndcg@10"] <= 1  # pair regression is also ranked per query


def test_token_features_see_neighbours_and_pad_at_the_edges():
    feats = token_features(["Acme", "红", "T恤"], 0)
    assert "w=acme" in feats and "w[1]=红" in feats and "w[-1]=<pad>" in feats and "bi[+1]=acme|红" in feats


def test_grouped_ndcg_ranks_within_each_query_and_skips_single_item_groups():
    golds = [3.0, 2.0, 1.0, 3.0, 1.0, 2.5]
    groups = ["q1", "q1", "q1", "q2", "q2", "q3"]
    assert grouped_ndcg(golds, golds, groups) == pytest.approx(1.0)
    reversed_q1 = [1.0, 2.0, 3.0, 3.0, 1.0, 0.0]
    assert grouped_ndcg(reversed_q1, golds, groups) < 1.0
    assert math.isnan(grouped_ndcg([1.0], [1.0], ["only"]))
