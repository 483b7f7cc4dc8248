"""Training checkpoints: everything needed to resume exactly where a run stopped.

Weights go to safetensors; optimizer, scheduler and RNG state to a torch file read back with
``weights_only=True`` (no arbitrary unpickling). A checkpoint directory appears atomically.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model
from torch import nn

from ..errors import ArtifactError
from ..io import replace_directory

WEIGHTS = "model.safetensors"
STATE = "trainer.pt"


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler | None,
    progress: dict[str, Any],
) -> None:
    """Write ``path`` (a directory) atomically with weights, optimizer state and progress."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    save_model(model, str(tmp / WEIGHTS))  # handles tied weights (an MLM's decoder is its embedding)
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "progress": progress,
        },
        tmp / STATE,
    )
    replace_directory(tmp, path)


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler | None,
) -> dict[str, Any]:
    """Restore a checkpoint into the given objects and return its progress record."""
    path = Path(path)
    if not (path / WEIGHTS).is_file() or not (path / STATE).is_file():
        raise ArtifactError(f"{path}: incomplete checkpoint (needs {WEIGHTS} and {STATE})")
    missing, unexpected = load_model(model, str(path / WEIGHTS), device=str(next(model.parameters()).device))
    if missing or unexpected:
        raise ArtifactError(f"{path / WEIGHTS}: weights do not match the model ({(missing or unexpected)[:3]})")
    state = torch.load(path / STATE, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng_cpu"])
    if state["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    return state["progress"]


def checkpoint_progress(path: str | Path) -> dict[str, Any] | None:
    """The progress record of a checkpoint without loading weights, or None if there is none."""
    path = Path(path) / STATE
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)["progress"]
