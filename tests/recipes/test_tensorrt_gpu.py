"""TensorRT engines built and run for real: on a machine with an NVIDIA GPU and TensorRT 10 only."""

from __future__ import annotations

import numpy as np
import pytest

from compress.onnx.export import sample_inputs
from compress.tensorrt import tensorrt_unavailable
from distill.errors import ArtifactError
from distill.io import read_json, write_json

REASON = tensorrt_unavailable()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(REASON is not None, reason=f"needs TensorRT on a GPU: {REASON}")]
# worst |engine − ONNX Runtime FP32| relative to the head's output range, per precision
TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2, "int8": 0.25, "int8-qat": 0.25, "fp8": 0.25}


@pytest.fixture(scope="module")
def engines(quantized_run):
    return quantized_run / "compile"


@pytest.mark.parametrize("variant", list(TOLERANCE))
def test_every_head_of_every_engine_matches_onnx_runtime(engines, quantized_run, variant):
    from compress.runtime import OnnxRuntimeBackend, TensorRTBackend

    art = engines / f"student-trt-{variant}"
    row = read_json(engines / "report.json")[art.name]
    if "skipped" in row:  # FP8 below compute capability 8.9
        pytest.skip(row["skipped"])
    manifest = read_json(art / "engine.json")
    engine = TensorRTBackend(art, manifest["precision"], "cuda")
    reference = OnnxRuntimeBackend(quantized_run / "quantize" / "student-fp32", "fp32")
    for batch, seq in ((1, 8), (3, 24), (64, 32)):  # shapes across the profile (max: eval batch × max_len)
        inputs = sample_inputs(int(read_json(art / "config.json")["vocab_size"]), batch=batch, seq=seq)
        ours, ref = engine(inputs), reference(inputs)
        assert set(ours) == set(ref)
        for head, out in ours.items():
            assert out.shape == ref[head].shape, head
            spread = float(np.abs(ref[head]).max()) + 1e-6
            assert float(np.abs(out - ref[head]).max()) / spread < TOLERANCE[variant], (variant, head)
    assert manifest["target"]["gpu"] and manifest["build"]["build_seconds"] > 0
    assert read_json(quantized_run / "compile" / "report.json")[art.name]["tasks"]


def test_fp16_engine_pins_layernorm_to_fp32(engines):
    build = read_json(engines / "student-trt-fp16" / "engine.json")["build"]
    assert build["layernorm_fp32_layers"] >= 2 and "FP16" in build["flags"]


def test_engine_from_another_gpu_is_refused_before_deserialization(engines, tmp_path):
    import shutil

    from compress.runtime import TensorRTBackend

    copy = tmp_path / "engine"
    shutil.copytree(engines / "student-trt-fp32", copy)
    manifest = read_json(copy / "engine.json")
    write_json(copy / "engine.json", {**manifest, "target": {**manifest["target"], "gpu": "Some Other GPU"}})
    with pytest.raises(ArtifactError, match="built for Some Other GPU"):
        TensorRTBackend(copy, "fp32", "cuda")


def test_the_engine_runs_on_its_own_stream_and_times_apart_from_copies(engines):
    import time

    from compress.runtime import TensorRTBackend

    art = engines / "student-trt-fp16"
    engine = TensorRTBackend(art, "fp16", "cuda")
    assert engine.stream.cuda_stream != 0  # not the legacy default stream
    inputs = sample_inputs(int(read_json(art / "config.json")["vocab_size"]), batch=8, seq=32)
    engine(inputs)  # warm-up
    started = time.perf_counter()
    for _ in range(10):
        engine(inputs)
    end_to_end = (time.perf_counter() - started) * 100  # ms per call
    assert 0 < engine.engine_ms(inputs, iters=10) < end_to_end  # the engine alone excludes copies and NumPy
