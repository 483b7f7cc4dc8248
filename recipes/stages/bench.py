"""The ``bench`` stage and ``mtkd bench``: every artifact's latency and accuracy, measured here."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.api import bench
from benchmarks.config import BenchConfig
from benchmarks.harness import discover_artifacts
from distill.data.loading import load_tasks
from distill.errors import MtkdError
from recipes.loader import load_recipe
from recipes.pipeline import RECIPE_FILE, Context, Stage, register_stage, settings_of
from recipes.schema import Recipe

from .common import data_fingerprint, tasks_of

log = logging.getLogger("mtkd")
HISTORY = "bench-history.sqlite"


def bench_into(
    out: Path, artifacts: dict[str, Path], cfg: BenchConfig, tasks, max_len: int, history_db: Path, target: str
) -> dict[str, Any]:
    """``benchmarks.api.bench`` with the run's history; the summary without its rows (they are in results.jsonl)."""
    summary = bench(artifacts, cfg, out, tasks=tasks, max_len=max_len, history=history_db, label=target)
    summary.pop("results")
    return summary


@register_stage("bench")
class BenchStage(Stage):
    """Latency per shape and accuracy per task of every model the run produced."""

    needs = ("teacher",)

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        ups = [
            "teacher",
            "distill" if recipe.student else None,
            "quantize" if recipe.quantize else None,
            "compile" if recipe.compile else None,
        ]
        return tuple(u for u in ups if u)

    def skip_reason(self, recipe: Recipe) -> str | None:
        return None if recipe.bench else "the recipe has no bench section"

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {
            "bench": settings_of(recipe.bench),
            "max_len": recipe.teacher.train.max_len,
            "data": data_fingerprint(recipe),
        }

    def run(self, ctx: Context) -> dict[str, Any]:
        cfg = ctx.recipe.bench
        tasks = tasks_of(ctx) if cfg.accuracy else None
        artifacts = discover_artifacts(ctx.run_dir)
        return bench_into(
            ctx.out,
            artifacts,
            cfg,
            tasks,
            ctx.recipe.teacher.train.max_len,
            ctx.run_dir.parent / HISTORY,
            str(ctx.run_dir),
        )


def bench_target(target: Path, recipe_ref: str | None, overrides: list[str], out: Path | None) -> Path:
    """``mtkd bench TARGET``: a run directory (its recipe gives the tasks) or a model directory."""
    if not target.exists():
        raise MtkdError(f"{target}: no such run or model directory")
    recipe = None
    if recipe_ref or (target / RECIPE_FILE).is_file():
        recipe = load_recipe(recipe_ref or str(target / RECIPE_FILE), overrides)
    artifacts = {target.name: target} if (target / "mtkd.json").is_file() else discover_artifacts(target)
    cfg = (recipe.bench if recipe and recipe.bench else None) or BenchConfig()
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data) if recipe and cfg.accuracy else None
    max_len = recipe.teacher.train.max_len if recipe else max(cfg.seq_lens)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = out or Path("runs") / "bench" / f"{target.name}-{stamp}"
    bench_into(out, artifacts, cfg, tasks, max_len, Path("runs") / HISTORY, str(target))
    return out
