"""``mtkd ablate``: variants side by side — the student's KD signals, MLM pretraining, task weighting."""

from __future__ import annotations

import argparse

from distill.errors import RecipeError

from ..run_lock import run_lock
from .options import add_run_options, run_directory


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The recipe, what to ablate, seeds and the run options."""
    p.add_argument("recipe")
    p.add_argument("--what", choices=("distill", "pretrain", "weighting"), default="distill")
    p.add_argument(
        "--seeds",
        type=lambda text: [int(s) for s in text.split(",")],
        help="distill only: comma-separated student seeds, e.g. 0,1,2: one ablation each (ablation-seed<N>) "
        "and a mean ± sd table",
    )
    add_run_options(p)


def run(args: argparse.Namespace) -> int:
    """Run the chosen ablation under the run's lock and print its table."""
    from ..loader import load_recipe
    from .ablation import run_ablation, run_seed_ablation
    from .teacher_ablation import run_teacher_ablation

    if args.seeds and args.what != "distill":
        raise RecipeError("mtkd ablate: --seeds repeats the distill ablation (--what distill) only")
    recipe = load_recipe(args.recipe, args.overrides)
    out = run_directory(args.out, recipe.name)
    with run_lock(out):
        if args.what == "distill" and args.seeds:
            print(run_seed_ablation(recipe, out, args.seeds, args.device, args.resume))
        elif args.what == "distill":
            print(run_ablation(recipe, out, args.device, args.resume))
        else:
            print(run_teacher_ablation(recipe, out, args.what, args.device, args.resume))
    return 0
