"""The ``quantize`` stage: ONNX export, graph fusions, quantization presets, accuracy through ORT."""

from __future__ import annotations

import logging
from typing import Any

from compress.onnx.quantize import quantize
from distill.io import write_json
from recipes.pipeline import Context, Stage, register_stage, settings_of
from recipes.schema import Recipe

from .common import data_fingerprint, tasks_of

log = logging.getLogger("mtkd")
MODEL_DIRS = {"teacher": "teacher", "student": "distill", "pruned": "prune"}  # artifact → the stage that made it


def chosen(recipe: Recipe) -> list[str]:
    default = ["pruned"] if recipe.prune else ["student"] if recipe.student else ["teacher"]
    return recipe.quantize.artifacts or default


@register_stage("quantize")
class QuantizeStage(Stage):
    """Exported and quantized artifacts, each evaluated per task through ONNX Runtime."""

    version = 7  # 2: FP32 fallback; 3: static INT8, QAT, peers; 4: FP8 output scales; 5: QAT heads in FP32;
    # 6: residual Add + LayerNorm left unfused (SkipLayerNormalization is slower on CPU);
    # 7: dynamic presets quantize fused Attention (QAttention)

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        if recipe.quantize is None:
            return ()
        teacher = ("teacher",) if recipe.quantize.teacher_presets else ()
        return tuple(dict.fromkeys([*(MODEL_DIRS[a] for a in chosen(recipe)), *teacher]))

    def skip_reason(self, recipe: Recipe) -> str | None:
        if recipe.quantize is None:
            return "the recipe has no quantize section"
        if "student" in chosen(recipe) and recipe.student is None:
            return "quantize.artifacts names the student, but the recipe has no student"
        if "pruned" in chosen(recipe) and recipe.prune is None:
            return "quantize.artifacts names the pruned model, but the recipe has no prune section"
        return None

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {
            "quantize": settings_of(recipe.quantize),
            "max_len": recipe.teacher.train.max_len,
            "data": data_fingerprint(recipe),
        }

    def run(self, ctx: Context) -> dict[str, Any]:
        cfg, tasks = ctx.recipe.quantize, tasks_of(ctx)
        max_len = ctx.recipe.teacher.train.max_len
        rows: dict[str, dict[str, Any]] = {}
        for name in chosen(ctx.recipe):
            model = ctx.input(MODEL_DIRS[name]) / "model"
            rows.update(quantize(model, ctx.out, tasks, cfg, name=name, max_len=max_len))
        if cfg.teacher_presets and "teacher" not in chosen(ctx.recipe):
            # what a user who does not distil would deploy: the teacher itself, exported and quantized
            teacher = ctx.input("teacher") / "model"
            alternatives = quantize(
                teacher, ctx.out, tasks, cfg, name="teacher", max_len=max_len, presets=cfg.teacher_presets, qat=False
            )
            rows.update({n: {**r, "teacher_alternative": True} for n, r in alternatives.items()})
        write_json(ctx.out / "report.json", rows)
        return {"artifacts": rows}
