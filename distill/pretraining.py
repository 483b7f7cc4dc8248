"""Masked-language-model pretraining of the encoder on the recipe's own unlabelled text.

No pretrained weights can be downloaded on an offline machine, so the teacher starts from an
encoder that has at least read the domain: every distinct training text of every task (never dev
or test text), masked BERT-style. Whole-word masking groups a word's WordPiece pieces; the
tokenizer splits CJK text into characters, so for Chinese this is character masking.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F
from transformers import AutoModelForMaskedLM, BertForMaskedLM, PreTrainedTokenizerBase

from .checkpoints import describe_failure, resolve_checkpoint
from .config import ModelConfig, PretrainConfig
from .data.examples import TaskData
from .errors import MtkdError
from .model import encoder_config
from .tasks import IGNORE_INDEX
from .tokenization import training_texts
from .training import distributed
from .training.engine import Progress, Step, engine_for
from .training.sampling import length_grouped
from .workspace import Placement

log = logging.getLogger("mtkd")
DEV_TEXTS = 2000  # held-out texts for the MLM loss/accuracy printed per epoch


@dataclass
class MlmCorpus:
    """Tokenized texts with each token's word index (None for [CLS]/[SEP])."""

    input_ids: list[list[int]]
    word_ids: list[list[int | None]]

    def __len__(self) -> int:
        return len(self.input_ids)


def distinct_texts(tasks: dict[str, TaskData], split: str = "train", limit: int | None = None, seed: int = 0):
    """Every distinct text (and second text) of ``split`` across tasks; a seeded sample when capped."""
    if split == "train":
        texts = list(dict.fromkeys(training_texts(tasks)))
    else:
        seen = (
            " ".join(ex.text) if isinstance(ex.text, list) else ex.text
            for t in tasks.values()
            for ex in t.splits[split]
        )
        texts = list(dict.fromkeys(seen))
    if limit is not None and len(texts) > limit:
        texts = random.Random(f"mlm:{seed}:{split}").sample(texts, limit)
    return texts


def tokenize_corpus(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_len: int) -> MlmCorpus:
    enc = tokenizer(texts, truncation=True, max_length=max_len)
    return MlmCorpus(enc["input_ids"], [enc.word_ids(i) for i in range(len(texts))])


def mask_batch(
    corpus: MlmCorpus,
    indices: list[int],
    tokenizer: PreTrainedTokenizerBase,
    mask_prob: float,
    whole_word: bool,
    rng: random.Random,
) -> dict[str, torch.Tensor]:
    """A padded batch with ``mask_prob`` of its words chosen; of their tokens 80% become [MASK],
    10% a random token, 10% stay. ``labels`` holds the original ids there and -100 elsewhere."""
    length = max(len(corpus.input_ids[i]) for i in indices)
    ids = torch.full((len(indices), length), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(indices), length), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(indices), length), dtype=torch.long)
    first_regular = len(tokenizer.all_special_ids) and max(tokenizer.all_special_ids) + 1
    for row, i in enumerate(indices):
        tokens, words = corpus.input_ids[i], corpus.word_ids[i]
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
        groups: dict[Any, list[int]] = {}
        for pos, w in enumerate(words):
            if w is not None:
                groups.setdefault(w if whole_word else pos, []).append(pos)
        units = list(groups.values())
        if not units:
            continue
        chosen = rng.sample(units, max(1, round(mask_prob * len(units))))
        for pos in (p for unit in chosen for p in unit):
            labels[row, pos] = tokens[pos]
            roll = rng.random()
            if roll < 0.8:
                ids[row, pos] = tokenizer.mask_token_id
            elif roll < 0.9:
                ids[row, pos] = rng.randrange(first_regular, len(tokenizer))
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def build_mlm(model_cfg: ModelConfig, tokenizer: PreTrainedTokenizerBase) -> torch.nn.Module:
    """A fresh BERT MLM of the teacher's shape, or the given checkpoint with an MLM head (continued pretraining)."""
    if tokenizer.mask_token_id is None:
        raise MtkdError("MLM pretraining needs a tokenizer with a [MASK] token")
    if model_cfg.from_pretrained:
        resolved = resolve_checkpoint(model_cfg.from_pretrained)
        try:
            return AutoModelForMaskedLM.from_pretrained(resolved.path, trust_remote_code=model_cfg.trust_remote_code)
        except (OSError, ValueError) as e:
            raise MtkdError(describe_failure(resolved, e)) from None
    return BertForMaskedLM(encoder_config(model_cfg, len(tokenizer), tokenizer.pad_token_id))


def masked_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Vocabulary logits and targets at the masked positions only: projecting every position onto
    the vocabulary would cost ~7× more for the 15% that are scored."""
    picked = batch["labels"] != IGNORE_INDEX
    head = getattr(model, "cls", None) or getattr(model, "lm_head", None)  # BERT-style / RoBERTa-style
    if head is None:  # an unknown MLM: let it project everything
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[picked], batch[
            "labels"
        ][picked]
    hidden = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    return head(hidden[picked]), batch["labels"][picked]


@torch.no_grad()
def mlm_eval(model, corpus: MlmCorpus, tokenizer, cfg: PretrainConfig, device: torch.device) -> dict[str, float]:
    """Masked-token loss and accuracy on held-out text, with a fixed mask so epochs compare."""
    model.eval()
    rng = random.Random("mlm-eval")
    loss_sum, correct, total = 0.0, 0, 0
    for start in range(0, len(corpus), 128):
        batch = mask_batch(
            corpus, list(range(start, min(start + 128, len(corpus)))), tokenizer, cfg.mask_prob, True, rng
        )
        batch = {k: v.to(device) for k, v in batch.items()}
        logits, targets = masked_logits(model, batch)
        loss_sum += float(F.cross_entropy(logits.float(), targets, reduction="sum"))
        correct += int((logits.argmax(-1) == targets).sum())
        total += len(targets)
    return {"loss": loss_sum / max(1, total), "accuracy": correct / max(1, total), "tokens": total}


class MaskedBatches:
    """Length-grouped batches in a seeded order per epoch, masked anew per step: masks depend on (seed,
    epoch, step) only, so a resumed run, or N processes, mask as one unbroken run."""

    def __init__(self, corpus: MlmCorpus, tokenizer: PreTrainedTokenizerBase, cfg: PretrainConfig, seed: int) -> None:
        self.corpus, self.tokenizer, self.cfg, self.seed = corpus, tokenizer, cfg, seed
        self.batches: list[list[int]] = []

    def steps(self, epoch: int, progress: Progress) -> int:
        rng = random.Random(f"mlm:{self.seed}:{epoch}")
        order = rng.sample(range(len(self.corpus)), len(self.corpus))
        lengths = [len(x) for x in self.corpus.input_ids]
        self.batches = length_grouped(order, lengths, self.cfg.batch_size, rng)
        return len(self.batches)

    def step(self, epoch: int, i: int) -> Step:
        rng = random.Random(f"mask:{self.seed}:{epoch}:{i}")
        full = mask_batch(self.corpus, self.batches[i], self.tokenizer, self.cfg.mask_prob, self.cfg.whole_word, rng)
        masked = (full["labels"] != IGNORE_INDEX).sum(1).tolist()
        rows, share = distributed.shard(list(range(len(self.batches[i]))), masked)
        return Step(["mlm"], {k: v[rows] for k, v in full.items()}, share)


def pretrain_mlm(
    cfg: PretrainConfig,
    model_cfg: ModelConfig,
    tokenizer: PreTrainedTokenizerBase,
    train_texts: list[str],
    dev_texts: list[str],
    where: Placement,
) -> dict[str, Any]:
    """Train the MLM (seeded, placed and resumed as ``where`` says); save its encoder (and the tokenizer) to
    ``where.out/encoder`` and the whole MLM to ``where.out/mlm``; return the history."""
    out_dir, seed, device = where.out, where.seed, where.device
    torch.manual_seed(seed)
    train, dev = (
        tokenize_corpus(tokenizer, train_texts, cfg.max_len),
        tokenize_corpus(tokenizer, dev_texts, cfg.max_len),
    )
    model = build_mlm(model_cfg, tokenizer).to(device)
    total = min(math.ceil(len(train) / cfg.batch_size) * cfg.epochs, cfg.max_steps or math.inf)
    engine = engine_for(model, cfg, total, device, out_dir, "pretrain")
    if where.resume and engine.resume():
        log.info("pretrain: resuming at epoch %d, step %d", engine.progress.epoch + 1, engine.progress.step)
    log.info("pretrain: %d texts (%d held out), %d steps", len(train), len(dev), total)

    def mlm_loss(_: list[str], batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits, targets = masked_logits(model, batch)
        return {"mlm": F.cross_entropy(logits.float(), targets)}

    def held_out(epoch: int, progress: Progress) -> bool:
        scores = mlm_eval(model, dev, tokenizer, cfg, device) if distributed.is_main() else {}
        scores = distributed.broadcast(scores)
        train_loss = distributed.mean_over_ranks(progress.epoch_losses()).get("mlm", 0.0)
        progress.history.append(
            {"epoch": epoch + 1, "global_step": progress.global_step, "train_loss": train_loss, "dev": scores}
        )
        log.info(
            "pretrain epoch %d/%d (step %d, %.0f s): train loss %.3f | held-out MLM loss %.3f, accuracy %.3f",
            *(epoch + 1, cfg.epochs, progress.global_step, engine.elapsed(), train_loss),
            *(scores["loss"], scores["accuracy"]),
        )
        return False

    progress = engine.run(MaskedBatches(train, tokenizer, cfg, seed), mlm_loss, end_epoch=held_out)
    if distributed.is_main():
        model.base_model.save_pretrained(out_dir / "encoder")
        tokenizer.save_pretrained(out_dir / "encoder")
        model.save_pretrained(out_dir / "mlm")  # with its head: distillation's data augmentation proposes words with it
    return {"history": progress.history, "steps": progress.global_step, "seconds": engine.elapsed()}
