"""Typed configuration for data sources, tasks, tokenizer, model and training.

These pydantic models are composed by ``recipes.schema``; they live here so that ``distill``
never imports ``recipes``. Unknown keys are errors everywhere (``extra="forbid"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .data.builtin.noise import Noise
from .tasks import TASK_TYPES


class StrictModel(BaseModel):
    """Base for config models: unknown keys rejected, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def only_known(values: list[str], names: list[str], kind: str) -> list[str]:
    """``values`` if each is one of ``names`` (a registry's); else the first stranger, with the choices."""
    unknown = [v for v in values if v not in names]
    if unknown:
        raise ValueError(f"unknown {kind} {unknown[0]!r}; choose from: {', '.join(names)}")
    return values


def _existing_file(value: str | None) -> str | None:
    if value is not None and not Path(value).is_file():
        raise ValueError(f"file not found: {value} (paths are relative to the current directory)")
    return value


def _registered(registry: Any, kind: str, name: str) -> str:
    """``name`` if ``registry`` holds it, else a validation error listing the choices."""
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(registry.names())}")
    return name


class NoiseConfig(StrictModel):
    """Built-in corpus noise: per-word typo and abbreviation rates, word-order shuffles, label flips."""

    typo: float = Field(Noise.typo, ge=0, le=1)
    abbreviation: float = Field(Noise.abbreviation, ge=0, le=1)
    shuffle: float = Field(Noise.shuffle, ge=0, le=1)
    label: float = Field(Noise.label, ge=0, lt=1)


class SourceConfig(StrictModel):
    """Where a task's rows come from. Files are CSV, JSONL or CoNLL; ``hf`` uses ``datasets``."""

    format: Literal["builtin", "csv", "jsonl", "conll", "hf"]
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    table: str | None = Field(None, description="builtin: products, queries, reviews or messages")
    size: int | None = Field(None, gt=0, description="builtin: rows generated for the table")
    seed: int = Field(0, description="builtin: corpus seed (independent of the recipe seed)")
    noise: NoiseConfig = Field(default_factory=NoiseConfig, description="builtin: noise knobs")
    name: str | None = Field(None, description="hf: dataset name on the hub or a local path")
    subset: str | None = Field(None, description="hf: dataset configuration name")
    splits: dict[str, str] = Field(default_factory=lambda: {"train": "train", "dev": "validation", "test": "test"})
    delimiter: str = ","
    encoding: str = "utf-8"

    @field_validator("train", "dev", "test")
    @classmethod
    def _files_exist(cls, v: str | None, info) -> str | None:
        return _existing_file(v) if info.data.get("format") in ("csv", "jsonl", "conll") else v

    @model_validator(mode="after")
    def _complete(self) -> SourceConfig:
        if self.format in ("csv", "jsonl", "conll") and self.train is None:
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
    test: float = Field(0.1, gt=0, lt=0.5)


class TaskConfig(StrictModel):
    """One head: its type, its source and which columns hold the inputs and labels."""

    type: str
    source: Annotated[SourceConfig, BeforeValidator(_source_shorthand)]
    text: str = "text"
    text_pair: str | None = None
    label: str = "label"
    tokens: str = "tokens"
    tags: str = "tags"
    label_separator: str = Field("|", description="multi-label: separator inside a CSV cell")
    id: str | None = Field(None, description="column of unique row ids; a repeated id is a bad row")
    split: SplitConfig = Field(default_factory=SplitConfig)
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
        return _registered(TASK_TYPES, "task type", v)

    @model_validator(mode="after")
    def _pair_needs_second_text(self) -> TaskConfig:
        if TASK_TYPES.get(self.type).pair and self.text_pair is None:
            raise ValueError(f"type {self.type} needs 'text_pair' (the column of the second text)")
        if self.standardize and TASK_TYPES.get(self.type).label_kind != "score":
            raise ValueError(f"'standardize' applies to regression targets, not to type {self.type}")
        return self


class DataConfig(StrictModel):
    """Where file sources live, default caps for every task, and what to do with bad rows."""

    on_error: Literal["raise", "skip"] = "raise"
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
    vocab_size: int = Field(8000, ge=100)
    min_frequency: int = Field(2, ge=1)
    lowercase: bool = True
    from_pretrained: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> TokenizerConfig:
        if (self.train is None) == (self.from_pretrained is None):
            raise ValueError("set exactly one of 'train: wordpiece' or 'from_pretrained: <path or hub id>'")
        return self


class ModelConfig(StrictModel):
    """Encoder shape (BERT family) or a pretrained encoder to start from."""

    layers: int = Field(4, ge=1)
    hidden: int = Field(256, ge=8)
    heads: int = Field(4, ge=1)
    intermediate: int | None = Field(None, ge=8, description="FFN size; default 4 × hidden")
    dropout: float = Field(0.1, ge=0, lt=1)
    attention_dropout: float = Field(0.1, ge=0, lt=1)
    max_position: int = Field(512, ge=16)
    from_pretrained: str | None = Field(None, description="path or hub id of a Hugging Face encoder")
    trust_remote_code: bool = False

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> ModelConfig:
        if self.from_pretrained is None and self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        return self


class TrainConfig(StrictModel):
    """The one training loop's settings (teacher now; distillation reuses them)."""

    epochs: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(128, ge=1)
    lr: float = Field(5e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup: float = Field(0.06, ge=0, lt=1, description="fraction of steps with linear warm-up")
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    max_len: int = Field(64, ge=8)
    group_by_length: bool = Field(False, description="batch examples of similar length: less padding, faster")
    share_inputs: bool = Field(
        False,
        description="tasks with identical training inputs (two heads on one text) train in one step: "
        "one encoder pass, the sum of their losses; the group is sampled as one task",
    )
    grad_clip: float | None = Field(1.0, gt=0)
    sampling: Literal["proportional", "temperature", "round_robin"] = "temperature"
    temperature: float = Field(2.0, gt=0, description="sampling ∝ size^(1/T); T=1 proportional")
    task_weights: dict[str, float] = Field(default_factory=dict)
    weighting: str = Field("static", description="static (task_weights) or uncertainty (learned, Kendall et al.)")
    early_stopping: int | None = Field(None, ge=1, description="patience in epochs")
    task_patience: int | None = Field(
        None,
        ge=1,
        description="a task whose dev metric has not improved for this many epochs is no longer trained (its "
        "steps leave the sampling plan), so a head that overfits early stops pulling the shared encoder",
    )
    checkpoint_every: int = Field(200, ge=1, description="optimizer steps between checkpoints")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps (smoke runs)")
    amp: bool = True

    @field_validator("weighting")
    @classmethod
    def _known_weighting(cls, v: str) -> str:
        from .training.weighting import WEIGHTINGS  # here, not at import: training imports this module

        return _registered(WEIGHTINGS, "weighting", v)

    @field_validator("task_weights")
    @classmethod
    def _positive_weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in v.items() if w < 0]
        if bad:
            raise ValueError(f"task weights must be ≥ 0 (got negative for {', '.join(bad)})")
        return v


class PretrainConfig(StrictModel):
    """Masked-language-model pretraining of the teacher's encoder on the tasks' unlabelled text."""

    epochs: int = Field(1, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(5e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup: float = Field(0.06, ge=0, lt=1)
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    max_len: int = Field(128, ge=8)
    mask_prob: float = Field(0.15, gt=0, lt=1)
    whole_word: bool = Field(True, description="mask all pieces of a word together (a CJK character is a word)")
    max_texts: int | None = Field(None, gt=0, description="cap on distinct training texts (seeded sample)")
    max_steps: int | None = Field(None, ge=1)
    grad_clip: float | None = Field(1.0, gt=0)
    checkpoint_every: int = Field(500, ge=1)
    amp: bool = True


LayerMap = Literal["uniform", "last"] | list[list[int]]


class StudentModelConfig(ModelConfig):
    """The student's encoder shape, and whether to start from a subset of the teacher's layers."""

    init: Literal["random", "teacher_layers", "teacher_embeddings"] = Field(
        "random",
        description="teacher_layers: copy the embeddings, a uniform subset of layers and the heads (same widths); "
        "teacher_embeddings: the teacher's embedding tables projected onto their top principal directions "
        "(a narrower student), layers random",
    )


class LogitsKD(StrictModel):
    """Prediction-layer KD: loss = alpha · KD + (1 − alpha) · hard-label loss."""

    temperature: float = Field(2.0, gt=0)
    alpha: float = Field(0.5, ge=0, le=1, description="0 = hard labels only, 1 = teacher only")
    task_alpha: dict[str, float] = Field(
        default_factory=dict,
        description="per-task alpha overriding ``alpha``, e.g. 0 for a head whose teacher is no better than "
        "its baseline (its soft targets would only pull the student towards the teacher's errors)",
    )

    @field_validator("task_alpha")
    @classmethod
    def _fractions(cls, task_alpha: dict[str, float]) -> dict[str, float]:
        bad = {t: a for t, a in task_alpha.items() if not 0 <= a <= 1}
        if bad:
            raise ValueError(f"task_alpha must lie in [0, 1], got {bad}")
        return task_alpha

    def alpha_for(self, task: str) -> float:
        return self.task_alpha.get(task, self.alpha)


class HiddenKD(StrictModel):
    """Hidden-state MSE through a learned projection when widths differ (and the embedding layer)."""

    layer_map: LayerMap = "uniform"
    embeddings: bool = True
    weight: float = Field(1.0, ge=0)


class AttentionKD(StrictModel):
    """Attention-map KL per head (TinyBERT); needs equal head counts."""

    layer_map: LayerMap = "uniform"
    weight: float = Field(1.0, ge=0)


class RelationKD(StrictModel):
    """MiniLM-v2 Q-Q, K-K and V-V relation KL on one layer pair; any widths and head counts."""

    teacher_layer: int = Field(-1, description="1-based; -1 = last")
    student_layer: int = Field(-1, description="1-based; -1 = last")
    heads: int = Field(4, ge=1, description="relation heads; must divide both hidden sizes")
    relations: list[Literal["q", "k", "v"]] = Field(default_factory=lambda: ["q", "k", "v"], min_length=1)
    weight: float = Field(1.0, ge=0)


class TwoStageConfig(StrictModel):
    """TinyBERT's schedule: intermediate layers first, then the prediction layer."""

    intermediate_epochs: int = Field(2, ge=1)


class AugmentConfig(StrictModel):
    """Augmented training inputs for distillation, labelled by the teacher (soft targets only)."""

    method: Literal["mlm", "mask"] = Field(
        "mlm",
        description="mlm: a masked LM proposes each replacement (needs a pretrain stage or a "
        "from_pretrained teacher with an MLM head); mask: replaced tokens stay [MASK]",
    )
    copies: int = Field(1, ge=1, description="augmented copies of each training example")
    prob: float = Field(0.15, gt=0, le=1, description="share of a copy's ordinary tokens replaced")
    top_k: int = Field(8, ge=1, description="replacements drawn from the MLM's k best other tokens")
    max_examples: int | None = Field(None, ge=1, description="per task, how many training examples get copies")
    mlm: str | None = Field(None, description="path of the masked LM (default: the pretrain stage's)")


class DistillConfig(StrictModel):
    """Which KD signals to use; any missing section is off (``logits: null`` = hard labels only)."""

    logits: LogitsKD | None = Field(default_factory=LogitsKD)
    hidden: HiddenKD | None = None
    attention: AttentionKD | None = None
    relation: RelationKD | None = None
    two_stage: TwoStageConfig | None = None
    augment: AugmentConfig | None = None
    cache_teacher_logits: bool = Field(True, description="compute teacher logits once, on disk")

    @model_validator(mode="after")
    def _augment_needs_teacher_targets(self) -> DistillConfig:
        if self.augment is not None and self.logits is None:
            raise ValueError("distill.augment needs distill.logits: augmented examples are labelled by the teacher")
        return self

    @property
    def intermediate(self) -> bool:
        return any(x is not None for x in (self.hidden, self.attention, self.relation))
