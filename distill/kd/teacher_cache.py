"""Teacher logits computed once per (teacher, data, max_len) and kept on disk.

Repeated student runs (ablations, hyper-parameter sweeps) then skip the teacher's forward pass
when only prediction-layer KD is used. Token-level logits are stored unpadded, per example.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..data.examples import TaskData
from ..encoding import EncodedSplit, collate, model_inputs
from ..io import atomic_path
from ..model import MultiTaskModel


class TeacherLogits:
    """Per-task, per-example teacher logits for the training split."""

    def __init__(self, logits: dict[str, list[torch.Tensor]]) -> None:
        self.logits = logits

    @classmethod
    @torch.no_grad()
    def compute(
        cls,
        teacher: MultiTaskModel,
        tasks: dict[str, TaskData],
        encoded: dict[str, EncodedSplit],
        batch_size: int,
        device: torch.device,
        pad_id: int,
    ) -> TeacherLogits:
        """Run the teacher (eval mode) over every task's training examples."""
        teacher.eval().to(device)
        out: dict[str, list[torch.Tensor]] = {}
        for name, task in tasks.items():
            enc, tags = encoded[name], task.kind.per_token
            rows: list[torch.Tensor] = [torch.empty(0)] * len(enc)
            order = sorted(range(len(enc)), key=lambda i: len(enc.input_ids[i]))
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                batch = {k: v.to(device) for k, v in model_inputs(collate(enc, idx, pad_id, tags)).items()}
                logits = teacher(**batch, tasks=[name]).logits[name].float().cpu()
                for row, i in enumerate(idx):
                    rows[i] = logits[row, : len(enc.input_ids[i])].clone() if tags else logits[row].clone()
            out[name] = rows
        return cls(out)

    def batch(self, task: str, index: torch.Tensor, length: int | None) -> torch.Tensor:
        """Teacher logits for a batch of example indices; token logits zero-padded to ``length``."""
        rows = [self.logits[task][i] for i in index.tolist()]
        if length is None:
            return torch.stack(rows).to(index.device)
        padded = rows[0].new_zeros((len(rows), length, rows[0].shape[-1]))
        for r, x in enumerate(rows):
            padded[r, : x.shape[0]] = x
        return padded.to(index.device)

    def save(self, path: str | Path) -> None:
        tensors = {}
        for task, rows in self.logits.items():
            tensors[f"{task}.values"] = torch.cat([r.reshape(-1, r.shape[-1]) for r in rows])
            tensors[f"{task}.lengths"] = torch.tensor([r.shape[0] if r.dim() == 2 else 0 for r in rows])
        with atomic_path(path) as tmp:
            save_file(tensors, tmp)

    @classmethod
    def load(cls, path: str | Path) -> TeacherLogits:
        tensors = load_file(path)
        out: dict[str, list[torch.Tensor]] = {}
        for key in tensors:
            if key.endswith(".values"):
                task = key.removesuffix(".values")
                values, lengths = tensors[key], tensors[f"{task}.lengths"].tolist()
                rows, pos = [], 0
                for n in lengths:
                    if n == 0:  # a sequence-level row
                        rows.append(values[pos])
                        pos += 1
                    else:
                        rows.append(values[pos : pos + n])
                        pos += n
                out[task] = rows
        return cls(out)
