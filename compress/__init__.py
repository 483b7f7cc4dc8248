"""Compression of a trained multi-task model: structured pruning, ONNX export and quantization,
TensorRT engines, the runtimes that serve every artifact, and the deployable bundle. The verbs:

    from compress import prune, quantize, compile_engines, build_bundle, Predictor

Names load on first use (TensorRT and ONNX Runtime only where a verb needs them).
"""

from __future__ import annotations

from distill.registry import lazy_exports

_PUBLIC = {
    "prune": "compress.prune.api",
    "Pruned": "compress.prune.api",
    "PruneConfig": "compress.prune.plan",
    "quantize": "compress.onnx.quantize",
    "export_onnx": "compress.onnx.export",
    "QuantizeConfig": "compress.onnx.config",
    "PRESETS": "compress.onnx.presets",
    "PresetConfig": "compress.onnx.presets",
    "preset_handler": "compress.onnx.presets",
    "PresetChoice": "compress.onnx.config",
    "compile_engines": "compress.tensorrt.compile",
    "CompileConfig": "compress.tensorrt.config",
    "profile_for": "compress.tensorrt.profiles",
    "build_bundle": "compress.bundle.build",
    "Predictor": "compress.bundle.predictor",
    "RUNTIMES": "compress.runtime.base",
    "load_backend": "compress.runtime.base",
    "IMPORTANCES": "compress.prune.importance",
}
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_exports(__name__, _PUBLIC)
