"""An FP16 copy of an exported FP32 graph, for engines that take their types from the graph (TensorRT 11).

TensorRT 11 builds strongly typed networks only: there is no FP16 builder flag, so an FP16 engine needs an
FP16 graph. ONNX Runtime's converter (``onnxruntime.transformers.float16``) casts weights and activations to
FP16, keeping the graph's inputs and outputs as they were and, in FP32, the operators that lose accuracy in
FP16 (LayerNorm's variance, Softmax's exponentials) and every task head (small, and where predictions are
read). The converted graph is checked against the FP32 graph on sample inputs like every export.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import onnx

from distill.errors import ArtifactError
from distill.io import read_json, write_json

from .export import MANIFEST, parity, run_onnx, sample_inputs
from .fusion import UNFUSED

FP32_OPS = ["LayerNormalization", "Softmax"]  # kept FP32: reductions and exponentials that FP16 degrades
FP16_TOLERANCE = 0.05  # max |FP16 − FP32| per head output (a regression head in units of its target std)


def head_nodes(graph: onnx.GraphProto, heads: list[str]) -> list[str]:
    """Nodes of the task heads: the exporter names them ``/model/<task>/...`` (the encoder ``/model/encoder/``)."""
    return [n.name for n in graph.node if len(n.name.split("/")) > 2 and n.name.split("/")[2] in heads]


def _drop_repeated_casts(graph: onnx.GraphProto) -> int:
    """The converter inserts one cast per kept node that reads an FP16 tensor, all writing the same output
    name when two kept nodes read one tensor (ONNX Runtime then refuses the graph); keep the first."""
    made, repeats = set(), []
    for node in graph.node:
        if node.op_type == "Cast" and node.output[0] in made:
            repeats.append(node)
        made.update(node.output)
    for node in repeats:
        graph.node.remove(node)
    return len(repeats)


def fp16_graph(src: Path, dst: Path, tolerance: float = FP16_TOLERANCE) -> dict[str, Any]:
    """Write ``dst`` (model.onnx, sidecars, manifest): ``src``'s unfused FP32 export in FP16, checked against it.
    Returns the parity report; raises ``ArtifactError`` when a head moves more than ``tolerance``."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    graph = src / UNFUSED if (src / UNFUSED).is_file() else src / "model.onnx"
    manifest = read_json(src / MANIFEST)
    outputs = manifest["outputs"]
    model = onnx.load(str(graph))
    kept = head_nodes(model.graph, list(outputs))
    converted = convert_float_to_float16(model, keep_io_types=True, op_block_list=FP32_OPS, node_block_list=kept)
    _drop_repeated_casts(converted.graph)
    dst.mkdir(parents=True, exist_ok=True)
    onnx.save(converted, str(dst / "model.onnx"))
    for side in src.iterdir():  # config, tokenizer and the rest travel with the graph
        if side.is_file() and side.suffix != ".onnx" and side.name != MANIFEST:
            shutil.copy2(side, dst / side.name)
    inputs = sample_inputs(int(read_json(src / "config.json")["vocab_size"]))
    kinds = {n: o["type"] for n, o in outputs.items()}
    scales = {n: o["target_scale"][1] for n, o in outputs.items() if o.get("target_scale")}
    fp32, fp16 = run_onnx(graph, inputs), run_onnx(dst / "model.onnx", inputs)
    report = parity(fp32, fp16, kinds, inputs["attention_mask"], scales)
    worst = max(r["max_abs_diff"] for r in report.values())
    if worst > tolerance:
        raise ArtifactError(f"{dst}: the FP16 graph moves a head by {worst:.3g} (> {tolerance}) against FP32")
    kept_fp32 = {"ops": FP32_OPS, "head_nodes": len(kept)}
    write_json(
        dst / MANIFEST,
        {**manifest, "precision": "fp16", "source": str(graph), "kept_fp32": kept_fp32, "parity_vs_fp32": report},
    )
    return report
