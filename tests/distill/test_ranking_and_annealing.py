"""Ranking KD (Margin-MSE over titles of one query), batches of whole queries, and teacher annealing."""

from __future__ import annotations

import copy
import random

import pytest
import torch

from distill.config import DataConfig, DistillConfig, LogitsKD, ModelConfig, RankingKD, TaskConfig, TokenizerConfig
from distill.data.loading import load_tasks
from distill.encoding import collate, encode_examples, model_inputs
from distill.errors import MtkdError
from distill.kd.objective import DistillationObjective, ranked_tasks
from distill.kd.ranking import margin_mse, query_groups, same_query
from distill.kd.teacher_cache import TeacherLogits
from distill.model import HeadSpec, MultiTaskModel
from distill.tokenization import build_tokenizer
from distill.training.sampling import epoch_plan, grouped
from tests.conftest import TINY_MODEL, builtin_task


def test_margin_mse_matches_the_teacher_s_differences_within_a_query():
    student = torch.tensor([[1.0], [2.0], [5.0], [0.0]])
    teacher = torch.tensor([[1.5], [2.0], [3.0], [9.0]])
    same = torch.zeros(4, 4, dtype=torch.bool)
    same[0, 1] = same[1, 0] = same[0, 2] = same[2, 0] = same[1, 2] = same[2, 1] = True  # rows 0-2: one query
    # pairs (0,1), (0,2), (1,2): student margins -1, -4, -3; teacher -0.5, -1.5, -1 -> errors -0.5, -2.5, -2
    assert margin_mse(student, teacher, same).item() == pytest.approx((0.25 + 6.25 + 4.0) / 3)
    shifted = student + 7.0  # a constant offset per query costs nothing
    assert margin_mse(shifted, student, same).item() == pytest.approx(0.0)
    assert margin_mse(student, teacher, torch.zeros(4, 4, dtype=torch.bool)).item() == 0.0


def test_rows_of_one_query_are_found_from_the_first_text_s_tokens():
    ids = torch.tensor([[101, 7, 8, 102, 20, 102, 0], [101, 7, 8, 102, 21, 22, 102], [101, 7, 9, 102, 20, 102, 0]])
    types = torch.tensor([[0, 0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]])
    same = same_query(ids, types, mask)
    assert same.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    rows = [[i for i, m in zip(r, k, strict=True) if m] for r, k in zip(ids.tolist(), mask.tolist(), strict=True)]
    kinds = [[t for t, m in zip(r, k, strict=True) if m] for r, k in zip(types.tolist(), mask.tolist(), strict=True)]
    assert query_groups(rows, kinds) == [0, 0, 1]  # a split's rows are unpadded


def test_batches_of_whole_queries_cover_every_row_once_and_keep_queries_together():
    groups = [i // 5 for i in range(60)]  # 12 queries of 5 rows
    random.Random(0).shuffle(groups)
    batches = grouped(groups, 10, random.Random(1))
    rows = [i for b in batches for i in b]
    assert sorted(rows) == list(range(60))
    position = {i: p for p, i in enumerate(rows)}
    for g in set(groups):  # a query's rows are contiguous in the epoch's order
        where = sorted(position[i] for i, q in enumerate(groups) if q == g)
        assert where == list(range(where[0], where[0] + 5))
    plan = epoch_plan({"t": 60}, 10, "proportional", 2.0, 0, 0, groups={"t": groups})
    assert plan == epoch_plan({"t": 60}, 10, "proportional", 2.0, 0, 0, groups={"t": groups})  # resumable


@pytest.fixture(scope="module")
def pair_setup():
    tasks = load_tasks({"score": TaskConfig(**builtin_task("score", 200))}, seed=0, data=DataConfig())
    tok = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=400), tasks)
    torch.manual_seed(0)
    heads = [HeadSpec("score", "regression", ())]
    teacher = MultiTaskModel.from_config(ModelConfig(**TINY_MODEL), heads, tok).eval()
    student = MultiTaskModel.from_config(ModelConfig(**TINY_MODEL), heads, tok)
    enc = encode_examples(tok, tasks["score"].splits["train"], tasks["score"].kind, 32)
    return tasks, tok, teacher, student, enc


def test_annealing_moves_the_target_from_the_teacher_to_the_label(pair_setup):
    tasks, tok, teacher, student, enc = pair_setup
    batch = collate(enc, list(range(16)), tok.pad_token_id, False)
    with torch.no_grad():
        t = teacher(**model_inputs(batch), tasks=["score"]).logits["score"]
        s = student(**model_inputs(batch), tasks=["score"]).logits["score"]
    cached = TeacherLogits({"score": list(t.unbind(0)) + [t[0]] * (len(enc) - 16)})
    cfg = DistillConfig(logits=LogitsKD(anneal=True, alpha=0.3))
    objective = DistillationObjective(None, student, tasks, cfg, cached)
    kd = torch.mean((s.squeeze(-1) - t.squeeze(-1)) ** 2)
    hard = torch.mean((s.squeeze(-1) - batch["labels"]) ** 2)
    with torch.no_grad():
        objective.set_progress(0.0)
        assert objective(student, "score", batch).item() == pytest.approx(kd.item(), rel=1e-5)
        objective.set_progress(1.0)
        assert objective(student, "score", batch).item() == pytest.approx(hard.item(), rel=1e-5)
        objective.set_progress(0.25)
        assert objective(student, "score", batch).item() == pytest.approx((0.75 * kd + 0.25 * hard).item(), rel=1e-5)


def test_ranking_kd_adds_the_margin_loss_of_the_batch_s_query_pairs(pair_setup):
    tasks, tok, teacher, student, enc = pair_setup
    student = copy.deepcopy(student)
    with torch.no_grad():  # an untrained head answers nearly the same for every row: spread its scores
        for p in student.heads.parameters():
            p.mul_(50.0)
    groups = query_groups(enc.input_ids, enc.token_type_ids)
    first = [i for i, g in enumerate(groups) if groups.count(g) > 1][:1]
    rows = [i for i, g in enumerate(groups) if g == groups[first[0]]] + list(range(4))
    batch = collate(enc, rows, tok.pad_token_id, False)
    with torch.no_grad():
        t = teacher(**model_inputs(batch), tasks=["score"]).logits["score"]
        s = student(**model_inputs(batch), tasks=["score"]).logits["score"]
    plain = DistillationObjective(teacher, student, tasks, DistillConfig(logits=LogitsKD(alpha=1.0)))
    ranked = DistillationObjective(
        teacher, student, tasks, DistillConfig(logits=LogitsKD(alpha=1.0), ranking=RankingKD(weight=2.0))
    )
    same = same_query(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    assert same.any() and margin_mse(s, t, same).item() > 1e-3
    with torch.no_grad():
        extra = ranked(student, "score", batch) - plain(student, "score", batch)
    assert extra.item() == pytest.approx(2.0 * margin_mse(s, t, same).item(), rel=1e-4)
    assert ranked_tasks(DistillConfig(ranking=RankingKD()), tasks) == {"score"}
    cat = load_tasks({"category": TaskConfig(**builtin_task("category", 60))}, seed=0, data=DataConfig())
    with pytest.raises(MtkdError, match="not a pair task with a score"):
        ranked_tasks(DistillConfig(ranking=RankingKD(tasks=["category"])), cat)
