"""KD losses on small hand-computed tensors; each is zero when the student equals the teacher."""

from __future__ import annotations

import math

import pytest
import torch

from distill.kd.losses import (
    LOGIT_LOSSES,
    attention_kl,
    bernoulli_kl,
    hidden_mse,
    relation_kl,
    score_mse,
    softmax_kl,
    token_kl,
)

torch.manual_seed(0)


def test_softmax_kl_matches_a_hand_computation_with_t_squared():
    s, t = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])  # teacher p = (0.75, 0.25)
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert softmax_kl(s, t, 1.0).item() == pytest.approx(expected, rel=1e-6)
    # at T=2 the teacher becomes (√3, 1)/(√3 + 1) and the loss is scaled by T² = 4
    p = math.sqrt(3) / (math.sqrt(3) + 1)
    at_t2 = 4 * (p * math.log(p / 0.5) + (1 - p) * math.log((1 - p) / 0.5))
    assert softmax_kl(s, t, 2.0).item() == pytest.approx(at_t2, rel=1e-6)


def test_bernoulli_kl_matches_a_hand_computation():
    s, t = torch.tensor([[0.0]]), torch.tensor([[math.log(3.0)]])  # q = 0.5, p = 0.75
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert bernoulli_kl(s, t, 1.0).item() == pytest.approx(expected, rel=1e-5)


def test_token_kl_ignores_padding_and_non_first_subtokens():
    student, teacher = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    labels = torch.tensor([[1, -100, 2, -100], [0, -100, -100, -100]])
    keep = labels != -100
    assert token_kl(student, teacher, 1.0, labels).item() == pytest.approx(
        softmax_kl(student[keep], teacher[keep], 1.0).item(), rel=1e-6
    )
    # changing the masked positions changes nothing
    student2 = student.clone()
    student2[~keep] = 100.0
    assert token_kl(student2, teacher, 1.0, labels).item() == pytest.approx(
        token_kl(student, teacher, 1.0, labels).item(), rel=1e-6
    )


def test_hidden_mse_ignores_padding():
    s, t = torch.zeros(1, 3, 2), torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert hidden_mse(s, t, mask).item() == pytest.approx((1 + 1 + 9 + 9) / 4)


def test_attention_kl_hand_computed_and_padded_queries_ignored():
    t = torch.tensor([[[[0.75, 0.25], [0.5, 0.5]]]])  # (batch, heads, query, key)
    s = torch.tensor([[[[0.5, 0.5], [0.9, 0.1]]]])
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert attention_kl(s, t, torch.tensor([[1, 0]])).item() == pytest.approx(expected, rel=1e-5)


def test_relation_kl_works_across_widths_and_ignores_padded_keys():
    mask = torch.tensor([[1, 1, 1, 0]])
    teacher, student = torch.randn(1, 4, 8), torch.randn(1, 4, 4)  # widths differ
    loss = relation_kl(student, teacher, mask, heads=2)
    assert loss.item() > 0
    moved = student.clone()
    moved[:, 3] += 50.0  # a padded position: neither a query nor a key
    assert relation_kl(moved, teacher, mask, heads=2).item() == pytest.approx(loss.item(), rel=1e-5)


@pytest.mark.parametrize("kind", ["class", "classes", "score", "tags"])
def test_every_logit_loss_is_zero_when_student_equals_teacher(kind):
    logits = torch.randn(3, 5, 4) if kind == "tags" else torch.randn(3, 4)
    labels = torch.tensor([[0, 1, -100, 2, -100]] * 3) if kind == "tags" else None
    assert LOGIT_LOSSES.get(kind)(logits, logits.clone(), 2.0, labels).abs().item() < 1e-5


def test_intermediate_losses_are_zero_when_equal():
    x, mask = torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.long)
    att = torch.softmax(torch.randn(2, 2, 5, 5), -1)
    assert hidden_mse(x, x, mask).item() == 0.0
    assert attention_kl(att, att, mask).abs().item() < 1e-6
    assert relation_kl(x, x, mask, heads=2).abs().item() < 1e-6
    assert score_mse(x, x, 1.0).item() == 0.0
