"""The compile stage in a run: skipped with its reason without a GPU, engine sources, bench discovery."""

from __future__ import annotations

import logging

import pytest

from benchmarks.config import BenchConfig
from benchmarks.harness import candidates_for, discover_artifacts
from compress.onnx.config import preset_configs
from compress.runtime import TensorRTBackend
from compress.tensorrt import tensorrt_unavailable
from distill.errors import ArtifactError, DataUnavailable, RecipeError
from distill.io import read_json, write_json
from recipes.loader import load_recipe

HERE = {"tensorrt": "10.13.0.35", "gpu": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}


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
    from compress.tensorrt.compile import engine_sources

    precisions = ["fp32", "fp16", "int8", "int8-qat", "fp8"]
    sources = engine_sources(["student"], precisions, quantized_run / "quantize")
    assert {k: (v, g.parent.name, g.name) for k, (v, g) in sources.items()} == {
        "student-trt-fp32": ("fp32", "student-fp32", "model.unfused.onnx"),
        "student-trt-fp16": ("fp16", "student-fp32", "model.unfused.onnx"),
        "student-trt-int8": ("int8", "student-qdq-int8-tensorrt", "model.onnx"),
        "student-trt-int8-qat": ("int8-qat", "student-qat-int8", "model.onnx"),
        "student-trt-fp8": ("fp8", "student-qdq-fp8-tensorrt", "model.onnx"),
    }
    with pytest.raises(ArtifactError, match=r"student fp8: .* is missing; .*add 'qdq-fp8-tensorrt'"):
        engine_sources(["student"], ["fp8"], tmp_path)


def test_fp8_artifact_is_scored_through_onnx_runtime_and_kept_within_tolerance(quantized_run):
    report = read_json(quantized_run / "quantize" / "report.json")["student-qdq-fp8-tensorrt"]
    assert report["precision"] == "fp8" and report["within_tolerance"]  # accuracy-aware fallback included
    metrics = read_json(quantized_run / "quantize" / "student-qdq-fp8-tensorrt" / "metrics.json")
    assert {t: m["value"] for t, m in metrics.items()} == report["tasks"]  # measured, not assumed


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
        presets = set(preset_configs(recipe.quantize.presets)) | ({"qat-int8"} if recipe.quantize.qat else set())
        for variant in recipe.compile.precisions:
            made_by = ENGINE_PRECISIONS[variant].format(name="").lstrip("-")
            assert made_by == "fp32" or made_by in presets, (name, variant)
