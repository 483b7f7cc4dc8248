"""The project's Python files, for the static checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def findings(trees: tuple[str, ...], check: Callable[[str], list[str]]) -> Iterator[str]:
    """``path:finding`` for every finding ``check`` makes in a file under ``trees``."""
    for tree in trees:
        for path in sorted((ROOT / tree).rglob("*.py")):
            for hit in check(path.read_text(encoding="utf-8")):
                yield f"{path.relative_to(ROOT)}:{hit}"
