"""The ``compile`` stage: TensorRT engines from the quantize stage's ONNX graphs, each checked per task.

Skipped, with the reason in one line, where TensorRT or a CUDA GPU is missing; the run goes on.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from benchmarks.config import BenchConfig
from compress.tensorrt import ShapeProfile, profile_for, tensorrt_unavailable
from compress.tensorrt.compile import compile_engines
from distill.io import write_json
from recipes.pipeline import Context, Stage, register_stage, settings_of
from recipes.schema import Recipe
from recipes.stages.quantize import chosen

from .common import data_fingerprint, tasks_of

log = logging.getLogger("mtkd")
TIMING_CACHES = "tensorrt-timing"  # beside the run directories: every run on this GPU shares the timings


def engine_profile(recipe: Recipe) -> ShapeProfile:
    """The one optimization profile: the bench grid, accuracy evaluation, ``compile.max_batch``."""
    bench = recipe.bench or BenchConfig()
    max_batch = recipe.compile.max_batch if recipe.compile else None
    return profile_for(bench.batch_sizes, bench.seq_lens, recipe.teacher.train.max_len, bench.report_shape, max_batch)


def timing_cache_path(run_dir: Path, target: dict[str, Any]) -> Path:
    """One timing cache per GPU model and TensorRT version (timings do not carry across either)."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", target["gpu"]).strip("-").lower()
    return run_dir.parent / TIMING_CACHES / f"{gpu}-sm{target['compute_capability']}-trt{target['tensorrt']}.cache"


@register_stage("compile")
class CompileStage(Stage):
    """TensorRT engines (FP32, FP16, explicit-Q/DQ INT8 and FP8), each with a manifest and test metrics."""

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        return ("quantize",) if recipe.compile else ()

    def skip_reason(self, recipe: Recipe) -> str | None:
        if recipe.compile is None:
            return "the recipe has no compile section"
        if recipe.quantize is None:
            return "compile builds from the quantize stage's ONNX graphs, and the recipe has no quantize section"
        return tensorrt_unavailable()

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        assert recipe.compile is not None
        return {
            "compile": settings_of(recipe.compile),
            "profile": engine_profile(recipe).as_dict(),
            "data": data_fingerprint(recipe),
        }

    def run(self, ctx: Context) -> dict[str, Any]:
        from compress.tensorrt.manifest import current_target

        recipe, cfg = ctx.recipe, ctx.recipe.compile
        assert cfg is not None
        profile, target = engine_profile(recipe), current_target()
        rows = compile_engines(
            ctx.input("quantize"),
            ctx.out,
            cfg.artifacts or chosen(recipe),
            cfg,
            profile,
            tasks_of(ctx),
            max_len=recipe.teacher.train.max_len,
            timing_cache=timing_cache_path(ctx.run_dir, target) if cfg.timing_cache else None,
        )
        write_json(ctx.out / "report.json", rows)
        return {"target": target, "profile": profile.as_dict(), "engines": rows}
