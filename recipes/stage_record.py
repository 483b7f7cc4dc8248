"""``stage.json``: what a finished stage records — its settings hash, when and where it ran, its summary and the
checksums of its files. Written and read only through ``StageRecord``; files from before the format had a
version number read as version 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from distill.records import VersionedRecord

STAGE_FILE = "stage.json"


class StageRecord(VersionedRecord):
    """One stage's record; a stage the recipe skips has ``skipped`` (the reason) and no hash."""

    FILE: ClassVar[str] = STAGE_FILE
    WHAT: ClassVar[str] = "stage record"

    stage: str
    hash: str | None = None
    """the stage's settings-and-inputs hash: equal hashes mean the output can be reused"""
    recipe: str | None = None
    finished: str | None = None
    """when it finished (ISO 8601, UTC)"""
    seconds: float | None = None
    device: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    """what the stage returned: its figures, for reports and later stages"""
    files: dict[str, str] = Field(default_factory=dict)
    """relative path → SHA-256 of every file it wrote"""
    skipped: str | None = None

    def write(self, folder: Path, exclude_none: bool = True) -> None:
        """Write it as ``folder/stage.json`` (unset fields left out)."""
        super().write(folder, exclude_none)


def recorded_hash(folder: Path) -> str | None:
    """The hash of the stage recorded in ``folder``, or None when it has not finished there."""
    return StageRecord.read(folder).hash if (folder / STAGE_FILE).is_file() else None
