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

from ..config import DistillConfig, ModelConfig
from ..data.examples import TaskData
from ..encoding import labels_of, model_inputs
from ..errors import MtkdError
from ..model import MultiTaskModel
from ..student import capture_qkv
from ..tasks import IGNORE_INDEX
from .layer_transfer import LAYER_LOSSES, LayerOutputs
from .losses import LOGIT_LOSSES
from .ranking import RANKING_LOSSES, same_query
from .teacher_cache import TeacherLogits


def check_layer_terms(cfg: DistillConfig, student: MultiTaskModel, teacher: MultiTaskModel | None) -> None:
    """Each layer-transfer term's shape check on the real models (a recipe can only check shapes it knows before
    checkpoints load): a student the teacher cannot teach so is one named line before any training."""
    if teacher is None:
        return
    shapes = [
        ModelConfig(layers=c.num_hidden_layers, hidden=c.hidden_size, heads=c.num_attention_heads)
        for c in (student.config, teacher.config)
    ]
    for name, settings in cfg.layer_terms():
        try:
            LAYER_LOSSES.get(name).check(settings, *shapes)
        except ValueError as e:
            raise MtkdError(f"this student cannot be distilled so: {e}") from None


class DistillationObjective(nn.Module):
    """``objective(student, task, batch) -> loss`` mixing hard labels, logit KD and layer transfer
    (``losses(student, tasks, batch)`` for several heads on one batch)."""

    def __init__(
        self,
        teacher: MultiTaskModel | None,
        student: MultiTaskModel,
        tasks: dict[str, TaskData],
        cfg: DistillConfig,
        cached: TeacherLogits | None = None,
        use_logits: bool = True,
        use_intermediate: bool = True,
        taught: set[str] | None = None,
    ) -> None:
        """``teacher``: the model whose layers (and heads, where it has them) teach; None when every answer
        is in ``cached``. ``taught``: the tasks that have a teacher (default all); the others learn from
        their labels alone."""
        super().__init__()
        if teacher is not None:
            teacher = teacher.eval().requires_grad_(False)
        self.__dict__["teacher"] = teacher  # not a submodule: never trained or saved
        self.tasks, self.cfg, self.cached = tasks, cfg, cached
        self.taught = set(tasks) if taught is None else set(taught)
        self.use_logits, self.use_intermediate = use_logits, use_intermediate and cfg.intermediate
        # layer-transfer terms, by registered name; their parameters (a projection) train with the student.
        # Built even when this phase does not use them (two-stage): the same parameters in every phase
        terms = cfg.layer_terms()
        self.terms = nn.ModuleDict({name: LAYER_LOSSES.get(name)(c, student, teacher) for name, c in terms})
        self.ranked = ranked_tasks(cfg, tasks) & self.taught
        self.progress = 0.0  # share of training done: teacher annealing reads it (set by the loop each step)

    def set_progress(self, share: float) -> None:
        self.progress = min(max(share, 0.0), 1.0)

    def forward(self, student: MultiTaskModel, task: str, batch: dict[str, Any]) -> torch.Tensor:
        return self.losses(student, [task], batch)[task]

    def losses(self, student: MultiTaskModel, tasks: list[str], batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Each head's loss on one batch; several heads (the same inputs) share one student and one teacher
        pass, and each gets the layer-transfer term, as it would on a step of its own."""
        inputs = model_inputs(batch)
        inter = self.use_intermediate
        s_out, s_qkv = self._run(student, inputs, tasks, 0)
        t_out, t_qkv = None, {}
        live = self.use_logits and self.cfg.logits and self.cached is None and not self.taught.isdisjoint(tasks)
        if inter or live:
            with torch.no_grad():  # the teacher's own heads, where it has them (per-task teachers are cached)
                heads = [t for t in tasks if t in self.teacher.heads]
                t_out, t_qkv = self._run(self.teacher, inputs, heads, 1)
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
                if self.cfg.logits is None or task not in self.taught:
                    loss = loss + student.task_loss(task, logits, labels)
                else:
                    if self.cached is not None and (not inter or task not in t_out.logits):
                        teacher_logits = self.cached.batch(
                            task, batch["index"], logits.shape[1] if logits.dim() == 3 else None
                        )
                    else:
                        teacher_logits = t_out.logits[task]
                    # a standardised regression head's KD and hard MSE both on its z scale
                    loss = loss + student.head_specs[task].loss_factor * self._prediction_loss(
                        task, logits, teacher_logits.float(), labels, batch.get("synthetic")
                    )
                    if task in self.ranked:
                        loss = loss + self._ranking_loss(logits, teacher_logits.float(), inputs)
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
        """alpha · KD + (1 − alpha) · hard loss on real rows; KD alone on augmented rows (their labels are
        the original example's and may no longer hold); the hard loss alone on rows the teacher gave no
        answer (NaN: a skipped line of an outputs file; for tags, a word past its max_len). Mean over rows."""
        kind, cfg = self.tasks[task].kind, self.cfg.logits
        kd_loss = LOGIT_LOSSES.get(cfg.loss_for(task, kind.label_kind))
        alpha = 1.0 - self.progress if cfg.anneal else cfg.alpha_for(task)
        kd_labels, unanswered = labels, None
        missing = teacher_logits.isnan()
        if bool(missing.any()):
            teacher_logits = teacher_logits.nan_to_num(0.0)
            if kind.per_token:  # no KD at that word; its tag still trains it
                kd_labels = labels.masked_fill(missing.any(-1), IGNORE_INDEX)
            else:
                unanswered = missing.flatten(1).any(1)
        if (synthetic is None or not bool(synthetic.any())) and unanswered is None:
            kd = kd_loss(logits, teacher_logits, cfg.temperature, kd_labels)
            return alpha * kd + (1 - alpha) * kind.loss(logits, labels)
        none = torch.zeros(len(labels), dtype=torch.bool, device=labels.device)
        synthetic = none if synthetic is None else synthetic
        unanswered = none if unanswered is None else unanswered
        groups = (
            (~synthetic & ~unanswered, alpha, 1 - alpha),  # real rows with an answer
            (~synthetic & unanswered, 0.0, 1.0),  # real rows without one: their label alone
            (synthetic & ~unanswered, 1.0, 0.0),  # augmented copies: the teacher alone
        )
        total = logits.new_zeros(())
        for rows, w_kd, w_hard in groups:
            if not bool(rows.any()):
                continue
            part = logits.new_zeros(())
            if w_kd:
                part = part + w_kd * kd_loss(logits[rows], teacher_logits[rows], cfg.temperature, kd_labels[rows])
            if w_hard:
                part = part + w_hard * kind.loss(logits[rows], labels[rows])
            total = total + rows.sum() * part
        return total / len(labels)

    def _ranking_loss(
        self, logits: torch.Tensor, teacher: torch.Tensor, inputs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Ranking KD over the batch's rows of one query (rows without a teacher answer left out)."""
        ranking = self.cfg.ranking
        types = inputs.get("token_type_ids")
        if types is None:
            types = torch.zeros_like(inputs["input_ids"])
        same = same_query(inputs["input_ids"], types, inputs["attention_mask"])
        answered = ~teacher.isnan().flatten(1).any(1)
        same = same & answered[:, None] & answered[None, :]
        return ranking.weight * RANKING_LOSSES.get(ranking.loss)(logits, teacher.nan_to_num(0.0), same)

    def _intermediate(self, s: LayerOutputs, t: LayerOutputs, mask: torch.Tensor) -> torch.Tensor:
        total = mask.new_zeros((), dtype=torch.float32)
        for term in self.terms.values():
            total = total + getattr(term.cfg, "weight", 1.0) * term(s, t, mask)
        return total


def ranked_tasks(cfg: DistillConfig, tasks: dict[str, TaskData]) -> set[str]:
    """The tasks ranking KD applies to: those it names, else every pair task with a score head; a named task
    without a score head, or not a pair task, is an error."""
    if cfg.ranking is None:
        return set()
    pairs = {t for t, d in tasks.items() if d.kind.numeric and d.config is not None and d.config.text_pair}
    named = set(cfg.ranking.tasks) if cfg.ranking.tasks is not None else pairs
    wrong = sorted(named - pairs)
    if wrong:
        raise MtkdError(f"distill.ranking.tasks: {wrong[0]} is not a pair task with a score (regression) head")
    return named
