"""Where brought teachers come from (a recipe's ``teacher.checkpoints`` / ``teacher.outputs``): settings only,
light to import; ``distill.teachers`` loads them."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from .strict import StrictModel, existing_file


class TeacherSources(StrictModel):
    """Teachers brought from outside, one per task: fine-tuned checkpoints or files of their outputs. With
    any set, no teacher is trained; a task with neither learns from its labels alone in the same student."""

    checkpoints: dict[str, str] = Field(
        default_factory=dict,
        description="task → a fine-tuned *ForSequenceClassification / *ForTokenClassification (path or hub id); "
        "its id2label must name the task's labels",
    )
    outputs: dict[str, str] = Field(
        default_factory=dict,
        description="task → a JSONL file of precomputed outputs keyed by the task's id column "
        "(distill.teachers.outputs_file has the format)",
    )
    label_maps: dict[str, dict[str, str | None]] = Field(
        default_factory=dict,
        description="task → {the teacher's label: the task's label} where the names differ; null leaves out a "
        "label the task does not have (KD over the rest)",
    )
    encoder_from: str | None = Field(
        None,
        description="a task whose checkpoint lends its encoder layers: student init (teacher_layers, "
        "teacher_embeddings) and hidden/attention/relation KD; it must share the student's vocabulary",
    )
    trust_remote_code: bool = False
    """allow a checkpoint's own Python code to run (off: never run remote code)"""

    @field_validator("outputs")
    @classmethod
    def _outputs_exist(cls, outputs: dict[str, str]) -> dict[str, str]:
        return {task: existing_file(path) for task, path in outputs.items()}

    @model_validator(mode="after")
    def _one_teacher_per_task(self) -> TeacherSources:
        both = sorted(set(self.checkpoints) & set(self.outputs))
        if both:
            raise ValueError(f"task {both[0]!r} has a checkpoint and an outputs file; give each task one teacher")
        unknown = sorted(set(self.label_maps) - set(self.checkpoints) - set(self.outputs))
        if unknown:
            raise ValueError(f"label_maps names task {unknown[0]!r}, which has no checkpoint or outputs file")
        if self.encoder_from is not None and self.encoder_from not in self.checkpoints:
            raise ValueError(
                f"encoder_from {self.encoder_from!r} must name a task in checkpoints "
                f"({', '.join(self.checkpoints) or 'none'}): only a checkpoint has layers"
            )
        return self

    @property
    def external(self) -> bool:
        """Whether the teachers come from outside (nothing to train)."""
        return bool(self.checkpoints or self.outputs)
