"""ONNX Runtime providers: a session that fell back is never measured under the requested provider's name,
and the TensorRT provider's engine cache exists and is keyed by the graph's bytes."""

from __future__ import annotations

import json

import onnx
import pytest
from onnx import TensorProto, helper

from compress.runtime import onnxruntime_backend as ortb
from distill.errors import ArtifactError


def test_a_session_running_another_provider_than_asked_is_an_error_naming_both(tmp_path):
    trt = [("TensorrtExecutionProvider", {"trt_fp16_enable": True}), "CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(ArtifactError, match="asked for TensorrtExecutionProvider but runs CUDAExecutionProvider"):
        ortb.check_provider(trt, ["CUDAExecutionProvider", "CPUExecutionProvider"], tmp_path)
    assert ortb.check_provider(trt, ["TensorrtExecutionProvider", "CPUExecutionProvider"], tmp_path) == (
        "TensorrtExecutionProvider"
    )
    assert ortb.check_provider(["CPUExecutionProvider"], ["CPUExecutionProvider"], tmp_path) == "CPUExecutionProvider"


def _graph(folder, scale: float):
    folder.mkdir(parents=True, exist_ok=True)
    w = helper.make_tensor("w", TensorProto.FLOAT, [1], [scale])
    node = helper.make_node("Mul", ["input_ids", "w"], ["out"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("input_ids", TensorProto.FLOAT, ["b", "s"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", "s"])],
        [w],
    )
    onnx.save(helper.make_model(graph), folder / "model.onnx")
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 64}))
    return folder


def test_the_engine_cache_is_created_and_keyed_by_the_weights_and_precision(tmp_path, monkeypatch):
    monkeypatch.setattr(ortb, "ORT_TRT_CACHE", tmp_path / "deep" / "cache")
    imported = []
    monkeypatch.setattr(ortb.importlib, "import_module", lambda name: imported.append(name))
    art = _graph(tmp_path / "art", 2.0)
    backend = ortb.OnnxRuntimeTensorRTBackend.__new__(ortb.OnnxRuntimeTensorRTBackend)  # no GPU: no session
    backend.artifact, backend.precision, backend.max_batch = art, "fp16", None
    trt, options = backend.providers()[0]
    assert imported == ["tensorrt"]  # libnvinfer loaded before the provider looks for it
    assert trt == "TensorrtExecutionProvider" and options["trt_fp16_enable"] and not options["trt_int8_enable"]
    cache = options["trt_engine_cache_path"]
    assert (tmp_path / "deep" / "cache").is_dir() and cache.startswith(str(tmp_path / "deep" / "cache"))
    assert options["trt_profile_max_shapes"].startswith("input_ids:")
    before = ortb.engine_cache_dir(art, "fp16")
    assert ortb.engine_cache_dir(art, "int8") != before
    _graph(art, 3.0)  # new weights in the same folder: a new engine, never the old one
    assert ortb.engine_cache_dir(art, "fp16") != before


def test_the_provider_profile_reaches_the_callers_largest_batch_and_keys_its_own_engines(tmp_path, monkeypatch):
    monkeypatch.setattr(ortb, "ORT_TRT_CACHE", tmp_path / "cache")
    art = _graph(tmp_path / "art", 2.0)
    backend = ortb.OnnxRuntimeTensorRTBackend.__new__(ortb.OnnxRuntimeTensorRTBackend)
    backend.artifact, backend.precision = art, "fp16"
    shapes = {}
    for max_batch in (None, 256):
        backend.max_batch = max_batch
        options = backend.providers()[0][1]
        shapes[max_batch] = (options["trt_profile_max_shapes"], options["trt_engine_cache_path"])
    assert shapes[None][0] == "input_ids:64x64"  # the accuracy pass's batch 64 at the least
    assert shapes[256][0] == "input_ids:256x64"  # a b256 bench row runs inside the profile, not outside it
    assert shapes[None][1] != shapes[256][1]  # an engine built for the smaller profile is not reused


def _nodes_graph(path, nodes):
    """A graph file holding ``nodes`` (op type, domain): only their kinds matter to the checks."""
    made = [helper.make_node(op, ["x"], [f"y{i}"], domain=domain) for i, (op, domain) in enumerate(nodes)]
    outputs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [1]) for i in range(len(nodes))]
    graph = helper.make_graph(made, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])], outputs)
    onnx.save(helper.make_model(graph), path)
    return path


def test_the_tensorrt_provider_gets_the_unfused_graph_and_int8_only_as_q_dq(tmp_path):
    art = tmp_path / "student-fp32"
    art.mkdir()
    fused = _nodes_graph(art / "model.onnx", [("Attention", "com.microsoft"), ("MatMul", "")])
    assert "ONNX Runtime's own operators (Attention)" in ortb.trt_graph_unfit(fused, "fp32")
    _nodes_graph(art / "model.unfused.onnx", [("MatMul", ""), ("Softmax", "")])
    chosen = ortb.OnnxRuntimeTensorRTBackend.graph_path(art)
    assert chosen.name == "model.unfused.onnx" and ortb.trt_graph_unfit(chosen, "fp16") is None
    assert ortb.OnnxRuntimeBackend.graph_path(art).name == "model.onnx"  # the CPU runtime keeps the fused graph
    dynamic = _nodes_graph(tmp_path / "dyn.onnx", [("DynamicQuantizeLinear", ""), ("MatMulInteger", "")])
    assert "needs a Q/DQ graph" in ortb.trt_graph_unfit(dynamic, "int8") and "MatMulInteger" in ortb.trt_graph_unfit(
        dynamic, "int8"
    )
    qdq = _nodes_graph(tmp_path / "qdq.onnx", [("QuantizeLinear", ""), ("DequantizeLinear", ""), ("MatMul", "")])
    assert ortb.trt_graph_unfit(qdq, "int8") is None


def test_loading_tensorrts_libraries_is_quiet_when_tensorrt_is_absent(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError
    assert ortb.load_tensorrt_libraries() is False


def test_nodes_the_requested_provider_left_to_the_cpu_are_named_in_the_rows_provider(tmp_path):
    """Issue 32: ONNX Runtime's CUDA provider has no kernels for the dynamic-INT8 operators; they run on the
    CPU with copies while the session's provider list still says CUDA. The profile says where each node ran."""
    import onnxruntime as ort

    art = _graph(tmp_path / "art", 2.0)
    model = onnx.load(str(art / "model.onnx"))
    model.ir_version, model.opset_import[0].version = 10, 17  # what mtkd's exports carry
    graph = model.SerializeToString()
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])

    def factory(opts):
        return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

    placed = ortb.run_placement(factory, session.get_inputs())  # a real profile of a real session
    assert placed == {"CPUExecutionProvider": ["Mul"]}
    assert ortb.placement_label("CPUExecutionProvider", placed) == "CPUExecutionProvider"
    mixed = {
        "CUDAExecutionProvider": ["MatMul", "Add"],
        "CPUExecutionProvider": ["MatMulInteger"] * 2 + ["DynamicQuantizeLinear"],
    }
    assert ortb.placement_label("CUDAExecutionProvider", mixed) == (
        "CUDAExecutionProvider + CPUExecutionProvider (3 nodes: DynamicQuantizeLinear, MatMulInteger)"
    )
