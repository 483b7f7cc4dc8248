"""The multi-task model: any Hugging Face encoder with one head per task.

Outputs reach losses under fixed names (``logits`` per task, ``hidden_states``, ``attentions``),
so a new loss never touches the model. Saved as one directory that ``from_pretrained`` reloads:
``config.json`` (the encoder's HF config), ``mtkd.json`` (tasks, labels, heads),
``model.safetensors`` (all weights) and the tokenizer files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, BertConfig, PretrainedConfig, PreTrainedTokenizerBase

from .checkpoints import describe_failure, quiet_transformers, resolve_checkpoint
from .compat import TRANSFORMERS_MAJOR
from .config import ModelConfig
from .data.examples import TaskData
from .errors import ArtifactError, MtkdError
from .io import atomic_directory, read_json, write_json
from .pruned_shapes import apply_pruned_shapes
from .target_scaling import StandardizedHead, target_scale
from .tasks import task_type

log = logging.getLogger("mtkd")
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
META = "mtkd.json"


@dataclass(frozen=True)
class HeadSpec:
    """What a head predicts: its task name, task type and label names (empty for regression), and for a
    standardised regression head the (mean, std) that maps its learned z back to the data's units."""

    name: str
    type: str
    labels: tuple[str, ...]
    target_scale: tuple[float, float] | None = None

    @classmethod
    def from_meta(cls, entry: dict) -> HeadSpec:
        """The spec as ``mtkd.json`` lists it (models saved before standardisation have no scale)."""
        scale = entry.get("target_scale")
        return cls(entry["name"], entry["type"], tuple(entry["labels"]), tuple(scale) if scale else None)

    def to_meta(self) -> dict:
        """The ``mtkd.json`` entry (no ``target_scale`` key for a head that has none)."""
        entry = asdict(self)
        if self.target_scale is None:
            del entry["target_scale"]
        return entry

    @property
    def loss_factor(self) -> float:
        """Multiplies the head's loss so a standardised head's MSE is the MSE on z (1 otherwise)."""
        return 1.0 / self.target_scale[1] ** 2 if self.target_scale else 1.0


@dataclass
class MultiTaskOutput:
    """Per-task logits plus, on request, every layer's hidden states and attention maps."""

    logits: dict[str, torch.Tensor]
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def encoder_config(cfg: ModelConfig, vocab_size: int, pad_id: int) -> BertConfig:
    """A BERT encoder config from the recipe's model shape."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate or 4 * cfg.hidden,
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.attention_dropout,
        max_position_embeddings=cfg.max_position,
        pad_token_id=pad_id,
        type_vocab_size=2,
    )


POOLED_TYPES = ("bert", "roberta", "xlm-roberta")  # heads read [CLS] themselves; the pooler is dead weight


def _encoder_kwargs(config: PretrainedConfig) -> dict[str, bool]:
    return {"add_pooling_layer": False} if config.model_type in POOLED_TYPES else {}


def _build_encoder(config: PretrainedConfig, trust_remote_code: bool = False, attention: str = "sdpa") -> nn.Module:
    kwargs = _encoder_kwargs(config)
    return AutoModel.from_config(config, trust_remote_code=trust_remote_code, attn_implementation=attention, **kwargs)


def read_attention_maps(encoder: nn.Module) -> None:
    """Make ``encoder`` return attention maps: transformers 5's sdpa returns none, so switch to eager (4.x's
    BERT sdpa class computes them itself when asked, and cannot switch)."""
    if TRANSFORMERS_MAJOR >= 5 and encoder.config._attn_implementation != "eager":
        encoder.set_attn_implementation("eager")
        log.info("attention maps are read: the encoder's attention is eager from now on")


@contextmanager
def eager_attention(encoder: nn.Module) -> Iterator[None]:
    """Eager attention while inside, then the implementation it had (a no-op on transformers 4.x, whose BERT
    cannot switch and whose sdpa export ONNX Runtime fuses anyway). Transformers 5's sdpa graph has mask
    operators ONNX Runtime's attention fusion does not match; its eager graph fuses."""
    before = encoder.config._attn_implementation
    if TRANSFORMERS_MAJOR < 5 or before == "eager":
        yield
        return
    encoder.set_attn_implementation("eager")
    try:
        yield
    finally:
        encoder.set_attn_implementation(before)


def _head(spec: HeadSpec, hidden: int, dropout: float) -> nn.Module:
    head = task_type(spec.type).head(hidden, spec.labels, dropout)
    return StandardizedHead(head, *spec.target_scale) if spec.target_scale else head


def load_pretrained_encoder(ref: str, trust_remote_code: bool, attention: str = "sdpa") -> tuple[nn.Module, dict]:
    """The encoder of a checkpoint (local, packaged or hub) and where its weights came from."""
    resolved = resolve_checkpoint(ref)
    try:
        config = AutoConfig.from_pretrained(resolved.path, trust_remote_code=trust_remote_code)
        with quiet_transformers():
            encoder, info = AutoModel.from_pretrained(
                resolved.path,
                trust_remote_code=trust_remote_code,
                output_loading_info=True,
                attn_implementation=attention,
                **_encoder_kwargs(config),
            )
    except (OSError, ValueError) as e:
        raise MtkdError(describe_failure(resolved, e)) from None
    unused, missing = info.get("unexpected_keys", []), info.get("missing_keys", [])
    log.info(
        "encoder %s from %s: %.1fM parameters%s%s",
        ref,
        resolved.source,
        sum(p.numel() for p in encoder.parameters()) / 1e6,
        f"; {len(unused)} checkpoint tensors unused ({', '.join(sorted(unused)[:2])}…: heads read [CLS], no pooler)"
        if unused
        else "",
        f"; {len(missing)} newly initialised" if missing else "",
    )
    return encoder, resolved.provenance()


class MultiTaskModel(nn.Module):
    """A shared encoder and a ``ModuleDict`` of task heads keyed by task name."""

    def __init__(self, encoder: nn.Module, heads: list[HeadSpec], head_dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.head_specs = {h.name: h for h in heads}
        self.head_dropout = head_dropout
        hidden = encoder.config.hidden_size
        self.heads = nn.ModuleDict({h.name: _head(h, hidden, head_dropout) for h in heads})
        self.checkpoint: dict | None = None  # where a pretrained encoder's weights came from (not saved)

    @property
    def config(self) -> PretrainedConfig:
        return self.encoder.config

    @classmethod
    def from_config(cls, cfg: ModelConfig, heads: list[HeadSpec], tokenizer: PreTrainedTokenizerBase) -> MultiTaskModel:
        """A freshly initialised model, or one whose encoder starts from ``cfg.from_pretrained``."""
        checkpoint = None
        if cfg.from_pretrained:
            encoder, checkpoint = load_pretrained_encoder(cfg.from_pretrained, cfg.trust_remote_code, cfg.attention)
            if encoder.config.vocab_size < len(tokenizer):
                raise MtkdError(
                    f"encoder {cfg.from_pretrained!r} has {encoder.config.vocab_size} embeddings but the "
                    f"tokenizer has {len(tokenizer)} tokens; use the tokenizer that came with it"
                )
        else:
            shape = encoder_config(cfg, len(tokenizer), tokenizer.pad_token_id)
            encoder = _build_encoder(shape, attention=cfg.attention)
        model = cls(encoder, heads, cfg.dropout)
        model.checkpoint = checkpoint
        return model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        tasks: list[str] | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> MultiTaskOutput:
        """Run the encoder once and the heads of ``tasks`` (all heads when None)."""
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        if output_attentions:
            read_attention_maps(self.encoder)
        enc = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            return_dict=True,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
            **kwargs,
        )
        seq = enc.last_hidden_state
        names = tasks if tasks is not None else list(self.heads)
        return MultiTaskOutput(
            {t: self.heads[t](seq) for t in names},
            enc.hidden_states if output_hidden_states else None,
            enc.attentions if output_attentions else None,
        )

    def save_pretrained(self, path: str | Path, tokenizer: PreTrainedTokenizerBase | None = None) -> None:
        """Write the model directory atomically (built beside ``path``, then renamed onto it)."""
        with atomic_directory(path) as tmp:
            self.encoder.config.save_pretrained(tmp)
            state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
            save_file(state, tmp / WEIGHTS, metadata={"format": "pt"})
            write_json(
                tmp / META,
                {
                    "format_version": FORMAT_VERSION,
                    "head_dropout": self.head_dropout,
                    "tasks": [h.to_meta() for h in self.head_specs.values()],
                },
            )
            if tokenizer is not None:
                tokenizer.save_pretrained(tmp)

    @classmethod
    def from_pretrained(cls, path: str | Path, map_location: str | torch.device = "cpu") -> MultiTaskModel:
        """Reload a directory written by ``save_pretrained`` (weights only, never pickles)."""
        path = Path(path)
        for name in ("config.json", META, WEIGHTS):
            if not (path / name).is_file():
                raise ArtifactError(f"{path / name}: missing; {path} is not a complete mtkd model directory")
        meta = read_json(path / META)
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise ArtifactError(
                f"{path / META}: format {meta['format_version']} is newer than this mtkd "
                f"understands ({FORMAT_VERSION}); upgrade mtkd"
            )
        heads = [HeadSpec.from_meta(t) for t in meta["tasks"]]
        encoder = _build_encoder(AutoConfig.from_pretrained(path))
        apply_pruned_shapes(encoder)  # the heads and FFN widths pruning left, from mtkd's own record
        model = cls(encoder, heads, meta.get("head_dropout", 0.1))
        # read on the CPU, then move the whole model: load_state_dict copies into the CPU-built modules, so
        # tensors read straight onto a GPU would leave the model where it was built
        missing, unexpected = model.load_state_dict(load_file(path / WEIGHTS, device="cpu"), strict=False)
        if missing or unexpected:
            raise ArtifactError(
                f"{path / WEIGHTS}: weights do not match the config "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        return model.to(map_location)

    def task_loss(self, task: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The head's supervised loss, on the standardised scale for a standardised regression head."""
        spec = self.head_specs[task]
        return task_type(spec.type).loss(logits, target) * spec.loss_factor

    def num_parameters(self, encoder_only: bool = False) -> int:
        module = self.encoder if encoder_only else self
        return sum(p.numel() for p in module.parameters())


def head_spec(task: TaskData) -> HeadSpec:
    """The head a task gets: its labels, and the target scale of a standardised regression head."""
    scale = None
    if task.kind.numeric:
        golds = [ex.target for ex in task.splits["train"]]
        scale = target_scale(task.name, golds, task.config.standardize)
    return HeadSpec(task.name, task.config.type, tuple(task.labels), scale)
