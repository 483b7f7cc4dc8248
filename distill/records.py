"""Typed JSON records that cross packages (a stage's ``stage.json``, a bundle's ``bundle.json``): one pydantic
model each, with a format version, written and read only through it. A file from before the format had a version
reads as version 1; a newer version, a misspelled key or a missing field is refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .errors import ArtifactError
from .io import read_json, write_json


class VersionedRecord(BaseModel):
    """A record kept as ``FILE`` in a folder; subclasses name the file and a noun for errors, and raise ``VERSION``
    when their format changes (a new record is made at ``VERSION``; ``format_version`` is never set by hand)."""

    model_config = ConfigDict(extra="forbid")

    FILE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    WHAT: ClassVar[str] = "record"
    HINT: ClassVar[str] = ""  # what to do when the folder has none

    format_version: int = 1

    @model_validator(mode="before")
    @classmethod
    def _current_version(cls, data: Any) -> Any:
        if isinstance(data, dict) and "format_version" not in data:
            data = {**data, "format_version": cls.VERSION}
        return data

    @classmethod
    def read(cls, folder: Path) -> Self:
        """The record in ``folder``."""
        path = Path(folder) / cls.FILE
        if not path.is_file():
            raise ArtifactError(f"{folder}: not a {cls.WHAT} (no {cls.FILE}){cls.HINT}")
        data = read_json(path)
        version = data.setdefault("format_version", 1)  # written before the format had a version
        if not isinstance(version, int) or version > cls.VERSION:
            raise ArtifactError(
                f"{path}: {cls.WHAT} format {version} is not supported (this mtkd reads up to {cls.VERSION}); "
                "upgrade mtkd or make it again"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ArtifactError(f"{path}: not a {cls.WHAT} ({where}: {first['msg']})") from None

    def write(self, folder: Path, exclude_none: bool = False) -> None:
        """Write it as ``folder/FILE``."""
        write_json(Path(folder) / self.FILE, self.model_dump(exclude_none=exclude_none))
