"""The TensorRT compile stage's plain-Python parts, proven on CPU: profiles, manifests, availability,
sources, skipping with a reason, and the FP8 Q/DQ graph TensorRT would consume."""

from __future__ import annotations

import logging
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from benchmarks.config import BenchConfig
from benchmarks.harness import candidates_for, discover_artifacts
from compress.runtime import TensorRTBackend
from compress.tensorrt import ShapeProfile, check_compatible, profile_for, tensorrt_unavailable
from compress.tensorrt.profiles import EVAL_BATCH
from distill.errors import ArtifactError, DataUnavailable, RecipeError
from distill.io import read_json, write_json
from recipes.loader import load_recipe

HERE = {"tensorrt": "10.13.0.35", "gpu": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}


def test_profile_spans_bench_grid_and_evaluation_with_opt_at_the_report_shape():
    profile = profile_for([1, 8, 32], [32, 128], max_len=64, report_shape=(8, 128))
    assert profile.min == (1, 1)
    assert profile.opt == (8, 128)
    assert profile.max == (EVAL_BATCH, 128)  # evaluation's batch of 64 exceeds the grid's 32
    assert all(profile.covers(b, s) for b in (1, 8, 32, 64) for s in (1, 32, 64, 128))
    assert not profile.covers(65, 16) and not profile.covers(1, 129)
    bigger = profile_for([1], [16], max_len=256, max_batch=512)
    assert bigger.max == (512, 256) and bigger.opt == (1, 16)


def test_profile_rejects_inverted_bounds_and_formats_ort_provider_options():
    with pytest.raises(ValueError, match="min ≤ opt ≤ max"):
        ShapeProfile(min=(1, 1), opt=(8, 300), max=(64, 128))
    shapes = ShapeProfile(min=(1, 1), opt=(4, 32), max=(64, 128)).ort_shapes(["attention_mask", "input_ids"])
    assert shapes["trt_profile_opt_shapes"] == "attention_mask:4x32,input_ids:4x32"
    assert shapes["trt_profile_max_shapes"] == "attention_mask:64x128,input_ids:64x128"


def test_engine_is_refused_on_another_gpu_or_tensorrt_version_with_both_named():
    check_compatible({"target": dict(HERE)}, HERE)  # same machine: accepted
    other_gpu = {"target": {**HERE, "gpu": "NVIDIA A10", "compute_capability": "8.6"}}
    with pytest.raises(ArtifactError, match=r"built for NVIDIA A10 \(compute capability 8.6\).*H100.*9\.0"):
        check_compatible(other_gpu, HERE, "runs/x/compile/student-trt-fp16")
    with pytest.raises(ArtifactError, match=r"built with TensorRT 10\.8\.0\.43, this machine has 10\.13\.0\.35"):
        check_compatible({"target": {**HERE, "tensorrt": "10.8.0.43"}}, HERE)


def _fake_module(monkeypatch, name: str, module: types.ModuleType | None) -> None:
    monkeypatch.setitem(sys.modules, name, module)  # None makes `import name` raise ImportError


def test_availability_says_why_for_each_missing_piece(monkeypatch):
    _fake_module(monkeypatch, "tensorrt", None)
    assert "TensorRT is not installed" in tensorrt_unavailable()
    stubs_only = types.ModuleType("tensorrt")  # what tensorrt-stubs' .pyi folder imports as
    _fake_module(monkeypatch, "tensorrt", stubs_only)
    assert "type stubs only" in tensorrt_unavailable()
    old = types.ModuleType("tensorrt")
    old.Builder, old.__version__ = object, "8.6.1"
    _fake_module(monkeypatch, "tensorrt", old)
    assert "written for TensorRT 10" in tensorrt_unavailable()
    ten = types.ModuleType("tensorrt")
    ten.Builder, ten.__version__ = object, "10.13.0.35"
    _fake_module(monkeypatch, "tensorrt", ten)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert "no CUDA GPU" in tensorrt_unavailable()
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert tensorrt_unavailable() is None


def test_unknown_engine_precision_is_a_recipe_error(recipe_file):
    with pytest.raises(RecipeError, match=r"unknown engine precision 'fp9'.*fp32, fp16, int8, int8-qat, fp8"):
        load_recipe(str(recipe_file), ["compile.precisions=[fp9]"])


@pytest.mark.skipif(tensorrt_unavailable() is None, reason="TensorRT and a GPU are here: the gpu tests build engines")
def test_run_reports_compile_skipped_with_the_reason_and_goes_on(quantized_run, caplog):
    from recipes.cli import main

    caplog.set_level(logging.INFO, logger="mtkd")
    assert (
        main(["run", str(quantized_run / "recipe.yaml"), "--out", str(quantized_run), "--stages", "compile,bench"]) == 0
    )
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("compile: skipped: ")]
    assert skipped == [f"compile: skipped: {tensorrt_unavailable()}"]
    assert not (quantized_run / "compile").exists()
    assert "bench: up to date" in caplog.text  # compile's absence changes nothing downstream


def test_engine_sources_map_each_precision_to_its_graph_and_name_the_missing_preset(quantized_run, tmp_path):
    from recipes.compile_stage import engine_sources

    recipe = load_recipe(str(quantized_run / "recipe.yaml"), [])
    sources = engine_sources(recipe, quantized_run / "quantize")
    assert {k: (v, g.parent.name, g.name) for k, (v, g) in sources.items()} == {
        "student-trt-fp32": ("fp32", "student-fp32", "model.unfused.onnx"),
        "student-trt-fp16": ("fp16", "student-fp32", "model.unfused.onnx"),
        "student-trt-int8": ("int8", "student-qdq-int8-tensorrt", "model.onnx"),
        "student-trt-int8-qat": ("int8-qat", "student-qat-int8", "model.onnx"),
        "student-trt-fp8": ("fp8", "student-qdq-fp8-tensorrt", "model.onnx"),
    }
    only_fp8 = load_recipe(str(quantized_run / "recipe.yaml"), ["compile.precisions=[fp8]"])
    with pytest.raises(ArtifactError, match=r"student fp8: .* is missing; .*add 'qdq-fp8-tensorrt'"):
        engine_sources(only_fp8, tmp_path)


def test_fp8_artifact_is_scored_through_onnx_runtime_and_kept_within_tolerance(quantized_run):
    report = read_json(quantized_run / "quantize" / "report.json")["student-qdq-fp8-tensorrt"]
    assert report["precision"] == "fp8" and report["within_tolerance"]  # accuracy-aware fallback included
    metrics = read_json(quantized_run / "quantize" / "student-qdq-fp8-tensorrt" / "metrics.json")
    assert {t: m["value"] for t, m in metrics.items()} == report["tasks"]  # measured, not assumed


def _sample(art: Path) -> dict[str, np.ndarray]:
    from compress.onnx.export import sample_inputs

    return sample_inputs(int(read_json(art / "config.json")["vocab_size"]), batch=4, seq=16)


def test_bench_finds_engines_and_skips_what_cannot_run_here_with_reasons(quantized_run, tmp_path):
    engine = tmp_path / "run" / "compile" / "student-trt-fp16"
    engine.mkdir(parents=True)
    (engine / "model.plan").write_bytes(b"not a real plan")
    write_json(engine / "engine.json", {"precision": "fp16", "target": HERE})
    fp8 = quantized_run / "quantize" / "student-qdq-fp8-tensorrt"
    found = discover_artifacts(tmp_path / "run")
    assert found == {"student-trt-fp16": engine}
    cfg = BenchConfig(runtimes=["torch", "onnxruntime", "tensorrt", "onnxruntime-trt"], precisions=["fp32"])
    keep, skipped = candidates_for({**found, "fp8": fp8}, cfg)
    assert keep == []
    reasons = {s["candidate"]: s["reason"] for s in skipped}
    assert reasons["student-trt-fp16/tensorrt/fp16"] == "TensorRT engines run on CUDA GPUs only"
    assert "simulates FP8" in reasons["fp8/onnxruntime/fp8"]
    assert "CUDA GPUs only" in reasons["fp8/onnxruntime-trt/fp8"]
    assert TensorRTBackend.unavailable(engine, "int8", "cuda") == "the engine is fp16"


def test_gpu_check_refuses_without_a_gpu_in_one_line(quantized_run, capsys, monkeypatch):
    from recipes.cli import main

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["bench", str(quantized_run), "--gpu-check"]) == 2
    assert "--gpu-check needs a CUDA GPU: no CUDA GPU is visible to torch" in capsys.readouterr().err


def test_packaged_recipes_build_engines_from_graphs_their_quantize_stage_makes():
    from compress.tensorrt.config import ENGINE_PRECISIONS

    for name in ("quickstart", "ecommerce-large"):
        try:
            recipe = load_recipe(name, [])
        except DataUnavailable as e:  # ecommerce-large reads ../shared/data
            pytest.skip(str(e))
        presets = set(recipe.quantize.presets) | ({"qat-int8"} if recipe.quantize.qat else set())
        for variant in recipe.compile.precisions:
            made_by = ENGINE_PRECISIONS[variant].format(name="").lstrip("-")
            assert made_by == "fp32" or made_by in presets, (name, variant)


def test_fp8_engines_are_skipped_on_gpus_without_fp8_tensor_cores():
    from compress.tensorrt.config import variant_unsupported

    assert variant_unsupported("fp8", "8.6") == "FP8 needs compute capability 8.9+ (Ada, Hopper); this GPU has 8.6"
    assert variant_unsupported("fp8", "8.9") is None and variant_unsupported("fp8", "9.0") is None
    assert variant_unsupported("int8", "7.5") is None


def test_one_failing_precision_leaves_a_failed_row_and_the_others_build(tmp_path):
    from compress.tensorrt.isolation import isolated

    out = tmp_path / "student-trt-int8"
    out.mkdir()
    (out / "model.plan").write_bytes(b"half")

    def pybind_failure() -> dict:
        raise RuntimeError("[TRT] Network validation failed")  # what TensorRT's bindings raise, not ArtifactError

    row = isolated("student-trt-int8", "int8", out, pybind_failure)
    assert row == {"variant": "int8", "failed": "RuntimeError: [TRT] Network validation failed"} and not out.exists()
    assert isolated("student-trt-fp16", "fp16", tmp_path / "x", lambda: {"precision": "fp16"}) == {"precision": "fp16"}
    with pytest.raises(KeyboardInterrupt):  # a user's Ctrl-C still stops the stage
        isolated("e", "fp16", tmp_path / "y", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
