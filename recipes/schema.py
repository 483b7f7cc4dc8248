"""The recipe: one YAML file, validated by typed models before anything runs."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from benchmarks.config import BenchConfig
from compress.onnx.config import QuantizeConfig
from distill.config import (
    DataConfig,
    DistillConfig,
    ModelConfig,
    StrictModel,
    StudentModelConfig,
    TaskConfig,
    TokenizerConfig,
    TrainConfig,
)

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class TeacherConfig(StrictModel):
    """The multi-task teacher: its encoder shape and how it is trained."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


class StudentConfig(StrictModel):
    """The distilled student: its shape, what it learns from the teacher, how it is trained."""

    model: StudentModelConfig = Field(default_factory=lambda: StudentModelConfig(layers=2, hidden=128, heads=2))
    distill: DistillConfig = Field(default_factory=DistillConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


def encoder_size(m: ModelConfig) -> int:
    """Approximate encoder parameters per layer stack (attention + FFN), for size sanity checks."""
    ffn = m.intermediate or 4 * m.hidden
    return m.layers * (4 * m.hidden * m.hidden + 2 * m.hidden * ffn)


class Recipe(StrictModel):
    """A whole pipeline: tasks and their data, the tokenizer and each stage's settings."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    tasks: dict[str, TaskConfig] = Field(min_length=1)
    tokenizer: TokenizerConfig = Field(default_factory=lambda: TokenizerConfig(train="wordpiece"))
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    student: StudentConfig | None = None
    quantize: QuantizeConfig | None = None
    bench: BenchConfig | None = None

    @field_validator("tasks")
    @classmethod
    def _task_names(cls, tasks: dict[str, TaskConfig]) -> dict[str, TaskConfig]:
        bad = [t for t in tasks if not NAME.match(t)]
        if bad:
            raise ValueError(f"task name {bad[0]!r} must start with a letter and use only letters, digits and _")
        return tasks

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        sections = {"teacher": self.teacher.train, "student": self.student.train if self.student else None}
        for section, train in sections.items():
            unknown = set(train.task_weights) - set(self.tasks) if train else set()
            if unknown:
                raise ValueError(
                    f"{section}.train.task_weights names unknown task {sorted(unknown)[0]!r}; "
                    f"tasks are: {', '.join(self.tasks)}"
                )
        if self.student is not None:
            self._check_student(self.student, self.teacher.model)
        return self

    @staticmethod
    def _check_student(student: StudentConfig, teacher: ModelConfig) -> None:
        s, d = student.model, student.distill
        if teacher.from_pretrained or s.from_pretrained:
            return  # shapes are only known once the checkpoints are loaded
        if encoder_size(s) > encoder_size(teacher):
            raise ValueError(
                f"student.model ({s.layers} layers, hidden {s.hidden}) is larger than the teacher "
                f"({teacher.layers} layers, hidden {teacher.hidden}); a student must be smaller"
            )
        shape = (s.hidden, s.heads, s.intermediate or 4 * s.hidden)
        if s.init == "teacher_layers" and shape != (
            teacher.hidden,
            teacher.heads,
            teacher.intermediate or 4 * teacher.hidden,
        ):
            raise ValueError(
                "student.model.init: teacher_layers needs the teacher's hidden, heads and "
                "intermediate sizes; use init: random with hidden/relation distillation instead"
            )
        if d.attention is not None and s.heads != teacher.heads:
            raise ValueError(
                f"student.distill.attention needs equal head counts (teacher {teacher.heads}, "
                f"student {s.heads}); use student.distill.relation, which works across head counts"
            )
        if d.relation is not None and (s.hidden % d.relation.heads or teacher.hidden % d.relation.heads):
            raise ValueError(
                f"student.distill.relation.heads ({d.relation.heads}) must divide both hidden sizes "
                f"(teacher {teacher.hidden}, student {s.hidden})"
            )
