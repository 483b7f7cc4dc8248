"""Predictions and metrics per task, at the granularity users judge (words, not sub-tokens)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..data.examples import TaskData
from ..decoding import decode_words
from ..encoding import EncodedSplit, collate, model_inputs
from ..metrics import grouped_ndcg
from ..model import MultiTaskModel
from . import distributed


def words_from_subtokens(pred_ids: list[int], word_ids: list[int | None], n_words: int, outside: int) -> list[int]:
    """Word-level tags from the first sub-token of each word; words cut by truncation get ``outside``."""
    out = [outside] * n_words
    prev = None
    for pos, w in enumerate(word_ids):
        if w is not None and w != prev:
            out[w] = pred_ids[pos]
        prev = w
    return out


Forward = Callable[[dict[str, torch.Tensor], str], torch.Tensor]  # (model inputs, task) -> that task's logits


def model_forward(model: MultiTaskModel, device: torch.device) -> Forward:
    """A ``Forward`` running one head of a PyTorch model in eval mode."""
    model.eval()

    def forward(inputs: dict[str, torch.Tensor], task: str) -> torch.Tensor:
        return model(**{k: v.to(device) for k, v in inputs.items()}, tasks=[task]).logits[task]

    return forward


@torch.no_grad()
def predict(forward: Forward, task: TaskData, split: str, enc: EncodedSplit, batch_size: int, pad_id: int) -> list[Any]:
    """Decoded predictions for every example of ``split``, in the task's target encoding.

    ``forward`` may be a PyTorch model or any runtime (ONNX Runtime, TensorRT): metrics are
    always computed by this same code, through the runtime that serves the model.
    """
    tags = task.kind.per_token
    mine = range(distributed.rank(), len(enc), distributed.world_size())  # every example under one process
    order = sorted(mine, key=lambda i: len(enc.input_ids[i]))  # less padding
    preds: dict[int, Any] = {}
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        logits = forward(model_inputs(collate(enc, idx, pad_id, tags)), task.name).float().cpu()
        if tags:  # the best valid BIO/BIOES path per example (distill.decoding), not per-word argmax
            log_probs = torch.log_softmax(logits, -1).numpy()
            for row, i in enumerate(idx):
                n_words = len(task.splits[split][i].text)
                preds[i] = decode_words(log_probs[row], enc.word_ids[i], n_words, task.labels)
            continue
        decoded = task.kind.decode(logits)
        for row, i in enumerate(idx):
            preds[i] = decoded[row]
    return distributed.gather_by_index(preds, len(enc))


def evaluate(
    forward: Forward, task: TaskData, split: str, enc: EncodedSplit, batch_size: int, pad_id: int
) -> dict[str, Any]:
    """All metrics of one task on one split, plus the primary metric, its baseline and direction."""
    return score_predictions(task, split, predict(forward, task, split, enc, batch_size, pad_id))


def score_predictions(task: TaskData, split: str, preds: list[Any]) -> dict[str, Any]:
    """Metrics of any predictor's outputs (a model, a runtime, a TF-IDF baseline), in one format."""
    examples = task.splits[split]
    golds = [ex.target for ex in examples]
    scores = task.kind.score(preds, golds, task.labels)
    if task.kind.numeric and examples and examples[0].text_pair is not None:
        scores["ndcg@10"] = grouped_ndcg(preds, golds, [ex.text for ex in examples])  # ranking per query
    train_golds = [ex.target for ex in task.splits["train"]]
    return {
        "metric": task.kind.primary_metric,
        "value": scores[task.kind.primary_metric],
        "baseline": task.kind.baseline(train_golds, golds, task.labels),
        "higher_is_better": task.kind.higher_is_better,
        "split": split,
        "n": len(golds),
        **{k: v for k, v in scores.items() if k != task.kind.primary_metric},
    }


def skill(row: dict[str, Any]) -> float:
    """How far a metric moved from its baseline toward perfect: 0 = baseline, 1 = perfect.

    Puts accuracy, F1 and RMSE on one scale so one number can pick the best epoch.
    """
    v, b = row["value"], row["baseline"]
    if row["higher_is_better"]:
        return (v - b) / (1 - b) if b < 1 else 0.0
    return (b - v) / b if b > 0 else 0.0
