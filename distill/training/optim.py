"""AdamW with decoupled weight decay (none on biases and LayerNorm) and a warm-up schedule."""

from __future__ import annotations

import torch
from torch import nn
from transformers import get_scheduler

from ..config import TrainConfig

SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over trainable parameters, weight decay only on matrices."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    """Linear warm-up over ``cfg.warmup`` of the steps, then the configured decay."""
    return get_scheduler(
        SCHEDULES[cfg.schedule],
        optimizer,
        num_warmup_steps=int(cfg.warmup * total_steps),
        num_training_steps=total_steps,
    )
