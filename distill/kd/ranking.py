"""Ranking KD for pair tasks scored on a scale (query–product relevance): the student matches the
teacher's *differences* between titles of one query, not only each score.

Margin-MSE (Hofstätter et al., 2020) is how sentence-transformers distils its MS MARCO cross-encoders: for
two titles i, j of one query, (s_i − s_j) should equal (t_i − t_j). A student that is off by a constant
for a query still ranks its titles right; the margin loss spends its capacity on the order the user sees.
Rows of one query are those whose first text's tokens are identical (token type 0); batches hold whole
queries when ``train.group_pairs`` is on, else only the pairs a random batch happens to contain count.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from ..registry import Registry

RankingLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (student, teacher, same) -> loss
RANKING_LOSSES: Registry[RankingLoss] = Registry("ranking KD loss")


def same_query(input_ids: torch.Tensor, token_type_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch, batch) boolean: rows i ≠ j whose first text (token type 0, not padding) is the same."""
    first = (token_type_ids == 0) & attention_mask.bool()
    keys = input_ids.masked_fill(~first, -1)
    same = (keys[:, None, :] == keys[None, :, :]).all(-1)
    return same & ~torch.eye(len(keys), dtype=torch.bool, device=keys.device)


@RANKING_LOSSES.register("margin_mse")
def margin_mse(student: torch.Tensor, teacher: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Mean over pairs of one query of ((s_i − s_j) − (t_i − t_j))²; zero when the batch holds no such pair."""
    s, t = student.float().reshape(len(student), -1)[:, 0], teacher.float().reshape(len(teacher), -1)[:, 0]
    i, j = torch.triu(same, diagonal=1).nonzero(as_tuple=True)
    if not len(i):
        return student.sum() * 0.0
    return F.mse_loss(s[i] - s[j], t[i] - t[j])


def query_groups(input_ids: list[list[int]], token_type_ids: list[list[int]]) -> list[int]:
    """Per row, the index of its first text among the split's distinct first texts (for batching by query)."""
    index: dict[tuple[int, ...], int] = {}
    out = []
    for ids, types in zip(input_ids, token_type_ids, strict=True):
        key = tuple(i for i, t in zip(ids, types, strict=True) if t == 0)
        out.append(index.setdefault(key, len(index)))
    return out
