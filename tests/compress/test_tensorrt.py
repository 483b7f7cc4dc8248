"""The TensorRT compile stage's plain-Python parts, proven on CPU: profiles, manifests, availability,
sources, skipping with a reason, and the FP8 Q/DQ graph TensorRT would consume."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from compress.tensorrt import ShapeProfile, check_compatible, profile_for, tensorrt_unavailable
from compress.tensorrt.profiles import EVAL_BATCH
from distill.errors import ArtifactError
from distill.io import read_json

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
    assert "written for TensorRT 10 and 11" in tensorrt_unavailable()
    for version in ("10.13.0.35", "11.4.0.106"):
        current = types.ModuleType("tensorrt")
        current.Builder, current.__version__ = object, version
        _fake_module(monkeypatch, "tensorrt", current)
        monkeypatch.setattr("torch.cuda.is_available", lambda: False)
        assert "no CUDA GPU" in tensorrt_unavailable()
        monkeypatch.setattr("torch.cuda.is_available", lambda: True)
        assert tensorrt_unavailable() is None


def _sample(art: Path) -> dict[str, np.ndarray]:
    from compress.onnx.export import sample_inputs

    return sample_inputs(int(read_json(art / "config.json")["vocab_size"]), batch=4, seq=16)


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
