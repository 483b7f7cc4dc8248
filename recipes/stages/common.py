"""What every stage shares: the data's fingerprint (for stage hashes) and the tasks, loaded once per run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from distill.data.builtin import CORPUS_VERSION
from distill.data.examples import SPLITS, TaskData
from distill.data.loading import load_tasks
from distill.io import sha256_file
from recipes.pipeline import Context, settings_of
from recipes.schema import Recipe

log = logging.getLogger("mtkd")


def data_fingerprint(recipe: Recipe) -> dict[str, Any]:
    """What the data is, so a changed file or generator re-runs the stages that read it."""
    out: dict[str, Any] = {
        # a head setting (standardize) is not the data: the teacher hashes it, pretraining need not re-run
        "tasks": {name: settings_of(task, exclude={"standardize"}) for name, task in recipe.tasks.items()},
        "seed": recipe.seed,
        "on_error": recipe.data.on_error,
    }
    if recipe.data.same_rows_per_source:  # only when set: earlier runs keep their hashes
        out["same_rows_per_source"] = True
    files = {}
    for task in recipe.tasks.values():
        src = task.source
        if src.format == "builtin":
            files["builtin"] = CORPUS_VERSION
        for path in (src.train, src.dev, src.test):
            if path and Path(path).is_file():
                files[path] = sha256_file(path)
    out["files"] = files
    return out


def tasks_of(ctx: Context) -> dict[str, TaskData]:
    """The recipe's tasks, loaded once per pipeline run and shared by its stages."""
    if "tasks" not in ctx.cache:
        ctx.cache["tasks"] = load_tasks(ctx.recipe.tasks, ctx.recipe.seed, ctx.recipe.data)
        for name, task in ctx.cache["tasks"].items():
            counts = "/".join(str(task.report[s]["examples"]) for s in SPLITS)
            log.info("data %s: %s train/dev/test, %d labels", name, counts, len(task.labels))
    return ctx.cache["tasks"]
