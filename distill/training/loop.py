"""The one training loop: multi-task batches, an objective, evaluation, checkpoints, resume.

Teacher training uses the supervised objective; distillation passes its own objective to the
same loop rather than growing a second one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from ..config import TrainConfig
from ..data.examples import TaskData
from ..encoding import EncodedSplit, collate, model_inputs
from ..model import MultiTaskModel
from ..tasks import IGNORE_INDEX
from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .evaluate import evaluate, model_forward, skill
from .optim import backward_and_step, build_optimizer, build_scheduler
from .sampling import epoch_plan
from .weighting import WEIGHTINGS

log = logging.getLogger("mtkd")

Objective = Callable[[MultiTaskModel, str, dict[str, torch.Tensor]], torch.Tensor]
Encoded = dict[str, dict[str, EncodedSplit]]  # task → split → encoded examples


def supervised_objective(tasks: dict[str, TaskData]) -> Objective:
    """Hard-label loss of the batch's task head."""

    def loss(model: MultiTaskModel, task: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(**model_inputs(batch), tasks=[task]).logits[task]
        return tasks[task].kind.loss(logits.float(), batch["labels"])

    return loss


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    best_epoch: int
    steps: int
    seconds: float


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # optional extra
        return None
    return SummaryWriter(str(path))


def autocast_for(device: torch.device, enabled: bool):
    if device.type == "cuda" and enabled:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype), dtype == torch.float16
    return contextlib.nullcontext(), False


def evaluate_all(
    model: MultiTaskModel,
    tasks: dict[str, TaskData],
    encoded: Encoded,
    split: str,
    cfg: TrainConfig,
    device: torch.device,
    pad_id: int,
) -> dict[str, dict[str, Any]]:
    """Metrics of every task on one split (the model is left in eval mode)."""
    forward = model_forward(model, device)
    return {t: evaluate(forward, tasks[t], split, encoded[t][split], cfg.eval_batch_size, pad_id) for t in tasks}


def _describe(metrics: dict[str, dict[str, Any]]) -> str:
    return " | ".join(f"{t} {m['metric']} {m['value']:.4f} (baseline {m['baseline']:.4f})" for t, m in metrics.items())


def _labelled_tokens(split: EncodedSplit) -> Callable[[list[int]], list[int]]:
    """Per example, the positions a tagging loss averages over (its weight when a batch is sharded)."""
    return lambda idx: [sum(t != IGNORE_INDEX for t in split.targets[i]) for i in idx]


def train(
    model: MultiTaskModel,
    tasks: dict[str, TaskData],
    encoded: Encoded,
    cfg: TrainConfig,
    out_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    seed: int,
    device: torch.device,
    objective: Objective | None = None,
    resume: bool = False,
    name: str = "train",
) -> TrainResult:
    """Train ``model`` on every task; keep the best dev epoch in ``out_dir/best`` and load it back.

    Checkpoints go to ``out_dir/checkpoints/last`` every ``cfg.checkpoint_every`` steps and at each
    epoch end; with ``resume`` a run continues from there and sees the same batches it would
    have seen without the interruption.
    """
    objective = objective or supervised_objective(tasks)
    pad_id = tokenizer.pad_token_id
    sizes = {t: len(encoded[t]["train"]) for t in tasks}
    steps_per_epoch = sum(math.ceil(n / cfg.batch_size) for n in sizes.values())
    total = min(steps_per_epoch * cfg.epochs, cfg.max_steps or math.inf)
    weighting = WEIGHTINGS.get(cfg.weighting)(list(tasks), cfg.task_weights)
    # an objective or weighting with parameters of its own (a KD projection, learned task weights) is
    # trained and checkpointed with the model
    extra = {"objective": objective} if isinstance(objective, nn.Module) else {}
    if any(True for _ in weighting.parameters()):
        extra["weighting"] = weighting
    trainable = nn.ModuleDict({"model": model, **extra}) if extra else model
    trainable.to(device)
    optimizer = build_optimizer(trainable, cfg)
    scheduler = build_scheduler(optimizer, cfg, int(total))
    autocast, fp16 = autocast_for(device, cfg.amp)
    scaler = torch.amp.GradScaler("cuda") if fp16 else None
    ckpt, best_dir = out_dir / "checkpoints" / "last", out_dir / "best"
    progress: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "global_step": 0,
        "best_score": None,
        "best_epoch": -1,
        "bad_epochs": 0,
        "history": [],
        "loss_sum": {},
        "loss_n": {},
        "seconds": 0.0,
    }
    if resume and ckpt.is_dir():
        progress = load_checkpoint(ckpt, trainable, optimizer, scheduler, scaler)
        log.info(
            "%s: resuming at epoch %d, step %d (global step %d)",
            name,
            progress["epoch"] + 1,
            progress["step"],
            progress["global_step"],
        )
    distributed.broadcast_parameters(trainable)  # ranks start equal (and stay so: same averaged steps)
    writer = _tensorboard(out_dir / "tensorboard") if distributed.is_main() else None
    units = {t: _labelled_tokens(encoded[t]["train"]) if tasks[t].kind.label_kind == "tags" else None for t in tasks}
    lengths = {t: [len(x) for x in encoded[t]["train"].input_ids] for t in tasks} if cfg.group_by_length else None
    started = time.perf_counter() - progress["seconds"]

    def checkpoint() -> None:
        progress["seconds"] = time.perf_counter() - started
        if distributed.is_main():  # every rank holds the same state; one writes it
            save_checkpoint(ckpt, trainable, optimizer, scheduler, scaler, progress)

    stop = progress.get("finished", False)  # an early stop survives a resume
    while progress["epoch"] < cfg.epochs and not stop:
        epoch = progress["epoch"]
        plan = epoch_plan(sizes, cfg.batch_size, cfg.sampling, cfg.temperature, seed, epoch, lengths)
        trainable.train()
        ema: dict[str, float] = {}
        bar = tqdm(
            total=len(plan),
            initial=progress["step"],
            desc=f"{name} epoch {epoch + 1}/{cfg.epochs}",
            unit="step",
            dynamic_ncols=True,
            mininterval=1.0,
            leave=False,
            disable=None,
        )  # no bar when output is not a terminal (CI logs)
        for i in range(progress["step"], len(plan)):
            task, idx = plan[i]
            idx, share = distributed.shard(idx, units[task](idx) if units[task] else None)
            batch = {
                k: v.to(device)
                for k, v in collate(encoded[task]["train"], idx, pad_id, tasks[task].kind.label_kind == "tags").items()
            }
            with autocast:
                loss = objective(model, task, batch)
            weighted = weighting(task, loss) * share
            backward_and_step(weighted, trainable, optimizer, scheduler, scaler, cfg.grad_clip)
            value = float(loss.detach())
            ema[task] = value if task not in ema else 0.95 * ema[task] + 0.05 * value
            progress["loss_sum"][task] = progress["loss_sum"].get(task, 0.0) + value
            progress["loss_n"][task] = progress["loss_n"].get(task, 0) + 1
            progress["step"], progress["global_step"] = i + 1, progress["global_step"] + 1
            bar.update(1)
            bar.set_postfix({t: f"{v:.3f}" for t, v in ema.items()}, refresh=False)
            if writer:
                writer.add_scalar(f"loss/{task}", value, progress["global_step"])
            if progress["global_step"] % cfg.checkpoint_every == 0:
                checkpoint()
            if cfg.max_steps and progress["global_step"] >= cfg.max_steps:
                stop = True
                break
        bar.close()
        dev = evaluate_all(model, tasks, encoded, "dev", cfg, device, pad_id)
        score = sum(skill(m) for m in dev.values()) / len(dev)
        train_loss = distributed.mean_over_ranks(
            {t: progress["loss_sum"][t] / progress["loss_n"][t] for t in progress["loss_n"]}
        )
        progress["history"].append(
            {
                "epoch": epoch + 1,
                "global_step": progress["global_step"],
                "score": score,
                "train_loss": train_loss,
                "task_weights": weighting.effective(),
                "dev": dev,
            }
        )
        if writer:
            for t, m in dev.items():
                writer.add_scalar(f"dev/{t}/{m['metric']}", m["value"], epoch + 1)
        if progress["best_score"] is None or score > progress["best_score"]:
            progress.update(best_score=score, best_epoch=epoch + 1, bad_epochs=0)
            if distributed.is_main():
                model.save_pretrained(best_dir, tokenizer)
        else:
            progress["bad_epochs"] += 1
        log.info(
            "%s epoch %d/%d (step %d, %.0f s): %s",
            name,
            epoch + 1,
            cfg.epochs,
            progress["global_step"],
            time.perf_counter() - started,
            _describe(dev),
        )
        progress.update(epoch=epoch + 1, step=0, loss_sum={}, loss_n={})
        if cfg.early_stopping and progress["bad_epochs"] >= cfg.early_stopping:
            log.info("%s: no dev improvement for %d epochs, stopping early", name, progress["bad_epochs"])
            stop = True
        progress["finished"] = stop
        checkpoint()
    if writer:
        writer.close()
    distributed.barrier()  # rank 0 has written the best model the others read back
    best = MultiTaskModel.from_pretrained(best_dir, map_location=device)
    model.load_state_dict(best.state_dict())
    return TrainResult(
        progress["history"], progress["best_epoch"], progress["global_step"], time.perf_counter() - started
    )
