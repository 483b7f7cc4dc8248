"""Multi-task training on the step engine: batches sampled over tasks, an objective, dev metrics and
model selection after each epoch.

Teacher training uses the supervised objective; distillation passes its own objective. MLM
pretraining and QAT run on the same engine (``engine.py``) with batch sources of their own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from ..config import TrainConfig
from ..data.examples import TaskData
from ..encoding import EncodedSplit, collate, labels_of, model_inputs
from ..errors import MtkdError
from ..kd.ranking import query_groups
from ..model import MultiTaskModel
from ..tasks import IGNORE_INDEX
from ..workspace import Encoded, Workspace
from . import distributed
from .anchoring import TaskAnchors
from .engine import Engine, Progress, Step, engine_for
from .evaluate import model_forward, predict, score_predictions, skill
from .objective import Objective, ScheduledObjective, objective_losses
from .sampling import epoch_plan
from .shared_inputs import joint_labels, shared_input_groups
from .weighting import WEIGHTINGS

log = logging.getLogger("mtkd")


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


def active_units(groups: dict[str, list[str]], stopped: set[str]) -> dict[str, list[str]]:
    """The training units and members still trained once ``stopped`` tasks have left the plan."""
    active = {u: [t for t in members if t not in stopped] for u, members in groups.items()}
    return {u: members for u, members in active.items() if members}


def track_task_peaks(progress: Progress, dev: dict[str, dict[str, Any]], patience: int) -> tuple[list[str], list[str]]:
    """Count, per task still learning, epochs without a better dev skill: (the tasks that improved this epoch,
    the tasks that have now gone ``patience`` epochs without)."""
    done = set(progress.stopped) | set(progress.anchored)
    best, bad = progress.task_best, progress.task_bad
    improved, peaked = [], []
    for task, metrics in dev.items():
        if task in done:
            continue
        if task not in best or skill(metrics) > best[task]:
            best[task], bad[task] = skill(metrics), 0
            improved.append(task)
            continue
        bad[task] = bad.get(task, 0) + 1
        if bad[task] >= patience:
            peaked.append(task)
    return improved, peaked


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
    preds = predict_all(model, tasks, encoded, split, cfg, device, pad_id)
    return {t: score_predictions(tasks[t], split, p) for t, p in preds.items()}


def predict_all(
    model: MultiTaskModel,
    tasks: dict[str, TaskData],
    encoded: Encoded,
    split: str,
    cfg: TrainConfig,
    device: torch.device,
    pad_id: int,
) -> dict[str, list[Any]]:
    """Decoded predictions of every task on one split (what a paired bootstrap resamples)."""
    forward = model_forward(model, device)
    return {t: predict(forward, tasks[t], split, encoded[t][split], cfg.eval_batch_size, pad_id) for t in tasks}


def _describe(metrics: dict[str, dict[str, Any]]) -> str:
    return " | ".join(f"{t} {m['metric']} {m['value']:.4f} (baseline {m['baseline']:.4f})" for t, m in metrics.items())


def _labelled_tokens(split: EncodedSplit) -> Callable[[list[int]], list[int]]:
    """Per example, the positions a tagging loss averages over (its weight when a batch is sharded)."""
    return lambda idx: [sum(t != IGNORE_INDEX for t in split.targets[i]) for i in idx]


class MultiTaskBatches:
    """Each epoch's plan of (training unit, example indices), sampled over the tasks still trained; a
    unit's batch trains every head that shares its inputs (``train.share_inputs``)."""

    def __init__(
        self, tasks: dict[str, TaskData], encoded: Encoded, cfg: TrainConfig, seed: int, pad_id: int, name: str
    ):
        self.splits = {t: encoded[t]["train"] for t in tasks}
        self.groups = shared_input_groups(tasks, self.splits, cfg.share_inputs)  # unit → tasks trained in its steps
        if any(len(m) > 1 for m in self.groups.values()):
            joint = "; ".join(" + ".join(m) for m in self.groups.values() if len(m) > 1)
            log.info("%s: one encoder pass for %s", name, joint)
        self.sizes = {u: len(self.splits[u]) for u in self.groups}
        self.tags = {t for t in tasks if tasks[t].kind.per_token}
        self.token_counts = {t: _labelled_tokens(self.splits[t]) if t in self.tags else None for t in tasks}
        self.lengths = {t: [len(x) for x in self.splits[t].input_ids] for t in tasks} if cfg.group_by_length else None
        pairs = (
            [t for t in self.groups if tasks[t].config is not None and tasks[t].config.text_pair]
            if cfg.group_pairs
            else []
        )
        self.query_groups = {t: query_groups(self.splits[t].input_ids, self.splits[t].token_type_ids) for t in pairs}
        self.cfg, self.seed, self.pad_id = cfg, seed, pad_id
        self.active: dict[str, list[str]] = {}
        self.plan: list[tuple[str, list[int]]] = []

    def steps_per_epoch(self) -> int:
        return sum(math.ceil(n / self.cfg.batch_size) for n in self.sizes.values())

    def steps(self, epoch: int, progress: Progress) -> int:
        cfg = self.cfg
        self.active = active_units(self.groups, set(progress.stopped))
        sizes = {u: self.sizes[u] for u in self.active}
        mix = (cfg.sampling, cfg.sampling_temperature)
        self.plan = epoch_plan(sizes, cfg.batch_size, *mix, self.seed, epoch, self.lengths, self.query_groups)
        return len(self.plan)

    def step(self, epoch: int, i: int) -> Step:
        unit, idx = self.plan[i]
        members = self.active[unit]
        counts = self.token_counts[unit]
        idx, share = distributed.shard(idx, counts(idx) if counts else None)
        batch = collate(self.splits[unit], idx, self.pad_id, unit in self.tags)
        if members != [unit]:  # several heads, or a member other than the one the unit is named after
            batch["labels"] = joint_labels(self.splits, members, idx)
        return Step(members, batch, share)


@dataclass
class DevSelection:
    """After each epoch: dev metrics of every task, the history row, tasks that stopped improving, the
    best epoch saved to ``best_dir``, early stopping. Returns True to stop."""

    model: MultiTaskModel
    tasks: dict[str, TaskData]
    encoded: Encoded
    cfg: TrainConfig
    device: torch.device
    tokenizer: PreTrainedTokenizerBase
    best_dir: Path
    source: MultiTaskBatches
    weighting: Any
    engine: Engine
    name: str
    anchors: TaskAnchors | None = None

    def _peaks(self, epoch: int, progress: Progress, dev: dict[str, dict[str, Any]]) -> bool:
        """Per-task patience: a peaked task stops, or learns from its best epoch's model (``after_peak``).
        True when every task has peaked."""
        improved, peaked = track_task_peaks(progress, dev, self.cfg.task_patience or 1)
        if self.anchors is not None:
            self.anchors.snapshot(self.model, self.tokenizer, epoch + 1, improved, progress)
            self.anchors.anchor(peaked, progress)
        else:
            progress.stopped = sorted(set(progress.stopped) | set(peaked))
        for task in peaked:
            then = "learns from its best epoch's model" if self.anchors is not None else "is no longer trained"
            log.info("%s: %s has not improved on dev for %d epochs; %s", self.name, task, self.cfg.task_patience, then)
        if set(progress.stopped) | set(progress.anchored) == set(self.tasks):
            log.info("%s: every task has stopped improving, stopping", self.name)
            return True
        return False

    def __call__(self, epoch: int, progress: Progress) -> bool:
        cfg, name = self.cfg, self.name
        dev = evaluate_all(self.model, self.tasks, self.encoded, "dev", cfg, self.device, self.tokenizer.pad_token_id)
        score = sum(skill(m) for m in dev.values()) / len(dev)
        progress.history.append(
            {
                "epoch": epoch + 1,
                "global_step": progress.global_step,
                "score": score,
                "train_loss": distributed.mean_over_ranks(progress.epoch_losses()),
                "task_weights": self.weighting.effective(),
                "trained": sorted(t for m in self.source.active.values() for t in m),
                **({"anchored": dict(progress.anchored)} if progress.anchored else {}),
                "dev": dev,
            }
        )
        if self.engine.writer:
            for t, m in dev.items():
                self.engine.writer.add_scalar(f"dev/{t}/{m['metric']}", m["value"], epoch + 1)
        stop = bool(cfg.task_patience) and self._peaks(epoch, progress, dev)
        if progress.best_score is None or score > progress.best_score:
            progress.best_score, progress.best_epoch, progress.bad_epochs = score, epoch + 1, 0
            if distributed.is_main():
                self.model.save_pretrained(self.best_dir, self.tokenizer)
        else:
            progress.bad_epochs += 1
        elapsed = self.engine.elapsed()
        log.info(
            "%s epoch %d/%d (step %d, %.0f s): %s",
            name,
            epoch + 1,
            cfg.epochs,
            progress.global_step,
            elapsed,
            _describe(dev),
        )
        if cfg.early_stopping and progress.bad_epochs >= cfg.early_stopping:
            log.info("%s: no dev improvement for %d epochs, stopping early", name, progress.bad_epochs)
            stop = True
        return stop


def train(
    model: MultiTaskModel,
    work: Workspace,
    encoded: Encoded,
    cfg: TrainConfig,
    objective: Objective | None = None,
    name: str = "train",
) -> TrainResult:
    """Train ``model`` on every task of ``work``; keep the best dev epoch in ``work.out/best`` and load it back.

    Checkpoints go to ``work.out/checkpoints/last`` every ``cfg.checkpoint_every`` steps and at each
    epoch end; with ``work.resume`` a run continues from there and sees the same batches it would
    have seen without the interruption.
    """
    tasks, tokenizer, out_dir, device = work.tasks, work.tokenizer, work.out, work.device
    objective = objective or supervised_objective(tasks)
    source = MultiTaskBatches(tasks, encoded, cfg, work.seed, tokenizer.pad_token_id, name)
    total = min(source.steps_per_epoch() * cfg.epochs, cfg.max_steps or math.inf)
    weighting = WEIGHTINGS.get(cfg.weighting)(list(tasks), cfg.task_weights)
    # an objective or weighting with parameters of its own (a KD projection, learned task weights) is
    # trained and checkpointed with the model
    extra = {"objective": objective} if isinstance(objective, nn.Module) else {}
    if any(True for _ in weighting.parameters()):
        extra["weighting"] = weighting
    trainable = nn.ModuleDict({"model": model, **extra}) if extra else model
    trainable.to(device)
    engine = engine_for(trainable, cfg, total, device, out_dir, name)
    if work.resume and engine.resume():
        p = engine.progress
        log.info("%s: resuming at epoch %d, step %d (global step %d)", name, p.epoch + 1, p.step, p.global_step)
    engine.writer = _tensorboard(out_dir / "tensorboard") if distributed.is_main() else None
    best_dir = out_dir / "best"
    if cfg.after_peak == "self_distil" and not cfg.task_patience:
        raise MtkdError(f"{name}: train.after_peak self_distil needs train.task_patience (when has a task peaked?)")
    anchors = TaskAnchors(out_dir / "task-best", device) if cfg.after_peak == "self_distil" else None
    if anchors is not None:
        anchors.restore(engine.progress)
    selection = DevSelection(
        model, tasks, encoded, cfg, device, tokenizer, best_dir, source, weighting, engine, name, anchors
    )

    def step_losses(members: list[str], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        if isinstance(objective, ScheduledObjective):  # teacher annealing: the share of training done
            objective.set_progress(engine.progress.global_step / max(total, 1))
        if anchors is not None:
            return anchors.losses(objective, model, members, batch)
        return objective_losses(objective, model, members, batch)

    progress = engine.run(
        source,
        step_losses,
        combine=lambda losses: sum(weighting(t, loss) for t, loss in losses.items()),
        end_epoch=selection,
    )
    if engine.writer:
        engine.writer.close()
    distributed.barrier()  # rank 0 has written the best model the others read back
    best = MultiTaskModel.from_pretrained(best_dir, map_location=device)
    model.load_state_dict(best.state_dict())
    return TrainResult(progress.history, progress.best_epoch, progress.global_step, engine.elapsed())
