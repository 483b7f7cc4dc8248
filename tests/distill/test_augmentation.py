"""Distillation data augmentation: what is replaced, by what, and how augmented rows are trained."""

from __future__ import annotations

import copy
import random

import pytest
import torch
from transformers import BertForMaskedLM

from distill.augmentation import augment_split, mlm_replacements
from distill.config import AugmentConfig, DistillConfig, LogitsKD, ModelConfig, TaskConfig
from distill.encoding import collate
from distill.kd.objective import DistillationObjective
from distill.model import HeadSpec, MultiTaskModel
from tests.conftest import builtin_task, prepare_tasks, tiny_bert_config


@pytest.fixture(scope="module")
def setup():
    cfgs = {n: TaskConfig(**builtin_task(n, s)) for n, s in (("category", 120), ("attributes", 120))}
    tasks, tok, enc = prepare_tasks(cfgs, vocab_size=300)
    torch.manual_seed(0)
    heads = [HeadSpec(t, d.config.type, tuple(d.labels)) for t, d in tasks.items()]
    model_cfg = ModelConfig(layers=1, hidden=32, heads=2, intermediate=64, dropout=0.0, attention_dropout=0.0)
    teacher = MultiTaskModel.from_config(model_cfg, heads, tok).eval()
    mlm = BertForMaskedLM(tiny_bert_config(len(tok), max_position=128)).eval()
    return tasks, tok, enc, teacher, mlm


def test_mask_copies_keep_shape_labels_and_specials_and_mark_rows_synthetic(setup):
    _, tok, enc, _, _ = setup
    split = enc["attributes"]["train"]
    special = set(tok.all_special_ids)
    out = augment_split(split, AugmentConfig(method="mask", copies=2, prob=0.3), tok, 0, "attributes")
    n = len(split)
    assert len(out) == 3 * n and out.synthetic == [False] * n + [True] * 2 * n
    assert out.input_ids[:n] == split.input_ids  # originals untouched
    for k in range(2 * n):
        i = k % n
        new, old = out.input_ids[n + k], split.input_ids[i]
        assert len(new) == len(old) and out.targets[n + k] == split.targets[i]
        assert out.word_ids[n + k] == split.word_ids[i]  # tag alignment survives token-for-token replacement
        changed = [p for p, (a, b) in enumerate(zip(new, old, strict=True)) if a != b]
        ordinary = [p for p, t in enumerate(old) if t not in special]
        assert all(new[p] == tok.mask_token_id for p in changed)
        assert all(old[p] not in special for p in changed)  # [CLS]/[SEP] never replaced
        assert len(changed) == max(1, round(0.3 * len(ordinary)))
    again = augment_split(split, AugmentConfig(method="mask", copies=2, prob=0.3), tok, 0, "attributes")
    assert again.input_ids == out.input_ids  # seeded
    assert (
        augment_split(split, AugmentConfig(method="mask", prob=0.3), tok, 1, "attributes").input_ids
        != out.input_ids[: 2 * n]
    )


def test_mlm_replacements_come_from_the_models_top_k_and_are_never_the_original_or_special(setup):
    _, tok, enc, _, mlm = setup
    rows = enc["category"]["train"].input_ids[:6]
    positions = [[1, 2], [1], [2, 3], [1], [1, 2], [2]]
    banned = set(tok.all_special_ids)
    new = mlm_replacements(mlm, rows, positions, tok, banned, 3, random.Random(0), torch.device("cpu"))
    for row, pos, out in zip(rows, positions, new, strict=True):
        masked = torch.tensor([[tok.mask_token_id if p in pos else t for p, t in enumerate(row)]])
        with torch.no_grad():
            logits = mlm(input_ids=masked, attention_mask=torch.ones_like(masked)).logits[0]
        logits[:, sorted(banned)] = float("-inf")
        for p in range(len(row)):
            if p in pos:
                allowed = [t for t in logits[p].topk(4).indices.tolist() if t != row[p]][:3]
                assert out[p] in allowed and out[p] != row[p] and out[p] not in banned
            else:
                assert out[p] == row[p]


def test_augmented_rows_learn_from_the_teacher_only(setup):
    tasks, tok, enc, teacher, _ = setup
    split = augment_split(enc["category"]["train"], AugmentConfig(method="mask", prob=0.3), tok, 0, "category")
    n = len(enc["category"]["train"])
    split.targets = [
        (t + 1) % len(tasks["category"].labels) if s else t for t, s in zip(split.targets, split.synthetic, strict=True)
    ]
    objective = DistillationObjective(teacher, copy.deepcopy(teacher), tasks, DistillConfig(logits=LogitsKD(alpha=0.5)))
    student = objective.teacher  # the student is the teacher: KD is exactly zero, only hard losses remain
    synthetic = collate(split, list(range(n, n + 8)), tok.pad_token_id, False)
    assert synthetic["synthetic"].all()
    assert objective(student, "category", synthetic).abs().item() < 1e-6  # wrong labels, yet no loss: KD only
    mixed = collate(split, [0, 1, 2, n, n + 1, n + 2, n + 3, n + 4], tok.pad_token_id, False)
    real = collate(split, [0, 1, 2], tok.pad_token_id, False)
    expected = (
        3
        / 8
        * 0.5
        * tasks["category"].kind.loss(
            student(
                input_ids=real["input_ids"],
                attention_mask=real["attention_mask"],
                token_type_ids=real["token_type_ids"],
            ).logits["category"],
            real["labels"],
        )
    )
    assert objective(student, "category", mixed).item() == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() > 0


def test_augmentation_needs_teacher_targets():
    with pytest.raises(ValueError, match=r"augment needs distill\.logits"):
        DistillConfig(logits=None, augment=AugmentConfig())
