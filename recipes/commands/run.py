"""``mtkd run``: a recipe's stages, skipping those already up to date; ``--nproc N`` trains data-parallel."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys

from distill.errors import MtkdError

from ..run_lock import run_lock
from .options import add_run_options, run_directory


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The recipe, the stages, ``--nproc`` and the run options."""
    p.add_argument("recipe", help="a recipe file, or the name of a packaged recipe (e.g. quickstart)")
    p.add_argument("--stages", help="comma-separated stages to run (and what they need)")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="data-parallel training in N processes on this machine (torchrun; gloo on CPU, NCCL on CUDA)",
    )
    add_run_options(p)


def without_nproc(argv: list[str]) -> list[str]:
    """The command line minus ``--nproc N`` (what each torchrun worker runs)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(nproc: int, argv: list[str]) -> int:
    """Re-run this command line under torchrun with ``nproc`` workers on this machine."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    return subprocess.call([*cmd, "-m", "recipes", *without_nproc(argv)])


def run(args: argparse.Namespace) -> int:
    """Run the pipeline (each worker of a ``--nproc`` launch runs it too, under the launcher's lock)."""
    from distill.training import distributed

    from ..loader import load_recipe
    from ..pipeline import run_pipeline

    if args.nproc < 1:
        raise MtkdError(f"--nproc must be at least 1 (got {args.nproc})")
    recipe = load_recipe(args.recipe, args.overrides)
    out = run_directory(args.out, recipe.name)
    if args.nproc > 1 and not distributed.launched_by_torchrun():
        with run_lock(out):  # held by the launcher for its workers, which take none themselves
            return launch(args.nproc, args.argv)
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else None
    device = distributed.init_from_env(args.device)
    main = distributed.is_main()
    try:
        with run_lock(out) if not distributed.launched_by_torchrun() else contextlib.nullcontext():
            run_pipeline(recipe, out, wanted, device, args.resume)
    finally:
        distributed.shutdown()
    if main:
        print(f"done: {out}")
    return 0
