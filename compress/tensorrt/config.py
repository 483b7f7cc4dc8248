"""What the ``compile`` stage builds: which engines, from which graphs, with which builder settings."""

from __future__ import annotations

from pydantic import Field, field_validator

from distill.config import StrictModel, only_known

# engine precision → the quantize stage's artifact whose graph it is built from ("{name}" = teacher,
# student or pruned). FP32 and FP16 start from the unfused FP32 export (TensorRT parses standard ONNX
# operators only); INT8 and FP8 from explicit Q/DQ graphs, because TensorRT 10 dropped implicit
# (calibrator) INT8 for transformer graphs (NVIDIA/TensorRT#4058, #4095).
ENGINE_PRECISIONS = {
    "fp32": "{name}-fp32",
    "fp16": "{name}-fp32",
    "int8": "{name}-qdq-int8-tensorrt",
    "int8-qat": "{name}-qat-int8",
    "fp8": "{name}-qdq-fp8-tensorrt",
}

FP8_MIN_CAPABILITY = (8, 9)  # FP8 tensor cores: Ada (8.9) and Hopper (9.0) onwards


def variant_unsupported(variant: str, compute_capability: str) -> str | None:
    """Why this GPU (compute capability "major.minor") cannot run an engine variant, or None."""
    major, minor = (int(x) for x in compute_capability.split("."))
    if variant == "fp8" and (major, minor) < FP8_MIN_CAPABILITY:
        return f"FP8 needs compute capability 8.9+ (Ada, Hopper); this GPU has {compute_capability}"
    return None


class CompileConfig(StrictModel):
    """TensorRT engines per artifact and precision; shapes come from the bench grid."""

    artifacts: list[str] | None = Field(None, description="as quantize.artifacts; default: the ones quantize made")
    precisions: list[str] = Field(default_factory=lambda: ["fp32", "fp16", "int8"], min_length=1)
    """engines to build: fp32, fp16, int8 (from qdq-int8-tensorrt), int8-qat, fp8 (compute capability 8.9+)"""
    optimization_level: int = Field(3, ge=0, le=5, description="builder optimization level (TensorRT's default 3)")
    workspace_mb: int = Field(4096, ge=64, description="memory pool limit for tactics' scratch space")
    strongly_typed: bool = Field(
        False,
        description="build Q/DQ engines strongly typed (types from the graph, no precision flags); weakly "
        "typed engines may also run the non-quantized layers in FP16",
    )
    timing_cache: bool = Field(True, description="reuse kernel timings across builds (runs/tensorrt-timing/)")
    max_batch: int | None = Field(None, ge=1, description="profile's largest batch; default: bench grid and eval")

    @field_validator("precisions")
    @classmethod
    def _known(cls, precisions: list[str]) -> list[str]:
        return only_known(precisions, list(ENGINE_PRECISIONS), "engine precision")
