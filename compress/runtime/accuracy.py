"""Accuracy through a runtime: every task's test metrics computed by the artifact as it will be served."""

from __future__ import annotations

from typing import Any

import torch

from compress.tensorrt.profiles import EVAL_BATCH  # the batch accuracy passes use: engine profiles cover it
from distill.data.examples import TaskData
from distill.encoding import encode_examples
from distill.tokenization import load_tokenizer
from distill.training.evaluate import evaluate

from .base import Backend


def backend_forward(backend: Backend):
    """A ``Forward`` for ``distill.training.evaluate`` that runs through the runtime being measured."""

    def forward(inputs: dict[str, torch.Tensor], task: str) -> torch.Tensor:
        out = backend({k: v.numpy() for k, v in inputs.items()})
        return torch.from_numpy(out[task])

    return forward


def backend_accuracy(backend: Backend, tasks: dict[str, TaskData], max_len: int) -> dict[str, dict[str, Any]]:
    """Test metrics of every task computed through ``backend`` (never assumed from another runtime)."""
    tok = load_tokenizer(str(backend.artifact if backend.artifact.is_dir() else backend.artifact.parent))
    forward = backend_forward(backend)
    out = {}
    served = {h.name for h in backend.heads}  # a brought teacher serves its own task only
    for name, task in tasks.items():
        if name not in served:
            continue
        enc = encode_examples(tok, task.splits["test"], task.kind, max_len)
        out[name] = evaluate(forward, task, "test", enc, EVAL_BATCH, tok.pad_token_id)
    return out
