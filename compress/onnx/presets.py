"""Quantization presets, registered by name: a new preset is one function.

Each preset turns an FP32 ``model.onnx`` into another ``model.onnx`` and returns its settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx

from distill.registry import Registry

Preset = Callable[[Path, Path], dict[str, Any]]
PRESETS: Registry[Preset] = Registry("quantization preset")
LINEAR_OPS = ["MatMul", "Gemm"]  # attention and FFN projections: where the FLOPs are


def _dynamic(src: Path, dst: Path, per_channel: bool) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # fused graphs hold contrib ops that ONNX shape inference cannot type: say the default is float
    quantize_dynamic(
        str(src),
        str(dst),
        op_types_to_quantize=LINEAR_OPS,
        per_channel=per_channel,
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return {
        "mode": "dynamic",
        "weights": "int8 symmetric",
        "activations": "uint8, scale computed per call",
        "per_channel": per_channel,
        "op_types": LINEAR_OPS,
        "precision": "int8",
    }


@PRESETS.register("dynamic-int8")
def dynamic_int8(src: Path, dst: Path) -> dict[str, Any]:
    """ONNX Runtime dynamic INT8: weights quantized offline per tensor, activations at run time."""
    return _dynamic(src, dst, per_channel=False)


@PRESETS.register("dynamic-int8-per-channel")
def dynamic_int8_per_channel(src: Path, dst: Path) -> dict[str, Any]:
    """Dynamic INT8 with one weight scale per output channel (usually more accurate, same speed)."""
    return _dynamic(src, dst, per_channel=True)
