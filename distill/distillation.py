"""The distillation objective: one teacher teaches every head of one student at once.

It plugs into the training engine as its ``objective``. The teacher runs in eval mode without
gradients (or not at all when only logits are distilled and they are cached). Layer-transfer terms
come from ``LAYER_LOSSES`` by name; their parameters (the learned projection from student to
teacher width) are submodules here, so they are optimised and checkpointed with the student but
never saved into the student's model directory.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from .config import DistillConfig
from .data.examples import TaskData
from .encoding import labels_of, model_inputs
from .layer_transfer import LAYER_LOSSES, LayerOutputs
from .losses import LOGIT_LOSSES
from .model import MultiTaskModel
from .student import capture_qkv
from .teacher_cache import TeacherLogits


class DistillationObjective(nn.Module):
    """``objective(student, task, batch) -> loss`` mixing hard labels, logit KD and layer transfer
    (``losses(student, tasks, batch)`` for several heads on one batch)."""

    def __init__(
        self,
        teacher: MultiTaskModel,
        student: MultiTaskModel,
        tasks: dict[str, TaskData],
        cfg: DistillConfig,
        cached: TeacherLogits | None = None,
        use_logits: bool = True,
        use_intermediate: bool = True,
    ) -> None:
        super().__init__()
        self.__dict__["teacher"] = teacher.eval().requires_grad_(False)  # not a submodule: never trained or saved
        self.tasks, self.cfg, self.cached = tasks, cfg, cached
        self.use_logits, self.use_intermediate = use_logits, use_intermediate and cfg.intermediate
        # layer-transfer terms, by registered name; their parameters (a projection) train with the student.
        # Built even when this phase does not use them (two-stage): the same parameters in every phase
        terms = cfg.layer_terms()
        self.terms = nn.ModuleDict({name: LAYER_LOSSES.get(name)(c, student, teacher) for name, c in terms})

    def forward(self, student: MultiTaskModel, task: str, batch: dict[str, Any]) -> torch.Tensor:
        return self.losses(student, [task], batch)[task]

    def losses(self, student: MultiTaskModel, tasks: list[str], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Each head's loss on one batch; several heads (the same inputs) share one student and one teacher
        pass, and each gets the layer-transfer term, as it would on a step of its own."""
        inputs = model_inputs(batch)
        inter = self.use_intermediate
        s_out, s_qkv = self._run(student, inputs, tasks, 0)
        t_out, t_qkv = None, {}
        if inter or (self.use_logits and self.cfg.logits and self.cached is None):
            with torch.no_grad():
                t_out, t_qkv = self._run(self.teacher, inputs, tasks, 1)
        shared = None
        if inter:
            s_layers = LayerOutputs(s_out.hidden_states, s_out.attentions, s_qkv)
            t_layers = LayerOutputs(t_out.hidden_states, t_out.attentions, t_qkv)
            shared = self._intermediate(s_layers, t_layers, inputs["attention_mask"])
        out = {}
        for task in tasks:
            logits, labels = s_out.logits[task].float(), labels_of(batch, task)
            loss = logits.new_zeros(())
            if self.use_logits:
                if self.cfg.logits is None:
                    loss = loss + student.task_loss(task, logits, labels)
                else:
                    if self.cached is not None and not inter:
                        teacher_logits = self.cached.batch(
                            task, batch["index"], logits.shape[1] if logits.dim() == 3 else None
                        )
                    else:
                        teacher_logits = t_out.logits[task]
                    # a standardised regression head's KD and hard MSE both on its z scale
                    loss = loss + student.head_specs[task].loss_factor * self._prediction_loss(
                        task, logits, teacher_logits.float(), labels, batch.get("synthetic")
                    )
            out[task] = loss + shared if shared is not None else loss
        return out

    def _run(self, model: MultiTaskModel, inputs: dict[str, torch.Tensor], tasks: list[str], side: int):
        """One forward pass exposing what the terms read; ``side`` 0 is the student, 1 the teacher."""
        terms = list(self.terms.values()) if self.use_intermediate else []
        layers = {t.qkv_layers()[side] for t in terms if t.qkv_layers() is not None}
        with ExitStack() as stack:
            qkv = {layer: stack.enter_context(capture_qkv(model, layer)) for layer in sorted(layers)}
            out = model(
                **inputs,
                tasks=tasks,
                output_hidden_states=any(t.needs_hidden_states for t in terms),
                output_attentions=any(t.needs_attentions for t in terms),
            )
        return out, qkv

    def _prediction_loss(
        self,
        task: str,
        logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        labels: torch.Tensor,
        synthetic: torch.Tensor | None,
    ) -> torch.Tensor:
        """alpha · KD + (1 − alpha) · hard loss on real rows; KD alone on augmented rows (their
        labels are the original example's and may no longer hold). Mean over rows."""
        kind, cfg = self.tasks[task].kind, self.cfg.logits
        kd_loss = LOGIT_LOSSES.get(cfg.loss_for(task, kind.label_kind))
        alpha = cfg.alpha_for(task)
        if synthetic is None or not bool(synthetic.any()):
            return alpha * kd_loss(logits, teacher_logits, cfg.temperature, labels) + (1 - alpha) * kind.loss(
                logits, labels
            )
        real, total = ~synthetic, logits.new_zeros(())
        if bool(real.any()):
            kd = kd_loss(logits[real], teacher_logits[real], cfg.temperature, labels[real])
            total = total + real.sum() * (alpha * kd + (1 - alpha) * kind.loss(logits[real], labels[real]))
        kd = kd_loss(logits[synthetic], teacher_logits[synthetic], cfg.temperature, labels[synthetic])
        return (total + synthetic.sum() * kd) / len(synthetic)

    def _intermediate(self, s: LayerOutputs, t: LayerOutputs, mask: torch.Tensor) -> torch.Tensor:
        total = mask.new_zeros((), dtype=torch.float32)
        for term in self.terms.values():
            total = total + getattr(term.cfg, "weight", 1.0) * term(s, t, mask)
        return total
