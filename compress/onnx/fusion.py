"""Graph fusions applied to an exported FP32 graph, kept only when every head's outputs survive them.

The graph before fusions stays beside the fused one as ``UNFUSED``: TensorRT and the Q/DQ presets
parse standard ONNX operators only, not ONNX Runtime's fused ones.
"""

from __future__ import annotations

import os
from pathlib import Path

from distill.errors import ArtifactError
from distill.io import read_json, write_json

from .export import MANIFEST, parity, run_onnx, sample_inputs
from .optimize import optimize_graph

UNFUSED = "model.unfused.onnx"  # the exported graph before fusions, for TensorRT and its Q/DQ presets


def fuse(out: Path, tolerance: float, skip_layer_norm: bool = False) -> dict[str, int]:
    """Replace ``out/model.onnx`` by its fused graph after checking the fusions kept the outputs."""
    path, fused_path = out / "model.onnx", out / "model.fused.onnx"
    fused = optimize_graph(path, fused_path, skip_layer_norm)
    manifest = read_json(out / MANIFEST)
    kinds = {n: o["type"] for n, o in manifest["outputs"].items()}
    scales = {n: o["target_scale"][1] for n, o in manifest["outputs"].items() if o.get("target_scale")}
    inputs = sample_inputs(int(read_json(out / "config.json")["vocab_size"]))
    report = parity(run_onnx(path, inputs), run_onnx(fused_path, inputs), kinds, inputs["attention_mask"], scales)
    worst = max(r["max_abs_diff"] for r in report.values())
    if worst > tolerance:
        raise ArtifactError(f"{fused_path}: graph fusions changed outputs by {worst:.2e}")
    os.replace(fused_path, path)
    write_json(out / MANIFEST, {**manifest, "fusions": fused, "parity_after_fusion": report})
    return fused
