"""``mtkd recipes``: the packaged recipes, or every recipe key with its type, default and meaning."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--reference`` for the key reference."""
    p.add_argument(
        "--reference", action="store_true", help="print every recipe key with its type, default and meaning (Markdown)"
    )


def run(args: argparse.Namespace) -> int:
    """Print the names, or the reference."""
    if args.reference:
        from ..reference import recipe_reference

        print(recipe_reference(), end="")
        return 0
    from ..loader import packaged_recipes

    print("\n".join(packaged_recipes()))
    return 0
