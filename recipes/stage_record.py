"""``stage.json``: what a finished stage records — its settings hash, when and where it ran, its summary and the
checksums of its files. Written and read only through ``StageRecord``; files from before the format had a
version number read as version 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from distill.errors import ArtifactError
from distill.io import read_json, write_json

STAGE_FILE = "stage.json"
FORMAT_VERSION = 1


class StageRecord(BaseModel):
    """One stage's record; a stage the recipe skips has ``skipped`` (the reason) and no hash."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
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

    @classmethod
    def read(cls, folder: Path) -> StageRecord:
        """The record in ``folder``; a newer format than this mtkd knows is refused by name."""
        data = read_json(folder / STAGE_FILE)
        version = data.get("format_version", 1)
        if version > FORMAT_VERSION:
            raise ArtifactError(
                f"{folder / STAGE_FILE}: format version {version} is newer than this mtkd reads ({FORMAT_VERSION}); "
                "upgrade mtkd or run the stage again"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise ArtifactError(f"{folder / STAGE_FILE}: not a stage record ({e.errors()[0]['msg']})") from None

    def write(self, folder: Path) -> None:
        """Write it as ``folder/stage.json``."""
        write_json(folder / STAGE_FILE, self.model_dump(exclude_none=True))


def recorded_hash(folder: Path) -> str | None:
    """The hash of the stage recorded in ``folder``, or None when it has not finished there."""
    return StageRecord.read(folder).hash if (folder / STAGE_FILE).is_file() else None
