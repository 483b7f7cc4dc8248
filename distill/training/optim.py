"""AdamW with decoupled weight decay (none on biases and LayerNorm) and a warm-up schedule."""

from __future__ import annotations

import torch
from torch import nn
from transformers import get_scheduler

from ..config import PretrainConfig, TrainConfig
from ..model import MultiTaskModel
from . import distributed

SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


def build_optimizer(model: nn.Module, cfg: TrainConfig | PretrainConfig) -> torch.optim.Optimizer:
    """AdamW over trainable parameters, weight decay only on matrices; a submodule with an
    ``lr_scale`` attribute (e.g. learned task weights) gets its own learning rate and no decay, and the
    task heads get ``cfg.head_lr`` where it is set."""
    scaled = {id(p): m.lr_scale for m in model.modules() if getattr(m, "lr_scale", 1.0) != 1.0 for p in m.parameters()}
    head_lr = getattr(cfg, "head_lr", None)
    head_params = {id(p) for m in model.modules() if isinstance(m, MultiTaskModel) for p in m.heads.parameters()}
    decay, no_decay, fast = [], [], {}
    heads: tuple[list, list] = ([], [])  # (decay, no decay)
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        plain = p.ndim < 2 or "LayerNorm" in name
        if scaled.get(id(p), 1.0) != 1.0:
            fast.setdefault(scaled[id(p)], []).append(p)
        elif head_lr is not None and id(p) in head_params:
            heads[plain].append(p)
        else:
            (no_decay if plain else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups += [{"params": ps, "weight_decay": 0.0, "lr": cfg.lr * k} for k, ps in fast.items()]
    if head_lr is not None:
        groups += [
            {"params": heads[0], "weight_decay": cfg.weight_decay, "lr": head_lr},
            {"params": heads[1], "weight_decay": 0.0, "lr": head_lr},
        ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig | PretrainConfig, total_steps: int):
    """Linear warm-up over ``cfg.warmup`` of the steps, then the configured decay."""
    return get_scheduler(
        SCHEDULES[cfg.schedule],
        optimizer,
        num_warmup_steps=int(cfg.warmup * total_steps),
        num_training_steps=total_steps,
    )


def backward_and_step(
    loss: torch.Tensor,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    scaler: torch.amp.GradScaler | None,
    grad_clip: float | None,
) -> None:
    """One optimizer step: backward (scaled under fp16), gradients averaged over ranks (a no-op in one
    process), clipped, stepped; the schedule advances and gradients are cleared."""
    (scaler.scale(loss) if scaler else loss).backward()
    distributed.average_gradients(model.parameters())  # before unscaling: an inf on any rank skips every rank's step
    if scaler:
        scaler.unscale_(optimizer)
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if scheduler is not None:  # None: a constant learning rate
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
