"""Data augmentation for distillation: new training inputs the teacher labels (TinyBERT-style).

Each augmented example is a copy of a training example with a share of its tokens replaced,
token for token, so the length, the token types and the tag alignment stay those of the
original. With ``method: mlm`` a masked language model (the ``pretrain`` stage's, or the MLM head
of the checkpoint the teacher started from) proposes the replacements: the position is masked and
one of its top-k predictions other than the original token is drawn. ``method: mask`` leaves the
``[MASK]`` token in place (Tang et al., 2019), which needs no MLM. The original labels may no longer
hold (a replaced word can flip a sentiment), so augmented rows are marked ``synthetic`` and learn
from the teacher's soft targets only.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForMaskedLM, PreTrainedTokenizerBase

from .checkpoints import quiet_transformers, resolve_checkpoint
from .config import AugmentConfig
from .encoding import EncodedSplit
from .errors import MtkdError

log = logging.getLogger("mtkd")
MLM_DIR = "mlm"  # the pretrain stage's full masked-LM (encoder and head), beside its encoder


def load_mlm(path: str | Path, tokenizer: PreTrainedTokenizerBase) -> torch.nn.Module:
    """A masked LM sharing ``tokenizer``'s vocabulary, in eval mode."""
    resolved = resolve_checkpoint(str(path))
    try:
        with quiet_transformers():
            model = AutoModelForMaskedLM.from_pretrained(resolved.path)
    except (OSError, ValueError) as e:
        raise MtkdError(f"cannot load a masked language model from {path}: {str(e).splitlines()[0]}") from None
    if model.config.vocab_size < len(tokenizer):
        raise MtkdError(
            f"the masked LM at {path} knows {model.config.vocab_size} tokens, the tokenizer {len(tokenizer)}: "
            "augmentation needs the MLM trained with the teacher's tokenizer"
        )
    return model.eval()


def replaceable_positions(ids: list[int], special: set[int]) -> list[int]:
    """Positions of ordinary tokens ([CLS], [SEP], padding and [UNK] are never replaced)."""
    return [p for p, t in enumerate(ids) if t not in special]


def choose_positions(ids: list[int], special: set[int], prob: float, rng: random.Random) -> list[int]:
    """``prob`` of the ordinary positions (at least one), sorted."""
    candidates = replaceable_positions(ids, special)
    if not candidates:
        return []
    return sorted(rng.sample(candidates, max(1, round(prob * len(candidates)))))


def masked(ids: list[int], positions: list[int], mask_id: int) -> list[int]:
    out = list(ids)
    for p in positions:
        out[p] = mask_id
    return out


@torch.no_grad()
def mlm_replacements(
    mlm: torch.nn.Module,
    rows: list[list[int]],
    positions: list[list[int]],
    tokenizer: PreTrainedTokenizerBase,
    banned: set[int],
    top_k: int,
    rng: random.Random,
    device: torch.device,
) -> list[list[int]]:
    """One batch: mask ``positions`` of each row, draw each replacement from the MLM's top-k other
    than the original token and the ``banned`` ids (the tokenizer gives the mask and padding ids)."""
    mask_id, pad_id = tokenizer.mask_token_id, tokenizer.pad_token_id
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, (r, pos) in enumerate(zip(rows, positions, strict=True)):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        ids[i, pos] = mask_id
    logits = mlm(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    if banned:
        logits[..., sorted(banned)] = float("-inf")
    top = logits.topk(top_k + 1, dim=-1).indices.cpu()  # one spare: the original may be among them
    out = []
    for i, (r, pos) in enumerate(zip(rows, positions, strict=True)):
        new = list(r)
        for p in pos:
            options = [t for t in top[i, p].tolist() if t != r[p]][:top_k]
            new[p] = rng.choice(options)
        out.append(new)
    return out


def augment_split(
    split: EncodedSplit,
    cfg: AugmentConfig,
    tokenizer: PreTrainedTokenizerBase,
    seed: int,
    name: str,
    mlm: torch.nn.Module | None = None,
    device: torch.device | None = None,
    batch_size: int = 64,
) -> EncodedSplit:
    """``split`` followed by ``cfg.copies`` augmented copies of (up to ``cfg.max_examples`` of) its examples."""
    if cfg.method == "mlm" and mlm is None:
        raise MtkdError("augment.method 'mlm' needs a masked language model")
    if split.synthetic and any(split.synthetic):
        raise MtkdError(f"{name}: the training split is already augmented")
    device = device or torch.device("cpu")
    rng = random.Random(f"augment:{seed}:{name}")
    special = set(tokenizer.all_special_ids)
    banned = special | {tokenizer.unk_token_id} - {None}
    sources = list(range(len(split)))
    if cfg.max_examples is not None and len(sources) > cfg.max_examples:
        sources = sorted(rng.sample(sources, cfg.max_examples))
    jobs = [
        (i, choose_positions(split.input_ids[i], special, cfg.prob, rng)) for _ in range(cfg.copies) for i in sources
    ]
    jobs = [(i, pos) for i, pos in jobs if pos]
    bar = tqdm(total=len(jobs), desc=f"augment {name}", unit="ex", mininterval=1.0, leave=False, disable=None)
    # length-sorted batches pad little; results go back to the jobs' order
    order = sorted(range(len(jobs)), key=lambda j: len(split.input_ids[jobs[j][0]]))
    produced: dict[int, list[int]] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        rows = [split.input_ids[jobs[j][0]] for j in chunk]
        positions = [jobs[j][1] for j in chunk]
        if cfg.method == "mlm":
            assert mlm is not None
            made = mlm_replacements(mlm, rows, positions, tokenizer, banned, cfg.top_k, rng, device)
        else:
            made = [masked(r, pos, tokenizer.mask_token_id) for r, pos in zip(rows, positions, strict=True)]
        produced.update(zip(chunk, made, strict=True))
        bar.update(len(chunk))
    bar.close()
    new_ids = [produced[j] for j in range(len(jobs))]
    picked = [i for i, _ in jobs]
    changed = sum(len(pos) for _, pos in jobs)
    log.info("augment %s: %d new examples (%d tokens replaced, method %s)", name, len(jobs), changed, cfg.method)
    return replace(
        split,
        input_ids=split.input_ids + new_ids,
        token_type_ids=split.token_type_ids + [split.token_type_ids[i] for i in picked],
        targets=split.targets + [split.targets[i] for i in picked],
        word_ids=split.word_ids + [split.word_ids[i] for i in picked] if split.word_ids else [],
        synthetic=[False] * len(split) + [True] * len(jobs),
        source=list(range(len(split))) + picked,
    )
