"""The distill report's epoch line: which epoch the student is, each head's best, and self-distilled heads."""

from __future__ import annotations

from recipes.stages.distill_report import dev_epochs


def row(epoch: int, a: float, b: float, anchored: dict | None = None) -> dict:
    dev = {
        "a": {"metric": "accuracy", "value": a, "higher_is_better": True},
        "b": {"metric": "rmse", "value": b, "higher_is_better": False},
    }
    return {"epoch": epoch, "dev": dev, **({"anchored": anchored} if anchored else {})}


def test_each_heads_best_epoch_and_the_model_that_taught_a_peaked_head_are_named():
    history = [row(1, 0.8, 0.50), row(2, 0.7, 0.45), row(3, 0.7, 0.44, {"a": 1}), row(4, 0.75, 0.46, {"a": 1})]
    text = dev_epochs(history, kept=3)
    assert "The student is its epoch 3" in text and "best dev epoch: a 1, b 3" in text
    assert "a by its epoch-1 model from epoch 3" in text
    assert "Self-distilled" not in dev_epochs(history[:2], kept=2)
