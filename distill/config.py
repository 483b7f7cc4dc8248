"""Typed configuration for data sources, tasks, tokenizer, model and training.

These pydantic models are composed by ``recipes.schema``; they live here so that ``distill``
never imports ``recipes``. Unknown keys are errors everywhere (``extra="forbid"``).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from .data.builtin.noise import Noise
from .data.readers import READERS
from .kd.config import (  # the KD terms' settings live in their own room; callers reach them through here
    BUILTIN_LAYER_KEYS,
    AttentionKD,
    AugmentConfig,
    DistillConfig,
    HiddenKD,
    LayerMap,
    LogitsKD,
    RankingKD,
    RelationKD,
    TwoStageConfig,
)
from .strict import OptimizerSettings, StrictModel, existing_file, only_known, registered_name
from .tasks import TASK_TYPES
from .training.weighting import WEIGHTINGS

log = logging.getLogger("mtkd")


class NoiseConfig(StrictModel):
    """Built-in corpus noise: per-word typo and abbreviation rates, word-order shuffles, label flips."""

    typo: float = Field(Noise.typo, ge=0, le=1)
    """per-word probability of a typo"""
    abbreviation: float = Field(Noise.abbreviation, ge=0, le=1)
    """per-word probability of an abbreviation"""
    shuffle: float = Field(Noise.shuffle, ge=0, le=1)
    """per-text probability of shuffled word order"""
    label: float = Field(Noise.label, ge=0, lt=1)
    """probability of a flipped label (label noise)"""


class SourceConfig(StrictModel):
    """Where a task's rows come from. Files are CSV, JSONL or CoNLL; ``hf`` uses ``datasets``."""

    format: str
    """builtin, hf, or a registered file reader: csv, jsonl, conll (distill.data.readers.READERS, yours included)"""
    train: str | None = None
    """csv/jsonl/conll: the training file"""
    dev: str | None = None
    """csv/jsonl/conll: the dev file (default: carved from train)"""
    test: str | None = None
    """csv/jsonl/conll: the test file (default: carved from train)"""
    table: str | None = Field(None, description="builtin: products, queries, reviews or messages")
    size: int | None = Field(None, gt=0, description="builtin: rows generated for the table")
    seed: int = Field(0, description="builtin: corpus seed (independent of the recipe seed)")
    noise: NoiseConfig = Field(default_factory=NoiseConfig, description="builtin: noise knobs")
    name: str | None = Field(None, description="hf: dataset name on the hub or a local path")
    subset: str | None = Field(None, description="hf: dataset configuration name")
    splits: dict[str, str] = Field(default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"})
    """hf: split names for train, dev and test"""
    delimiter: str = ","
    """csv: field delimiter"""
    encoding: str = "utf-8"
    """text encoding of the files"""

    @field_validator("format")
    @classmethod
    def _known_format(cls, v: str) -> str:
        return v if v in ("builtin", "hf") else registered_name(READERS, "data format (or builtin, hf)", v)

    @field_validator("train", "dev", "test")
    @classmethod
    def _files_exist(cls, v: str | None, info) -> str | None:
        return existing_file(v) if info.data.get("format") not in (None, "builtin", "hf") else v

    @model_validator(mode="after")
    def _complete(self) -> SourceConfig:
        if self.format not in ("builtin", "hf") and self.train is None:
            raise ValueError(f"format {self.format} needs a 'train' file path")
        if self.format == "hf" and self.name is None:
            raise ValueError("format hf needs 'name' (a dataset id or a local directory)")
        return self


def _source_shorthand(value: Any) -> Any:
    """``source: builtin`` is short for ``source: {format: builtin}``."""
    return {"format": value} if isinstance(value, str) else value


class SplitConfig(StrictModel):
    """Fractions of train carved out (seeded) for splits the source does not provide."""

    dev: float = Field(0.1, gt=0, lt=0.5)
    """fraction of train carved out as dev when the source has none"""
    test: float = Field(0.1, gt=0, lt=0.5)
    """fraction of train carved out as test when the source has none"""


class TaskConfig(StrictModel):
    """One head: its type, its source and which columns hold the inputs and labels."""

    type: str
    """a registered task type: classification, pair_classification, regression, token_classification,
    multilabel_classification, or your own"""
    source: Annotated[SourceConfig, BeforeValidator(_source_shorthand)]
    """where the rows come from (`builtin` is short for {format: builtin})"""
    text: str = "text"
    """column of the text (the first text of a pair)"""
    text_pair: str | None = None
    """column of the second text (pair tasks; optional for regression)"""
    label: str = "label"
    """column of the label"""
    tokens: str = "tokens"
    """token_classification: column of the word list"""
    tags: str = "tags"
    """token_classification: column of the tag list"""
    label_separator: str = Field("|", description="multi-label: separator inside a CSV cell")
    id: str | None = Field(None, description="column of unique row ids; a repeated id is a bad row")
    split: SplitConfig = Field(default_factory=SplitConfig)
    """how missing dev/test splits are carved from train"""
    max_train: int | None = Field(None, gt=0, description="cap on training examples (seeded sample)")
    max_eval: int | None = Field(None, gt=0, description="cap on dev and test examples each")
    standardize: bool | None = Field(
        None,
        description="regression: the head learns (y - mean) / std of the training targets and answers in the "
        "data's units; null (auto) does so only for targets far from unit scale (a price, not a 1-3 grade)",
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        return registered_name(TASK_TYPES, "task type", v)

    @model_validator(mode="after")
    def _pair_needs_second_text(self) -> TaskConfig:
        if TASK_TYPES.get(self.type).pair and self.text_pair is None:
            raise ValueError(f"type {self.type} needs 'text_pair' (the column of the second text)")
        if self.standardize and not TASK_TYPES.get(self.type).numeric:
            raise ValueError(f"'standardize' applies to regression targets, not to type {self.type}")
        return self


class DataConfig(StrictModel):
    """Where file sources live, default caps for every task, and what to do with bad rows."""

    on_error: Literal["raise", "skip"] = "raise"
    """raise: a bad row is an error naming file and line; skip: counted per reason and reported in teacher/data.json"""
    root: str | None = Field(
        None, description="folder relative file paths are joined to; a missing folder skips the recipe"
    )
    max_train: int | None = Field(None, gt=0, description="default tasks.<name>.max_train for every task")
    max_eval: int | None = Field(None, gt=0, description="default tasks.<name>.max_eval for every task")
    same_rows_per_source: bool = Field(
        False,
        description="tasks reading the same source (two heads on one text) shuffle, carve and cap it alike, so "
        "they hold the same rows in the same order (and ``train.share_inputs`` can train them in one pass); "
        "otherwise each task draws its own sample",
    )


class TokenizerConfig(StrictModel):
    """Train a WordPiece tokenizer on the recipe's training text, or load one."""

    train: Literal["wordpiece"] | None = None
    """wordpiece: learn a vocabulary on the recipe's training text"""
    vocab_size: int = Field(8000, ge=100)
    """vocabulary size to learn"""
    min_frequency: int = Field(2, ge=1)
    """pieces seen fewer times are not kept"""
    lowercase: bool = True
    """lowercase text before tokenizing"""
    from_pretrained: str | None = None
    """path or hub id of a tokenizer to load instead"""

    @model_validator(mode="after")
    def _one_way(self) -> TokenizerConfig:
        if (self.train is None) == (self.from_pretrained is None):
            raise ValueError("set exactly one of 'train: wordpiece' or 'from_pretrained: <path or hub id>'")
        return self


class ModelConfig(StrictModel):
    """Encoder shape (BERT family) or a pretrained encoder to start from."""

    layers: int = Field(4, ge=1)
    """encoder layers"""
    hidden: int = Field(256, ge=8)
    """hidden width"""
    heads: int = Field(4, ge=1)
    """attention heads (must divide hidden)"""
    intermediate: int | None = Field(None, ge=8, description="FFN size; default 4 × hidden")
    dropout: float = Field(0.1, ge=0, lt=1)
    """hidden dropout"""
    attention_dropout: float = Field(0.1, ge=0, lt=1)
    """attention-probability dropout"""
    max_position: int = Field(512, ge=16)
    """longest sequence the position table holds"""
    from_pretrained: str | None = Field(None, description="path or hub id of a Hugging Face encoder")
    attention: Literal["sdpa", "eager"] = Field(
        "sdpa",
        description="the encoder's attention implementation: sdpa (PyTorch's fused kernel) or eager; a model "
        "whose attention maps are read (attention KD) switches to eager, the one that returns them",
    )
    trust_remote_code: bool = False
    """allow a checkpoint's own Python code to run (off: never run remote code)"""

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> ModelConfig:
        if self.from_pretrained is None and self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        return self


class TrainConfig(StrictModel):
    """The one training loop's settings (teacher now; distillation reuses them)."""

    epochs: int = Field(3, ge=1)
    """passes over the sampling plan"""
    batch_size: int = Field(32, ge=1)
    """training batch size"""
    eval_batch_size: int = Field(128, ge=1)
    """batch size of dev/test evaluation"""
    lr: float = Field(5e-4, gt=0)
    """peak learning rate (AdamW)"""
    head_lr: float | None = Field(
        None,
        gt=0,
        description="peak learning rate of the task heads (default: lr); a teacher fine-tuned from a checkpoint "
        "gets 20 × lr unless set, since its heads start from nothing while its layers only adjust",
    )
    weight_decay: float = Field(0.01, ge=0)
    """AdamW weight decay"""
    warmup: float = Field(0.06, ge=0, lt=1, description="fraction of steps with linear warm-up")
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    """learning-rate decay after warm-up"""
    max_len: int = Field(64, ge=8)
    """tokens per example; longer ones are truncated and counted"""
    group_by_length: bool = Field(False, description="batch examples of similar length: less padding, faster")
    group_pairs: bool = Field(
        False,
        description="pair tasks: each batch holds whole queries (rows sharing a first text), so ranking KD sees "
        "several titles per query; for those tasks it takes the place of group_by_length",
    )
    share_inputs: bool = Field(
        False,
        description="tasks with identical training inputs (two heads on one text) train in one step: "
        "one encoder pass, the sum of their losses; the group is sampled as one task",
    )
    grad_clip: float | None = Field(1.0, gt=0)
    """max gradient norm (null: no clipping)"""
    sampling: Literal["proportional", "temperature", "round_robin"] = "temperature"
    """how batches are drawn across tasks: proportional to size, temperature (∝ size^(1/T)) or round robin"""
    sampling_temperature: float = Field(
        2.0,
        gt=0,
        serialization_alias="temperature",  # its name in stage hashes: runs made before the rename stay valid
        description="task sampling ∝ size^(1/T); T=1 proportional (not a KD softmax temperature); `temperature` "
        "is its old name and still accepted",
    )
    task_weights: dict[str, float] = Field(default_factory=dict)
    """loss weight per task (static weighting); default 1"""
    weighting: str = Field("static", description="static (task_weights) or uncertainty (learned, Kendall et al.)")
    early_stopping: int | None = Field(None, ge=1, description="patience in epochs")
    calibrate: bool = Field(
        False,
        description="regression heads: after training, the least-squares map y = a · prediction + b fitted on the dev "
        "split is folded into the head's output layer (every export answers calibrated); removes a shift or scale "
        "that costs RMSE while the ranking is right",
    )
    task_patience: int | None = Field(
        None,
        ge=1,
        description="a task whose dev metric has not improved for this many epochs is no longer trained (its "
        "steps leave the sampling plan), so a head that overfits early stops pulling the shared encoder",
    )
    after_peak: Literal["stop", "self_distil"] = Field(
        "stop",
        description="what task_patience does to a task that has peaked: stop training it, or self_distil (Lu et "
        "al. 2022): keep it in the plan with its loss replaced by distillation from the model of its best dev "
        "epoch, so the shared encoder keeps serving it while the other tasks go on",
    )
    checkpoint_every: int = Field(200, ge=1, description="optimizer steps between checkpoints")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps (smoke runs)")
    amp: bool = True
    """mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling)"""

    @model_validator(mode="before")
    @classmethod
    def _old_temperature_key(cls, data: Any) -> Any:
        """``temperature`` was this setting's name until it was told apart from the KD softmax's: still read."""
        if isinstance(data, dict) and "temperature" in data:
            if "sampling_temperature" in data:
                raise ValueError("set sampling_temperature only (temperature is its old name)")
            log.warning("train.temperature is now train.sampling_temperature (task sampling); the old key still works")
            data = {("sampling_temperature" if k == "temperature" else k): v for k, v in data.items()}
        return data

    @field_validator("weighting")
    @classmethod
    def _known_weighting(cls, v: str) -> str:
        return registered_name(WEIGHTINGS, "weighting", v)

    @field_validator("task_weights")
    @classmethod
    def _positive_weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in v.items() if w < 0]
        if bad:
            raise ValueError(f"task weights must be ≥ 0 (got negative for {', '.join(bad)})")
        return v


# What fine-tuning a checkpoint gets for each train setting the recipe leaves unset: a checkpoint's rate, heads
# that learn faster than the layers under them, and epochs until every task's dev metric stops improving
# (20 at most) instead of a count the user must guess.
FINE_TUNING_DEFAULTS: dict[str, Any] = {"lr": 5e-5, "epochs": 20, "task_patience": 2}
HEAD_LR_FACTOR = 20.0


def fine_tuning_defaults(train: TrainConfig) -> TrainConfig:
    """``train`` with the fine-tuning defaults filled in where it leaves a setting unset (idempotent)."""
    update = {k: v for k, v in FINE_TUNING_DEFAULTS.items() if k not in train.model_fields_set}
    lr = update.get("lr", train.lr)
    if "head_lr" not in train.model_fields_set:
        update["head_lr"] = HEAD_LR_FACTOR * lr
    if not update:
        return train
    return TrainConfig.model_validate({**train.model_dump(exclude_unset=True), **update})


class PretrainConfig(OptimizerSettings):
    """Masked-language-model pretraining of the teacher's encoder on the tasks' unlabelled text."""

    epochs: int = Field(1, ge=1)
    """passes over the texts"""
    batch_size: int = Field(64, ge=1)
    """training batch size"""
    max_len: int = Field(128, ge=8)
    """tokens per text"""
    mask_prob: float = Field(0.15, gt=0, lt=1)
    """share of tokens masked"""
    whole_word: bool = Field(True, description="mask all pieces of a word together (a CJK character is a word)")
    max_texts: int | None = Field(None, gt=0, description="cap on distinct training texts (seeded sample)")
    checkpoint_every: int = Field(500, ge=1)
    """optimizer steps between checkpoints"""


class StudentModelConfig(ModelConfig):
    """The student's encoder shape, and whether to start from a subset of the teacher's layers."""

    init: Literal["random", "teacher_layers", "teacher_embeddings", "general"] = Field(
        "random",
        description="teacher_layers: copy the embeddings, a uniform subset of layers and the heads (same widths); "
        "teacher_embeddings: the teacher's embedding tables projected onto their top principal directions "
        "(a narrower student), layers random; general: start from an encoder of this shape general-distilled "
        "from the teacher's encoder on unlabelled text (the recipe's `general` stage, settings in "
        "student.general; from Python: distill.general, then from_pretrained)",
    )


__all__ = [
    "BUILTIN_LAYER_KEYS",
    "AttentionKD",
    "AugmentConfig",
    "DataConfig",
    "DistillConfig",
    "HiddenKD",
    "LayerMap",
    "LogitsKD",
    "ModelConfig",
    "NoiseConfig",
    "PretrainConfig",
    "RankingKD",
    "RelationKD",
    "SourceConfig",
    "SplitConfig",
    "StrictModel",
    "StudentModelConfig",
    "TaskConfig",
    "TokenizerConfig",
    "TrainConfig",
    "TwoStageConfig",
    "only_known",
    "registered_name",
]
