"""Static INT8: calibration batches from the recipe's data, Q/DQ graphs by ORT's and TensorRT's rules."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from compress.onnx.calibration import CalibrationConfig, calibration_batches
from compress.onnx.export import sample_inputs
from compress.onnx.fusion import UNFUSED
from compress.onnx.presets import PRESETS
from distill.data.loading import load_tasks
from distill.errors import ArtifactError
from recipes.loader import load_recipe


@pytest.fixture(scope="module")
def fp32(quantized_run):
    return quantized_run / "quantize" / "student-fp32"


@pytest.fixture(scope="module")
def tasks(quantized_run):
    recipe = load_recipe(str(quantized_run / "recipe.yaml"))
    return load_tasks(recipe.tasks, recipe.seed, recipe.data)


def initializers(path):
    graph = onnx.load(str(path)).graph
    return graph, {t.name: numpy_helper.to_array(t) for t in graph.initializer}


def test_calibration_batches_mix_every_task_in_one_shape(fp32, tasks):
    cal = calibration_batches(fp32, tasks, CalibrationConfig(samples=30, batch_size=4, split="dev"), max_len=32)
    assert cal.settings["per_task"] == {"category": 10, "score": 10, "attributes": 10}
    assert cal.settings["batches"] == 7 and cal.settings["samples"] == 28  # 30 rows → 7 full batches of 4
    shapes = {f["input_ids"].shape for f in cal.feeds}
    assert len(shapes) == 1 and next(iter(shapes))[0] == 4  # histogram calibrators stack batches
    for feed in cal.feeds:  # padding is masked; real tokens start with [CLS]
        assert (feed["attention_mask"][:, 0] == 1).all()
        assert ((feed["attention_mask"] == 0) <= (feed["input_ids"] == 0)).all()


def test_tensorrt_qdq_graph_is_symmetric_per_channel_and_standard_ops_only(quantized_run):
    path = quantized_run / "quantize" / "student-qdq-int8-tensorrt" / "model.onnx"
    graph, weights = initializers(path)
    assert all(n.domain in ("", "ai.onnx") for n in graph.node), "TensorRT cannot parse com.microsoft ops"
    quant = [n for n in graph.node if n.op_type == "QuantizeLinear"]
    dequant = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    assert quant and dequant
    for node in dequant:  # every zero point is 0 and int8: symmetric
        zero = weights.get(node.input[2]) if len(node.input) > 2 else None
        assert zero is not None and zero.dtype == np.int8 and not zero.any(), node.name
    per_channel = [n for n in dequant if weights[n.input[1]].size > 1]
    assert per_channel and all(n.input[0] in weights for n in per_channel)  # weights get one scale per channel


def test_ort_static_graph_keeps_fusions_and_uint8_activations(quantized_run):
    graph, weights = initializers(quantized_run / "quantize" / "student-static-int8" / "model.onnx")
    assert any(n.domain == "com.microsoft" for n in graph.node)  # fused attention/LayerNorm kept for the CPU
    activation_zeros = [weights[n.input[2]] for n in graph.node if n.op_type == "QuantizeLinear"]
    assert activation_zeros and all(z.dtype == np.uint8 for z in activation_zeros)


def test_calibration_method_sets_the_activation_ranges(fp32, tasks, tmp_path):
    scales = {}
    for method, pct in (("minmax", 99.999), ("percentile", 90.0)):
        cal = calibration_batches(fp32, tasks, CalibrationConfig(samples=32, batch_size=8, method=method), 32)
        cal.percentile = pct
        out = tmp_path / f"{method}.onnx"
        PRESETS.get("qdq-int8-tensorrt")(fp32 / UNFUSED, out, calibration=cal)
        graph, weights = initializers(out)
        scales[method] = {n.input[0]: float(weights[n.input[1]]) for n in graph.node if n.op_type == "QuantizeLinear"}
    shared = scales["minmax"].keys() & scales["percentile"].keys()
    assert shared
    # a 90th percentile clips outliers: no range is wider than the full min–max one, and most are narrower
    assert all(scales["percentile"][t] <= scales["minmax"][t] * (1 + 1e-6) for t in shared)
    assert sum(scales["percentile"][t] < 0.9 * scales["minmax"][t] for t in shared) > len(shared) / 2


def test_static_presets_refuse_to_run_without_calibration(fp32, tmp_path):
    with pytest.raises(ArtifactError, match="calibration"):
        PRESETS.get("static-int8")(fp32 / "model.onnx", tmp_path / "x.onnx")


def test_qat_artifact_is_a_qdq_graph_learned_by_distillation(quantized_run):
    art = quantized_run / "quantize" / "student-qat-int8"
    manifest = json.loads((art / "onnx.json").read_text())
    q = manifest["quantization"]
    assert manifest["precision"] == "int8" and q["mode"] == "qat" and q["layers"] == 7  # 6 encoder + the tag head
    assert q["steps"] == 40 and q["final_kd_loss"] >= 0
    graph, _ = initializers(art / "model.onnx")
    dequant = [n for n in graph.node if n.op_type == "DequantizeLinear"]
    assert len(dequant) == 2 * q["layers"]  # one for each input, one for each weight
    # sequence heads see one vector per example: FP32, no per-call weight dequantization
    assert not [n.name for n in dequant if n.name.startswith(("/model/category/", "/model/score/"))]
    assert [n for n in dequant if n.name.startswith("/model/attributes/")]
    assert max(r["max_abs_diff"] for r in manifest["parity_vs_torch"].values()) < 1e-2  # ORT ≈ fake quant
    report = json.loads((quantized_run / "quantize" / "report.json").read_text())
    # no FP32 fallback enforces 1% for QAT; on this tiny, barely trained student one tag entity is ~8% of F1
    assert max(report["student-qat-int8"]["drop_vs_fp32"].values()) <= 0.1, report["student-qat-int8"]


def test_fake_quant_linear_computes_on_int8_rounded_inputs_and_weights_with_straight_through_gradients():
    import torch

    from compress.onnx.qat import FakeQuantLinear

    torch.manual_seed(0)
    linear = torch.nn.Linear(4, 3)
    fq = FakeQuantLinear(linear)
    x = torch.randn(5, 4)
    fq.observing = True
    fq(x)  # observe the input range
    fq.observing = False
    assert float(fq.input_max) == pytest.approx(float(x.abs().max()))
    s_x = x.abs().max() / 127
    s_w = linear.weight.detach().abs().amax(1, keepdim=True) / 127
    xq = torch.clamp(torch.round(x / s_x), -128, 127) * s_x
    wq = torch.clamp(torch.round(linear.weight.detach() / s_w), -127, 127) * s_w
    w = linear.weight.detach()
    out = fq(x)
    torch.testing.assert_close(out, xq @ wq.T + linear.bias.detach(), atol=1e-6, rtol=1e-6)
    assert not torch.allclose(out, x @ w.T + linear.bias.detach(), atol=1e-6)  # rounding is really applied
    out.sum().backward()
    assert linear.weight.grad is not None and linear.weight.grad.abs().sum() > 0  # straight-through


def test_fp8_graph_is_opset19_e4m3_with_amax_scales_and_runs_close_to_fp32(fp32, tasks, tmp_path):
    cal = calibration_batches(fp32, tasks, CalibrationConfig(samples=32, batch_size=8, method="minmax"), 32)
    fp8, int8 = tmp_path / "fp8.onnx", tmp_path / "int8.onnx"
    PRESETS.get("qdq-fp8-tensorrt")(fp32 / UNFUSED, fp8, calibration=cal)
    PRESETS.get("qdq-int8-tensorrt")(fp32 / UNFUSED, int8, calibration=cal)
    model = onnx.load(str(fp8))
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {19}  # FP8 Q/DQ needs 19
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node), "TensorRT parses standard operators only"
    e4m3 = onnx.TensorProto.FLOAT8E4M3FN
    assert any(t.data_type == e4m3 and len(t.dims) == 2 for t in model.graph.initializer), "FP8 Linear weights"
    graph, weights = initializers(fp8)
    fp8_scales = {n.input[0]: float(weights[n.input[1]]) for n in graph.node if n.op_type == "QuantizeLinear"}
    graph, weights = initializers(int8)
    int8_scales = {n.input[0]: float(weights[n.input[1]]) for n in graph.node if n.op_type == "QuantizeLinear"}
    shared = fp8_scales.keys() & int8_scales.keys()
    assert len(shared) >= 4
    for tensor in shared:  # both are amax over the same batches: symmetric min–max INT8 puts it at 127, FP8 at 448
        assert fp8_scales[tensor] * 448 == pytest.approx(int8_scales[tensor] * 127, rel=1e-4), tensor
    batch = sample_inputs(int(json.loads((fp32 / "config.json").read_text())["vocab_size"]), batch=4, seq=16)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # reference Q/DQ kernels
    got = ort.InferenceSession(str(fp8), opts).run(None, batch)
    ref = ort.InferenceSession(str(fp32 / UNFUSED)).run(None, batch)
    for out, expected in zip(got, ref, strict=True):
        spread = float(np.abs(expected).max()) + 1e-6
        assert float(np.abs(out - expected).max()) / spread < 0.25
