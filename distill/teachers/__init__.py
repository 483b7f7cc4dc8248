"""Teachers brought from outside, one per task: fine-tuned Hugging Face checkpoints or files of their
outputs, distilled into one multi-task student (``distill.api.distil`` takes ``TaskTeachers`` where it
takes a trained multi-task teacher)."""

from __future__ import annotations

from .base import TaskTeacher, decode_outputs, teacher_metrics
from .checkpoint import CheckpointTeacher
from .loading import check_vocabulary, load_teachers
from .outputs_file import OutputsTeacher
from .targets import TaskTeachers, student_targets

__all__ = [
    "CheckpointTeacher",
    "OutputsTeacher",
    "TaskTeacher",
    "TaskTeachers",
    "check_vocabulary",
    "decode_outputs",
    "load_teachers",
    "student_targets",
    "teacher_metrics",
]
