"""Knowledge-distillation losses, registered by name.

Each head type gets the KD loss that fits it (requirement: never softmax KD everywhere):
softmax KL with T² for single-label heads, Bernoulli KL for multi-label heads, MSE for
regression, per-token KL for tags with padding and non-first sub-tokens masked. Every loss is
zero when the student's outputs equal the teacher's. Intermediate losses read the fixed output
names of ``MultiTaskOutput`` (hidden states, attentions) or captured Q/K/V projections, so a
new loss never touches the model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from ..registry import Registry
from ..tasks import IGNORE_INDEX

LogitLoss = Callable[[torch.Tensor, torch.Tensor, float, torch.Tensor | None], torch.Tensor]
LOGIT_LOSSES: Registry[LogitLoss] = Registry("logit KD loss")  # keyed by a task type's label kind


@LOGIT_LOSSES.register("class")
def softmax_kl(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """KL(teacher ‖ student) of temperature-softened distributions, × T² (Hinton et al.)."""
    t = F.log_softmax(teacher / temperature, dim=-1)
    s = F.log_softmax(student / temperature, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2


@LOGIT_LOSSES.register("classes")
def bernoulli_kl(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-label Bernoulli KL of softened sigmoids, × T²; the multi-label analogue of softmax KD.

    BCE against soft targets equals KL plus the teacher's entropy; subtracting that entropy
    makes the loss zero when the student matches the teacher.
    """
    p = torch.sigmoid(teacher / temperature)
    bce = F.binary_cross_entropy_with_logits(student / temperature, p, reduction="none")
    entropy = F.binary_cross_entropy_with_logits(teacher / temperature, p, reduction="none")
    return (bce - entropy).sum(-1).mean() * temperature**2


@LOGIT_LOSSES.register("score")
def score_mse(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Regression heads match the teacher's predicted score (temperature does not apply)."""
    return F.mse_loss(student.float(), teacher.float())


@LOGIT_LOSSES.register("tags")
def token_kl(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Softmax KL per token, averaged over the positions that carry a tag (first sub-tokens)."""
    if labels is None:
        raise ValueError("token KD needs the labels tensor to know which positions carry a tag")
    keep = labels != IGNORE_INDEX
    if not keep.any():
        return student.sum() * 0.0
    return softmax_kl(student[keep], teacher[keep], temperature)


def hidden_mse(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MSE between (projected) student and teacher hidden states over non-padding tokens."""
    keep = mask.bool()
    return F.mse_loss(student[keep].float(), teacher[keep].float())


def attention_kl(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL between attention maps per head and query row (TinyBERT), over non-padding queries.

    Shapes (batch, heads, query, key); needs equal head counts (use the relation loss otherwise).
    """
    eps = torch.finfo(torch.float32).tiny
    t, s = teacher.float().clamp_min(eps), student.float().clamp_min(eps)
    kl = (t * (t.log() - s.log())).sum(-1)  # (batch, heads, query)
    rows = mask.bool()[:, None, :].expand_as(kl)
    return kl[rows].mean()


def _relations(x: torch.Tensor, heads: int, mask: torch.Tensor) -> torch.Tensor:
    """Log-softmax of scaled dot products between positions, split into ``heads`` relation heads."""
    b, length, width = x.shape
    x = x.float().view(b, length, heads, width // heads).transpose(1, 2)  # (b, heads, L, d)
    scores = x @ x.transpose(-1, -2) / (width // heads) ** 0.5
    scores = scores.masked_fill(~mask.bool()[:, None, None, :], torch.finfo(torch.float32).min)
    return F.log_softmax(scores, dim=-1)


def relation_kl(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, heads: int) -> torch.Tensor:
    """MiniLM-v2 self-attention relation loss for one of Q, K or V.

    Teacher and student vectors are each split into the same number of relation heads, so the
    loss works when hidden sizes and attention head counts differ.
    """
    t = _relations(teacher, heads, mask)
    s = _relations(student, heads, mask)
    kl = (t.exp() * (t - s)).sum(-1)  # (b, heads, L)
    rows = mask.bool()[:, None, :].expand_as(kl)
    return kl[rows].mean()
