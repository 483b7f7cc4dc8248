"""Transfer sets: inputs beyond the labelled rows, labelled by the teacher for its student.

Unlabelled files, the rows a cap left out, and for pair tasks generated query–title pairs
(``inputs``, ``pairs``); the teacher scores each once into a resumable store (``scores``); the rows
join the student's training split as teacher-only rows (``joining``).
"""

from __future__ import annotations

from .config import GeneratedPairs, TaskTransfer, TransferConfig, TransferFile

__all__ = ["GeneratedPairs", "TaskTransfer", "TransferConfig", "TransferFile"]
