"""Task types score predictions correctly and baselines are what their names say."""

from __future__ import annotations

import math

import pytest
import torch

from distill.metrics import token_metrics
from distill.tasks import TASK_TYPES, task_type
from distill.training.evaluate import skill


def test_classification_baseline_is_the_train_majority_on_the_eval_split():
    kind = task_type("classification")
    assert kind.baseline([0, 0, 1], [1, 1, 0, 1], ["a", "b"]) == pytest.approx(0.25)
    assert kind.score([0, 1, 1], [0, 1, 0], ["a", "b"]) == {
        "accuracy": pytest.approx(2 / 3),
        "macro_f1": pytest.approx(2 / 3),
    }


def test_regression_baseline_predicts_the_train_mean():
    kind = task_type("regression")
    assert kind.baseline([1.0, 3.0], [2.0, 4.0], []) == pytest.approx(math.sqrt((0 + 4) / 2))
    scores = kind.score([1.0, 2.0, 3.0], [1.0, 2.0, 3.5], [])
    assert scores["spearman"] == pytest.approx(1.0) and scores["rmse"] == pytest.approx(math.sqrt(0.25 / 3))


def test_entity_f1_is_strict_and_handles_bioes():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    assert token_metrics(gold, gold)["entity_f1"] == 1.0
    half = token_metrics([["B-PER", "O", "O", "B-LOC"]], gold)
    assert half["entity_f1"] == pytest.approx(0.5)  # the PER span is cut short: not a match
    bioes = [["B-HC", "E-HC", "O", "S-HP"]]
    assert token_metrics([["B-HC", "E-HC", "O", "O"]], bioes)["entity_f1"] == pytest.approx(2 / 3)


def test_token_baseline_all_outside_scores_zero_entities():
    kind = task_type("token_classification")
    labels = ["O", "B-X", "I-X"]
    golds = [[1, 2, 0], [0, 1]]
    assert kind.baseline([[0, 0, 1]], golds, labels) == 0.0


def test_losses_ignore_padding_positions_and_decode_shapes():
    kind = task_type("token_classification")
    logits = torch.randn(2, 4, 3)
    target = torch.tensor([[1, -100, 2, -100], [0, 1, -100, -100]])
    manual = torch.nn.functional.cross_entropy(logits[target != -100], target[target != -100])
    assert torch.allclose(kind.loss(logits, target), manual)
    multi = task_type("multilabel_classification")
    assert multi.decode(torch.tensor([[2.0, -1.0, 0.5]])) == [[1, 0, 1]]


def test_skill_puts_metrics_on_one_scale():
    assert skill({"value": 1.0, "baseline": 0.5, "higher_is_better": True}) == 1.0
    assert skill({"value": 0.5, "baseline": 0.5, "higher_is_better": True}) == 0.0
    assert skill({"value": 0.5, "baseline": 1.0, "higher_is_better": False}) == 0.5


def test_registry_lists_valid_types_on_unknown_names():
    assert {
        "classification",
        "pair_classification",
        "regression",
        "token_classification",
        "multilabel_classification",
    } <= set(TASK_TYPES.names())
    with pytest.raises(Exception, match="unknown task type 'ranking'; choose one of"):
        task_type("ranking")
