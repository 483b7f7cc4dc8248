"""The ``distill`` stage: one multi-task teacher teaches one small student every head at once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.latency import teachers_latency, torch_latency_ratio
from distill.api import PipelineCaches, distil
from distill.augmentation import MLM_DIR, load_mlm
from distill.errors import ArtifactError, RecipeError
from distill.io import read_json, sha256_file, stable_hash, write_json
from distill.kd.teacher_cache import TeacherLogits
from distill.model import MultiTaskModel
from distill.teachers import TaskTeachers, load_teachers
from distill.tokenization import load_tokenizer
from distill.training import distributed
from distill.workspace import Workspace
from recipes.pipeline import Context, Stage, register_stage, settings_of
from recipes.schema import Recipe
from recipes.stage_record import recorded_hash

from .common import data_fingerprint, tasks_of
from .distill_report import calibrated_text, dev_epochs, loss_table, report_line, report_markdown, report_rows
from .general import ENCODER
from .teacher import TARGETS

log = logging.getLogger("mtkd")


def mlm_source(recipe: Recipe) -> str | None:
    """Where ``distill.augment`` takes its masked LM from: the recipe's path, the pretrain stage
    (``"pretrain"``), or the checkpoint the teacher started from; None when augmentation needs none."""
    aug = recipe.student.distill.augment if recipe.student else None
    if aug is None or aug.method != "mlm":
        return None
    if aug.mlm:
        return aug.mlm
    if recipe.pretrain is not None:
        return "pretrain"
    if recipe.teacher.model.from_pretrained:
        return recipe.teacher.model.from_pretrained
    raise RecipeError(
        "distill.augment.method 'mlm' needs a masked LM: add a 'pretrain' section, start the teacher from a "
        "checkpoint with an MLM head, set distill.augment.mlm to one, or use method 'mask'"
    )


def mlm_of(ctx: Context) -> tuple[Callable[[], torch.nn.Module] | None, dict[str, Any] | None]:
    """A loader of the masked LM ``distill.augment`` uses, and its identity (for the logits cache key)."""
    cfg = ctx.recipe.student.distill
    if not cfg.augment:
        return None, None
    source, identity = mlm_source(ctx.recipe), {"method": cfg.augment.method}
    if source == "pretrain":
        path = ctx.input("pretrain") / MLM_DIR
        if not path.is_dir():
            raise ArtifactError(
                f"{path} is missing (older pretrain stages did not keep the MLM head): remove "
                f"{ctx.input('pretrain')} and run again; pretrain reruns with the same settings, so the "
                "teacher stays up to date"
            )
        identity["mlm"] = recorded_hash(ctx.input("pretrain"))
    elif source is not None:
        identity["mlm"], path = source, source
    else:
        return None, identity
    tokenizer_dir = student_tokenizer_dir(ctx)
    return (lambda: load_mlm(path, load_tokenizer(tokenizer_dir))), identity


def student_tokenizer_dir(ctx: Context) -> str:
    """The student reads the teacher's ids; brought teachers keep their own, so it reads the tokenizer stage's."""
    return str(ctx.input("tokenizer") if ctx.recipe.teacher.external else ctx.input("teacher") / "model")


def brought_teachers(ctx: Context) -> tuple[TaskTeachers, dict[str, dict[str, Any]]]:
    """The teacher stage's per-task teachers, with their answers on the training rows and test metrics as
    it measured them (the checkpoints are loaded again: augmented copies, layers and latency need them)."""
    recipe, teacher_dir = ctx.recipe, ctx.input("teacher")
    teachers = load_teachers(
        recipe.teacher,
        tasks_of(ctx),
        max_len=recipe.teacher.train.max_len,
        batch_size=recipe.teacher.train.eval_batch_size,
        device=ctx.device,
        on_error=recipe.data.on_error,
    )
    teachers.train = TeacherLogits.load(teacher_dir / TARGETS)
    return teachers, read_json(teacher_dir / "metrics.json")


def logits_cache_path(ctx: Context, augmented: dict[str, Any] | None) -> Path:
    """Teacher logits are kept per teacher, data, max_len and augmentation, beside the run."""
    key = stable_hash(
        {
            "teacher": recorded_hash(ctx.input("teacher")),
            "max_len": ctx.recipe.student.train.max_len,
            "data": data_fingerprint(ctx.recipe),
            **({"augment": settings_of(ctx.recipe.student.distill.augment), **augmented} if augmented else {}),
        }
    )
    return ctx.run_dir / "cache" / f"teacher-logits-{key}.safetensors"


@register_stage("distill")
class DistillStage(Stage):
    """Distil the teacher into the recipe's student; report retention per task."""

    needs = ("tokenizer", "teacher")
    distributed = True  # under --nproc every process trains, and transfer sets are scored chunk by chunk in turn

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        # augmentation with the pretrain stage's MLM: a new MLM means new training inputs
        needs = (*self.needs, "pretrain") if mlm_source(recipe) == "pretrain" else self.needs
        general = recipe.student is not None and recipe.student.general is not None
        return (*needs, "general") if general else needs

    def skip_reason(self, recipe: Recipe) -> str | None:
        return None if recipe.student else "the recipe has no student section"

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        out = {"student": settings_of(recipe.student), "data": data_fingerprint(recipe)}
        transfer = recipe.student.distill.transfer if recipe.student else None
        if transfer is not None:  # only when set: earlier runs keep their hashes; a changed file re-runs
            out["transfer_files"] = {f.path: sha256_file(f.path) for t in transfer.tasks.values() for f in t.files}
        return out

    def run(self, ctx: Context) -> dict[str, Any]:
        recipe, cfg = ctx.recipe, ctx.recipe.student
        teacher_test = None
        if recipe.teacher.external:
            teacher, teacher_test = brought_teachers(ctx)
        else:
            teacher = MultiTaskModel.from_pretrained(ctx.input("teacher") / "model", map_location=ctx.device)
        mlm, augmented = mlm_of(ctx)
        shape = cfg.model
        if cfg.general is not None:  # the general stage's encoder is the start
            shape = shape.model_copy(update={"init": "random", "from_pretrained": str(ctx.input("general") / ENCODER)})
        tokenizer = load_tokenizer(student_tokenizer_dir(ctx))
        work = Workspace(tasks_of(ctx), tokenizer, ctx.out, ctx.device, cfg.seed_or(recipe.seed), ctx.resume)
        caches = PipelineCaches(
            logits=logits_cache_path(ctx, augmented),
            transfer=ctx.run_dir / "cache",
            teacher_identity=recorded_hash(ctx.input("teacher")),
            teacher_test=teacher_test,
            data_seed=recipe.seed,
            on_error=recipe.data.on_error,
        )
        done = distil(
            teacher, shape, work, cfg.distill, cfg.train, teacher_train=recipe.teacher.train, mlm=mlm, caches=caches
        )
        if not distributed.is_main():  # a helper process trained and scored its share; rank 0 reports
            return {}
        student = done.model
        if isinstance(teacher, TaskTeachers):  # whole models on both sides: the student replaces all of them
            params = (student.num_parameters(), teacher.num_parameters())
            modules = {t: m for t, tt in teacher.teachers.items() if (m := tt.latency_module()) is not None}
            latency = teachers_latency(modules, student, cfg.train.max_len) if modules else None
        else:
            params = (student.num_parameters(encoder_only=True), teacher.num_parameters(encoder_only=True))
            latency = torch_latency_ratio(teacher, student, cfg.train.max_len, teacher.config.vocab_size)
        rows = report_rows(done.test, done.teacher_test, params, latency, done.intervals)
        write_json(ctx.out / "metrics.json", done.test)
        write_json(ctx.out / "history.json", done.result.history)
        report = {"tasks": rows, "latency": latency, "encoder_params": params}
        extra = {"transfer": done.transfer, "calibration": done.calibration, "both_calibrated": done.calibrated}
        write_json(ctx.out / "report.json", {**report, **{k: v for k, v in extra.items() if v}})
        epochs = dev_epochs(done.result.history, done.result.best_epoch)
        calibrated = calibrated_text(done.calibrated)
        markdown = report_markdown(rows, latency, params) + f"\n{epochs}\n"
        markdown += f"\n{calibrated}\n" if calibrated else ""
        losses = loss_table(done.result.history)
        markdown += f"\n{losses}\n" if losses else ""
        (ctx.out / "report.md").write_text(markdown, encoding="utf-8")
        for task, r in rows.items():
            log.info("distill %s: %s", task, report_line(r))
        return {
            "encoder_params": params[0],
            "param_ratio": params[0] / params[1],
            "speedup_cpu_b1": latency["speedup"] if latency else None,
            "best_epoch": done.result.best_epoch,
            "steps": done.result.steps,
            "retention": {t: r["retention"] for t, r in rows.items() if r["retention"] is not None},
        }
