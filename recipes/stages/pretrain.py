"""The ``pretrain`` stage: MLM on the tasks' training text, so the teacher starts from a domain encoder."""

from __future__ import annotations

import shutil
from typing import Any

from distill.io import write_json
from distill.pretraining import DEV_TEXTS, distinct_texts, pretrain_mlm
from distill.tokenization import load_tokenizer
from distill.training import distributed
from distill.workspace import Placement
from recipes.pipeline import Context, Stage, register_stage, settings_of
from recipes.schema import Recipe

from .common import data_fingerprint, tasks_of


@register_stage("pretrain")
class PretrainStage(Stage):
    """Masked-language-model training of the teacher-shaped encoder; the teacher fine-tunes it."""

    needs = ("tokenizer",)
    distributed = True

    def skip_reason(self, recipe: Recipe) -> str | None:
        return None if recipe.pretrain is not None else "the recipe has no 'pretrain' section"

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {
            "pretrain": settings_of(recipe.pretrain),
            "model": settings_of(recipe.teacher.model),
            "data": data_fingerprint(recipe),
        }

    def run(self, ctx: Context) -> dict[str, Any]:
        cfg, recipe = ctx.recipe.pretrain, ctx.recipe
        tasks = tasks_of(ctx)
        tokenizer = load_tokenizer(str(ctx.input("tokenizer")))
        train_texts = distinct_texts(tasks, "train", cfg.max_texts, recipe.seed)
        dev_texts = distinct_texts(tasks, "dev", DEV_TEXTS, recipe.seed)
        where = Placement(ctx.out, ctx.device, recipe.seed, ctx.resume)
        result = pretrain_mlm(cfg, recipe.teacher.model, tokenizer, train_texts, dev_texts, where)
        if not distributed.is_main():
            return {}
        shutil.rmtree(ctx.out / "checkpoints", ignore_errors=True)  # the encoder is the deliverable
        write_json(ctx.out / "history.json", result["history"])
        last = result["history"][-1]["dev"] if result["history"] else {}
        return {
            "texts": len(train_texts),
            "steps": result["steps"],
            "train_seconds": round(result["seconds"], 1),
            "dev_mlm_loss": last.get("loss"),
            "dev_mlm_accuracy": last.get("accuracy"),
        }
