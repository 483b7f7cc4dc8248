"""Structured pruning surgery: smaller dense matrices, never masks.

A head removes its rows of Q, K and V and its columns of the attention output projection; an FFN neuron
its row of the intermediate projection and its column of the output one. The kept sizes are recorded in
the config (``heads_per_layer``, ``ffn_sizes``: ``distill.pruned_shapes``), which
``MultiTaskModel.from_pretrained`` applies before loading weights; dropped layers renumber both records.
The surgery is mtkd's own, not transformers' ``prune_heads`` (gone in transformers 5), so the pruned
weights are the same on every transformers version.
"""

from __future__ import annotations

import torch
from torch import nn

from distill.errors import MtkdError
from distill.model import MultiTaskModel
from distill.pruned_shapes import FFN_SIZES, HEAD_COUNTS, head_counts

from .importance import head_slices, layers_of


def prune_heads(model: MultiTaskModel, heads: dict[int, list[int]]) -> None:
    """Remove the listed heads (current indices) of each layer; at least one head must stay per layer."""
    layers = layers_of(model)
    counts = head_counts(model.config) or [head_slices(layer)[0] for layer in layers]
    for layer, drop in heads.items():
        n, size = head_slices(layers[layer])
        gone = set(drop)
        if len(gone) >= n:
            raise MtkdError(f"layer {layer}: cannot remove all {n} heads; drop the layer instead")
        if not gone:
            continue
        keep = torch.tensor([i for h in range(n) if h not in gone for i in range(h * size, (h + 1) * size)])
        attn, out = layers[layer].attention.self, layers[layer].attention.output
        attn.query, attn.key, attn.value = (_shrink_linear(p, keep, 0) for p in (attn.query, attn.key, attn.value))
        out.dense = _shrink_linear(out.dense, keep, 1)
        attn.num_attention_heads, attn.all_head_size = n - len(gone), (n - len(gone)) * size
        counts[layer] = n - len(gone)
    setattr(model.config, HEAD_COUNTS, counts)
    model.config.pruned_heads = {}  # transformers 4.x must not prune again on reload: the record is ours


def _shrink_linear(linear: nn.Linear, keep: torch.Tensor, dim: int) -> nn.Linear:
    """A Linear with only the ``keep`` output rows (dim 0) or input columns (dim 1)."""
    weight = linear.weight.index_select(dim, keep)
    bias = linear.bias if dim == 1 or linear.bias is None else linear.bias.index_select(0, keep)
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    return new


def prune_ffn(model: MultiTaskModel, keep: dict[int, torch.Tensor]) -> None:
    """Keep only the listed FFN neurons (indices) of each layer."""
    layers = layers_of(model)
    sizes = list(getattr(model.config, FFN_SIZES, None) or [layer.intermediate.dense.out_features for layer in layers])
    for i, idx in keep.items():
        idx = torch.as_tensor(sorted(set(int(x) for x in idx)), dtype=torch.long)
        if idx.numel() == 0:
            raise MtkdError(f"layer {i}: cannot remove every FFN neuron; drop the layer instead")
        layers[i].intermediate.dense = _shrink_linear(layers[i].intermediate.dense, idx, 0)
        layers[i].output.dense = _shrink_linear(layers[i].output.dense, idx, 1)
        sizes[i] = idx.numel()
    setattr(model.config, FFN_SIZES, sizes)


def drop_layers(model: MultiTaskModel, drop: list[int]) -> None:
    """Remove whole layers; the records of pruned heads and FFN sizes follow the renumbering."""
    layers = layers_of(model)
    keep = [i for i in range(len(layers)) if i not in set(drop)]
    if not keep:
        raise MtkdError("cannot drop every layer of the encoder")
    model.encoder.encoder.layer = nn.ModuleList(layers[i] for i in keep)
    config = model.config
    config.num_hidden_layers = len(keep)
    for key in (FFN_SIZES, HEAD_COUNTS):
        sizes = head_counts(config) if key == HEAD_COUNTS else getattr(config, key, None)
        if sizes:
            setattr(config, key, [sizes[i] for i in keep])
    config.pruned_heads = {}


def prunable_parameters(model: MultiTaskModel) -> int:
    """Parameters of what head and FFN pruning can remove: every layer's Q, K, V and attention output
    projections and its two FFN projections (weights and biases). Embeddings, LayerNorms and heads are
    not prunable, and on small students the embedding table dominates the encoder's total."""
    total = 0
    for layer in layers_of(model):
        for linear in (
            layer.attention.self.query,
            layer.attention.self.key,
            layer.attention.self.value,
            layer.attention.output.dense,
            layer.intermediate.dense,
            layer.output.dense,
        ):
            total += sum(p.numel() for p in linear.parameters())
    return total
