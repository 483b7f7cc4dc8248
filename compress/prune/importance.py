"""Importance scores for structured pruning, registered by name: a new criterion is one subclass.

Every score answers the same question for one model: how much would the loss (or the weights'
contribution) suffer if this attention head, FFN neuron or whole layer were removed? Higher means
keep. Scores are per layer: ``heads[l]`` has one value per head, ``ffn[l]`` one per neuron.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import ClassVar

import torch

from distill.model import MultiTaskModel
from distill.pruned_shapes import encoder_layers
from distill.registry import Registry

Batch = tuple[str, dict[str, torch.Tensor]]  # (task, collated batch with labels)
IMPORTANCES: Registry[type[Importance]] = Registry("importance score")


@dataclass
class Scores:
    """Per-layer importance of each head and each FFN neuron (higher: more important)."""

    heads: list[torch.Tensor]
    ffn: list[torch.Tensor]

    def layers(self) -> torch.Tensor:
        """A layer's importance: its heads' and neurons' shares of the model's totals, summed."""
        head_total = sum(float(h.sum()) for h in self.heads) or 1.0
        ffn_total = sum(float(f.sum()) for f in self.ffn) or 1.0
        return torch.tensor(
            [
                float(h.sum()) / head_total + float(f.sum()) / ffn_total
                for h, f in zip(self.heads, self.ffn, strict=True)
            ]
        )


def layers_of(model: MultiTaskModel) -> list[torch.nn.Module]:
    """The encoder's transformer layers (BERT family: ``encoder.encoder.layer``)."""
    return encoder_layers(model.encoder)


def head_slices(layer: torch.nn.Module) -> tuple[int, int]:
    """(number of heads, size of one head) of a layer, after any pruning."""
    attn = layer.attention.self
    return attn.num_attention_heads, attn.attention_head_size


@contextmanager
def head_mask_applied(model: MultiTaskModel, mask: torch.Tensor) -> Iterator[None]:
    """Scale each head's attention output by ``mask[layer, head]`` while inside (Michel et al.'s head mask).

    A head's share of the attention output is its probabilities times its values, so scaling its slice of
    the context (the input of the attention output projection) scales its probabilities exactly as
    transformers' ``head_mask`` did; transformers 5 ignores ``head_mask``, so mtkd applies it itself."""

    def scale(layer: int, size: int):
        def hook(_module, args):
            context = args[0]
            heads = context.unflatten(-1, (-1, size)) * mask[layer].to(context.dtype)[:, None]
            return (heads.flatten(-2), *args[1:])

        return hook

    handles = [
        layer.attention.output.dense.register_forward_pre_hook(scale(i, head_slices(layer)[1]))
        for i, layer in enumerate(layers_of(model))
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _task_loss(model: MultiTaskModel, batch: Batch, head_mask: torch.Tensor | None = None) -> torch.Tensor:
    task, data = batch
    inputs = {k: data[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in data}
    with head_mask_applied(model, head_mask) if head_mask is not None else nullcontext():
        seq = model.encoder(**inputs, return_dict=True).last_hidden_state
    logits = model.heads[task](seq)
    return model.task_loss(task, logits, data["labels"])


class Importance(ABC):
    """A criterion scoring heads and FFN neurons of a model, optionally from data."""

    name: ClassVar[str]
    needs_data: ClassVar[bool] = True

    @abstractmethod
    def score(self, model: MultiTaskModel, batches: Iterable[Batch]) -> Scores:
        """Scores of every head and FFN neuron of ``model``."""


@IMPORTANCES.register("magnitude")
class Magnitude(Importance):
    """L2 norm of the weights a head or neuron owns (Q/K/V rows and output columns; FFN in-row and out-column)."""

    name = "magnitude"
    needs_data = False

    def score(self, model, batches=()):
        heads, ffn = [], []
        for layer in layers_of(model):
            n, size = head_slices(layer)
            attn = layer.attention.self
            qkv = torch.cat([attn.query.weight, attn.key.weight, attn.value.weight], dim=1)  # [n*size, 3*hidden]
            out = layer.attention.output.dense.weight  # [hidden, n*size]
            per_head = qkv.reshape(n, size, -1).pow(2).sum((1, 2)) + out.reshape(-1, n, size).pow(2).sum((0, 2))
            heads.append(per_head.sqrt().detach())
            w_in, w_out = layer.intermediate.dense.weight, layer.output.dense.weight
            ffn.append((w_in.pow(2).sum(1) + w_out.pow(2).sum(0)).sqrt().detach())
        return Scores(heads, ffn)


@IMPORTANCES.register("taylor")
class Taylor(Importance):
    """First-order Taylor: |weight × gradient| of the task losses, accumulated over batches and summed
    over the weights each head or neuron owns (Molchanov et al., 2019)."""

    name = "taylor"

    def score(self, model, batches):
        layers = layers_of(model)
        heads = [torch.zeros(head_slices(layer)[0]) for layer in layers]
        ffn = [torch.zeros(layer.intermediate.dense.out_features) for layer in layers]
        model.eval()
        for batch in batches:
            model.zero_grad(set_to_none=True)
            _task_loss(model, batch).backward()
            for i, layer in enumerate(layers):
                n, size = head_slices(layer)
                attn = layer.attention.self
                for lin in (attn.query, attn.key, attn.value):
                    heads[i] += (lin.weight * lin.weight.grad).abs().reshape(n, size, -1).sum((1, 2)).detach()
                out = layer.attention.output.dense.weight
                heads[i] += (out * out.grad).abs().reshape(-1, n, size).sum((0, 2)).detach()
                w_in, w_out = layer.intermediate.dense.weight, layer.output.dense.weight
                ffn[i] += ((w_in * w_in.grad).abs().sum(1) + (w_out * w_out.grad).abs().sum(0)).detach()
        model.zero_grad(set_to_none=True)
        return Scores(heads, ffn)


@IMPORTANCES.register("head_mask")
class HeadMaskGradient(Importance):
    """Heads: |∂loss/∂mask| of a head mask of ones (Michel et al., 2019); FFN neurons: Taylor."""

    name = "head_mask"

    def score(self, model, batches):
        batches = list(batches)
        layers = layers_of(model)
        counts = {head_slices(layer)[0] for layer in layers}
        if len(counts) != 1:
            raise ValueError("head-mask importance needs the same head count in every layer; use taylor")
        mask = torch.ones(len(layers), counts.pop(), requires_grad=True)
        total = torch.zeros_like(mask)
        model.eval()
        for batch in batches:
            grad = torch.autograd.grad(_task_loss(model, batch, head_mask=mask), mask)[0]
            total += grad.abs()
        ffn = Taylor().score(model, batches).ffn
        return Scores([row.detach() for row in total], ffn)
