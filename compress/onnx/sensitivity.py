"""Accuracy-aware quantization: per-layer sensitivity, then FP32 fallback until every task is within tolerance."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx

from .presets import DYNAMIC_OPS, Preset

log = logging.getLogger("mtkd")
Drops = Callable[[Path], dict[str, float]]  # artifact directory -> relative drop per task vs FP32


def layer_groups(path: Path) -> dict[str, list[str]]:
    """Quantizable nodes grouped by encoder layer (``layer.3``), the heads and everything else."""
    groups: dict[str, list[str]] = {}
    nodes = onnx.load(str(path), load_external_data=False).graph.node
    readers: dict[str, list[str]] = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node.name)
    for node in nodes:
        if node.op_type not in DYNAMIC_OPS:
            continue
        # a fused node (Attention_0) has no path in its name: its layer is that of the nodes reading it
        named = [node.name, *(r for out in node.output for r in readers.get(out, []))]
        match = next((m for m in (re.search(r"layer\.(\d+)", n) for n in named) if m), None)
        # exported names: /model/encoder/encoder/layer.N/... for the encoder, /model/<task>/... for heads
        group = f"layer.{match.group(1)}" if match else "encoder" if "/encoder/" in node.name else "heads"
        names = groups.setdefault(group, [])
        names.append(node.name)
        if node.op_type == "Gemm":  # the quantizer first rewrites Gemm into a MatMul named <name>_MatMul
            names.append(f"{node.name}_MatMul")
    return groups


def _quantize(preset: Preset, source: Path, target: Path, exclude: list[str]) -> dict[str, Any]:
    return preset(source, target / "model.onnx", exclude=exclude)


def accuracy_aware(preset: Preset, source: Path, target: Path, drops: Drops, tolerance: float) -> dict[str, Any]:
    """``target`` holds the fully quantized model, made by ``preset`` from the graph file ``source``; if a
    task drops more than ``tolerance``, measure each layer group's sensitivity (that group alone
    quantized) and return the most sensitive groups to FP32 until every task is within tolerance.
    Returns the sensitivity, the fallback and the final drops."""
    current = drops(target)
    if max(current.values()) <= tolerance:
        return {"fallback": [], "sensitivity": {}, "drops": current}
    groups = layer_groups(source)  # node names of the graph the preset starts from
    sensitivity = {}
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        probe = Path(scratch)
        for sidecar in target.iterdir():
            if sidecar.name != "model.onnx" and sidecar.is_file():
                shutil.copy2(sidecar, probe / sidecar.name)
        for group in groups:
            others = [n for g, nodes in groups.items() if g != group for n in nodes]
            _quantize(preset, source, probe, others)
            sensitivity[group] = max(drops(probe).values())
    fallback: list[str] = []
    for group in sorted(sensitivity, key=sensitivity.get, reverse=True):
        fallback.append(group)
        _quantize(preset, source, target, [n for g in fallback for n in groups[g]])
        current = drops(target)
        if max(current.values()) <= tolerance:
            break
    log.info("quantize: %s kept in FP32 (sensitivity %s)", fallback, {g: round(v, 4) for g, v in sensitivity.items()})
    return {"fallback": fallback, "sensitivity": sensitivity, "drops": current}
