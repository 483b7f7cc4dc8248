"""The distillation objective: one teacher teaches every head of one student at once.

It plugs into the one training loop as its ``objective``. The teacher runs in eval mode without
gradients (or not at all when only logits are distilled and they are cached). The learned
projection from student to teacher width lives here, so it is optimised and checkpointed with
the student but never saved into the student's model directory.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from .config import DistillConfig
from .data.examples import TaskData
from .encoding import labels_of, model_inputs
from .losses import LOGIT_LOSSES, attention_kl, hidden_mse, relation_kl
from .model import MultiTaskModel
from .student import capture_qkv, encoder_layers, layer_map
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
        s_layers, t_layers = len(encoder_layers(student)), len(encoder_layers(teacher))
        s_width, t_width = student.config.hidden_size, teacher.config.hidden_size
        self.hidden_pairs: list[tuple[int, int]] = []
        if cfg.hidden:
            self.hidden_pairs = layer_map(s_layers, t_layers, cfg.hidden.layer_map)
            if cfg.hidden.embeddings and (0, 0) not in self.hidden_pairs:
                self.hidden_pairs.insert(0, (0, 0))
        # TinyBERT: one learned map from the student's width to the teacher's
        self.projection = nn.Linear(s_width, t_width) if cfg.hidden and s_width != t_width else nn.Identity()
        self.attention_pairs = layer_map(s_layers, t_layers, cfg.attention.layer_map) if cfg.attention else []
        self.attention_pairs = [(s, t) for s, t in self.attention_pairs if s > 0 and t > 0]

    def forward(self, student: MultiTaskModel, task: str, batch: dict[str, Any]) -> torch.Tensor:
        return self.losses(student, [task], batch)[task]

    def losses(self, student: MultiTaskModel, tasks: list[str], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Each head's loss on one batch; several heads (the same inputs) share one student and one teacher
        pass, and each gets the layer-transfer term, as it would on a step of its own."""
        inputs = model_inputs(batch)
        inter = self.use_intermediate
        rel = self.cfg.relation if inter else None
        with ExitStack() as stack:
            s_qkv = stack.enter_context(capture_qkv(student, rel.student_layer)) if rel else None
            s_out = student(
                **inputs,
                tasks=tasks,
                output_hidden_states=inter and bool(self.hidden_pairs),
                output_attentions=inter and bool(self.attention_pairs),
            )
        need_teacher_pass = inter or (self.use_logits and self.cfg.logits and self.cached is None)
        t_out, t_qkv = None, None
        if need_teacher_pass:
            with torch.no_grad(), ExitStack() as stack:
                t_qkv = stack.enter_context(capture_qkv(self.teacher, rel.teacher_layer)) if rel else None
                t_out = self.teacher(
                    **inputs,
                    tasks=tasks,
                    output_hidden_states=inter and bool(self.hidden_pairs),
                    output_attentions=inter and bool(self.attention_pairs),
                )
        shared = self._intermediate(s_out, t_out, s_qkv, t_qkv, inputs["attention_mask"]) if inter else None
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

    def _intermediate(self, s_out, t_out, s_qkv, t_qkv, mask: torch.Tensor) -> torch.Tensor:
        total = mask.new_zeros((), dtype=torch.float32)
        cfg = self.cfg
        if cfg.hidden and self.hidden_pairs:
            parts = [
                hidden_mse(self.projection(s_out.hidden_states[s]), t_out.hidden_states[t], mask)
                for s, t in self.hidden_pairs
            ]
            total = total + cfg.hidden.weight * torch.stack(parts).mean()
        if cfg.attention and self.attention_pairs:
            parts = [
                attention_kl(s_out.attentions[s - 1], t_out.attentions[t - 1], mask) for s, t in self.attention_pairs
            ]
            total = total + cfg.attention.weight * torch.stack(parts).mean()
        if cfg.relation:
            parts = [relation_kl(s_qkv[r], t_qkv[r], mask, cfg.relation.heads) for r in cfg.relation.relations]
            total = total + cfg.relation.weight * torch.stack(parts).mean()
        return total
