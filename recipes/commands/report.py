"""``mtkd report``: two benchmark runs compared row by row, or the history of recorded runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from distill.errors import MtkdError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--compare A B`` or ``--history``, and the history database."""
    p.add_argument(
        "--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="bench directories, results.jsonl files or history ids"
    )
    p.add_argument("--history", action="store_true", help="list recorded benchmark runs")
    p.add_argument("--db", type=Path, default=Path("runs") / "bench-history.sqlite")


def run(args: argparse.Namespace) -> int:
    """Print the history, or the comparison table and its regression count."""
    from benchmarks.history import compare, history, load_rows

    if args.history:
        for run_id, created, target, n in history(args.db):
            print(f"{run_id}  {created}  {n:4d} rows  {target}")
        return 0
    if not args.compare:
        raise MtkdError("mtkd report: use --compare RUN_A RUN_B or --history")
    a, b = (load_rows(ref, args.db) for ref in args.compare)
    table, regressions = compare(a, b)
    print(table)
    print(f"{regressions} regression(s)" if regressions else "no regressions")
    return 0
