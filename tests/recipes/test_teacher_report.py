"""The teacher stage's report: why training stopped, the dev curve, and the teacher against the yardstick."""

from __future__ import annotations

import json
import logging

from distill.config import DataConfig, TaskConfig, TrainConfig
from distill.data.loading import load_tasks
from distill.training.stopping import stop_reason
from recipes.cli import main
from recipes.stages.teacher_report import teacher_markdown, yardstick
from tests.conftest import builtin_task, tiny_recipe, write_recipe


def epoch(n: int, value: float, step: int = 10, trained=("a",)) -> dict:
    dev = {"a": {"metric": "accuracy", "value": value, "higher_is_better": True}}
    return {"epoch": n, "global_step": step * n, "dev": dev, "trained": list(trained)}


def test_the_reason_training_stopped_is_said_in_words():
    rising = [epoch(1, 0.5), epoch(2, 0.6), epoch(3, 0.7)]
    assert "still improving at the last epoch: raise train.epochs" in stop_reason(rising, TrainConfig(epochs=3), 3)
    peaked = [epoch(1, 0.5), epoch(2, 0.8), epoch(3, 0.7)]
    assert "dev peaked at epoch 2" in stop_reason(peaked, TrainConfig(epochs=3), 2)
    early = [epoch(1, 0.5), epoch(2, 0.4), epoch(3, 0.4)]
    assert "early stopping after epoch 3" in stop_reason(early, TrainConfig(epochs=10, early_stopping=2), 1)
    patience = [epoch(1, 0.5), epoch(2, 0.4, trained=())]
    assert "every task stopped improving" in stop_reason(patience, TrainConfig(epochs=10, task_patience=1), 1)
    markdown = teacher_markdown(peaked, stop_reason(peaked, TrainConfig(epochs=3), 2), {})
    assert "| 2 | 0.8000 |" in markdown


def test_a_teacher_below_the_yardstick_is_named(caplog):
    tasks = load_tasks({"category": TaskConfig(**builtin_task("category", 300))}, seed=0, data=DataConfig())
    weak = {"category": {"metric": "accuracy", "value": 0.01, "higher_is_better": True}}
    with caplog.at_level(logging.WARNING, logger="mtkd"):
        yard = yardstick(tasks, weak)
    assert yard["category"]["below"] and yard["category"]["yardstick"] > 0.01
    assert "below the classical yardstick" in caplog.text
    strong = {"category": {"metric": "accuracy", "value": 1.0, "higher_is_better": True}}
    assert not yardstick(tasks, strong)["category"]["below"]
    assert "not worth distilling" in teacher_markdown([], None, yard)


def test_the_teacher_stage_writes_its_report_and_the_yardstick(tmp_path):
    path = write_recipe(tmp_path / "tiny.yaml", tiny_recipe())
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--stages", "teacher"]) == 0
    teacher = tmp_path / "run" / "teacher"
    yard = json.loads((teacher / "yardstick.json").read_text())
    metrics = json.loads((teacher / "metrics.json").read_text())
    assert set(yard) == set(metrics)
    for task, y in yard.items():  # the verdict follows the two figures and the metric's direction
        worse = y["teacher"] < y["yardstick"] if metrics[task]["higher_is_better"] else y["teacher"] > y["yardstick"]
        assert y["below"] == worse and y["teacher"] == metrics[task]["value"]
    summary = json.loads((teacher / "stage.json").read_text())["summary"]
    assert summary["below_yardstick"] == [t for t, y in yard.items() if y["below"]]
    report = (teacher / "report.md").read_text()
    assert report.startswith(f"Training stopped: {summary['stopped']}.") and "| epoch |" in report
