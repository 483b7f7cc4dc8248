"""Tasks, data, tokenization, the multi-task model, losses and the one training loop — and the verbs
that train a teacher and distil it (``distill.api``):

    from distill import TaskConfig, Workspace, load_tasks, build_tokenizer, train_teacher, distil

Teachers you already have, one per task (fine-tuned checkpoints or files of their outputs), go through
``load_teachers(TeacherSources(checkpoints={...}), tasks)`` into ``distil`` in place of a trained teacher.

Names load on first use, so ``import distill`` stays cheap for the command line.
"""

from __future__ import annotations

from .registry import lazy_exports

__version__ = "0.1.0"

_PUBLIC = {
    "train_teacher": "distill.api",
    "distil": "distill.api",
    "Trained": "distill.api",
    "Distilled": "distill.api",
    "PipelineCaches": "distill.api",
    "Workspace": "distill.workspace",
    "Placement": "distill.workspace",
    "load_tasks": "distill.data.loading",
    "build_tokenizer": "distill.tokenization",
    "load_tokenizer": "distill.tokenization",
    "MultiTaskModel": "distill.model",
    "DataConfig": "distill.config",
    "TaskConfig": "distill.config",
    "TokenizerConfig": "distill.config",
    "ModelConfig": "distill.config",
    "StudentModelConfig": "distill.config",
    "TrainConfig": "distill.config",
    "DistillConfig": "distill.config",
    "TeacherSources": "distill.teacher_sources",
    "load_teachers": "distill.teachers",
    "TaskTeachers": "distill.teachers",
    "TaskTeacher": "distill.teachers",
    "LogitsKD": "distill.config",
    "HiddenKD": "distill.config",
    "AttentionKD": "distill.config",
    "RelationKD": "distill.config",
    "TASK_TYPES": "distill.tasks",
    "LOGIT_LOSSES": "distill.kd.losses",
    "LAYER_LOSSES": "distill.kd.layer_transfer",
    "LayerLoss": "distill.kd.layer_transfer",
}
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_exports(__name__, _PUBLIC)
