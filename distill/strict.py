"""The base of every settings model, and the validators they share.

Apart from ``distill.config`` so that settings living in their own rooms (``distill.transfer``) can
build on it without importing the whole config module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """Base for config models: unknown keys rejected, assignments validated."""

    # a field's docstring is its description: the generated recipe reference reads them
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class OptimizerSettings(StrictModel):
    """What every unlabelled-text training (MLM pretraining, general distillation) sets alike: AdamW and its
    schedule, clipping, a step cap and mixed precision."""

    lr: float = Field(5e-4, gt=0)
    """peak learning rate"""
    weight_decay: float = Field(0.01, ge=0)
    """AdamW weight decay"""
    warmup: float = Field(0.06, ge=0, lt=1)
    """fraction of steps with linear warm-up"""
    schedule: Literal["linear", "cosine", "constant"] = "linear"
    """learning-rate decay after warm-up"""
    grad_clip: float | None = Field(1.0, gt=0)
    """max gradient norm (null: no clipping)"""
    max_steps: int | None = Field(None, ge=1)
    """stop after this many steps (smoke runs)"""
    amp: bool = True
    """mixed precision on CUDA"""


def only_known(values: list[str], names: list[str], kind: str) -> list[str]:
    """``values`` if each is one of ``names`` (a registry's); else the first stranger, with the choices."""
    unknown = [v for v in values if v not in names]
    if unknown:
        raise ValueError(f"unknown {kind} {unknown[0]!r}; choose from: {', '.join(names)}")
    return values


def existing_file(value: str | None) -> str | None:
    if value is not None and not Path(value).is_file():
        raise ValueError(f"file not found: {value} (paths are relative to the current directory)")
    return value


def registered_name(registry: Any, kind: str, name: str) -> str:
    """``name`` if ``registry`` holds it, else a validation error listing the choices (your own entries
    included: a recipe's plugins are imported before it is validated)."""
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(registry.names())}")
    return name


__all__ = ["OptimizerSettings", "StrictModel", "existing_file", "only_known", "registered_name"]
