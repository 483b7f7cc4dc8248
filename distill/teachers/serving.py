"""A brought checkpoint as a benchmark artifact: a small pointer folder the bench times beside the student.

The teacher stage writes ``teacher/brought/<task>/`` holding ``brought.json`` (where the checkpoint lives,
its task head and its label order) and the checkpoint's tokenizer; ``BroughtTeacherModel`` loads it
behind the multi-task model's interface (per-task logits in the task's label order), so every runtime
that serves an mtkd model directory in torch, and the accuracy code, serve the teacher the same way.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoints import quiet_transformers
from ..errors import ArtifactError
from ..io import atomic_directory, read_json, write_json
from ..model import HeadSpec, MultiTaskOutput
from .checkpoint import CheckpointTeacher, task_model_class

BROUGHT = "brought.json"


def write_brought(folder: Path, teacher: CheckpointTeacher) -> None:
    """The pointer folder of one checkpoint teacher (its weights stay where they are)."""
    task = teacher.task
    with atomic_directory(folder) as tmp:
        write_json(
            tmp / BROUGHT,
            {
                "checkpoint": str(Path(teacher.provenance["path"]).resolve()),
                "class": teacher.provenance["class"],
                "sha256": teacher.provenance.get("sha256"),
                "head": HeadSpec(task.name, task.config.type, tuple(task.labels)).to_meta(),
                "order": teacher.order,
            },
        )
        teacher.tokenizer.save_pretrained(tmp)


class BroughtTeacherModel(nn.Module):
    """One task model answering like a ``MultiTaskModel`` with a single head."""

    def __init__(self, model: nn.Module, head: HeadSpec, order: list[int] | None) -> None:
        super().__init__()
        self.model, self.order = model.eval(), order
        self.head_specs = {head.name: head}
        takes = inspect.signature(model.forward).parameters  # DistilBERT takes no token_type_ids
        self._takes = {k for k in ("input_ids", "attention_mask", "token_type_ids") if k in takes}
        self.source: Path | None = None  # the checkpoint folder whose weights this runs

    @property
    def config(self):
        return self.model.config

    @classmethod
    def load(cls, folder: str | Path, map_location: str | torch.device = "cpu") -> BroughtTeacherModel:
        meta = read_json(Path(folder) / BROUGHT)
        head = HeadSpec.from_meta(meta["head"])
        auto = task_model_class(meta["class"].endswith("ForTokenClassification"))
        if not Path(meta["checkpoint"]).is_dir():
            raise ArtifactError(f"{Path(folder) / BROUGHT}: the checkpoint {meta['checkpoint']} is gone")
        with quiet_transformers():
            model = auto.from_pretrained(meta["checkpoint"])
        loaded = cls(model, head, meta["order"]).to(map_location)
        loaded.source = Path(meta["checkpoint"])
        return loaded

    def forward(self, **inputs: Any) -> MultiTaskOutput:
        """Its one task's logits in the task's label order; of a multi-task call's keywords it reads the tensors
        its model takes (``tasks`` and the like are not its concern)."""
        taken = {k: v for k, v in inputs.items() if k in self._takes and v is not None}
        logits = self.model(**taken).logits
        name = next(iter(self.head_specs))
        return MultiTaskOutput({name: logits[..., self.order] if self.order is not None else logits})

    def num_parameters(self, encoder_only: bool = False) -> int:
        return sum(p.numel() for p in self.model.parameters())
