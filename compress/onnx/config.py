"""What the ``quantize`` stage does: export, fuse, quantize with presets, check accuracy."""

from __future__ import annotations

from pydantic import Field, field_validator

from distill.config import StrictModel, only_known

from .calibration import CalibrationConfig
from .presets import PRESETS
from .qat import QatConfig


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
    presets: list[str] = Field(default_factory=lambda: ["dynamic-int8"])
    """registered quantization presets applied to each artifact (`compress.onnx.presets.PRESETS`, yours included)"""
    teacher_presets: list[str] = Field(
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
    def _known(cls, presets: list[str]) -> list[str]:
        return only_known(presets, list(PRESETS.names()), "preset")

    @field_validator("artifacts")
    @classmethod
    def _names(cls, names: list[str] | None) -> list[str] | None:
        bad = [n for n in names or [] if n not in ("teacher", "student", "pruned")]
        if bad:
            raise ValueError(f"unknown artifact {bad[0]!r}; choose teacher, student and/or pruned")
        return names
