"""Importance scores for structured pruning, registered by name: a new criterion is one subclass.

Every score answers the same question for one model: how much would the loss (or the weights'
contribution) suffer if this attention head, FFN neuron or whole layer were removed? Higher means
keep. Scores are per layer: ``heads[l]`` has one value per head, ``ffn[l]`` one per neuron.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import torch

from distill.model import MultiTaskModel
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
    return list(model.encoder.encoder.layer)


def head_slices(layer: torch.nn.Module) -> tuple[int, int]:
    """(number of heads, size of one head) of a layer, after any pruning."""
    attn = layer.attention.self
    return attn.num_attention_heads, attn.attention_head_size


def _task_loss(model: MultiTaskModel, batch: Batch, head_mask: torch.Tensor | None = None) -> torch.Tensor:
    task, data = batch
    inputs = {k: data[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in data}
    seq = model.encoder(**inputs, head_mask=head_mask, return_dict=True).last_hidden_state
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
