"""Prune a trained multi-task model, from Python — what the pipeline's ``prune`` stage calls.

    from compress.prune.api import prune
    from compress.prune.plan import PruneConfig
    from distill import Workspace

    work = Workspace(tasks, tokenizer, "runs/api/pruned")
    pruned = prune(student, work, PruneConfig(heads=0.25, ffn=0.4, steps=2), TrainConfig(epochs=1, max_len=64))
    print(pruned.retention, pruned.shape)

In steps: score heads and FFN neurons (an importance from ``IMPORTANCES``), cut the least important
(smaller dense matrices, not masks), then recover by distilling from the unpruned model; optionally
drop whole layers and unused vocabulary rows first, and bake 2:4 or unstructured masks in last.
"""

from __future__ import annotations

import copy
import logging
import shutil
from dataclasses import dataclass, field, replace
from typing import Any

from transformers import PreTrainedTokenizerBase

from distill.config import DistillConfig, LogitsKD, TrainConfig
from distill.data.examples import TaskData
from distill.encoding import collate
from distill.kd.objective import DistillationObjective
from distill.model import MultiTaskModel
from distill.retention import kept
from distill.training.loop import evaluate_all, train
from distill.workspace import Encoded, Workspace

from .importance import IMPORTANCES, head_slices, layers_of
from .plan import PruneConfig, plan_step, step_fraction
from .sparsity import sparsify
from .surgery import drop_layers, prunable_parameters, prune_ffn, prune_heads
from .vocabulary import prune_embeddings, prune_vocabulary

log = logging.getLogger("mtkd")


@dataclass
class Pruned:
    """The pruned model (saved to ``<out>/model``), its tokenizer, and what pruning cost and removed."""

    model: MultiTaskModel
    tokenizer: PreTrainedTokenizerBase  # smaller when the vocabulary was pruned
    before: dict[str, dict[str, Any]]  # test metrics of the unpruned model
    after: dict[str, dict[str, Any]]  # test metrics of the pruned one
    encoder_params: tuple[int, int]  # before, after (embeddings included)
    prunable_params: tuple[int, int]  # attention + FFN parameters before, after
    reference: MultiTaskModel = field(repr=False)  # the unpruned model (reading the new token ids)
    vocabulary: dict[str, int] | None = None
    masks: dict[str, Any] | None = None

    @property
    def shape(self) -> list[dict[str, int]]:
        return shape_of(self.model)

    @property
    def retention(self) -> dict[str, float]:
        return {t: kept(m, self.before[t]["value"]) for t, m in self.after.items()}


def shape_of(model: MultiTaskModel) -> list[dict[str, int]]:
    """Heads and FFN width of every layer."""
    return [
        {"heads": head_slices(layer)[0], "ffn": layer.intermediate.dense.out_features} for layer in layers_of(model)
    ]


def scoring_batches(tasks, encoded: Encoded, per_task: int, batch_size: int, pad_id: int) -> list:
    """The first ``per_task`` training batches of every task (deterministic, labels included)."""
    batches = []
    for name, task in tasks.items():
        split = encoded[name]["train"]
        tags = task.kind.per_token
        for start in range(0, min(len(split), per_task * batch_size), batch_size):
            idx = list(range(start, min(start + batch_size, len(split))))
            batches.append((name, collate(split, idx, pad_id, tags)))
    return batches


def prune(model: MultiTaskModel, work: Workspace, cfg: PruneConfig, train_cfg: TrainConfig) -> Pruned:
    """Prune ``model`` in place as ``cfg`` says and save it to ``work.out/model``; recovery trains with
    ``train_cfg``'s batch size and length for ``cfg.recover_epochs`` epochs per step, distilling from an
    unpruned copy. Both are scored on the test split before and after."""
    tasks, tokenizer, out, device = work.tasks, work.tokenizer, work.out, work.device
    encoded, pad = work.encode(train_cfg.max_len), tokenizer.pad_token_id
    reference = copy.deepcopy(model).to(device).eval()
    model = model.cpu()
    before = evaluate_all(reference, tasks, encoded, "test", train_cfg, device, pad)
    params, prunable = [model.num_parameters(encoder_only=True)], [prunable_parameters(model)]
    vocabulary = None
    if cfg.vocabulary:
        tokenizer, reference, vocabulary = shrink_vocabulary(model, reference, tokenizer, tasks, encoded, cfg)
        work = replace(work, tokenizer=tokenizer)  # recovery reads the new token ids
        encoded, pad = work.encode(train_cfg.max_len), tokenizer.pad_token_id
    if cfg.layers:
        drop_layers(model, cfg.layers)
    score = IMPORTANCES.get(cfg.importance)()
    batches = scoring_batches(tasks, encoded, cfg.score_batches, train_cfg.batch_size, pad)
    for step in range(1, cfg.steps + 1):
        model = model.cpu()
        heads, keep = plan_step(
            score.score(model, batches),
            step_fraction(cfg.heads, cfg.steps),
            step_fraction(cfg.ffn, cfg.steps),
            cfg.scope,
            cfg.ffn_multiple,
        )
        prune_heads(model, heads)
        prune_ffn(model, keep)
        log.info("prune step %d/%d: layers (heads/ffn) %s", step, cfg.steps, shape_of(model))
        if cfg.recover_epochs:
            recover(model, reference, work.at(out / f"recover-{step}"), encoded, cfg, train_cfg, step)
    masks = sparsify(model.cpu(), cfg.sparsity, cfg.sparsity_level) if cfg.sparsity != "none" else None
    after = evaluate_all(model.to(device), tasks, encoded, "test", train_cfg, device, pad)
    params.append(model.num_parameters(encoder_only=True))
    prunable.append(prunable_parameters(model))
    model.cpu().save_pretrained(out / "model", tokenizer)
    return Pruned(model, tokenizer, before, after, tuple(params), tuple(prunable), reference, vocabulary, masks)


def shrink_vocabulary(
    model: MultiTaskModel,
    reference: MultiTaskModel,
    tokenizer: PreTrainedTokenizerBase,
    tasks: dict[str, TaskData],
    encoded: Encoded,
    cfg: PruneConfig,
) -> tuple[PreTrainedTokenizerBase, MultiTaskModel, dict[str, int]]:
    """Drop the embedding rows of tokens the training texts do not use, in ``model`` and in a copy of the
    reference (recovery distils from it, so it must read the new token ids too); the smaller tokenizer."""
    tokens_before = len(tokenizer)
    sequences = (ids for name in tasks for ids in encoded[name]["train"].input_ids)
    tokenizer, keep = prune_vocabulary(model, tokenizer, sequences, cfg.vocabulary)
    log.info("prune: vocabulary %d → %d tokens", tokens_before, len(keep))
    reference = copy.deepcopy(reference)
    prune_embeddings(reference, keep)
    return (
        tokenizer,
        reference,
        {"tokens_before": tokens_before, "tokens_after": len(keep), "min_count": cfg.vocabulary.min_count},
    )


def recover(
    model: MultiTaskModel,
    reference: MultiTaskModel,
    work: Workspace,
    encoded: Encoded,
    cfg: PruneConfig,
    base: TrainConfig,
    step: int,
) -> None:
    """Logit distillation from the unpruned model: the pruned one relearns what the cut removed (in
    ``work.out``, removed afterwards; step ``step`` is seeded ``work.seed + step``)."""
    train_cfg = base.model_copy(update={"epochs": cfg.recover_epochs, "lr": cfg.recover_lr, "early_stopping": None})
    objective = DistillationObjective(reference, model, work.tasks, DistillConfig(logits=LogitsKD()))
    stepped = replace(work, seed=work.seed + step)
    train(model, stepped, encoded, train_cfg, objective, f"prune recovery {step}/{cfg.steps}")
    shutil.rmtree(work.out, ignore_errors=True)
