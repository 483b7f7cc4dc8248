"""Vocabulary pruning: drop the embedding rows of tokens the recipe's text does not use.

A small student's encoder is mostly its embedding table (the ecommerce student: 16k × 64 of its
1.16M parameters), which head and FFN pruning cannot touch. A WordPiece vocabulary learned on a
corpus holds many pieces its own tokenizer never emits (longer pieces win the greedy match) and
pieces seen only once or twice. Keeping the special tokens, every token used at least
``min_count`` times in the training texts, and (by default) every single character used at all
(so a rare word still splits into trained pieces instead of becoming [UNK]), the table shrinks
while the training texts tokenize exactly as before when ``min_count`` is 1. A token the training
texts never use has an embedding row that was never trained (pretraining reads the same texts),
so dropping it loses nothing. Kept tokens keep their order; the tokenizer is rewritten with the
new ids, so the model and its tokenizer still travel together.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch
from pydantic import Field
from torch import nn
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from distill.config import StrictModel
from distill.errors import MtkdError
from distill.model import MultiTaskModel


class VocabularyConfig(StrictModel):
    """Which tokens stay in the embedding table."""

    min_count: int = Field(1, ge=1, description="keep tokens used at least this often in the training texts")
    keep_characters: bool = Field(
        True, description="keep single-character tokens used at least once, so rare words split, not [UNK]"
    )


def token_counts(sequences: Iterable[list[int]]) -> Counter[int]:
    """How often each token id occurs in tokenized texts."""
    counts: Counter[int] = Counter()
    for ids in sequences:
        counts.update(ids)
    return counts


def _is_character(token: str, prefix: str) -> bool:
    return len(token) == 1 or (token.startswith(prefix) and len(token) == len(prefix) + 1)


def kept_tokens(tokenizer: PreTrainedTokenizerBase, counts: Counter[int], cfg: VocabularyConfig) -> list[int]:
    """Old ids of the tokens that stay, ascending: specials, frequent tokens, (used single characters)."""
    prefix = _wordpiece(tokenizer)["continuing_subword_prefix"]
    keep = set(tokenizer.all_special_ids) | {t for t, n in counts.items() if n >= cfg.min_count}
    if cfg.keep_characters:
        keep |= {i for tok, i in tokenizer.get_vocab().items() if counts[i] and _is_character(tok, prefix)}
    return sorted(keep)


def _wordpiece(tokenizer: PreTrainedTokenizerBase) -> dict:
    if not getattr(tokenizer, "is_fast", False):
        raise MtkdError("vocabulary pruning needs a fast tokenizer")
    model = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    if model.get("type") != "WordPiece":
        raise MtkdError(f"vocabulary pruning supports WordPiece tokenizers, not {model.get('type')}")
    return model


def prune_tokenizer(tokenizer: PreTrainedTokenizerBase, keep: list[int]) -> PreTrainedTokenizerBase:
    """The same tokenizer (class, normalizer, specials) over the kept tokens, renumbered in order."""
    _wordpiece(tokenizer)
    new_id = {old: new for new, old in enumerate(keep)}
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        root = Path(tmp)
        spec = json.loads((root / "tokenizer.json").read_text(encoding="utf-8"))
        vocab = {tok: new_id[i] for tok, i in spec["model"]["vocab"].items() if i in new_id}
        spec["model"]["vocab"] = vocab
        for added in spec.get("added_tokens", []):
            added["id"] = new_id[added["id"]]
        post = spec.get("post_processor") or {}
        for special in (post.get("special_tokens") or {}).values():
            special["ids"] = [new_id[i] for i in special["ids"]]
        (root / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        config = json.loads((root / "tokenizer_config.json").read_text(encoding="utf-8"))
        if "added_tokens_decoder" in config:
            config["added_tokens_decoder"] = {
                str(new_id[int(i)]): v for i, v in config["added_tokens_decoder"].items() if int(i) in new_id
            }
        (root / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
        if (root / "vocab.txt").is_file():
            ordered = sorted(vocab, key=vocab.__getitem__)
            (root / "vocab.txt").write_text("\n".join(ordered) + "\n", encoding="utf-8")
        pruned = AutoTokenizer.from_pretrained(tmp, use_fast=True)
    if len(pruned) != len(keep):
        raise MtkdError(f"pruned tokenizer has {len(pruned)} tokens, expected {len(keep)}")
    return pruned


def prune_embeddings(model: MultiTaskModel, keep: list[int]) -> None:
    """Keep only the rows ``keep`` of the word-embedding table (in place); the config follows."""
    old = model.encoder.get_input_embeddings()
    index = torch.tensor(keep, dtype=torch.long, device=old.weight.device)
    pad = model.config.pad_token_id
    new_pad = keep.index(pad) if pad is not None and pad in keep else None
    table = nn.Embedding(len(keep), old.embedding_dim, padding_idx=new_pad, device=old.weight.device)
    with torch.no_grad():
        table.weight.copy_(old.weight.index_select(0, index))
    model.encoder.set_input_embeddings(table)
    model.config.vocab_size = len(keep)
    model.config.pad_token_id = new_pad


def prune_vocabulary(
    model: MultiTaskModel, tokenizer: PreTrainedTokenizerBase, sequences: Iterable[list[int]], cfg: VocabularyConfig
) -> tuple[PreTrainedTokenizerBase, list[int]]:
    """Shrink ``model``'s embeddings to the tokens ``sequences`` use (see ``VocabularyConfig``);
    returns the matching tokenizer and the kept old ids (to prune a twin model the same way)."""
    keep = kept_tokens(tokenizer, token_counts(sequences), cfg)
    pruned = prune_tokenizer(tokenizer, keep)
    prune_embeddings(model, keep)
    return pruned, keep
