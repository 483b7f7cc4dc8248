"""A head that has peaked learns from its own best checkpoint while the others train on.

In multi-task training the heads peak at different epochs; stopping a peaked head (``train.after_peak:
stop``) leaves it behind as the shared encoder moves on under it. With ``after_peak: self_distil`` (Lu et
al., NAACL industry 2022, five e-commerce tasks) the model is saved whenever a task's dev metric improves,
and once a task has gone ``task_patience`` epochs without improving, its loss becomes distillation from the
model of its best epoch: same inputs, that checkpoint's head output as the target (the head type's own KD
loss at temperature 1). The encoder keeps serving the peaked head while it learns the others.

The saved models live in ``<out>/task-best/epoch-<n>`` (one per epoch that improved some task, removed when
no task points at it any more); ``Progress`` records each task's best epoch and which tasks are anchored,
so a resumed run loads the same anchors.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from ..encoding import labels_of, model_inputs
from ..kd.losses import LOGIT_LOSSES
from ..model import MultiTaskModel
from ..tasks import task_type
from . import distributed
from .engine import Progress
from .objective import objective_losses

log = logging.getLogger("mtkd")


class TaskAnchors:
    """Each task's best-epoch model on disk, and the frozen ones that teach anchored tasks."""

    def __init__(self, root: Path, device: torch.device) -> None:
        self.root, self.device = root, device
        self.models: dict[int, MultiTaskModel] = {}  # epoch → its frozen model (loaded once, shared by tasks)
        self.of: dict[str, int] = {}  # anchored task → the epoch whose model teaches it

    def snapshot(
        self, model: MultiTaskModel, tokenizer: PreTrainedTokenizerBase, epoch: int, improved: list[str], p: Progress
    ) -> None:
        """After epoch ``epoch``'s dev evaluation: save the model if it is some task's best so far."""
        if not improved:
            return
        for task in improved:
            p.task_best_epoch[task] = epoch
        if distributed.is_main():
            model.save_pretrained(self._dir(epoch), tokenizer)
            wanted = {self._dir(e) for e in p.task_best_epoch.values()}
            for old in self.root.glob("epoch-*"):
                if old not in wanted:
                    shutil.rmtree(old, ignore_errors=True)

    def anchor(self, tasks: list[str], p: Progress) -> None:
        """``tasks`` learn from their best epoch's model from now on."""
        if not tasks:
            return
        distributed.barrier()  # rank 0 wrote the models the others load
        for task in tasks:
            epoch = p.task_best_epoch[task]
            if epoch not in self.models:
                frozen = MultiTaskModel.from_pretrained(self._dir(epoch), map_location=self.device)
                self.models[epoch] = frozen.eval().requires_grad_(False)
            self.of[task] = p.anchored[task] = epoch

    def restore(self, p: Progress) -> None:
        """A resumed run: load the anchors its checkpoint recorded."""
        self.anchor(sorted(p.anchored), p)

    def losses(self, inner: Any, model: MultiTaskModel, tasks: list[str], batch: dict[str, Any]) -> dict[str, Any]:
        """Each task's loss on one batch: ``inner``'s for tasks still learning, self-distillation for anchored."""

        free = [t for t in tasks if t not in self.of]
        out = objective_losses(inner, model, free, batch) if free else {}
        held = [t for t in tasks if t in self.of]
        if held:
            inputs = model_inputs(batch)
            logits = model(**inputs, tasks=held).logits
            for task in held:
                with torch.no_grad():
                    target = self.models[self.of[task]](**inputs, tasks=[task]).logits[task]
                spec = model.head_specs[task]
                kd = LOGIT_LOSSES.get(task_type(spec.type).label_kind)
                out[task] = spec.loss_factor * kd(logits[task].float(), target.float(), 1.0, labels_of(batch, task))
        return out

    def _dir(self, epoch: int) -> Path:
        return self.root / f"epoch-{epoch}"
