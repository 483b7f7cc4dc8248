"""The ``distill`` stage: one multi-task teacher teaches one small student every head at once."""

from __future__ import annotations

import copy
import functools
import logging
import os
import shutil
from typing import Any

import torch

from benchmarks.latency import interleaved
from distill.augmentation import MLM_DIR, augment_split, load_mlm
from distill.config import DistillConfig
from distill.data.examples import TaskData
from distill.distillation import DistillationObjective
from distill.errors import ArtifactError, RecipeError
from distill.io import read_json, stable_hash, write_json
from distill.model import MultiTaskModel
from distill.student import build_student
from distill.teacher_cache import TeacherLogits
from distill.tokenization import load_tokenizer
from distill.training.evaluate import retention
from distill.training.loop import evaluate_all, train

from .pipeline import STAGE_FILE, Context, Stage, register_stage, settings_of
from .schema import Recipe
from .stages import data_fingerprint, encode_tasks, tasks_of

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


def augment_training_data(ctx: Context, tokenizer, encoded, cfg: DistillConfig) -> dict[str, Any]:
    """Append ``cfg.augment`` copies to every task's training split (in place); the MLM's identity."""
    source = mlm_source(ctx.recipe)
    mlm, identity = None, {"method": cfg.augment.method}
    if source == "pretrain":
        path = ctx.input("pretrain") / MLM_DIR
        if not path.is_dir():
            raise ArtifactError(
                f"{path} is missing (older pretrain stages did not keep the MLM head): remove "
                f"{ctx.input('pretrain')} and run again; pretrain reruns with the same settings, so the "
                "teacher stays up to date"
            )
        identity["mlm"] = read_json(ctx.input("pretrain") / STAGE_FILE)["hash"]
        mlm = load_mlm(path, tokenizer).to(ctx.device)
    elif source is not None:
        identity["mlm"] = source
        mlm = load_mlm(source, tokenizer).to(ctx.device)
    for task, splits in encoded.items():
        splits["train"] = augment_split(splits["train"], cfg.augment, tokenizer, ctx.recipe.seed, task, mlm, ctx.device)
    return identity


def cached_teacher_logits(
    ctx: Context,
    teacher: MultiTaskModel,
    tasks: dict[str, TaskData],
    encoded,
    batch_size: int,
    pad_id: int,
    augmented: dict[str, Any] | None = None,
) -> TeacherLogits:
    """Teacher logits on the training splits, computed once per teacher, data, max_len and augmentation."""
    key = stable_hash(
        {
            "teacher": read_json(ctx.input("teacher") / STAGE_FILE)["hash"],
            "max_len": ctx.recipe.student.train.max_len,
            "data": data_fingerprint(ctx.recipe),
            **({"augment": settings_of(ctx.recipe.student.distill.augment), **augmented} if augmented else {}),
        }
    )
    path = ctx.run_dir / "cache" / f"teacher-logits-{key}.safetensors"
    if path.is_file():
        log.info("distill: teacher logits from cache %s", path)
        return TeacherLogits.load(path)
    log.info("distill: computing teacher logits once (cached in %s)", path)
    logits = TeacherLogits.compute(
        teacher, tasks, {t: e["train"] for t, e in encoded.items()}, batch_size, ctx.device, pad_id
    )
    logits.save(path)
    return logits


def on_cpu(model: MultiTaskModel) -> MultiTaskModel:
    """``model`` itself when it is on the CPU, else a CPU copy (never moves the caller's model)."""
    if all(p.device.type == "cpu" for p in model.parameters()):
        return model
    return copy.deepcopy(model).cpu()


def latency_ratio(teacher: MultiTaskModel, student: MultiTaskModel, seq_len: int, vocab: int) -> dict[str, Any]:
    """Teacher and student forward latency in torch on CPU at batch 1, interleaved in one run."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (1, seq_len), generator=gen)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    # CPU copies of models that live elsewhere: the caller's models stay on their device
    models = {"teacher": on_cpu(teacher).eval(), "student": on_cpu(student).eval()}

    def runner(model: MultiTaskModel):
        def call() -> None:
            with torch.inference_mode():
                model(**batch)

        return call

    stats = interleaved({name: runner(m) for name, m in models.items()}, warmup=5, iters=20, rounds=5)
    return {
        "device": "cpu",
        "batch_size": 1,
        "seq_len": seq_len,
        "threads": torch.get_num_threads(),
        "teacher_ms": stats["teacher"].p50,
        "student_ms": stats["student"].p50,
        "speedup": stats["teacher"].p50 / stats["student"].p50,
    }


def distill_student(
    ctx: Context,
    student: MultiTaskModel,
    teacher: MultiTaskModel,
    tasks: dict[str, TaskData],
    encoded,
    cfg: DistillConfig,
) -> Any:
    """Train the student with the distillation objective (two phases for the TinyBERT schedule)."""
    recipe, train_cfg = ctx.recipe, ctx.recipe.student.train
    tokenizer = load_tokenizer(str(ctx.input("teacher") / "model"))
    augmented = augment_training_data(ctx, tokenizer, encoded, cfg) if cfg.augment else None
    cached = None
    if cfg.cache_teacher_logits and cfg.logits is not None and (not cfg.intermediate or cfg.two_stage):
        cached = cached_teacher_logits(
            ctx, teacher, tasks, encoded, train_cfg.eval_batch_size, tokenizer.pad_token_id, augmented
        )
    run = functools.partial(
        train,
        student,
        tasks,
        encoded,
        tokenizer=tokenizer,
        seed=recipe.student.seed_or(recipe.seed),
        device=ctx.device,
        resume=ctx.resume,
    )
    if cfg.two_stage:
        first = DistillationObjective(teacher, student, tasks, cfg, use_logits=False)
        phase1 = train_cfg.model_copy(update={"epochs": cfg.two_stage.intermediate_epochs, "early_stopping": None})
        run(phase1, ctx.out / "intermediate", objective=first, name="distill (intermediate)")
        objective = DistillationObjective(teacher, student, tasks, cfg, cached, use_intermediate=False)
    else:
        objective = DistillationObjective(teacher, student, tasks, cfg, cached)
    return run(train_cfg, ctx.out, objective=objective, name="distill")


def report_rows(student_m: dict, teacher_m: dict, params: tuple[int, int], latency: dict) -> dict[str, dict]:
    """Per task: student and teacher metric, retention, parameter and latency ratios."""
    return {
        task: {
            "metric": m["metric"],
            "student": m["value"],
            "teacher": teacher_m[task]["value"],
            "baseline": m["baseline"],
            "higher_is_better": m["higher_is_better"],
            "retention": retention(m["value"], teacher_m[task]["value"], m["higher_is_better"]),
            "param_ratio": params[0] / params[1],
            "speedup_cpu_b1": latency["speedup"],
        }
        for task, m in student_m.items()
    }


def report_markdown(rows: dict[str, dict], latency: dict, params: tuple[int, int]) -> str:
    lines = [
        f"Student encoder: {params[0] / 1e6:.2f}M parameters, teacher {params[1] / 1e6:.2f}M "
        f"(ratio {params[0] / params[1]:.3f}). Torch CPU latency at batch 1, seq {latency['seq_len']}, "
        f"{latency['threads']} threads: teacher {latency['teacher_ms']:.2f} ms, student "
        f"{latency['student_ms']:.2f} ms ({latency['speedup']:.2f}× faster), measured interleaved in one run.",
        "",
        "| task | metric | teacher | student | retention | baseline |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for task, r in rows.items():
        arrow = "↑" if r["higher_is_better"] else "↓"
        lines.append(
            f"| {task} | {r['metric']} {arrow} | {r['teacher']:.4f} | {r['student']:.4f} | "
            f"{100 * r['retention']:.1f}% | {r['baseline']:.4f} |"
        )
    return "\n".join(lines) + "\n"


@register_stage("distill")
class DistillStage(Stage):
    """Distil the teacher into the recipe's student; report retention per task."""

    needs = ("tokenizer", "teacher")

    def needs_for(self, recipe: Recipe) -> tuple[str, ...]:
        # augmentation with the pretrain stage's MLM: a new MLM means new training inputs
        return (*self.needs, "pretrain") if mlm_source(recipe) == "pretrain" else self.needs

    def skip_reason(self, recipe: Recipe) -> str | None:
        return None if recipe.student else "the recipe has no student section"

    def settings(self, recipe: Recipe) -> dict[str, Any]:
        return {"student": settings_of(recipe.student), "data": data_fingerprint(recipe)}

    def run(self, ctx: Context) -> dict[str, Any]:
        recipe, cfg = ctx.recipe, ctx.recipe.student
        tasks = tasks_of(ctx)
        teacher_dir = ctx.input("teacher") / "model"
        tokenizer = load_tokenizer(str(teacher_dir))
        teacher = MultiTaskModel.from_pretrained(teacher_dir, map_location=ctx.device).eval()
        encoded = encode_tasks(tokenizer, tasks, cfg.train.max_len)
        torch.manual_seed(cfg.seed_or(recipe.seed))
        student = build_student(cfg.model, teacher, tokenizer)
        params = (student.num_parameters(encoder_only=True), teacher.num_parameters(encoder_only=True))
        log.info(
            "distill: student encoder %.2fM parameters = %.3f of the teacher's", params[0] / 1e6, params[0] / params[1]
        )
        result = distill_student(ctx, student, teacher, tasks, encoded, cfg.distill)
        test = evaluate_all(student, tasks, encoded, "test", cfg.train, ctx.device, tokenizer.pad_token_id)
        os.replace(ctx.out / "best", ctx.out / "model")
        for leftover in ("checkpoints", "intermediate"):
            shutil.rmtree(ctx.out / leftover, ignore_errors=True)
        latency = latency_ratio(teacher, student, cfg.train.max_len, teacher.config.vocab_size)
        # the teacher scored here by the same evaluation code, not read from its stage: a teacher recorded by
        # an older mtkd (e.g. before constrained tag decoding) would otherwise be compared unlike with like
        t_train = recipe.teacher.train
        t_encoded = encoded if t_train.max_len == cfg.train.max_len else encode_tasks(tokenizer, tasks, t_train.max_len)
        teacher_test = evaluate_all(teacher, tasks, t_encoded, "test", t_train, ctx.device, tokenizer.pad_token_id)
        rows = report_rows(test, teacher_test, params, latency)
        write_json(ctx.out / "metrics.json", test)
        write_json(ctx.out / "history.json", result.history)
        write_json(ctx.out / "report.json", {"tasks": rows, "latency": latency, "encoder_params": params})
        (ctx.out / "report.md").write_text(report_markdown(rows, latency, params), encoding="utf-8")
        for task, r in rows.items():
            log.info(
                "distill %s: %s student %.4f teacher %.4f (retention %.1f%%)",
                task,
                r["metric"],
                r["student"],
                r["teacher"],
                100 * r["retention"],
            )
        return {
            "encoder_params": params[0],
            "param_ratio": params[0] / params[1],
            "speedup_cpu_b1": latency["speedup"],
            "best_epoch": result.best_epoch,
            "steps": result.steps,
            "retention": {t: r["retention"] for t, r in rows.items()},
        }
