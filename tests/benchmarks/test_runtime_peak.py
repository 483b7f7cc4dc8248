"""Each runtime's GEMM peak, measured through the runtime's own backend: the graphs compute what they say, and
a precision the runtime cannot run here gives no peak rather than a wrong one."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnxruntime as ort
import pytest

from benchmarks.runtime_peak import gemm_graph, runtime_gemm_peak


def _run(kind: str, a: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(gemm_graph(len(a), kind).SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"A": a})[0]


def _constant_b(kind: str) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(next(t for t in gemm_graph(8, kind).graph.initializer if t.name == "B"))


def test_the_peak_graphs_compute_the_product_they_time():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((8, 8), dtype=np.float32)
    assert np.allclose(_run("fp32", a), a @ _constant_b("fp32"), atol=1e-4)
    a8 = rng.integers(0, 255, (8, 8), dtype=np.uint8)
    assert np.array_equal(_run("integer", a8), a8.astype(np.int32) @ _constant_b("integer").astype(np.int32))

    def qdq(x: np.ndarray) -> np.ndarray:  # int8 at scale 0.05, zero point 0, as the graph quantizes
        return np.clip(np.round(x / 0.05), -128, 127) * 0.05

    assert np.allclose(_run("qdq", a), qdq(a) @ qdq(_constant_b("qdq")), atol=1e-3)


def test_onnx_runtime_peaks_are_measured_and_a_precision_without_a_graph_has_none():
    assert runtime_gemm_peak("onnxruntime", "fp32", sizes=(64,), iters=2) > 0
    assert runtime_gemm_peak("onnxruntime", "int8", sizes=(64,), iters=2) > 0
    assert runtime_gemm_peak("onnxruntime", "bf16", sizes=(64,)) is None  # ORT's CPU provider has no bf16 GEMM
    assert runtime_gemm_peak("torch", "fp32", sizes=(64,)) is None  # torch's peaks are gemm_peaks'


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="needs the openvino extra")
def test_openvino_runs_its_int8_peak_in_int8_and_gives_no_bf16_peak_where_bf16_is_emulated(tmp_path, monkeypatch):
    import onnx

    from compress.runtime.openvino_backend import OpenVinoBackend
    from distill.io import write_json

    onnx.save(gemm_graph(64, "qdq"), str(tmp_path / "model.onnx"))
    write_json(tmp_path / "onnx.json", {"precision": "int8"})
    assert "i8" in OpenVinoBackend(tmp_path, "int8").provider  # the GEMM really runs int8, not f32
    assert runtime_gemm_peak("openvino", "int8", sizes=(64,), iters=2) > 0
    monkeypatch.setattr("compress.runtime.openvino_backend.no_native_bf16", lambda: "no AVX-512 BF16 or AMX")
    assert runtime_gemm_peak("openvino", "bf16", sizes=(64,)) is None


def test_a_thread_swept_label_is_measured_on_its_own_thread_count(monkeypatch):
    import torch

    from benchmarks import runtime_peak

    seen: list[tuple[str, str, int]] = []

    def fake(runtime, precision, sizes):
        seen.append((runtime, precision, torch.get_num_threads()))
        return float(torch.get_num_threads())

    monkeypatch.setattr(runtime_peak, "runtime_gemm_peak", fake)
    monkeypatch.setattr(runtime_peak, "gemm_peaks", lambda sizes: {"fp32_flops": 10.0 * torch.get_num_threads()})
    before = torch.get_num_threads()
    pairs = {("onnxruntime-1t", "int8"), ("openvino-2t", "bf16"), ("torch-1t", "fp32"), ("torch-2t", "fp32")}
    peaks = runtime_peak.runtime_peaks(pairs, torch_threads=2)
    assert sorted(seen) == [("onnxruntime", "int8", 1), ("openvino", "bf16", 2)]
    # torch at 2 threads: measured by the caller already; at 1 thread: gemm_peaks on 1 thread
    assert peaks == {"onnxruntime-1t": {"int8": 1.0}, "openvino-2t": {"bf16": 2.0}, "torch-1t": {"fp32": 10.0}}
    assert torch.get_num_threads() == before  # the thread count goes back


def test_an_fp16_or_fp8_row_is_never_a_share_of_the_fp32_limit():
    """Issue 32: an FP16 engine's FLOP/s over the FP32 GEMM peak read as a share of the FP16 limit."""
    from benchmarks.peak import peak_for

    cpu = {"fp32_flops": 1e11, "int8_ops": 4e11, "bf16_flops": 2e11, "fp16_flops": None, "threads": 2}
    assert peak_for(cpu, "torch-2t", "fp32") == 1e11 and peak_for(cpu, "torch-2t", "bf16") == 2e11
    assert peak_for(cpu, "tensorrt", "fp16") is None and peak_for(cpu, "tensorrt", "fp8") is None
    gpu = {**cpu, "fp16_flops": 9e14}
    assert peak_for(gpu, "tensorrt", "fp16") == 9e14  # measured on CUDA: torch.mm in half precision
