"""Quantization presets, registered by name: a new preset is one function.

Each preset turns an FP32 ``model.onnx`` into another ``model.onnx`` and returns its settings;
``exclude`` names nodes to leave in FP32 (accuracy-aware fallback).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import onnx

from distill.registry import Registry

Preset = Callable[..., dict[str, Any]]  # (src, dst, exclude=()) -> settings; exclude: node names kept FP32
PRESETS: Registry[Preset] = Registry("quantization preset")
LINEAR_OPS = ["MatMul", "Gemm"]  # attention and FFN projections: where the FLOPs are


def _dynamic(src: Path, dst: Path, per_channel: bool, exclude: Sequence[str] = ()) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # fused graphs hold contrib ops that ONNX shape inference cannot type: say the default is float
    quantize_dynamic(
        str(src),
        str(dst),
        op_types_to_quantize=LINEAR_OPS,
        per_channel=per_channel,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=list(exclude),
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
def dynamic_int8(src: Path, dst: Path, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """ONNX Runtime dynamic INT8: weights quantized offline per tensor, activations at run time."""
    return _dynamic(src, dst, per_channel=False, exclude=exclude)


@PRESETS.register("dynamic-int8-per-channel")
def dynamic_int8_per_channel(src: Path, dst: Path, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Dynamic INT8 with one weight scale per output channel (usually more accurate, same speed)."""
    return _dynamic(src, dst, per_channel=True, exclude=exclude)


# LayerNorm and softmax overflow or lose precision in FP16 (users' recurring complaint): keep them FP32
FP32_OPS = [
    "LayerNormalization",
    "SkipLayerNormalization",
    "EmbedLayerNormalization",
    "Softmax",
    "ReduceMean",
    "Pow",
    "Sqrt",
    "Erf",
]


@PRESETS.register("fp16")
def fp16(src: Path, dst: Path, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """FP16 weights and activations with LayerNorm, softmax and their reductions kept in FP32.

    Inputs and outputs stay as they were (int64 ids in, float32 logits out), so callers do not
    change. Meant for GPUs; ONNX Runtime's CPU provider runs many FP16 operators slowly.
    """
    from onnxruntime.transformers.onnx_model import OnnxModel

    # the wrapper types fused com.microsoft ops with symbolic shape inference and re-sorts the graph
    wrapper = OnnxModel(onnx.load(str(src)))
    wrapper.convert_float_to_float16(keep_io_types=True, op_block_list=FP32_OPS, node_block_list=list(exclude))
    _drop_repeated_casts(wrapper.model)
    wrapper.topological_sort()
    onnx.checker.check_model(wrapper.model)
    onnx.save(wrapper.model, str(dst))
    return {"mode": "fp16", "kept_fp32": FP32_OPS, "precision": "fp16"}


def _drop_repeated_casts(model: onnx.ModelProto) -> None:
    """The converter casts a tensor once per blocked consumer, all to one output name (not SSA);
    an exact repeat of a Cast (same input, type and output) computes nothing new."""
    seen: set[tuple] = set()
    keep = []
    for node in model.graph.node:
        if node.op_type == "Cast":
            key = (tuple(node.input), tuple(node.output), tuple(a.i for a in node.attribute if a.name == "to"))
            if key in seen:
                continue
            seen.add(key)
        keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)
