"""A fine-tuned Hugging Face task model as the teacher of one task.

Any ``*ForSequenceClassification`` (single-label, multi-label or regression) teaches a sequence task,
any ``*ForTokenClassification`` a token task. The checkpoint keeps its own tokenizer: sequence heads give
per-example logits, token heads are read at each word's first sub-token (as the student is evaluated),
so the student may use another vocabulary entirely.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

from ..checkpoints import describe_failure, quiet_transformers, resolve_checkpoint
from ..data.examples import Example, TaskData
from ..decoding import first_subtokens
from ..errors import MtkdError, TeacherMismatch
from .base import TaskTeacher
from .labels import label_order

log = logging.getLogger("mtkd")
SEQUENCE, TOKEN = "ForSequenceClassification", "ForTokenClassification"
PROBLEM_TYPES = {"class": "single_label_classification", "classes": "multi_label_classification", "score": "regression"}


def task_model_class(per_token: bool) -> type:
    """The transformers auto class that loads a task checkpoint: token or sequence classification."""
    return AutoModelForTokenClassification if per_token else AutoModelForSequenceClassification


def check_task_fit(where: str, config: Any, task: TaskData) -> None:
    """The checkpoint's architecture and problem type against the task's type."""
    wanted = TOKEN if task.kind.per_token else SEQUENCE
    archs = list(getattr(config, "architectures", None) or [])
    if archs and not any(a.endswith(wanted) for a in archs):
        raise TeacherMismatch(
            f"{where}: the checkpoint is a {archs[0]}, but task {task.name!r} ({task.config.type}) needs a "
            f"*{wanted} model"
        )
    problem = getattr(config, "problem_type", None)
    expected = PROBLEM_TYPES.get(task.kind.label_kind)
    if problem and expected and problem != expected:
        raise TeacherMismatch(
            f"{where}: the checkpoint was fine-tuned for {problem}, but task {task.name!r} is "
            f"{task.config.type} ({expected})"
        )


class CheckpointTeacher(TaskTeacher):
    """One fine-tuned checkpoint, checked against its task, scoring examples in batches."""

    kind = "checkpoint"

    def __init__(
        self,
        task: TaskData,
        model: torch.nn.Module,
        tokenizer: Any,
        order: list[int] | None,
        provenance: dict[str, Any],
        max_len: int = 128,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(task)
        self.model, self.tokenizer, self.order = model.eval(), tokenizer, order
        self.provenance, self.max_len, self.batch_size = provenance, max_len, batch_size
        self.device = torch.device(device)
        self.truncated_words = 0  # token tasks: words past max_len, which get no teacher answer

    @classmethod
    def load(
        cls,
        ref: str,
        task: TaskData,
        label_map: dict[str, str] | None = None,
        *,
        max_len: int = 128,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        trust_remote_code: bool = False,
    ) -> CheckpointTeacher:
        """Load a checkpoint (local path, packaged or hub id) with its tokenizer and check it fits ``task``."""
        where = f"teacher.checkpoints.{task.name} ({ref})"
        resolved = resolve_checkpoint(ref)
        try:
            config = AutoConfig.from_pretrained(resolved.path, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as e:
            raise MtkdError(describe_failure(resolved, e)) from None
        check_task_fit(where, config, task)
        order = None
        if task.kind.numeric:
            if config.num_labels != 1:
                raise TeacherMismatch(f"{where}: a regression teacher has one output; this one has {config.num_labels}")
        else:
            names = [config.id2label[i] for i in range(config.num_labels)]
            order = label_order(where, names, task.labels, label_map)
        auto = task_model_class(task.kind.per_token)
        try:
            with quiet_transformers():
                model = auto.from_pretrained(resolved.path, trust_remote_code=trust_remote_code)
                tokenizer = AutoTokenizer.from_pretrained(resolved.path, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as e:
            raise MtkdError(describe_failure(resolved, e)) from None
        if task.kind.per_token and not tokenizer.is_fast:
            raise TeacherMismatch(f"{where}: token tasks read words through a fast tokenizer; this one is not")
        log.info(
            "teacher %s: %s from %s (%.1fM parameters)",
            task.name,
            type(model).__name__,
            resolved.source,
            sum(p.numel() for p in model.parameters()) / 1e6,
        )
        provenance = {**resolved.provenance(), "class": type(model).__name__}
        return cls(task, model.to(device), tokenizer, order, provenance, max_len, batch_size, device)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.provenance, "max_len": self.max_len}

    def latency_module(self) -> torch.nn.Module:
        return self.model

    @torch.no_grad()
    def outputs(self, examples: list[Example]) -> list[torch.Tensor | None]:
        out: list[torch.Tensor | None] = [None] * len(examples)
        order = sorted(range(len(examples)), key=lambda i: len(str(examples[i].text)))  # less padding
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(starts, desc=f"teacher {self.task.name}", unit="batch", leave=False, disable=None):
            idx = order[start : start + self.batch_size]
            rows = self._token_rows if self.task.kind.per_token else self._sequence_rows
            for i, row in zip(idx, rows([examples[i] for i in idx]), strict=True):
                out[i] = row
        return out

    def _logits(self, enc: Any) -> torch.Tensor:
        inputs = {k: v.to(self.device) for k, v in enc.items()}
        logits = self.model(**inputs).logits.float().cpu()
        return logits[..., self.order] if self.order is not None else logits

    def _sequence_rows(self, batch: list[Example]) -> list[torch.Tensor]:
        pairs = [ex.text_pair for ex in batch] if batch[0].text_pair is not None else None
        enc = self.tokenizer(
            [ex.text for ex in batch], pairs, truncation=True, max_length=self.max_len, padding=True,
            return_tensors="pt",
        )  # fmt: skip
        return list(self._logits(enc))

    def _token_rows(self, batch: list[Example]) -> list[torch.Tensor]:
        words = [[w if w.strip() else self.tokenizer.unk_token for w in ex.text] for ex in batch]
        enc = self.tokenizer(
            words, is_split_into_words=True, truncation=True, max_length=self.max_len, padding=True,
            return_tensors="pt",
        )  # fmt: skip
        logits = self._logits(enc)
        rows = []
        for b, ex in enumerate(batch):
            per_word = logits.new_full((len(ex.text), logits.shape[-1]), float("nan"))  # NaN: no answer
            for w, pos in enumerate(first_subtokens(enc.word_ids(b), len(ex.text))):
                if pos is None:
                    self.truncated_words += 1  # past max_len: the student learns that word from its tag
                else:
                    per_word[w] = logits[b, pos]
            rows.append(per_word)
        return rows
