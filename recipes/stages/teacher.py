"""The ``tokenizer`` and ``teacher`` stages: a vocabulary, then the multi-task teacher trained on every task
(or, with ``teacher.checkpoints`` / ``teacher.outputs``, teachers brought from outside, loaded and scored)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from distill.api import train_teacher
from distill.checkpoints import resolve_checkpoint
from distill.data.examples import SPLITS, TaskData
from distill.io import sha256_file, write_json
from distill.teacher_sources import TeacherSources
from distill.teachers import CheckpointTeacher, load_teachers
from distill.teachers.serving import write_brought
from distill.tokenization import build_tokenizer, load_tokenizer
from distill.training import distributed
from distill.training.stopping import stop_reason
from distill.workspace import Workspace
from recipes.pipeline import Context, Stage, register_stage, settings_of
from recipes.schema import Recipe

from .common import data_fingerprint, tasks_of
from .teacher_report import teacher_markdown, yardstick

log = logging.getLogger("mtkd")
TARGETS = "targets.safetensors"  # brought teachers' answers on the training rows, per task and row


@register_stage("tokenizer")
class TokenizerStage(Stage):
    """Train a WordPiece vocabulary on the training texts (or copy a pretrained tokenizer)."""

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {"tokenizer": settings_of(recipe.tokenizer), "data": data_fingerprint(recipe)}

    def run(self, ctx: Context) -> dict[str, Any]:
        tasks = tasks_of(ctx)
        tokenizer = build_tokenizer(ctx.recipe.tokenizer, tasks)
        tokenizer.save_pretrained(ctx.out)
        sample = [
            ex.text if isinstance(ex.text, str) else " ".join(ex.text)
            for t in tasks.values()
            for ex in t.splits["dev"][:200]
        ]
        ids = [i for row in tokenizer(sample, add_special_tokens=False)["input_ids"] for i in row]
        unk = sum(i == tokenizer.unk_token_id for i in ids) / max(1, len(ids))
        log.info("tokenizer: %d tokens, %.2f%% unknown on dev text", len(tokenizer), 100 * unk)
        out: dict[str, Any] = {"vocab_size": len(tokenizer), "dev_unk_rate": unk}
        if ctx.recipe.tokenizer.from_pretrained:  # where the vocabulary came from, and its weights' hash
            out["checkpoint"] = resolve_checkpoint(ctx.recipe.tokenizer.from_pretrained).provenance()
        return out


@register_stage("teacher")
class TeacherStage(Stage):
    """Train the multi-task teacher on every task; report test metrics against baselines."""

    needs = ("tokenizer",)
    distributed = True

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        return ("tokenizer", "pretrain") if recipe.pretrain is not None else self.needs

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        out = {"teacher": settings_of(recipe.teacher), "data": data_fingerprint(recipe)}
        if recipe.teacher.external:  # a retrained checkpoint or a rewritten file is another teacher
            out["sources"] = source_hashes(recipe.teacher)
        scaled = {n: t.standardize for n, t in recipe.tasks.items() if t.standardize is not None}
        if scaled:  # only when set: earlier runs keep their hashes
            out["standardize"] = scaled
        return out

    def run(self, ctx: Context) -> dict[str, Any]:
        if ctx.recipe.teacher.external:
            return bring_teachers(ctx)
        recipe, cfg = ctx.recipe, ctx.recipe.teacher
        tasks = tasks_of(ctx)
        model_cfg = cfg.model
        if recipe.pretrain is not None:  # fine-tune the encoder the MLM stage trained
            model_cfg = model_cfg.model_copy(update={"from_pretrained": str(ctx.input("pretrain") / "encoder")})
        tokenizer = load_tokenizer(str(ctx.input("tokenizer")))
        work = Workspace(tasks, tokenizer, ctx.out, ctx.device, recipe.seed, ctx.resume)
        done = train_teacher(work, model_cfg, cfg.train)
        if not distributed.is_main():
            return {}
        model, test, result, encoded = done.model, done.test, done.result, done.encoded
        write_json(ctx.out / "metrics.json", test)
        write_json(ctx.out / "history.json", result.history)
        truncated = {t: {s: encoded[t][s].truncated for s in SPLITS} for t in tasks}
        write_json(ctx.out / "data.json", data_report(tasks, truncated))
        for t, m in test.items():
            log.info("teacher test %s: %s %.4f (baseline %.4f)", t, m["metric"], m["value"], m["baseline"])
        yard = yardstick(tasks, test)
        reason = stop_reason(result.history, cfg.train, result.best_epoch)
        (ctx.out / "report.md").write_text(teacher_markdown(result.history, reason, yard), encoding="utf-8")
        write_json(ctx.out / "yardstick.json", yard)
        return {
            **({"calibration": done.calibration} if done.calibration else {}),
            "stopped": reason,
            "below_yardstick": [t for t, y in yard.items() if y["below"]],
            **({"checkpoint": model.checkpoint} if model.checkpoint else {}),
            "params": model.num_parameters(),
            "encoder_params": model.num_parameters(encoder_only=True),
            "best_epoch": result.best_epoch,
            "steps": result.steps,
            "train_seconds": round(result.seconds, 1),
            "test": {
                t: {"metric": m["metric"], "value": m["value"], "baseline": m["baseline"]} for t, m in test.items()
            },
        }


def data_report(tasks: dict[str, TaskData], truncated: dict[str, Any] | None = None) -> dict[str, Any]:
    """``teacher/data.json``: per task its labels, type, rows read and skipped (and truncation, when known)."""
    return {
        t: {
            "labels": td.labels,
            "type": td.config.type,
            **td.report,
            **({"truncated": truncated[t]} if truncated else {}),
        }
        for t, td in tasks.items()
    }


def source_hashes(cfg: TeacherSources) -> dict[str, str | None]:
    """The SHA-256 of each brought teacher's weights or outputs file (a hub id not yet fetched: None)."""
    out: dict[str, str | None] = {t: resolve_checkpoint(ref).sha256 for t, ref in cfg.checkpoints.items()}
    out.update({t: sha256_file(Path(path)) for t, path in cfg.outputs.items()})
    return out


def bring_teachers(ctx: Context) -> dict[str, Any]:
    """The teacher stage with teachers brought from outside: load and check them, score the test split, and
    keep their answers on the training rows (``targets.safetensors``) for the distill stage."""
    if not distributed.is_main():  # nothing to train: one process loads, scores and writes
        return {}
    recipe = ctx.recipe
    tasks = tasks_of(ctx)
    teachers = load_teachers(
        recipe.teacher,
        tasks,
        max_len=recipe.teacher.train.max_len,
        batch_size=recipe.teacher.train.eval_batch_size,
        device=ctx.device,
        on_error=recipe.data.on_error,
    )
    teachers.train_outputs().save(ctx.out / TARGETS)
    for name, teacher in teachers.teachers.items():  # pointers the bench times beside the student
        if isinstance(teacher, CheckpointTeacher):
            write_brought(ctx.out / "brought" / name, teacher)
    test = teachers.test_metrics()
    write_json(ctx.out / "metrics.json", test)
    write_json(ctx.out / "teachers.json", teachers.describe())
    write_json(ctx.out / "data.json", data_report(tasks))
    yard = yardstick(tasks, test)
    (ctx.out / "report.md").write_text(teacher_markdown([], None, yard), encoding="utf-8")
    write_json(ctx.out / "yardstick.json", yard)
    for t in tasks:
        if t in test:
            m = test[t]
            log.info(
                "teacher %s (%s): test %s %.4f (baseline %.4f)",
                t,
                teachers.teachers[t].kind,
                m["metric"],
                m["value"],
                m["baseline"],
            )
        elif t not in teachers.teachers:
            log.info("task %s has no teacher: the student learns it from its labels", t)
    return {
        "below_yardstick": [t for t, y in yard.items() if y["below"]],
        "teachers": {t: teacher.kind for t, teacher in teachers.teachers.items()},
        "params": teachers.num_parameters(),
        "test": {t: {"metric": m["metric"], "value": m["value"], "baseline": m["baseline"]} for t, m in test.items()},
    }
