"""Settings of a transfer set: the inputs beyond the labelled rows that a teacher labels for its student."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..strict import StrictModel, existing_file

FILE_FORMATS = {".txt": "text", ".tsv": "text", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}


class TransferFile(StrictModel):
    """A file of unlabelled inputs: a query log, catalogue titles. ``text``: one input a line (a pair task:
    the two texts separated by a tab); ``csv`` and ``jsonl``: the columns ``text`` (and ``text_pair``)."""

    path: str
    """the file (relative to data.root when the recipe sets one)"""
    format: Literal["text", "csv", "jsonl"] | None = Field(None, description="default: from the file's suffix")
    text: str = Field("text", description="csv/jsonl: column of the text (the first text of a pair)")
    text_pair: str | None = Field(None, description="csv/jsonl: column of the second text (pair tasks)")
    encoding: str = "utf-8"
    """text encoding of the file"""

    @field_validator("path")
    @classmethod
    def _exists(cls, v: str) -> str:
        return v if "://" in v else existing_file(v) or v

    @property
    def resolved_format(self) -> str:
        fmt = self.format or FILE_FORMATS.get(Path(self.path).suffix.lower())
        if fmt is None:
            known = ", ".join(FILE_FORMATS)
            raise ValueError(f"{self.path}: set 'format' (text, csv or jsonl); the suffix is none of {known}")
        return fmt


class GeneratedPairs(StrictModel):
    """Pair tasks: each query of the training rows paired with titles of other queries' rows (Augmented
    SBERT): drawn at random, and the nearest by TF-IDF cosine over the titles (the hard negatives)."""

    random: int = Field(1, ge=0, description="titles drawn at random per query")
    nearest: int = Field(2, ge=0, description="the most similar other titles per query (TF-IDF, word 1-2 grams)")
    max_queries: int | None = Field(None, ge=1, description="cap on queries paired (seeded sample)")

    @model_validator(mode="after")
    def _some(self) -> GeneratedPairs:
        if self.random + self.nearest == 0:
            raise ValueError("pairs: set random or nearest above 0 (or remove 'pairs')")
        return self


class TaskTransfer(StrictModel):
    """One task's transfer set; its parts are joined, duplicates and training inputs removed."""

    files: list[TransferFile] = Field(default_factory=list)
    """files of unlabelled inputs"""
    unused_rows: bool = Field(False, description="the training rows a cap (max_train) left out, their labels unused")
    pairs: GeneratedPairs | None = None
    """pair tasks: generated query-title pairs"""
    max_rows: int | None = Field(None, ge=1, description="cap on this task's transfer inputs (seeded sample)")

    @field_validator("files", mode="before")
    @classmethod
    def _paths(cls, v):
        return [{"path": f} if isinstance(f, str) else f for f in v]

    @model_validator(mode="after")
    def _some(self) -> TaskTransfer:
        if not self.files and not self.unused_rows and self.pairs is None:
            raise ValueError("a transfer set needs files, unused_rows: true or pairs")
        for f in self.files:
            _ = f.resolved_format
        return self


class TransferConfig(StrictModel):
    """Per task, the inputs the teacher labels beyond the labelled rows (scored once, cached per teacher)."""

    tasks: dict[str, TaskTransfer]
    """task name → its transfer set"""
    chunk_rows: int = Field(2048, ge=1, description="rows per saved chunk of teacher scores (resume granularity)")
