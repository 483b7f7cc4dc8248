"""Train a multi-task teacher and distil it into a student, from Python — what the pipeline's
``teacher`` and ``distill`` stages call.

    from distill import DataConfig, TaskConfig, load_tasks, build_tokenizer, train_teacher, distil

    tasks = load_tasks({"intent": TaskConfig(type="classification", source="builtin",
                                             text="message", label="intent")})
    tokenizer = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=4000), tasks)
    work = Workspace(tasks, tokenizer, "runs/api/teacher", seed=0)  # what every step shares
    teacher = train_teacher(work, ModelConfig(layers=4, hidden=256, heads=4), TrainConfig(epochs=2))
    student = distil(teacher.model, StudentModelConfig(layers=2, hidden=128, heads=2), work.at("runs/api/student"),
                     DistillConfig(logits=LogitsKD()), TrainConfig(epochs=3))
    print(student.retention)

Each verb writes its model to ``<out>/model`` (``MultiTaskModel.from_pretrained`` reads it back) and
returns the model with its test metrics; reports and files around it are the caller's to write.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .augmentation import augment_split
from .calibration import both_calibrated, calibrate_regression
from .config import DistillConfig, ModelConfig, StudentModelConfig, TrainConfig, fine_tuning_defaults
from .kd.objective import DistillationObjective, check_layer_terms
from .model import MultiTaskModel, head_spec
from .retention import kept, paired_bootstrap
from .student import build_student
from .teacher_adapters import Teacher, as_teacher
from .teachers import TaskTeachers
from .training import distributed
from .training.evaluate import score_predictions
from .training.loop import TrainResult, evaluate_all, predict_all, train
from .transfer.joining import TransferJob, build_transfer
from .workspace import Encoded, Workspace

log = logging.getLogger("mtkd")


@dataclass
class Trained:
    """A trained (or distilled) model, where it was saved, and how it did on the test split."""

    model: MultiTaskModel
    path: Path  # <out>/model
    test: dict[str, dict[str, Any]]  # task → metric, value, baseline, higher_is_better
    result: TrainResult  # history, best epoch, steps, seconds
    encoded: Encoded = field(repr=False)  # the tokenized splits it was trained and scored on
    calibration: dict[str, dict[str, float]] = field(default_factory=dict, kw_only=True)  # train.calibrate's maps


@dataclass
class Distilled(Trained):
    """A distilled student, with the teacher scored by the same code and the student's retention."""

    teacher_test: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per task and metric: both models and the retention with 95% intervals (paired bootstrap, test split)
    intervals: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    transfer: dict[str, Any] = field(default_factory=dict)  # per task: transfer inputs, where from, skipped
    # per regression task: the share of the teacher's gain kept with both calibrated on dev (``both_calibrated``)
    calibrated: dict[str, dict[str, Any]] = field(default_factory=dict, kw_only=True)

    @property
    def retention(self) -> dict[str, float]:
        """Per task: the student's metric as a share of the teacher's; for an error metric (RMSE) the share
        of the teacher's gain over the mean predictor that the student keeps (``distill.retention``)."""
        return {
            t: kept(m, self.teacher_test[t]["value"])
            for t, m in self.test.items()
            if t in self.teacher_test  # a task trained from its labels alone has no teacher to retain
        }


def _finish(model: MultiTaskModel, out: Path, leftovers: tuple[str, ...]) -> Path:
    """The best checkpoint becomes ``<out>/model``; the rest of training's files go (main process only)."""
    if distributed.is_main():
        os.replace(out / "best", out / "model")
        for leftover in leftovers:
            shutil.rmtree(out / leftover, ignore_errors=True)
    return out / "model"


def train_teacher(work: Workspace, model: ModelConfig | MultiTaskModel, train_cfg: TrainConfig) -> Trained:
    """Train one shared encoder with a head per task on every task of ``work`` at once (hard labels); the best
    dev epoch is kept in ``work.out/model``. ``model``: a shape or checkpoint to build from, or a model you built
    yourself. A checkpoint is fine-tuned with ``fine_tuning_defaults`` for whatever ``train_cfg`` leaves unset."""
    if isinstance(model, ModelConfig) and model.from_pretrained is not None:
        train_cfg = fine_tuning_defaults(train_cfg)
    encoded = work.encode(train_cfg.max_len)
    torch.manual_seed(work.seed)
    if isinstance(model, ModelConfig):
        model = MultiTaskModel.from_config(model, [head_spec(td) for td in work.tasks.values()], work.tokenizer)
    log.info(
        "teacher: %.2fM parameters (%.2fM in the encoder) on %s",
        model.num_parameters() / 1e6,
        model.num_parameters(encoder_only=True) / 1e6,
        work.device,
    )
    result = train(model, work, encoded, train_cfg, name="teacher")
    calibration = _calibrate(model, work, encoded, train_cfg)
    test = evaluate_all(model, work.tasks, encoded, "test", train_cfg, work.device, work.pad_id)
    path = _finish(model, work.out, ("checkpoints", "task-best"))
    return Trained(model, path, test, result, encoded, calibration=calibration)


def _calibrate(
    model: MultiTaskModel, work: Workspace, encoded: Encoded, cfg: TrainConfig
) -> dict[str, dict[str, float]]:
    """``train.calibrate``: regression heads mapped onto the dev labels, and the best model saved again so."""
    numeric = {t: d for t, d in work.tasks.items() if d.kind.numeric and not d.kind.per_token}
    if not cfg.calibrate or not numeric:
        return {}
    dev = predict_all(model, numeric, encoded, "dev", cfg, work.device, work.pad_id)
    maps = calibrate_regression(model, numeric, dev)
    if distributed.is_main() and any(m["applied"] for m in maps.values()):
        model.save_pretrained(work.out / "best", work.tokenizer)
    return maps


@dataclass(frozen=True)
class PipelineCaches:
    """What the pipeline hands ``distil`` so that repeated students reuse work and see the same data; a Python
    user can leave it out."""

    logits: Path | None = None
    """a file that keeps the teacher's logits between runs (repeated students skip the teacher's forward pass)"""
    transfer: Path | None = None
    """where the teacher's transfer-set scores are kept (default ``<out>/cache``)"""
    teacher_identity: Any = None
    """names the teacher in the transfer cache's key (default: a hash of its weights)"""
    teacher_test: dict[str, dict[str, Any]] | None = None
    """the teachers' test metrics when already measured"""
    data_seed: int | None = None
    """the augmentation's and transfer set's seed (default the student's), so seeded repeats see the same data"""
    on_error: str = "raise"
    """bad transfer inputs raise, or are skipped and counted (``Distilled.transfer``)"""


def distil(
    teacher: Teacher | MultiTaskModel | TaskTeachers,
    student: StudentModelConfig | MultiTaskModel,
    work: Workspace,
    config: DistillConfig,
    train_cfg: TrainConfig,
    *,
    teacher_train: TrainConfig | None = None,
    mlm: torch.nn.Module | Callable[[], torch.nn.Module] | None = None,
    caches: PipelineCaches | None = None,
) -> Distilled:
    """Teach ``student`` every head of ``teacher`` at once on ``work``'s tasks with the losses ``config`` names;
    the teacher is scored on the test split by the same code (at ``teacher_train``'s length) for the retention.

    ``teacher``: a trained multi-task teacher, ``TaskTeachers`` (one teacher per task, brought from outside:
    ``distill.teachers.load_teachers``; a task without one learns from its labels alone), or anything that
    implements ``distill.teacher_adapters.Teacher``. ``student``: a shape (built from the teacher as its ``init``
    says, seeded by ``work.seed``) or a model you built. ``mlm``: the masked LM for ``config.augment.method:
    mlm``, or a function that loads it once the student is built (so a run's random draws follow the same order
    whether or not it augments). ``caches``: the pipeline's caches and identities (``PipelineCaches``).
    """
    teacher, caches = as_teacher(teacher), caches or PipelineCaches()
    encoded = work.encode(train_cfg.max_len)
    student = _student_for(teacher, student, work, config)
    if teacher.layers is not None:  # the teacher runs beside the student on every batch: on the student's device
        teacher.layers.to(work.device)
    data_seed = work.seed if caches.data_seed is None else caches.data_seed
    if config.augment:  # augmented copies join the training splits: teacher soft targets only
        if mlm is not None and not isinstance(mlm, torch.nn.Module):
            mlm = mlm().to(work.device)
        for task, splits in encoded.items():
            splits["train"] = augment_split(
                splits["train"], config.augment, work.tokenizer, data_seed, task, mlm, work.device
            )
    job = None
    if config.transfer is not None:
        job = _transfer_job(teacher, work, config, teacher_train or train_cfg, data_seed, caches.on_error)
        job.cache_root, job.identity = caches.transfer or work.out / "cache", caches.teacher_identity or job.identity
    result = _train_student(teacher, student, work, encoded, config, train_cfg, caches.logits, job)
    return _scored(student, teacher, work, encoded, train_cfg, teacher_train, caches, job, result)


def _scored(
    student: MultiTaskModel,
    teacher: Teacher,
    work: Workspace,
    encoded: Encoded,
    train_cfg: TrainConfig,
    teacher_train: TrainConfig | None,
    caches: PipelineCaches,
    job: TransferJob | None,
    result: TrainResult,
) -> Distilled:
    """The trained student calibrated, saved and scored beside the teacher, with paired intervals."""
    calibration = _calibrate(student, work, encoded, train_cfg)
    preds = predict_all(student, work.tasks, encoded, "test", train_cfg, work.device, work.pad_id)
    test = {t: score_predictions(work.tasks[t], "test", p) for t, p in preds.items()}
    path = _finish(student, work.out, ("checkpoints", "intermediate", "task-best"))
    teacher_preds = teacher.predictions(work, encoded, "test", train_cfg, teacher_train) or {}
    teacher_test = caches.teacher_test
    if teacher_test is None:
        teacher_test = {t: score_predictions(work.tasks[t], "test", p) for t, p in teacher_preds.items()}
    intervals = {
        t: paired_bootstrap(work.tasks[t], "test", preds[t], teacher_preds[t], seed=work.seed) for t in teacher_preds
    }
    transfer = job.rows.report() if job else {}
    calibrated = _both_calibrated(student, teacher, work, encoded, (train_cfg, teacher_train), (preds, teacher_preds))
    maps = {"calibration": calibration, "calibrated": calibrated}
    return Distilled(student, path, test, result, encoded, teacher_test, intervals, transfer, **maps)


def _both_calibrated(
    student: MultiTaskModel,
    teacher: Teacher,
    work: Workspace,
    encoded: Encoded,
    configs: tuple[TrainConfig, TrainConfig | None],
    test: tuple[dict[str, list[Any]], dict[str, list[Any]]],
) -> dict[str, dict[str, Any]]:
    """Per regression task the teacher teaches: the student's share of its gain with both calibrated on dev."""
    numeric = {t: work.tasks[t] for t in test[1] if work.tasks[t].kind.numeric and not work.tasks[t].kind.per_token}
    teacher_dev = teacher.predictions(work, encoded, "dev", *configs) if numeric else None
    if not teacher_dev:
        return {}
    student_dev = predict_all(student, numeric, encoded, "dev", configs[0], work.device, work.pad_id)
    return {
        t: both_calibrated(
            task,
            {"dev": student_dev[t], "test": test[0][t]},
            {"dev": teacher_dev[t], "test": test[1][t]},
            seed=work.seed,
        )
        for t, task in numeric.items()
    }


def _student_for(
    teacher: Teacher, student: StudentModelConfig | MultiTaskModel, work: Workspace, config: DistillConfig
) -> MultiTaskModel:
    """The student to train: built from the teacher's layers as its shape says (or the one given), checked
    against what the teacher can teach; its size against the teacher's is logged."""
    heads = teacher.prepare(work, config)
    if isinstance(student, StudentModelConfig):
        torch.manual_seed(work.seed)
        student = build_student(student, teacher.layers, work.tokenizer, heads)
    check_layer_terms(config, student, teacher.layers)
    log.info(
        "distill: student encoder %.2fM parameters = %.3f of the %s",
        student.num_parameters(encoder_only=True) / 1e6,
        student.num_parameters(encoder_only=True) / teacher.num_parameters(),
        teacher.describe(),
    )
    return student


def _transfer_job(
    teacher: Teacher, work: Workspace, config: DistillConfig, teacher_train: TrainConfig, seed: int, on_error: str
) -> TransferJob:
    """The transfer inputs and how the teacher scores them (a brought teacher through its own tokenizer)."""
    taught = teacher.taught if teacher.taught is not None else set(work.tasks)
    rows = build_transfer(config.transfer, work.tasks, taught, seed, on_error)
    scorer, identity = teacher.transfer_scorer(work, teacher_train)
    return TransferJob(rows, scorer, Path("cache"), identity, config.transfer.chunk_rows)


def _train_student(
    teacher: Teacher,
    student: MultiTaskModel,
    work: Workspace,
    encoded: Encoded,
    cfg: DistillConfig,
    train_cfg: TrainConfig,
    logits_cache: Path | None,
    transfer: TransferJob | None = None,
) -> TrainResult:
    """The distillation objective through the one training loop (two phases for the TinyBERT schedule)."""
    tasks, layers, taught = work.tasks, teacher.layers, teacher.taught
    cached = teacher.training_targets(work, encoded, cfg, train_cfg, logits_cache)
    if transfer is not None:  # after the labelled rows' answers: transfer rows come last in each split
        transfer.join(encoded, cached, tasks, work.tokenizer, train_cfg.max_len)

    def run(phase_cfg: TrainConfig, where: Path, objective: DistillationObjective, name: str) -> TrainResult:
        return train(student, work.at(where), encoded, phase_cfg, objective, name)

    if cfg.two_stage:
        first = DistillationObjective(layers, student, tasks, cfg, use_logits=False, taught=taught)
        phase1 = train_cfg.model_copy(update={"epochs": cfg.two_stage.intermediate_epochs, "early_stopping": None})
        run(phase1, work.out / "intermediate", first, "distill (intermediate)")
        objective = DistillationObjective(layers, student, tasks, cfg, cached, use_intermediate=False, taught=taught)
    else:
        objective = DistillationObjective(layers, student, tasks, cfg, cached, taught=taught)
    return run(train_cfg, work.out, objective, "distill")
