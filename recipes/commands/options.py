"""Options that several ``mtkd`` commands share."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_set_option(p: argparse.ArgumentParser, example: str = "e.g. --set teacher.train.epochs=1") -> None:
    """``--set KEY.PATH=VALUE`` (repeatable): recipe overrides, collected in ``args.overrides``."""
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help=f"override a recipe value, {example} (repeatable)",
    )


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by commands that run stages: where, overrides, device, resume."""
    p.add_argument("--out", type=Path, help="run directory (default runs/<recipe name>)")
    add_set_option(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--resume", action="store_true", help="continue interrupted stages from their last checkpoint")


def run_directory(out: Path | None, recipe_name: str) -> Path:
    """``--out``, or ``runs/<recipe name>`` when it is not given."""
    return out or Path("runs") / recipe_name
