"""A bundle's test metrics computed from its own Predictor output: the path a service runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distill.data.examples import TaskData
from distill.training.evaluate import score_predictions

from .predictor import Predictor


def as_target(result: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A Predictor result back in the task's target encoding, for scoring."""
    labels = spec["labels"]
    if "value" in result:
        return result["value"]
    if "tags" in result:
        return [labels.index(t) for t in result["tags"]]
    if "labels" in result:
        return [int(lab in result["labels"]) for lab in labels]
    return labels.index(result["label"])


def score_bundle(bundle: Path | Predictor, tasks: dict[str, TaskData]) -> dict[str, dict[str, Any]]:
    """Each task's test metrics computed from the bundle's own Predictor output (the served path); ``tasks``
    holds the bundle's tasks' data (``load_tasks`` with the recipe's entries)."""
    predictor = bundle if isinstance(bundle, Predictor) else Predictor.load(bundle)
    scores = {}
    for name, task in tasks.items():
        spec, examples = predictor.tasks[name], task.splits["test"]
        inputs = [(ex.text, ex.text_pair) if spec["input"] == "pair" else ex.text for ex in examples]
        results = predictor.predict(inputs, tasks=[name])
        scores[name] = score_predictions(task, "test", [as_target(r[name], spec) for r in results])
    return scores
