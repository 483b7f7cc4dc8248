"""The one shape ``distil`` sees of a teacher (``Teacher``), and its two adapters: a multi-task model trained here
(``TrainedTeacher``) and teachers brought from outside, one per task (``BroughtTeachers``). What differs between
them — which layers the student may learn from, which tasks are taught, how the training rows get their targets,
how transfer inputs are scored, how the test split is predicted — is each adapter's to answer, so ``distil`` has
no branch on the teacher's kind. A user with another kind of teacher implements the protocol."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .config import DistillConfig, TrainConfig
from .errors import MtkdError
from .kd.teacher_cache import TeacherLogits
from .model import MultiTaskModel, head_spec
from .teachers import TaskTeachers, check_vocabulary, student_targets
from .training.loop import predict_all
from .transfer.scores import Scorer, model_scorer, teachers_scorer, weights_hash
from .workspace import Encoded, Workspace

log = logging.getLogger("mtkd")


@runtime_checkable
class Teacher(Protocol):
    """What ``distil`` asks of a teacher."""

    @property
    def layers(self) -> MultiTaskModel | None:
        """The encoder whose layers the student may start from and learn from (None: answers only)."""
        ...

    @property
    def taught(self) -> set[str] | None:
        """The tasks it teaches (None: every task; the others learn from their labels alone)."""
        ...

    def describe(self) -> str:
        """What the student's size is set against, for the log (e.g. "teacher's")."""
        ...

    def num_parameters(self) -> int:
        """The parameters the student's are compared with."""
        ...

    def prepare(self, work: Workspace, config: DistillConfig) -> list[Any] | None:
        """Check that it can teach ``config``'s terms on ``work``; the heads a student built from a shape gets
        (None: the layers' own heads)."""
        ...

    def training_targets(
        self, work: Workspace, encoded: Encoded, config: DistillConfig, train_cfg: TrainConfig, cache: Path | None
    ) -> TeacherLogits | None:
        """Its answers on the training rows, computed once (None: it answers beside the student every batch)."""
        ...

    def transfer_scorer(self, work: Workspace, teacher_train: TrainConfig) -> tuple[Scorer, Any]:
        """How it scores transfer inputs, and an identity that names it in the transfer cache's key."""
        ...

    def predictions(
        self, work: Workspace, encoded: Encoded, split: str, train_cfg: TrainConfig, teacher_train: TrainConfig | None
    ) -> dict[str, list[Any]] | None:
        """Its decoded predictions on ``split`` per task it teaches (None: it has none for that split)."""
        ...


@dataclass
class TrainedTeacher:
    """A multi-task model trained here: its layers teach, its heads answer every task."""

    model: MultiTaskModel
    taught: set[str] | None = None

    @property
    def layers(self) -> MultiTaskModel:
        return self.model.eval()

    def describe(self) -> str:
        return "teacher's"

    def num_parameters(self) -> int:
        return self.model.num_parameters(encoder_only=True)

    def prepare(self, work: Workspace, config: DistillConfig) -> list[Any] | None:
        return None

    def training_targets(
        self, work: Workspace, encoded: Encoded, config: DistillConfig, train_cfg: TrainConfig, cache: Path | None
    ) -> TeacherLogits | None:
        if not (config.cache_teacher_logits and config.logits is not None):
            return None
        if config.intermediate and not config.two_stage:  # the teacher runs every batch anyway: no cache
            return None
        return teacher_logits(self.model, work, encoded, train_cfg.eval_batch_size, cache)

    def transfer_scorer(self, work: Workspace, teacher_train: TrainConfig) -> tuple[Scorer, Any]:
        length, batch = teacher_train.max_len, teacher_train.eval_batch_size
        scorer = model_scorer(self.model, work.tokenizer, length, work.device, batch)
        return scorer, {"weights": weights_hash(self.model), "max_len": length}

    def predictions(
        self, work: Workspace, encoded: Encoded, split: str, train_cfg: TrainConfig, teacher_train: TrainConfig | None
    ) -> dict[str, list[Any]]:
        """By the student's code, at the teacher's own max_len."""
        teacher_train = teacher_train or train_cfg
        if teacher_train.max_len != train_cfg.max_len:
            encoded = work.encode(teacher_train.max_len)
        return predict_all(self.model, work.tasks, encoded, split, teacher_train, work.device, work.pad_id)


@dataclass
class BroughtTeachers:
    """Teachers brought from outside, one per task: answers precomputed; one encoder may lend its layers."""

    teachers: TaskTeachers

    @property
    def layers(self) -> MultiTaskModel | None:
        return self.teachers.encoder

    @property
    def taught(self) -> set[str]:
        return set(self.teachers.teachers)

    def describe(self) -> str:
        return f"{len(self.teachers.teachers)} teachers' together"

    def num_parameters(self) -> int:
        return self.teachers.num_parameters()

    def prepare(self, work: Workspace, config: DistillConfig) -> list[Any] | None:
        check_vocabulary(self.teachers, work.tokenizer)
        if config.intermediate and self.layers is None:
            raise MtkdError("intermediate-layer KD from per-task teachers needs teacher.encoder_from (whose layers)")
        return [head_spec(td) for td in work.tasks.values()]

    def training_targets(
        self, work: Workspace, encoded: Encoded, config: DistillConfig, train_cfg: TrainConfig, cache: Path | None
    ) -> TeacherLogits | None:
        train = {t: e["train"] for t, e in encoded.items()}
        return student_targets(self.teachers, work.tasks, train, work.tokenizer)

    def transfer_scorer(self, work: Workspace, teacher_train: TrainConfig) -> tuple[Scorer, Any]:
        return teachers_scorer(self.teachers), self.teachers.describe()

    def predictions(
        self, work: Workspace, encoded: Encoded, split: str, train_cfg: TrainConfig, teacher_train: TrainConfig | None
    ) -> dict[str, list[Any]] | None:
        """Brought teachers answered the test split when they were loaded; no other split."""
        return self.teachers.test_predictions() if split == "test" else None


def as_teacher(teacher: Teacher | MultiTaskModel | TaskTeachers) -> Teacher:
    """What ``distil`` was given, as a ``Teacher``: a trained model and brought teachers get their adapter."""
    if isinstance(teacher, MultiTaskModel):
        return TrainedTeacher(teacher)
    if isinstance(teacher, TaskTeachers):
        return BroughtTeachers(teacher)
    if isinstance(teacher, Teacher):
        return teacher
    raise MtkdError(f"distil: cannot teach with a {type(teacher).__name__}; give a MultiTaskModel or TaskTeachers")


def teacher_logits(
    teacher: MultiTaskModel, work: Workspace, encoded: Encoded, batch_size: int, cache: Path | None = None
) -> TeacherLogits:
    """Teacher logits on the training splits, computed once (and kept in ``cache`` when given)."""
    if cache is not None and cache.is_file():
        log.info("distill: teacher logits from cache %s", cache)
        return TeacherLogits.load(cache)
    log.info("distill: computing teacher logits once%s", f" (cached in {cache})" if cache else "")
    train = {t: e["train"] for t, e in encoded.items()}
    logits = TeacherLogits.compute(teacher, work.tasks, train, batch_size, work.device, work.pad_id)
    if cache is not None:
        logits.save(cache)
    return logits
