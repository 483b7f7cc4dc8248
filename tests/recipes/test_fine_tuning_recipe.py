"""The recipe's teacher section applies the fine-tuning defaults only to a teacher started from a checkpoint."""

from __future__ import annotations

import pytest

from recipes.schema import TeacherConfig


def test_only_a_teacher_from_a_checkpoint_gets_them():
    ckpt = TeacherConfig.model_validate({"model": {"from_pretrained": "some/checkpoint"}, "train": {"lr": 2e-5}})
    assert ckpt.train.head_lr == pytest.approx(4e-4) and ckpt.train.task_patience == 2
    scratch = TeacherConfig.model_validate({"model": {"layers": 2}})
    assert scratch.train.head_lr is None and scratch.train.epochs == 3 and scratch.train.task_patience is None
