"""``mtkd validate``: check a recipe and its overrides without running anything."""

from __future__ import annotations

import argparse

from .options import add_set_option


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The recipe and ``--set`` overrides."""
    p.add_argument("recipe")
    add_set_option(p)


def run(args: argparse.Namespace) -> int:
    """Load the recipe (every check a run would make before training) and say what it holds."""
    from ..loader import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    print(f"ok: recipe {recipe.name} ({len(recipe.tasks)} tasks: {', '.join(recipe.tasks)})")
    return 0
