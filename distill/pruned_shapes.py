"""The shapes of a structurally pruned BERT-family encoder, recorded in its config and rebuilt on reload.

Pruning removes rows and columns, so a pruned encoder's layers differ from what its config's plain sizes
say. mtkd records what it removed in two config keys of its own and rebuilds those layers before loading
weights: ``ffn_sizes`` (each layer's FFN width) and ``heads_per_layer`` (each layer's attention heads).
Its own record, not transformers' ``pruned_heads``/``prune_heads``, which transformers 5 no longer has: a
model pruned here reloads identically on transformers 4.57 and 5.x. A model saved before this record kept
``pruned_heads`` (which 4.57 re-applies itself); its head counts are read from that.
"""

from __future__ import annotations

from torch import nn
from transformers import PretrainedConfig

from .errors import ArtifactError

FFN_SIZES = "ffn_sizes"  # config.json: per-layer FFN widths of a pruned encoder, applied before loading weights
HEAD_COUNTS = "heads_per_layer"  # config.json: per-layer attention heads of a head-pruned encoder


def encoder_layers(encoder: nn.Module) -> list[nn.Module]:
    """The transformer layers of a BERT-family encoder (``encoder.encoder.layer``)."""
    return list(encoder.encoder.layer)


def head_counts(config: PretrainedConfig) -> list[int] | None:
    """Each layer's attention heads after pruning (None when no head was pruned)."""
    counts = getattr(config, HEAD_COUNTS, None)
    if counts:
        return [int(n) for n in counts]
    pruned = getattr(config, "pruned_heads", None) or {}
    if not pruned:
        return None
    gone = {int(layer): len(set(heads)) for layer, heads in pruned.items()}  # JSON keys are strings
    return [config.num_attention_heads - gone.get(i, 0) for i in range(config.num_hidden_layers)]


def _linear(rows: int, cols: int, like: nn.Linear) -> nn.Linear:
    return nn.Linear(cols, rows, bias=like.bias is not None).to(like.weight.device, like.weight.dtype)


def resize_heads(layer: nn.Module, heads: int) -> None:
    """Give one layer ``heads`` attention heads of its current head size (new, uninitialised projections
    where the width changes; the caller loads or copies weights into them)."""
    attn, out = layer.attention.self, layer.attention.output
    width, hidden = heads * attn.attention_head_size, attn.query.in_features
    if attn.query.out_features != width:
        attn.query, attn.key, attn.value = (_linear(width, hidden, p) for p in (attn.query, attn.key, attn.value))
        out.dense = _linear(hidden, width, out.dense)
    attn.num_attention_heads, attn.all_head_size = heads, width


def resize_ffn(layer: nn.Module, size: int) -> None:
    """Give one layer an FFN of ``size`` neurons (new projections where the width changes)."""
    hidden = layer.intermediate.dense.in_features
    if layer.intermediate.dense.out_features != size:
        layer.intermediate.dense = _linear(size, hidden, layer.intermediate.dense)
        layer.output.dense = _linear(hidden, size, layer.output.dense)


def apply_pruned_shapes(encoder: nn.Module) -> None:
    """Rebuild the layers a pruned encoder's config records as smaller, before its weights are loaded."""
    layers = encoder_layers(encoder)
    for key, sizes, resize in (
        (FFN_SIZES, getattr(encoder.config, FFN_SIZES, None), resize_ffn),
        (HEAD_COUNTS, head_counts(encoder.config), resize_heads),
    ):
        if not sizes:
            continue
        if len(sizes) != len(layers):
            raise ArtifactError(f"config {key} lists {len(sizes)} layers but the encoder has {len(layers)}")
        for layer, size in zip(layers, sizes, strict=True):
            resize(layer, int(size))
