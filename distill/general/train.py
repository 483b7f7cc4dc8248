"""Task-agnostic (general) distillation, MiniLM-v2 style: a student encoder of any shape learns the
self-attention relations (Q-Q, K-K, V-V) of one upper teacher layer in its last layer, on unlabelled text.

Wang et al. 2021 ("MiniLMv2"); Turc et al. 2019 ("Well-Read Students Learn Better"): for compact students the
starting point matters more than anything after it. It runs on the one step engine (checkpoints, resume,
progress bar, ``--nproc``), and its result is a Hugging Face model directory any student starts from.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from ..config import ModelConfig
from ..errors import MtkdError
from ..kd.losses import hidden_mse, relation_kl
from ..model import encoder_config
from ..student import capture_qkv, project_embeddings
from ..training import distributed
from ..training.engine import Progress, Step, engine_for
from ..training.sampling import length_grouped
from ..workspace import Placement
from .config import GeneralDistillConfig
from .corpus import Text

log = logging.getLogger("mtkd")
HELD_OUT = 1000  # inputs kept aside to print the relation loss per epoch
ENCODER_DIR = "encoder"


@dataclass
class GeneralDistilled:
    """A general-distilled encoder: its model directory (tokenizer included) and how training went."""

    path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0


def relation_heads(cfg: GeneralDistillConfig, student: ModelConfig, teacher_width: int, teacher_heads: int) -> int:
    """The relation heads: the configured number, or the largest up to the teacher's heads dividing both widths."""
    if cfg.relation_heads is not None:
        return cfg.relation_heads
    return max(h for h in range(1, teacher_heads + 1) if student.hidden % h == 0 and teacher_width % h == 0)


def check_shapes(cfg: GeneralDistillConfig, student: ModelConfig, teacher_config: Any) -> int:
    """The teacher layer (1-based) the student learns from; a one-line ``MtkdError`` when the shapes cannot meet."""
    layers, width = teacher_config.num_hidden_layers, teacher_config.hidden_size
    layer = layers if cfg.teacher_layer == -1 else cfg.teacher_layer
    if not 1 <= layer <= layers:
        raise MtkdError(f"general.teacher_layer {cfg.teacher_layer} is not a layer of the teacher (1..{layers})")
    if student.hidden % student.heads:
        raise MtkdError(f"student hidden ({student.hidden}) must be a multiple of its heads ({student.heads})")
    heads = relation_heads(cfg, student, width, teacher_config.num_attention_heads)
    if student.hidden % heads or width % heads:
        raise MtkdError(
            f"general.relation_heads ({heads}) must divide both widths (teacher {width}, student {student.hidden})"
        )
    if cfg.embeddings == "teacher" and student.hidden > width:
        raise MtkdError(
            f"a student {student.hidden} wide cannot start from the teacher's {width}-wide embeddings; "
            "set general.embeddings: random or a narrower student"
        )
    return layer


def build_general_student(shape: ModelConfig, teacher: nn.Module, cfg: GeneralDistillConfig, pad_id: int) -> nn.Module:
    """A fresh BERT encoder of ``shape`` with the teacher's vocabulary, starting from its embeddings when asked."""
    from transformers import BertModel

    config = encoder_config(shape, teacher.config.vocab_size, pad_id)
    config.type_vocab_size = getattr(teacher.config, "type_vocab_size", 2)
    student = BertModel(config, add_pooling_layer=False)
    if cfg.embeddings == "teacher":
        project_embeddings(student.embeddings, teacher.embeddings)
    return student


class RelationDistiller(nn.Module):
    """The trainable part (the student, and a projection for the optional hidden-state term) and the loss;
    the teacher sits beside it, frozen, never checkpointed."""

    def __init__(self, student: nn.Module, teacher: nn.Module, cfg: GeneralDistillConfig, layer: int, heads: int):
        super().__init__()
        self.student, self.cfg, self.layer, self.heads = student, cfg, layer, heads
        self.__dict__["teacher"] = teacher.eval().requires_grad_(False)  # not a submodule: never trained or saved
        s_width, t_width = student.config.hidden_size, teacher.config.hidden_size
        self.projection = nn.Linear(s_width, t_width) if cfg.hidden_weight and s_width != t_width else nn.Identity()

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One relation KL per Q/K/V (and the hidden-state MSE when weighted) on one batch."""
        mask, hidden = batch["attention_mask"], bool(self.cfg.hidden_weight)
        with torch.no_grad(), capture_qkv(self.teacher, self.layer) as t_qkv:
            t_out = self.teacher(**batch, output_hidden_states=hidden)
        with capture_qkv(self.student, -1) as s_qkv:
            s_out = self.student(**batch, output_hidden_states=hidden)
        out = {f"{r}{r}": relation_kl(s_qkv[r], t_qkv[r], mask, self.heads) for r in self.cfg.relations}
        if hidden:
            s_last, t_layer = s_out.hidden_states[-1], t_out.hidden_states[self.layer]
            out["hidden"] = self.cfg.hidden_weight * hidden_mse(self.projection(s_last), t_layer, mask)
        return out


@dataclass
class TextBatches:
    """Length-grouped batches of tokenized inputs in a seeded order per epoch (a resumed run, or N processes,
    see the batches of one unbroken run)."""

    encoded: dict[str, list[list[int]]]
    batch_size: int
    seed: int
    pad_id: int
    batches: list[list[int]] = field(default_factory=list)

    def steps(self, epoch: int, progress: Progress) -> int:
        rng = random.Random(f"general:{self.seed}:{epoch}")
        n = len(self.encoded["input_ids"])
        lengths = [len(x) for x in self.encoded["input_ids"]]
        self.batches = length_grouped(rng.sample(range(n), n), lengths, self.batch_size, rng)
        return len(self.batches)

    def step(self, epoch: int, i: int) -> Step:
        rows, share = distributed.shard(self.batches[i])
        return Step(["general"], collate(self.encoded, rows, self.pad_id), share)


def tokenize_texts(tokenizer: PreTrainedTokenizerBase, texts: list[Text], max_len: int) -> dict[str, list[list[int]]]:
    """Token ids, token types and masks of single texts and pairs (pairs truncated longest-first)."""
    enc: dict[str, list[list[int]]] = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    for is_pair in (False, True):
        picked = [t for t in texts if (t[1] is not None) == is_pair]
        if not picked:
            continue
        firsts = [t[0] for t in picked]
        out = (
            tokenizer(firsts, [t[1] for t in picked], truncation=True, max_length=max_len)
            if is_pair
            else tokenizer(firsts, truncation=True, max_length=max_len)
        )
        for key in enc:
            enc[key] += out.get(key) or [[0] * len(ids) for ids in out["input_ids"]]
    return enc


def collate(encoded: dict[str, list[list[int]]], rows: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    """A padded batch of ``rows``."""
    length = max(len(encoded["input_ids"][i]) for i in rows)
    out = {}
    for key, pad in (("input_ids", pad_id), ("token_type_ids", 0), ("attention_mask", 0)):
        out[key] = torch.tensor([encoded[key][i] + [pad] * (length - len(encoded[key][i])) for i in rows])
    return out


@torch.no_grad()
def held_out_loss(distiller: RelationDistiller, encoded: dict[str, list[list[int]]], pad_id: int, device) -> float:
    """The mean relation loss on held-out inputs (dropout off), comparable between epochs and runs."""
    distiller.eval()
    total, n = 0.0, len(encoded["input_ids"])
    for start in range(0, n, 128):
        rows = list(range(start, min(start + 128, n)))
        batch = {k: v.to(device) for k, v in collate(encoded, rows, pad_id).items()}
        total += float(sum(distiller.losses(batch).values())) * len(rows)
    distiller.train()
    return total / max(1, n)


def record_epoch(progress: Progress, epoch: int, held_out: float, epochs: int, seconds: float) -> None:
    """One row of the history (the epoch's mean training loss over ranks and the held-out loss), logged."""
    train_loss = sum(distributed.mean_over_ranks(progress.epoch_losses()).values())
    progress.history.append(
        {"epoch": epoch + 1, "global_step": progress.global_step, "train_loss": train_loss, "held_out_loss": held_out}
    )
    log.info(
        "general epoch %d/%d (step %d, %.0f s): train loss %.4f | held-out relation loss %.4f",
        *(epoch + 1, epochs, progress.global_step, seconds, train_loss, held_out),
    )


def distil_general(
    teacher: nn.Module,
    shape: ModelConfig,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[Text],
    cfg: GeneralDistillConfig,
    where: Placement,
) -> GeneralDistilled:
    """Distil ``teacher`` (a Hugging Face encoder) into a fresh encoder of ``shape`` on ``texts``; the result is
    ``where.out/encoder``, a model directory with the tokenizer (``student.model.from_pretrained`` reads it)."""
    out, device, seed = where.out, where.device, where.seed
    layer = check_shapes(cfg, shape, teacher.config)
    heads = relation_heads(cfg, shape, teacher.config.hidden_size, teacher.config.num_attention_heads)
    torch.manual_seed(seed)
    order = random.Random(f"general-held-out:{seed}").sample(range(len(texts)), len(texts))
    keep = min(HELD_OUT, len(texts) // 10)
    held, train = [texts[i] for i in sorted(order[:keep])], [texts[i] for i in sorted(order[keep:])]
    student = build_general_student(shape, teacher, cfg, tokenizer.pad_token_id)
    distiller = RelationDistiller(student, teacher.to(device), cfg, layer, heads).to(device)
    source = TextBatches(tokenize_texts(tokenizer, train, cfg.max_len), cfg.batch_size, seed, tokenizer.pad_token_id)
    dev = tokenize_texts(tokenizer, held, cfg.max_len)
    total = min(math.ceil(len(train) / cfg.batch_size) * cfg.epochs, cfg.max_steps or math.inf)
    engine = engine_for(distiller, cfg, total, device, out, "general")
    if where.resume and engine.resume():
        log.info("general: resuming at epoch %d, step %d", engine.progress.epoch + 1, engine.progress.step)
    log.info(
        "general: %d inputs (%d held out), %d steps; student %s from teacher layer %d, %d relation heads",
        *(len(train), len(held), total, f"{shape.layers} x {shape.hidden}", layer, heads),
    )

    def end_epoch(epoch: int, progress: Progress) -> bool:
        held = held_out_loss(distiller, dev, tokenizer.pad_token_id, device) if distributed.is_main() and keep else 0.0
        record_epoch(progress, epoch, distributed.broadcast(held), cfg.epochs, engine.elapsed())
        return False

    progress = engine.run(source, lambda _names, batch: distiller.losses(batch), end_epoch=end_epoch)
    if distributed.is_main():
        student.save_pretrained(out / ENCODER_DIR)
        tokenizer.save_pretrained(out / ENCODER_DIR)
    return GeneralDistilled(out / ENCODER_DIR, progress.history, progress.global_step, engine.elapsed())
