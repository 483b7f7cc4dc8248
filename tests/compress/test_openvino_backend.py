"""The OpenVINO runtime: the exported graphs at f32, bf16 and int8, each labelled with what really ran."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.config import BenchConfig
from benchmarks.harness import candidates_for
from compress.onnx.calibration import Calibration
from compress.onnx.export import copy_sidecars, export_onnx, sample_inputs
from compress.onnx.presets import PRESETS
from compress.runtime import load_backend
from compress.runtime.cpu import no_native_bf16
from compress.runtime.openvino_backend import OpenVinoBackend
from distill.config import ModelConfig
from distill.io import read_json, write_json
from distill.model import HeadSpec, MultiTaskModel
from distill.tokenization import train_wordpiece

pytest.importorskip("openvino", reason="the openvino extra is not installed (pip install 'mtkd[openvino]')")
HEADS = [
    HeadSpec("cat", "classification", ("a", "b", "c")),
    HeadSpec("score", "regression", ()),
    HeadSpec("tags", "token_classification", ("O", "B-X", "I-X")),
]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """An FP32 export, its ONNX Runtime dynamic-INT8 form and two Q/DQ INT8 forms (TensorRT's rules, NNCF's)."""
    root = tmp_path_factory.mktemp("ov")
    tok = train_wordpiece(["red leather boots size 9", "blue cotton shirt", "phone case black"] * 20, 80, 1)
    torch.manual_seed(0)
    model = MultiTaskModel.from_config(ModelConfig(layers=2, hidden=32, heads=4, intermediate=64), HEADS, tok)
    model.save_pretrained(root / "model", tok)
    export_onnx(root / "model", root / "fp32")
    feeds = [sample_inputs(model.config.vocab_size, batch=4, seq=12, seed=s) for s in range(4)]
    presets = (("dynamic-int8", None), ("qdq-int8-tensorrt", Calibration(feeds)), ("nncf-int8", Calibration(feeds)))
    for name, calibration in presets:
        (root / name).mkdir()
        settings = PRESETS.get(name)(root / "fp32" / "model.onnx", root / name / "model.onnx", calibration=calibration)
        copy_sidecars(root / "fp32", root / name)
        write_json(
            root / name / "onnx.json", {**read_json(root / "fp32" / "onnx.json"), "precision": settings["precision"]}
        )
    return root, sample_inputs(model.config.vocab_size, batch=3, seq=17, seed=9)


def worst(a: dict, b: dict) -> float:
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


def test_fp32_matches_onnx_runtime_and_says_it_ran_f32(artifacts):
    root, x = artifacts
    ov = load_backend("openvino", root / "fp32", "fp32")
    ort = load_backend("onnxruntime", root / "fp32", "fp32")
    got = ov(x)
    assert set(got) == {"cat", "score", "tags"} and got["tags"].shape == (3, 17, 3)
    assert worst(got, ort(x)) < 1e-4
    assert ov.provider.startswith("OpenVINO CPU, f32") and "bf16" not in ov.provider  # never bf16 unasked
    first = ov(x)["cat"].copy()
    ov({k: v[:1] for k, v in x.items()})  # a later call must not overwrite what an earlier one returned
    assert np.array_equal(first, got["cat"])


def test_bf16_runs_where_the_cpu_has_it_and_is_refused_with_the_reason_elsewhere(artifacts, monkeypatch):
    root, x = artifacts
    if no_native_bf16():
        assert OpenVinoBackend.unavailable(root / "fp32", "bf16", "cpu") == no_native_bf16()
    else:
        ov = load_backend("openvino", root / "fp32", "bf16")
        assert "bf16" in ov.provider and worst(ov(x), load_backend("onnxruntime", root / "fp32")(x)) < 0.1
    monkeypatch.setattr("compress.runtime.openvino_backend.no_native_bf16", lambda: "no bf16 here")
    assert OpenVinoBackend.unavailable(root / "fp32", "bf16", "cpu") == "no bf16 here"


def test_int8_runs_a_q_dq_graph_with_int8_gemms_and_refuses_onnx_runtimes_own_operators(artifacts):
    root, x = artifacts
    ov = load_backend("openvino", root / "qdq-int8-tensorrt", "int8")
    assert "i8" in ov.provider  # OpenVINO's compiled model runs GEMMs in int8
    assert worst(ov(x), load_backend("onnxruntime", root / "qdq-int8-tensorrt", "int8")(x)) < 0.05
    reason = OpenVinoBackend.unavailable(root / "dynamic-int8", "int8", "cpu")
    assert "MatMulInteger" in reason and "Q/DQ" in reason
    assert "quantized artifact" in OpenVinoBackend.unavailable(root / "fp32", "int8", "cpu")
    assert OpenVinoBackend.unavailable(root / "fp32", "fp32", "cuda") == "mtkd runs OpenVINO on the CPU only"


def test_the_bench_lists_every_openvino_candidate_or_why_not(artifacts):
    root, _ = artifacts
    arts = {"fp32": root / "fp32", "dyn": root / "dynamic-int8", "qdq": root / "qdq-int8-tensorrt"}
    cfg = BenchConfig(runtimes=["openvino"], precisions=["fp32", "bf16", "int8"], device="cpu")
    keep, skipped = candidates_for(arts, cfg)
    ran = {(c.artifact, c.precision) for c in keep}
    assert ("fp32", "fp32") in ran and ("qdq", "int8") in ran
    assert (("fp32", "bf16") in ran) == (no_native_bf16() is None)  # FP32 graphs also at bf16 when asked
    assert any("dyn" in s["candidate"] and "MatMulInteger" in s["reason"] for s in skipped)


def test_nncf_post_training_int8_is_a_peer_preset_whose_graph_openvino_runs_in_int8(artifacts):
    import onnx

    root, x = artifacts
    assert PRESETS.get("nncf-int8").peer and PRESETS.get("nncf-int8").needs_calibration
    graph = onnx.load(str(root / "nncf-int8" / "model.onnx"))
    assert sum(n.op_type == "QuantizeLinear" for n in graph.graph.node) >= 4  # every projection's input
    ov = load_backend("openvino", root / "nncf-int8", "int8")
    assert "i8" in ov.provider
    assert worst(ov(x), load_backend("onnxruntime", root / "fp32")(x)) < 0.1  # close to the FP32 model
