"""The FP16 graph TensorRT 11's FP16 engines are built from: matrices in FP16, LayerNorm, Softmax and the
heads in FP32, the graph's inputs and outputs unchanged, and every head checked against the FP32 export."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest

from compress.onnx.export import run_onnx, sample_inputs
from compress.onnx.fp16 import fp16_graph, head_nodes
from distill.errors import ArtifactError
from distill.io import read_json
from tests.compress.test_onnx import exported  # noqa: F401 (the module-scoped FP32 export fixture)

FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


def _weight_types(model: onnx.ModelProto, node: onnx.NodeProto) -> set[int]:
    inits = {i.name: i.data_type for i in model.graph.initializer}
    return {inits[x] for x in node.input if x in inits}


def test_matrices_go_fp16_while_norms_softmax_and_heads_stay_fp32(exported, tmp_path):  # noqa: F811
    root, manifest = exported
    report = fp16_graph(root / "fp32", tmp_path / "fp16")
    model = onnx.load(str(tmp_path / "fp16" / "model.onnx"))
    heads = set(head_nodes(model.graph, list(manifest["outputs"])))
    assert heads and all(name.split("/")[2] in manifest["outputs"] for name in heads)
    encoder_matmuls = [n for n in model.graph.node if n.op_type == "MatMul" and n.name not in heads]
    weights = set().union(*(_weight_types(model, n) for n in encoder_matmuls))  # Q·Kᵀ has no weight
    assert weights == {FLOAT16}
    for node in model.graph.node:
        if node.op_type == "LayerNormalization" or node.name in heads:
            assert _weight_types(model, node) <= {FLOAT}, node.name
    io = [*model.graph.input, *model.graph.output]
    assert {v.type.tensor_type.elem_type for v in model.graph.output} == {FLOAT}  # callers see what FP32 gave
    assert len(io) == len(onnx.load(str(root / "fp32" / "model.onnx")).graph.input) + len(manifest["outputs"])
    assert max(r["max_abs_diff"] for r in report.values()) < 0.05
    assert read_json(tmp_path / "fp16" / "onnx.json")["precision"] == "fp16"
    x = sample_inputs(int(read_json(root / "fp32" / "config.json")["vocab_size"]), batch=2, seq=11, seed=5)
    a, b = run_onnx(root / "fp32" / "model.onnx", x), run_onnx(tmp_path / "fp16" / "model.onnx", x)
    assert np.array_equal(a["cat"].argmax(-1), b["cat"].argmax(-1))


def test_a_graph_that_fp16_moves_too_far_is_refused(exported, tmp_path):  # noqa: F811
    root, _ = exported
    shutil.copytree(root / "fp32", tmp_path / "fp32")
    with pytest.raises(ArtifactError, match="FP16 graph moves a head"):
        fp16_graph(tmp_path / "fp32", tmp_path / "fp16", tolerance=0.0)
