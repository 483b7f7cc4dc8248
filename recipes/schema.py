"""The recipe: one YAML file, validated by typed models before anything runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from benchmarks.config import BenchConfig
from compress.onnx.config import QuantizeConfig
from compress.prune.plan import PruneConfig
from compress.tensorrt.config import CompileConfig
from distill.config import (
    DataConfig,
    DistillConfig,
    ModelConfig,
    PretrainConfig,
    StrictModel,
    StudentModelConfig,
    TaskConfig,
    TokenizerConfig,
    TrainConfig,
    fine_tuning_defaults,
)
from distill.errors import DataUnavailable
from distill.general.config import GeneralDistillConfig
from distill.kd.layer_transfer import LAYER_LOSSES
from distill.teacher_sources import TeacherSources

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class TeacherConfig(TeacherSources):
    """The multi-task teacher: its encoder shape and how it is trained; or teachers brought from outside,
    one per task (``checkpoints``, ``outputs``), which are loaded, checked and scored instead."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    """the encoder's shape or checkpoint (not used with checkpoints or outputs)"""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """how the teacher is trained (with checkpoints: max_len and eval_batch_size are how they read text); a
    teacher fine-tuned from ``model.from_pretrained`` gets, for each setting left unset, lr 5e-5, heads at
    20 × lr and up to 20 epochs, each task trained until its dev metric has not improved for 2 epochs"""

    @model_validator(mode="after")
    def _fine_tuning_defaults(self) -> TeacherConfig:
        if self.model.from_pretrained is not None:  # not self.train = …: assignment would validate again
            object.__setattr__(self, "train", fine_tuning_defaults(self.train))
        return self


class StudentConfig(StrictModel):
    """The distilled student: its shape, what it learns from the teacher, how it is trained."""

    model: StudentModelConfig = Field(default_factory=lambda: StudentModelConfig(layers=2, hidden=128, heads=2))
    """the student's shape and initialisation"""
    distill: DistillConfig = Field(default_factory=DistillConfig)
    """what the student learns from the teacher"""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """how the student is trained"""
    general: GeneralDistillConfig | None = Field(
        None,
        description="task-agnostic distillation before task distillation (`model.init: general`; defaults when "
        "absent): the student's shape learns the teacher encoder's self-attention relations on unlabelled text",
    )
    seed: int | None = Field(
        None,
        ge=0,
        description="the student's initialisation and batch order (default: the recipe seed); the data and "
        "the teacher stay as they are, so `mtkd ablate --set student.seed=N` repeats an ablation over seeds",
    )

    @model_validator(mode="after")
    def _general_with_init(self) -> StudentConfig:
        if self.model.init == "general" and self.general is None:
            object.__setattr__(self, "general", GeneralDistillConfig())  # not self.general = …: would validate again
        if self.general is not None and self.model.init != "general":
            raise ValueError("student.general is set but student.model.init is not general; set init: general")
        if self.model.init == "general" and self.model.from_pretrained:
            raise ValueError("student.model.init: general builds its own start; remove student.model.from_pretrained")
        return self

    def seed_or(self, recipe_seed: int) -> int:
        """The seed the distill stage trains with."""
        return recipe_seed if self.seed is None else self.seed


def _transfer_under_root(student: Any, root: str | None) -> dict[str, Any]:
    """``{"student": ...}`` with relative transfer file paths joined to ``data.root`` (nothing to change: {})."""
    transfer = ((student or {}).get("distill") or {}).get("transfer") if isinstance(student, dict) else None
    if root is None or not isinstance(transfer, dict) or not isinstance(transfer.get("tasks"), dict):
        return {}
    tasks = {}
    for name, task in transfer["tasks"].items():
        if isinstance(task, dict) and isinstance(task.get("files"), list):
            files = [{"path": f} if isinstance(f, str) else dict(f) for f in task["files"]]
            for f in files:
                if isinstance(f.get("path"), str) and not Path(f["path"]).is_absolute():
                    f["path"] = str(Path(root) / f["path"])
            task = {**task, "files": files}
        tasks[name] = task
    distill = {**student["distill"], "transfer": {**transfer, "tasks": tasks}}
    return {"student": {**student, "distill": distill}}


def encoder_size(m: ModelConfig) -> int:
    """Approximate encoder parameters per layer stack (attention + FFN), for size sanity checks."""
    ffn = m.intermediate or 4 * m.hidden
    return m.layers * (4 * m.hidden * m.hidden + 2 * m.hidden * ffn)


class Recipe(StrictModel):
    """A whole pipeline: tasks and their data, the tokenizer and each stage's settings."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """the run's name: output goes to runs/<name>/"""
    seed: int = 0
    """seeds the splits, the initialisation and the batch order"""
    data: DataConfig = Field(default_factory=DataConfig)
    """where data files live, default caps, bad-row policy"""
    tasks: dict[str, TaskConfig] = Field(min_length=1)
    """one entry per head: its type, its data and columns"""
    tokenizer: TokenizerConfig = Field(default_factory=lambda: TokenizerConfig(train="wordpiece"))
    """train a WordPiece vocabulary or load a checkpoint's tokenizer"""
    pretrain: PretrainConfig | None = None
    """optional MLM pretraining of the teacher's encoder"""
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    """the multi-task teacher"""
    student: StudentConfig | None = None
    """the distilled student (no distill stage when absent)"""
    prune: PruneConfig | None = None
    """structured pruning (no prune stage when absent)"""
    quantize: QuantizeConfig | None = None
    """ONNX export and quantization (no quantize stage when absent)"""
    compile: CompileConfig | None = None
    """TensorRT engines (no compile stage when absent)"""
    bench: BenchConfig | None = None
    """the latency and accuracy grid (no bench stage when absent)"""
    plugins: list[str] = Field(default_factory=list)
    """Python modules or .py files (relative to the recipe) imported before validation: your own task types,
    KD losses, presets, importance scores or runtimes, registered by name (stage hashes do not see their code)"""

    @model_validator(mode="before")
    @classmethod
    def _apply_data_defaults(cls, raw: Any) -> Any:
        """Join relative file paths to ``data.root``, give every task ``data``'s caps, drop null tasks.

        The root is consumed (set to None) so the saved recipe.yaml, which holds the joined
        paths, loads back unchanged.
        """
        if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), dict):
            return raw
        data = dict(raw.get("data") or {})
        root = data.get("root")
        if root is not None and not Path(root).is_dir():
            raise DataUnavailable(
                f"recipe {raw.get('name', '?')!r} reads its data from {root!r}, which does not exist here "
                f"(resolved from {Path.cwd()}); point data.root at the folder with --set data.root=PATH"
            )
        tasks = {}
        for name, task in raw["tasks"].items():
            if task is None:  # `--set tasks.<name>=null` (or `name: null` in a variant) drops a head
                continue
            if isinstance(task, dict):
                task = dict(task)
                for cap in ("max_train", "max_eval"):
                    if data.get(cap) is not None and task.get(cap) is None:
                        task[cap] = data[cap]
                src = task.get("source")
                if root is not None and isinstance(src, dict):
                    src = dict(src)
                    for split in ("train", "dev", "test"):
                        if isinstance(src.get(split), str) and not Path(src[split]).is_absolute():
                            src[split] = str(Path(root) / src[split])
                    task["source"] = src
            tasks[name] = task
        data["root"] = None
        return {**raw, "data": data, "tasks": tasks, **_transfer_under_root(raw.get("student"), root)}

    @model_validator(mode="before")
    @classmethod
    def _tokenizer_of_pretrained_teacher(cls, raw: Any) -> Any:
        """A teacher started from a checkpoint reads its ids with that checkpoint's tokenizer."""
        if not isinstance(raw, dict) or "tokenizer" in raw or not isinstance(raw.get("teacher"), dict):
            return raw
        teacher = raw["teacher"]
        model, lender = teacher.get("model"), teacher.get("encoder_from")
        if isinstance(model, dict) and model.get("from_pretrained"):
            return {**raw, "tokenizer": {"from_pretrained": model["from_pretrained"]}}
        checkpoints = teacher.get("checkpoints")
        if isinstance(lender, str) and isinstance(checkpoints, dict) and isinstance(checkpoints.get(lender), str):
            # the student reads the ids of the checkpoint that lends it layers
            return {**raw, "tokenizer": {"from_pretrained": checkpoints[lender]}}
        return raw

    @field_validator("tasks")
    @classmethod
    def _task_names(cls, tasks: dict[str, TaskConfig]) -> dict[str, TaskConfig]:
        bad = [t for t in tasks if not NAME.match(t)]
        if bad:
            raise ValueError(f"task name {bad[0]!r} must start with a letter and use only letters, digits and _")
        return tasks

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        sections = {"teacher": self.teacher.train, "student": self.student.train if self.student else None}
        for section, train in sections.items():
            unknown = set(train.task_weights) - set(self.tasks) if train else set()
            if unknown:
                raise ValueError(
                    f"{section}.train.task_weights names unknown task {sorted(unknown)[0]!r}; "
                    f"tasks are: {', '.join(self.tasks)}"
                )
        if self.teacher.model.from_pretrained and self.tokenizer.train:
            raise ValueError(
                f"teacher.model.from_pretrained ({self.teacher.model.from_pretrained}) comes with its own "
                "vocabulary; a newly trained tokenizer would feed it wrong ids. Remove the tokenizer section "
                "(its tokenizer is then used) or set tokenizer.from_pretrained"
            )
        if self.teacher.external:
            self._check_brought_teachers()
        general = self.student.general if self.student else None
        if general is not None and self.teacher.external:
            raise ValueError("student.model.init: general needs one multi-task teacher's encoder, not brought teachers")
        if general is not None and general.teacher == "pretrained" and not self.teacher.model.from_pretrained:
            raise ValueError(
                "student.general.teacher: pretrained distils the checkpoint the teacher starts from, and "
                "teacher.model.from_pretrained is not set; use general.teacher: fine_tuned"
            )
        if self.student is not None:
            logits = self.student.distill.logits
            for key in ("task_alpha", "task_loss"):
                unknown = sorted(set(getattr(logits, key) if logits else ()) - set(self.tasks))
                if unknown:
                    raise ValueError(
                        f"student.distill.logits.{key} names unknown task {unknown[0]!r}; "
                        f"tasks are: {', '.join(self.tasks)}"
                    )
            if not self.teacher.external:
                self._check_student(self.student, self.teacher.model)
        return self

    def _check_brought_teachers(self) -> None:
        """Per-task teachers: tasks that exist, nothing to train, layers only from ``encoder_from``."""
        t = self.teacher
        named = [*t.checkpoints, *t.outputs]
        unknown = [name for name in named if name not in self.tasks]
        if unknown:
            raise ValueError(f"teacher names unknown task {unknown[0]!r}; tasks are: {', '.join(self.tasks)}")
        if self.pretrain is not None:
            raise ValueError("pretrain trains a teacher's encoder; with teacher.checkpoints or outputs none is trained")
        if t.model.from_pretrained:
            raise ValueError("teacher.model is not used with teacher.checkpoints or outputs; remove from_pretrained")
        exported = self.quantize is not None and (
            self.quantize.teacher_presets
            or "teacher" in (self.quantize.artifacts or ([] if self.student else ["teacher"]))
        )
        if exported or (self.prune is not None and self.prune.artifact == "teacher"):
            raise ValueError(
                "brought teachers are not pruned, exported or quantized here: the student is the product (the bench "
                "times each checkpoint beside it as teacher.<task>); drop the teacher from quantize and prune"
            )
        if self.student is None or t.encoder_from is not None:
            return
        s = self.student
        if s.model.init != "random":
            raise ValueError(
                f"student.model.init: {s.model.init} copies a teacher's layers; name the checkpoint that lends "
                "them with teacher.encoder_from"
            )
        if s.distill.intermediate:
            raise ValueError(
                "intermediate-layer KD needs one teacher's layers: set teacher.encoder_from to a task in "
                "teacher.checkpoints (sharing the student's vocabulary)"
            )

    @staticmethod
    def _check_student(student: StudentConfig, teacher: ModelConfig) -> None:
        s, d = student.model, student.distill
        if teacher.from_pretrained or s.from_pretrained:
            return  # shapes are only known once the checkpoints are loaded
        if encoder_size(s) > encoder_size(teacher):
            raise ValueError(
                f"student.model ({s.layers} layers, hidden {s.hidden}) is larger than the teacher "
                f"({teacher.layers} layers, hidden {teacher.hidden}); a student must be smaller"
            )
        shape = (s.hidden, s.heads, s.intermediate or 4 * s.hidden)
        if s.init == "teacher_layers" and shape != (
            teacher.hidden,
            teacher.heads,
            teacher.intermediate or 4 * teacher.hidden,
        ):
            raise ValueError(
                "student.model.init: teacher_layers needs the teacher's hidden, heads and "
                "intermediate sizes; use init: random with hidden/relation distillation instead"
            )
        for name, settings in d.layer_terms():  # each term knows which shapes it can compare
            LAYER_LOSSES.get(name).check(settings, s, teacher)
