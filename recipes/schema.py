"""The recipe: one YAML file, validated by typed models before anything runs."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from distill.config import DataConfig, ModelConfig, StrictModel, TaskConfig, TokenizerConfig, TrainConfig

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class TeacherConfig(StrictModel):
    """The multi-task teacher: its encoder shape and how it is trained."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


class Recipe(StrictModel):
    """A whole pipeline: tasks and their data, the tokenizer and each stage's settings."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    tasks: dict[str, TaskConfig] = Field(min_length=1)
    tokenizer: TokenizerConfig = Field(default_factory=lambda: TokenizerConfig(train="wordpiece"))
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)

    @field_validator("tasks")
    @classmethod
    def _task_names(cls, tasks: dict[str, TaskConfig]) -> dict[str, TaskConfig]:
        bad = [t for t in tasks if not NAME.match(t)]
        if bad:
            raise ValueError(f"task name {bad[0]!r} must start with a letter and use only letters, digits and _")
        return tasks

    @model_validator(mode="after")
    def _weights_name_tasks(self) -> Recipe:
        unknown = set(self.teacher.train.task_weights) - set(self.tasks)
        if unknown:
            raise ValueError(
                f"teacher.train.task_weights names unknown task {sorted(unknown)[0]!r}; "
                f"tasks are: {', '.join(self.tasks)}"
            )
        return self
