"""The ``general`` stage: task-agnostic distillation of the teacher's encoder into the student's shape
(``student.model.init: general``); the distill stage starts from its encoder."""

from __future__ import annotations

import shutil
from typing import Any

from distill.checkpoints import resolve_checkpoint
from distill.general import cached_general, general_corpus
from distill.io import write_json
from distill.model import MultiTaskModel, load_pretrained_encoder
from distill.tokenization import load_tokenizer
from distill.training import distributed
from recipes.pipeline import Context, Stage, register_stage, settings_of
from recipes.schema import Recipe
from recipes.stage_record import recorded_hash

from .common import data_fingerprint, tasks_of

ENCODER = "encoder"


@register_stage("general")
class GeneralStage(Stage):
    """A compact pretrained encoder of the student's shape, from the shared cache or trained into it."""

    needs = ("tokenizer",)
    distributed = True

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        fine_tuned = recipe.student is not None and recipe.student.general and recipe.student.general.teacher
        return (*self.needs, "teacher") if fine_tuned == "fine_tuned" else self.needs

    def skip_reason(self, recipe: Recipe) -> str | None:
        if recipe.student is None or recipe.student.general is None:
            return "student.model.init is not general"
        return None

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        student = recipe.student
        transfer = student.distill.transfer if student.general.transfer_inputs else None
        return {
            "general": settings_of(student.general),
            "shape": settings_of(student.model, exclude={"init"}),
            "teacher": recipe.teacher.model.from_pretrained if student.general.teacher == "pretrained" else None,
            "transfer": settings_of(transfer) if transfer is not None else None,
            "seed": recipe.seed,  # not the student's: every student seed starts from the same general encoder
            "data": data_fingerprint(recipe),
        }

    def run(self, ctx: Context) -> dict[str, Any]:
        recipe, student = ctx.recipe, ctx.recipe.student
        cfg, seed = student.general, recipe.seed
        corpus = general_corpus(tasks_of(ctx), cfg, student.distill.transfer, recipe.seed, recipe.data.on_error)
        if cfg.teacher == "pretrained":
            ref, trust = recipe.teacher.model.from_pretrained, recipe.teacher.model.trust_remote_code
            identity: Any = {"checkpoint": ref, "sha256": resolve_checkpoint(ref).sha256}

            def teacher():
                return load_pretrained_encoder(ref, trust)[0]
        else:
            identity = {"teacher_stage": recorded_hash(ctx.input("teacher"))}

            def teacher():
                return MultiTaskModel.from_pretrained(ctx.input("teacher") / "model").encoder

        tokenizer = load_tokenizer(str(ctx.input("tokenizer")))
        done = cached_general(teacher, identity, student.model, tokenizer, corpus, cfg, seed=seed, device=ctx.device)
        if not distributed.is_main():
            return {}
        shutil.copytree(done.path, ctx.out / ENCODER)  # the stage's own copy: checksummed, kept with the run
        write_json(ctx.out / "report.json", {**done.record, "cache": str(done.path.parent), "reused": done.reused})
        last = done.record["history"][-1] if done.record["history"] else {}
        return {
            "key": done.key,
            "reused": done.reused,
            "texts": done.record["texts"],
            "steps": done.record["steps"],
            "train_seconds": done.record["train_seconds"],
            "held_out_loss": last.get("held_out_loss"),
        }
