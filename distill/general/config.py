"""Settings of task-agnostic (general) distillation: what a student learns from the teacher's encoder
before it sees any task, on unlabelled text."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..strict import OptimizerSettings
from ..transfer.config import TransferFile


class GeneralDistillConfig(OptimizerSettings):
    """MiniLM-v2 general distillation: the student's last layer learns the query-query, key-key and value-value
    self-attention relations of one upper teacher layer on unlabelled text, so it may have any width, depth
    and head count. Its result is a compact pretrained encoder (a Hugging Face model directory) that task
    distillation starts from (``student.model.init: general``); it is cached under the teacher's, the
    shape's, the text's and these settings' identity, so every student of that shape reuses it."""

    teacher: Literal["pretrained", "fine_tuned"] = Field(
        "pretrained",
        description="whose encoder teaches: the checkpoint the teacher was fine-tuned from "
        "(teacher.model.from_pretrained), or the fine-tuned multi-task teacher's",
    )
    teacher_layer: int = Field(
        -1, description="the teacher layer whose relations the student's last layer learns (1-based; -1: the last)"
    )
    relation_heads: int | None = Field(
        None,
        ge=1,
        description="relation heads Q/K/V vectors are split into (must divide both widths); default: the largest "
        "number up to the teacher's attention heads that divides both",
    )
    relations: list[Literal["q", "k", "v"]] = Field(default_factory=lambda: ["q", "k", "v"])
    """which of the query, key and value relations are learned"""
    hidden_weight: float = Field(
        0.0,
        ge=0,
        description="weight of an MSE between the student's and the teacher layer's hidden states "
        "(through a learned projection when widths differ); 0: relations only, as in MiniLM-v2",
    )
    embeddings: Literal["teacher", "random"] = Field(
        "teacher",
        description="teacher: start from the teacher's embedding tables (copied at equal width, projected onto "
        "their top principal directions when narrower); random: from nothing",
    )
    files: list[TransferFile] = Field(default_factory=list)
    """files of unlabelled text beside the recipe's own inputs (one text a line, or csv/jsonl columns)"""
    task_inputs: bool = Field(
        True,
        description="learn on every task's inputs too (all training rows, those a "
        "cap left out included, labels unused; both texts of a pair, alone and together)",
    )
    transfer_inputs: bool = Field(True, description="and on the transfer sets' inputs (student.distill.transfer)")
    max_texts: int | None = Field(None, gt=0, description="cap on distinct inputs (seeded sample)")
    epochs: int = Field(3, ge=1)
    """passes over the text"""
    batch_size: int = Field(64, ge=1)
    """training batch size"""
    max_len: int = Field(64, ge=8)
    """tokens per input"""
    checkpoint_every: int = Field(200, ge=1)
    """optimizer steps between checkpoints (a killed run resumes from the last)"""

    @field_validator("files", mode="before")
    @classmethod
    def _paths(cls, v):
        return [{"path": f} if isinstance(f, str) else f for f in v]

    @field_validator("relations")
    @classmethod
    def _some_relation(cls, v: list[str]) -> list[str]:
        if not v or len(set(v)) != len(v):
            raise ValueError("relations: name q, k and/or v, each once")
        return v
