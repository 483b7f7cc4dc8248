"""One exception family for everything a user can act on.

The CLI prints these as one line without a traceback and exits with code 2; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class MtkdError(Exception):
    """Base of every error whose message tells the user what to fix."""


class RecipeError(MtkdError):
    """A recipe is malformed: unknown key, wrong type, missing file, impossible setting."""


class DataError(MtkdError):
    """A data source cannot be read or its rows contradict the task definition."""


class ArtifactError(MtkdError):
    """A saved artifact is missing, incomplete or fails its checksum."""


class DataUnavailable(MtkdError):
    """A recipe's data folder is absent (e.g. real data not shipped to this machine): skip, do not fail."""


class TeacherMismatch(MtkdError):
    """A teacher brought from outside (a checkpoint, a file of outputs) does not fit its task: another model
    class, other labels, outputs of another shape."""
