"""Why a training run ended, in words a user can act on (read by the teacher's report)."""

from __future__ import annotations

from typing import Any

from ..config import TrainConfig


def stop_reason(history: list[dict[str, Any]], cfg: TrainConfig, best_epoch: int) -> str:
    """Why training ended, in words: early stopping, every task's patience, or the epoch limit (and whether
    the dev score was still rising there, which says: more epochs)."""
    ran = len(history)
    if ran < cfg.epochs:
        if cfg.task_patience and set(history[-1].get("trained", [])) != set(history[-1]["dev"]):
            return f"every task stopped improving on dev (task_patience {cfg.task_patience}) after epoch {ran}"
        return f"early stopping after epoch {ran}: no dev improvement for {cfg.early_stopping} epochs"
    if cfg.max_steps and history and history[-1]["global_step"] >= cfg.max_steps:
        return f"max_steps ({cfg.max_steps}) reached"
    if best_epoch == ran:
        return f"the epoch limit ({cfg.epochs}) with dev still improving at the last epoch: raise train.epochs"
    return f"the epoch limit ({cfg.epochs}); dev peaked at epoch {best_epoch} (the model kept)"
