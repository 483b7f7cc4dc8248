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
from ..encoding import EncodedSplit, collate, labels_of, model_inputs
from ..errors import MtkdError
from ..model import MultiTaskModel
from ..tasks import IGNORE_INDEX
from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .evaluate import evaluate, model_forward, skill
from .optim import backward_and_step, build_optimizer, build_scheduler
from .sampling import epoch_plan
from .shared_inputs import joint_labels, shared_input_groups
from .weighting import WEIGHTINGS

log = logging.getLogger("mtkd")

# ``objective(model, task, batch) -> loss``; an objective that also has ``losses(model, tasks, batch)
# -> {task: loss}`` can train several heads on one batch (``train.share_inputs``)
Objective = Callable[[MultiTaskModel, str, dict[str, Any]], torch.Tensor]
Encoded = dict[str, dict[str, EncodedSplit]]  # task → split → encoded examples


class SupervisedObjective:
    """Hard-label loss of each head the batch trains."""

    def __init__(self, tasks: dict[str, TaskData]) -> None:
        self.tasks = tasks

    def losses(self, model: MultiTaskModel, tasks: list[str], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        logits = model(**model_inputs(batch), tasks=tasks).logits
        return {t: model.task_loss(t, logits[t].float(), labels_of(batch, t)) for t in tasks}

    def __call__(self, model: MultiTaskModel, task: str, batch: dict[str, Any]) -> torch.Tensor:
        return self.losses(model, [task], batch)[task]


def supervised_objective(tasks: dict[str, TaskData]) -> Objective:
    """Hard-label loss of the batch's task head(s)."""
    return SupervisedObjective(tasks)


def objective_losses(
    objective: Objective, model: MultiTaskModel, tasks: list[str], batch: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """Per-task losses of one step: one call for a joint batch, the plain call for one task."""
    if len(tasks) == 1:
        return {tasks[0]: objective(model, tasks[0], batch)}
    joint = getattr(objective, "losses", None)
    if joint is None:
        raise MtkdError("train.share_inputs needs an objective with losses(model, tasks, batch)")
    return joint(model, tasks, batch)


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: {t: x.to(device) for t, x in v.items()} if isinstance(v, dict) else v.to(device) for k, v in batch.items()
    }


def active_units(groups: dict[str, list[str]], stopped: set[str]) -> dict[str, list[str]]:
    """The training units and members still trained once ``stopped`` tasks have left the plan."""
    active = {u: [t for t in members if t not in stopped] for u, members in groups.items()}
    return {u: members for u, members in active.items() if members}


def stop_converged_tasks(
    progress: dict[str, Any], dev: dict[str, dict[str, Any]], patience: int, name: str
) -> set[str]:
    """Count, per task, epochs without a better dev skill; a task at ``patience`` joins ``progress["stopped"]``."""
    stopped = set(progress.setdefault("stopped", []))
    best, bad = progress.setdefault("task_best", {}), progress.setdefault("task_bad", {})
    for task, metrics in dev.items():
        if task in stopped:
            continue
        if task not in best or skill(metrics) > best[task]:
            best[task], bad[task] = skill(metrics), 0
            continue
        bad[task] = bad.get(task, 0) + 1
        if bad[task] >= patience:
            stopped.add(task)
            log.info("%s: %s has not improved on dev for %d epochs; no longer trained", name, task, bad[task])
    progress["stopped"] = sorted(stopped)
    return stopped


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
    train_splits = {t: encoded[t]["train"] for t in tasks}
    groups = shared_input_groups(tasks, train_splits, cfg.share_inputs)  # unit → tasks trained in its steps
    if any(len(m) > 1 for m in groups.values()):
        log.info("%s: one encoder pass for %s", name, "; ".join(" + ".join(m) for m in groups.values() if len(m) > 1))
    sizes = {u: len(train_splits[u]) for u in groups}
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
        "task_best": {},  # task → best dev skill so far, and epochs since (train.task_patience)
        "task_bad": {},
        "stopped": [],
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
    tags = {t for t in tasks if tasks[t].kind.per_token}
    token_counts = {t: _labelled_tokens(train_splits[t]) if t in tags else None for t in tasks}
    lengths = {t: [len(x) for x in train_splits[t].input_ids] for t in tasks} if cfg.group_by_length else None
    started = time.perf_counter() - progress["seconds"]

    def checkpoint() -> None:
        progress["seconds"] = time.perf_counter() - started
        if distributed.is_main():  # every rank holds the same state; one writes it
            save_checkpoint(ckpt, trainable, optimizer, scheduler, scaler, progress)

    stop = progress.get("finished", False)  # an early stop survives a resume
    while progress["epoch"] < cfg.epochs and not stop:
        epoch = progress["epoch"]
        active = active_units(groups, set(progress.get("stopped", [])))
        plan = epoch_plan(
            {u: sizes[u] for u in active}, cfg.batch_size, cfg.sampling, cfg.temperature, seed, epoch, lengths
        )
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
            unit, idx = plan[i]
            members = active[unit]
            idx, share = distributed.shard(idx, token_counts[unit](idx) if token_counts[unit] else None)
            batch = collate(train_splits[unit], idx, pad_id, unit in tags)
            if members != [unit]:  # several heads, or a member other than the one the unit is named after
                batch["labels"] = joint_labels(train_splits, members, idx)
            batch = _to(batch, device)
            with autocast:
                losses = objective_losses(objective, model, members, batch)
            weighted = sum(weighting(t, loss) for t, loss in losses.items()) * share
            backward_and_step(weighted, trainable, optimizer, scheduler, scaler, cfg.grad_clip)
            for task, loss in losses.items():
                value = float(loss.detach())
                ema[task] = value if task not in ema else 0.95 * ema[task] + 0.05 * value
                progress["loss_sum"][task] = progress["loss_sum"].get(task, 0.0) + value
                progress["loss_n"][task] = progress["loss_n"].get(task, 0) + 1
                if writer:
                    writer.add_scalar(f"loss/{task}", value, progress["global_step"] + 1)
            progress["step"], progress["global_step"] = i + 1, progress["global_step"] + 1
            bar.update(1)
            bar.set_postfix({t: f"{v:.3f}" for t, v in ema.items()}, refresh=False)
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
                "trained": sorted(t for m in active.values() for t in m),
                "dev": dev,
            }
        )
        if writer:
            for t, m in dev.items():
                writer.add_scalar(f"dev/{t}/{m['metric']}", m["value"], epoch + 1)
        if cfg.task_patience and stop_converged_tasks(progress, dev, cfg.task_patience, name) == set(tasks):
            log.info("%s: every task has stopped improving, stopping", name)
            stop = True
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
