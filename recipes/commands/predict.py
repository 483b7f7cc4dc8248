"""``mtkd predict``: a bundle's predictions, one JSON line per input (the arguments, or standard input's lines)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from compress.bundle import Predictor
from distill.errors import MtkdError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The bundle, the texts and the tasks."""
    p.add_argument("bundle", type=Path)
    p.add_argument("texts", nargs="*", metavar="TEXT", help="a text, or QUERY<TAB>TITLE for pair tasks")
    p.add_argument("--task", action="append", dest="tasks", help="only this task (repeatable; default all)")


def parse_line(line: str) -> str | tuple[str, str]:
    """A command-line input: ``query<TAB>title`` is a pair, anything else one text."""
    if "\t" in line:
        first, second = line.split("\t", 1)
        return first, second
    return line


def predict_lines(bundle: Path, lines: Iterable[str], tasks: list[str] | None) -> list[dict[str, Any]]:
    """One JSON-ready answer per line, in order, always: predictions, or ``error`` for that line alone (an
    empty line, a pair where the task takes one text, …) while the other lines are still answered."""
    predictor = Predictor.load(bundle)
    inputs = [parse_line(x.rstrip("\n")) for x in lines]
    results: list[dict[str, Any]] = [{"input": x} for x in inputs]
    for pairs in (False, True):  # one call per input shape: a pair line does not fail the text lines
        idx = [i for i, x in enumerate(inputs) if isinstance(x, tuple) == pairs]
        if not idx:
            continue
        try:
            for i, pred in zip(idx, predictor.predict([inputs[i] for i in idx], tasks), strict=True):
                results[i].update(pred)
        except MtkdError as e:  # e.g. pair lines for a text task: those lines fail, the others do not
            for i in idx:
                results[i]["error"] = str(e)
    return results


def stdin_lines() -> list[str]:
    """Standard input's lines; bytes that are not UTF-8 become U+FFFD instead of stopping the command."""
    raw = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode("utf-8", "replace")
    return raw.decode("utf-8", "replace").splitlines()


def run(args: argparse.Namespace) -> int:
    """Print one JSON line per input line; exit 3 when some inputs got an ``error`` instead of predictions."""
    lines = args.texts or stdin_lines()
    results = predict_lines(args.bundle, lines, args.tasks)
    for result in results:  # a lone surrogate in an echoed input is written escaped, not a crash
        print(json.dumps(result, ensure_ascii=False).encode("utf-8", "backslashreplace").decode("utf-8"))
    failed = sum("error" in r for r in results)
    if failed:
        print(f"mtkd: {failed} of {len(results)} inputs not predicted (see their error fields)", file=sys.stderr)
    return 3 if failed else 0
