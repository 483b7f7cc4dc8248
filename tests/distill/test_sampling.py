"""Task sampling: deterministic per (seed, epoch), right proportions, every batch well formed."""

from __future__ import annotations

from collections import Counter

import pytest

from distill.training.sampling import epoch_plan, task_probabilities


def test_temperature_flattens_proportional_sampling():
    sizes = {"big": 900, "small": 100}
    assert task_probabilities(sizes, "proportional", 1.0)["big"] == pytest.approx(0.9)
    assert task_probabilities(sizes, "temperature", 2.0)["big"] == pytest.approx(30 / 40)
    assert task_probabilities(sizes, "round_robin", 1.0) == {"big": 0.5, "small": 0.5}


def test_plan_is_deterministic_per_seed_and_epoch():
    sizes = {"a": 50, "b": 30}
    assert epoch_plan(sizes, 8, "temperature", 2.0, 0, 1) == epoch_plan(sizes, 8, "temperature", 2.0, 0, 1)
    assert epoch_plan(sizes, 8, "temperature", 2.0, 0, 1) != epoch_plan(sizes, 8, "temperature", 2.0, 0, 2)


def test_proportional_plan_counts_and_batches_are_valid():
    sizes = {"a": 400, "b": 40}
    plan = epoch_plan(sizes, 10, "proportional", 1.0, seed=0, epoch=0)
    assert len(plan) == 44
    counts = Counter(t for t, _ in plan)
    assert 30 <= counts["a"] <= 44
    for task, idx in plan:
        assert len(idx) == 10 and len(set(idx)) == 10 and max(idx) < sizes[task]


def test_round_robin_alternates():
    plan = epoch_plan({"a": 20, "b": 20}, 10, "round_robin", 1.0, 0, 0)
    assert [t for t, _ in plan] == ["a", "b", "a", "b"]
