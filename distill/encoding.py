"""Tokenize examples once, align word tags to sub-tokens, and pad batches on the fly."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from .data.examples import SPLITS, Example, TaskData
from .tasks import IGNORE_INDEX, TaskType

log = logging.getLogger("mtkd")


@dataclass
class EncodedSplit:
    """Token ids per example plus targets; for tags, ``word_ids`` maps sub-tokens to words."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    targets: list[Any]
    word_ids: list[list[int | None]] = field(default_factory=list)
    truncated: int = 0  # examples longer than max_len (their tail is cut)
    synthetic: list[bool] = field(default_factory=list)  # augmented rows: teacher soft targets only
    source: list[int] = field(default_factory=list)  # augmented splits: the example each row was copied from

    def __len__(self) -> int:
        return len(self.input_ids)


def _safe_words(words: list[str], unk: str) -> list[str]:
    # a whitespace-only word (CoNLL allows it) would vanish in the tokenizer and shift alignment
    return [w if w.strip() else unk for w in words]


def align_tags(word_ids: list[int | None], tags: list[int]) -> list[int]:
    """First sub-token of each word carries its tag; other sub-tokens and specials are ignored."""
    out, prev = [], None
    for w in word_ids:
        out.append(tags[w] if w is not None and w != prev else IGNORE_INDEX)
        prev = w
    return out


def encode_examples(
    tokenizer: PreTrainedTokenizerBase, examples: list[Example], kind: TaskType, max_len: int
) -> EncodedSplit:
    """Tokenize a list of examples of one task (truncating to ``max_len``)."""
    tags = kind.per_token
    if tags:
        texts = [_safe_words(ex.text, tokenizer.unk_token) for ex in examples]
        enc = tokenizer(texts, is_split_into_words=True, truncation=True, max_length=max_len)
        full = tokenizer(texts, is_split_into_words=True, truncation=False)
    else:
        texts = [ex.text for ex in examples]
        pairs = [ex.text_pair for ex in examples] if examples and examples[0].text_pair is not None else None
        enc = tokenizer(texts, pairs, truncation=True, max_length=max_len)
        full = tokenizer(texts, pairs, truncation=False)
    n_trunc = sum(len(f) > max_len for f in full["input_ids"])
    ttype = enc.get("token_type_ids") or [[0] * len(ids) for ids in enc["input_ids"]]
    split = EncodedSplit(enc["input_ids"], ttype, [ex.target for ex in examples], truncated=n_trunc)
    if tags:
        split.word_ids = [enc.word_ids(i) for i in range(len(examples))]
        split.targets = [align_tags(split.word_ids[i], ex.target) for i, ex in enumerate(examples)]
    return split


MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors a model's forward takes, without labels or example indices."""
    return {k: batch[k] for k in MODEL_INPUTS if k in batch}


def labels_of(batch: dict[str, Any], task: str) -> torch.Tensor:
    """One task's labels; a joint batch (several heads on the same inputs) holds one tensor per task."""
    labels = batch["labels"]
    return labels[task] if isinstance(labels, dict) else labels


def collate(split: EncodedSplit, indices: list[int], pad_id: int, tags: bool) -> dict[str, torch.Tensor]:
    """A padded batch (to its longest member) with ``labels`` in the task's target encoding and
    ``index``, the examples' positions in the split (for per-example caches such as teacher logits);
    ``synthetic`` marks augmented rows when the split has any."""
    length = max(len(split.input_ids[i]) for i in indices)
    ids = torch.full((len(indices), length), pad_id, dtype=torch.long)
    types = torch.zeros((len(indices), length), dtype=torch.long)
    mask = torch.zeros((len(indices), length), dtype=torch.long)
    for row, i in enumerate(indices):
        n = len(split.input_ids[i])
        ids[row, :n] = torch.tensor(split.input_ids[i])
        types[row, :n] = torch.tensor(split.token_type_ids[i])
        mask[row, :n] = 1
    if tags:
        labels = torch.full((len(indices), length), IGNORE_INDEX, dtype=torch.long)
        for row, i in enumerate(indices):
            labels[row, : len(split.targets[i])] = torch.tensor(split.targets[i])
    else:
        labels = torch.tensor([split.targets[i] for i in indices])
    batch = {
        "input_ids": ids,
        "token_type_ids": types,
        "attention_mask": mask,
        "labels": labels,
        "index": torch.tensor(indices),
    }
    if split.synthetic:
        batch["synthetic"] = torch.tensor([split.synthetic[i] for i in indices])
    return batch


def encode_tasks(
    tokenizer: PreTrainedTokenizerBase, tasks: dict[str, TaskData], max_len: int
) -> dict[str, dict[str, EncodedSplit]]:
    """Every split of every task tokenized once; truncation is reported, not hidden."""
    encoded = {
        t: {s: encode_examples(tokenizer, td.splits[s], td.kind, max_len) for s in SPLITS} for t, td in tasks.items()
    }
    for t, splits in encoded.items():
        cut = sum(e.truncated for e in splits.values())
        if cut:
            log.warning("data %s: %d examples longer than max_len=%d were truncated", t, cut, max_len)
    return encoded
