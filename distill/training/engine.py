"""The step engine every training in mtkd runs on.

Teacher training and distillation (multi-task batches and a KD objective), MLM pretraining and
quantization-aware training differ only in where their batches come from (a ``BatchSource``),
what a batch's losses are (``losses(tasks, batch)``) and what happens after each epoch (dev
metrics and model selection, or a held-out MLM score). What they share lives here once: epochs
and steps, mixed precision, one optimizer step per batch, running losses, a progress bar,
checkpoints every N steps and at each epoch end, and a resume that sees exactly the batches an
unbroken run would have seen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .optim import backward_and_step, build_optimizer, build_scheduler

Losses = dict[str, torch.Tensor]  # loss name (a task, or "mlm") → scalar loss of one batch


@dataclass
class Progress:
    """Where a run stands; checkpointed with the weights, so a resumed run continues from here."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps done in the current epoch
    global_step: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per finished epoch
    loss_sum: dict[str, float] = field(default_factory=dict)  # this epoch's, per loss name
    loss_n: dict[str, int] = field(default_factory=dict)
    finished: bool = False  # an early stop survives a resume
    best_score: float | None = None  # model selection on dev (multi-task training)
    best_epoch: int = -1
    bad_epochs: int = 0
    task_best: dict[str, float] = field(default_factory=dict)  # per task: best dev skill, and epochs since
    task_bad: dict[str, int] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)  # tasks no longer trained (train.task_patience)
    task_best_epoch: dict[str, int] = field(default_factory=dict)  # per task: its best dev epoch (1-based)
    anchored: dict[str, int] = field(default_factory=dict)  # task → epoch whose model teaches it (self_distil)

    def epoch_losses(self) -> dict[str, float]:
        """Mean loss of each name over this epoch's steps so far."""
        return {k: self.loss_sum[k] / self.loss_n[k] for k in self.loss_n}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Progress:
        """A checkpoint's record; keys this version does not know are dropped, malformed sums restarted."""
        known = {f.name for f in dataclasses.fields(cls)}
        progress = cls(**{k: v for k, v in record.items() if k in known})
        if not isinstance(progress.loss_sum, dict) or not isinstance(progress.loss_n, dict):
            progress.loss_sum, progress.loss_n = {}, {}  # an older pretraining checkpoint kept one float
        return progress


@dataclass
class Step:
    """One optimizer step's input: the losses it trains, a batch on the CPU, and this process's share
    of the whole batch (its weight when a batch is split over processes)."""

    names: list[str]
    batch: dict[str, Any]
    share: float = 1.0


class BatchSource(Protocol):
    def steps(self, epoch: int, progress: Progress) -> int:
        """How many steps epoch ``epoch`` has (it may depend on progress, e.g. tasks that stopped)."""

    def step(self, epoch: int, i: int) -> Step:
        """The ``i``-th step of the epoch; the same (epoch, i) gives the same batch in every run."""


@dataclass
class Schedule:
    """How long and how a run trains (from a TrainConfig, PretrainConfig or QatConfig)."""

    epochs: int
    max_steps: int | None = None
    checkpoint_every: int | None = None  # None: no checkpoints (QAT: minutes, nothing to resume)
    grad_clip: float | None = None
    amp: bool = False
    train_mode: bool = True  # False keeps dropout off (QAT: ranges were observed in eval mode)
    name: str = "train"


def autocast_for(device: torch.device, enabled: bool):
    """The autocast context for ``device`` and whether it is float16 (which needs a gradient scaler)."""
    if device.type == "cuda" and enabled:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype), dtype == torch.float16
    return contextlib.nullcontext(), False


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: {t: x.to(device) for t, x in v.items()} if isinstance(v, dict) else v.to(device) for k, v in batch.items()
    }


@dataclass
class Engine:
    """Trains ``trainable`` (the model, plus any objective or weighting with parameters of its own)."""

    trainable: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # None: a constant learning rate
    schedule: Schedule
    device: torch.device
    checkpoint_dir: Path | None = None
    writer: Any = None  # a tensorboard SummaryWriter, or None
    on_step: Callable[[dict[str, float]], None] | None = None

    def __post_init__(self) -> None:
        self.autocast, fp16 = autocast_for(self.device, self.schedule.amp)
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None
        self.progress = Progress()

    def resume(self) -> bool:
        """Continue from the last checkpoint, if there is one; True when resumed."""
        ckpt = self.checkpoint_dir
        if ckpt is None or not ckpt.is_dir():
            return False
        record = load_checkpoint(ckpt, self.trainable, self.optimizer, self.scheduler, self.scaler)
        self.progress = Progress.from_record(record)
        return True

    def checkpoint(self) -> None:
        self.progress.seconds = time.perf_counter() - self._started
        if self.checkpoint_dir is not None and distributed.is_main():  # every rank holds the same state
            save_checkpoint(
                self.checkpoint_dir,
                self.trainable,
                self.optimizer,
                self.scheduler,
                self.scaler,
                dataclasses.asdict(self.progress),
            )

    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def run(
        self,
        source: BatchSource,
        losses: Callable[[list[str], dict[str, Any]], Losses],
        combine: Callable[[Losses], torch.Tensor] = lambda ls: sum(ls.values()),
        end_epoch: Callable[[int, Progress], bool] | None = None,
    ) -> Progress:
        """Train epoch by epoch until ``schedule.epochs``, ``schedule.max_steps`` or ``end_epoch`` says stop
        (it runs after each epoch, sees that epoch's mean losses, and returns True to stop)."""
        distributed.broadcast_parameters(self.trainable)  # ranks start equal (and stay so: same averaged steps)
        progress, self._started = self.progress, time.perf_counter() - self.progress.seconds
        while progress.epoch < self.schedule.epochs and not progress.finished:
            epoch = progress.epoch
            stop = self._epoch(source, epoch, losses, combine)
            if end_epoch is not None and end_epoch(epoch, progress):
                stop = True
            progress.epoch, progress.step, progress.loss_sum, progress.loss_n = epoch + 1, 0, {}, {}
            progress.finished = stop
            self.checkpoint()
        return progress

    def _epoch(self, source: BatchSource, epoch: int, losses, combine) -> bool:
        """One epoch's steps from ``progress.step`` on; True when ``max_steps`` was reached."""
        progress, schedule = self.progress, self.schedule
        steps = source.steps(epoch, progress)
        self.trainable.train(schedule.train_mode)
        ema: dict[str, float] = {}
        desc = f"{schedule.name} epoch {epoch + 1}/{schedule.epochs}"
        # no bar when output is not a terminal (CI logs)
        bar = tqdm(
            total=steps, initial=progress.step, desc=desc, unit="step", mininterval=1.0, leave=False, disable=None
        )
        try:
            for i in range(progress.step, steps):
                step = source.step(epoch, i)
                batch = to_device(step.batch, self.device)
                with self.autocast:
                    step_losses = losses(step.names, batch)
                loss = combine(step_losses) * step.share
                backward_and_step(loss, self.trainable, self.optimizer, self.scheduler, self.scaler, schedule.grad_clip)
                values = {k: float(v.detach()) for k, v in step_losses.items()}
                self._record(values, ema)
                progress.step, progress.global_step = i + 1, progress.global_step + 1
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in ema.items()}, refresh=False)
                if schedule.checkpoint_every and progress.global_step % schedule.checkpoint_every == 0:
                    self.checkpoint()
                if schedule.max_steps and progress.global_step >= schedule.max_steps:
                    return True
        finally:
            bar.close()
        return False

    def _record(self, values: dict[str, float], ema: dict[str, float]) -> None:
        progress = self.progress
        for name, value in values.items():
            ema[name] = value if name not in ema else 0.95 * ema[name] + 0.05 * value
            progress.loss_sum[name] = progress.loss_sum.get(name, 0.0) + value
            progress.loss_n[name] = progress.loss_n.get(name, 0) + 1
            if self.writer:
                self.writer.add_scalar(f"loss/{name}", value, progress.global_step + 1)
        if self.on_step is not None:
            self.on_step(values)


def engine_for(trainable: nn.Module, cfg: Any, total_steps: int, device: torch.device, out: Path, name: str) -> Engine:
    """The engine of a training with ``cfg``'s settings (epochs, lr and schedule, clipping, checkpoints, AMP):
    AdamW over ``trainable`` decaying over ``total_steps``, checkpoints in ``out/checkpoints/last``."""
    optimizer = build_optimizer(trainable, cfg)
    schedule = Schedule(cfg.epochs, cfg.max_steps, cfg.checkpoint_every, cfg.grad_clip, cfg.amp, name=name)
    scheduler = build_scheduler(optimizer, cfg, int(total_steps))
    return Engine(trainable, optimizer, scheduler, schedule, device, out / "checkpoints" / "last")
