"""Structured pruning surgery: smaller dense matrices, never masks.

Heads go through transformers' own ``prune_heads`` (Q, K, V rows and output columns removed, and
``config.pruned_heads`` recorded, so a reload rebuilds the same shapes). FFN neurons remove rows of
the intermediate projection and columns of the output one; the kept sizes are recorded in
``config.ffn_sizes``, which ``MultiTaskModel.from_pretrained`` applies before loading weights.
Dropped layers renumber both records.
"""

from __future__ import annotations

import torch
from torch import nn

from distill.errors import MtkdError
from distill.model import FFN_SIZES, MultiTaskModel

from .importance import head_slices, layers_of


def prune_heads(model: MultiTaskModel, heads: dict[int, list[int]]) -> None:
    """Remove the listed heads (current indices) of each layer; at least one head must stay per layer."""
    layers = layers_of(model)
    for layer, drop in heads.items():
        n = head_slices(layers[layer])[0]
        if len(set(drop)) >= n:
            raise MtkdError(f"layer {layer}: cannot remove all {n} heads; drop the layer instead")
    # transformers expects the layer's *original* head ids; map current indices back through earlier pruning
    original = {}
    for layer, drop in heads.items():
        gone = set(model.config.pruned_heads.get(layer, []))
        alive = [h for h in range(model.config.num_attention_heads) if h not in gone]
        original[layer] = [alive[i] for i in drop]
    model.encoder.prune_heads(original)


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
    config.pruned_heads = {new: config.pruned_heads[old] for new, old in enumerate(keep) if old in config.pruned_heads}
    sizes = getattr(config, FFN_SIZES, None)
    if sizes:
        setattr(config, FFN_SIZES, [sizes[i] for i in keep])


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
