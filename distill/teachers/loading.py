"""From ``TeacherSources`` (a recipe's ``teacher.checkpoints`` / ``teacher.outputs``) to ``TaskTeachers``."""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase

from ..data.examples import TaskData
from ..errors import RecipeError, TeacherMismatch
from ..model import MultiTaskModel, load_pretrained_encoder
from ..teacher_sources import TeacherSources
from .checkpoint import CheckpointTeacher
from .outputs_file import OutputsTeacher
from .targets import TaskTeachers


def load_teachers(
    sources: TeacherSources,
    tasks: dict[str, TaskData],
    *,
    max_len: int = 128,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    on_error: str = "raise",
) -> TaskTeachers:
    """Load and check every teacher against its task (named errors for a wrong class, other labels, a bad
    outputs line); ``max_len`` and ``batch_size`` are how checkpoints read text."""
    unknown = sorted((set(sources.checkpoints) | set(sources.outputs)) - set(tasks))
    if unknown:
        raise RecipeError(f"teacher: no task {unknown[0]!r} (tasks: {', '.join(tasks)})")
    teachers = {}
    for name, task in tasks.items():
        label_map = sources.label_maps.get(name)
        if name in sources.checkpoints:
            teachers[name] = CheckpointTeacher.load(
                sources.checkpoints[name],
                task,
                label_map,
                max_len=max_len,
                batch_size=batch_size,
                device=device,
                trust_remote_code=sources.trust_remote_code,
            )
        elif name in sources.outputs:
            teachers[name] = OutputsTeacher.load(sources.outputs[name], task, label_map, on_error)
    encoder = None
    if sources.encoder_from is not None:
        ref = sources.checkpoints[sources.encoder_from]
        layers, _ = load_pretrained_encoder(ref, sources.trust_remote_code)
        encoder = MultiTaskModel(layers, []).to(device).eval()  # layers only: the heads are the teachers'
    return TaskTeachers(teachers, encoder, sources.encoder_from)


def check_vocabulary(teachers: TaskTeachers, tokenizer: PreTrainedTokenizerBase) -> None:
    """The designated encoder reads the student's token ids, so both must mean the same tokens."""
    if teachers.encoder_task is None:
        return
    theirs = teachers.teachers[teachers.encoder_task].tokenizer.get_vocab()
    if theirs != tokenizer.get_vocab():
        raise TeacherMismatch(
            f"teacher.encoder_from: the checkpoint of {teachers.encoder_task!r} reads another vocabulary "
            f"({len(theirs)} tokens) than the student's tokenizer ({len(tokenizer)}); its layers are compared "
            "token by token, so set tokenizer.from_pretrained to that checkpoint"
        )
