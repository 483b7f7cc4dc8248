"""What the ``quantize`` stage does: export, fuse, quantize with presets, check accuracy."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from distill.config import StrictModel, registered_name

from .calibration import CalibrationConfig
from .presets import PRESETS, PresetConfig
from .qat import QatConfig

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # an artifact folder's suffix


class PresetChoice(StrictModel):
    """A registered preset with settings of its own, e.g. ``{preset: dynamic-int8, name: int8-matmul,
    settings: {op_types: [MatMul]}}``."""

    preset: str
    """a registered preset (compress.onnx.presets.PRESETS, yours included)"""
    name: str | None = None
    """the artifact's suffix (<model>-<name>); default: the preset's name"""
    settings: dict[str, Any] = Field(default_factory=dict)
    """fields of the preset's config to change (its typed settings; unknown fields are refused)"""

    @model_validator(mode="after")
    def _valid(self) -> PresetChoice:
        registered_name(PRESETS, "preset", self.preset)
        if self.name is not None and not SAFE_NAME.match(self.name):
            raise ValueError(f"preset name {self.name!r} must be letters, digits, '.', '_' or '-'")
        self.config()  # the settings are checked against the preset's own config type
        return self

    @property
    def label(self) -> str:
        return self.name or self.preset

    def config(self) -> PresetConfig:
        base = PRESETS.get(self.preset)
        return type(base).model_validate({**base.model_dump(), **self.settings})


def preset_configs(entries: list[str | PresetChoice]) -> dict[str, PresetConfig]:
    """Artifact suffix → typed preset config, for the names and choices a recipe lists."""
    return {e if isinstance(e, str) else e.label: PRESETS.get(e) if isinstance(e, str) else e.config() for e in entries}


class QuantizeConfig(StrictModel):
    """ONNX export of chosen artifacts, graph fusions, and quantization presets."""

    artifacts: list[str] | None = Field(
        None,
        description="teacher, student and/or pruned; default: the pruned model, else the student, else the teacher",
    )
    optimize: bool = Field(True, description="apply ONNX Runtime's transformer fusions to the FP32 graph")
    skip_layer_norm: bool = Field(
        False,
        description="also fuse residual Add + LayerNorm into SkipLayerNormalization "
        "(slower on CPU: `mtkd bench --fusions`; CUDA sessions fuse it at load anyway)",
    )
    presets: list[str | PresetChoice] = Field(default_factory=lambda: ["dynamic-int8"])
    """registered quantization presets applied to each artifact (`compress.onnx.presets.PRESETS`, yours
    included), by name or as {preset, name, settings} to change a preset's typed settings"""
    teacher_presets: list[str | PresetChoice] = Field(
        default_factory=list,
        description="also export the teacher and apply these presets to it (e.g. optimum-dynamic-int8: what a "
        "user who does not distil would deploy), so the bench answers 'distil, or just quantize?' in one run",
    )
    parity_tolerance: float = Field(1e-4, gt=0, description="max |ONNX − PyTorch| allowed on any head")
    tolerance: float = Field(0.01, ge=0, lt=1, description="relative per-task drop allowed vs the FP32 export")
    accuracy_aware: bool = Field(True, description="keep the most sensitive layers in FP32 until within tolerance")
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig, description="for static presets")
    qat: QatConfig | None = Field(None, description="also make <artifact>-qat-int8 by quantization-aware distillation")

    @field_validator("presets", "teacher_presets")
    @classmethod
    def _known(cls, presets: list[str | PresetChoice]) -> list[str | PresetChoice]:
        for entry in presets:
            if isinstance(entry, str):
                registered_name(PRESETS, "preset", entry)
        labels = list(preset_configs(presets))
        if len(labels) != len(presets):
            raise ValueError(f"two presets share one artifact name in {labels}; give one a name of its own")
        return presets

    @field_validator("artifacts")
    @classmethod
    def _names(cls, names: list[str] | None) -> list[str] | None:
        bad = [n for n in names or [] if n not in ("teacher", "student", "pruned")]
        if bad:
            raise ValueError(f"unknown artifact {bad[0]!r}; choose teacher, student and/or pruned")
        return names
