"""The GEMM peak of each runtime at each precision, measured through the runtime itself.

A share of torch's peak says little about a graph OpenVINO runs at bf16 or ONNX Runtime runs at INT8:
each runtime has its own kernels (oneDNN's AMX tiles in OpenVINO, MLAS in ONNX Runtime). So each
peak here is one large square product ``A @ B`` exported as a one-node ONNX graph (``B`` a constant, as
a model's weights are) and run by the same backend class, with the same session options and threads, that
the bench times a model with: FP32 ``MatMul``; INT8 as ONNX Runtime's ``MatMulInteger`` (what its dynamic
INT8 graphs run) and as a Q/DQ ``MatMul`` for OpenVINO (what its INT8 path reads); bf16 is OpenVINO's
inference precision on the FP32 graph. A multiply-add counts 2 ops at every precision.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from compress.runtime.base import RUNTIMES
from distill.io import write_json

from .peak import PRECISION_KEYS, gemm_peaks, sustained_rate

GRAPHS = {  # runtime → precision → graph kind
    "onnxruntime": {"fp32": "fp32", "int8": "integer"},
    "openvino": {"fp32": "fp32", "bf16": "fp32", "int8": "qdq"},
}


def gemm_graph(n: int, kind: str) -> onnx.ModelProto:
    """``Y = A @ B`` for an ``n × n`` input ``A`` and constant ``B``: ``fp32``, ``integer`` (uint8 × int8
    ``MatMulInteger``, int32 out) or ``qdq`` (FP32 in and out, both operands quantized to int8 by Q/DQ)."""
    rng = np.random.default_rng(0)
    if kind == "integer":
        b = numpy_helper.from_array(rng.integers(-128, 127, (n, n), dtype=np.int8), "B")
        a = helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n])
        y = helper.make_tensor_value_info("Y", TensorProto.INT32, [n, n])
        nodes, inits = [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], [b]
    else:
        b = numpy_helper.from_array(rng.standard_normal((n, n), dtype=np.float32), "B")
        a = helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n])
        y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, n])
        nodes, inits = [helper.make_node("MatMul", ["A", "B"], ["Y"])], [b]
        if kind == "qdq":
            scale, zero = numpy_helper.from_array(np.float32(0.05), "s"), numpy_helper.from_array(np.int8(0), "z")
            nodes = [
                helper.make_node("QuantizeLinear", ["A", "s", "z"], ["Aq"]),
                helper.make_node("DequantizeLinear", ["Aq", "s", "z"], ["Ad"]),
                helper.make_node("QuantizeLinear", ["B", "s", "z"], ["Bq"]),
                helper.make_node("DequantizeLinear", ["Bq", "s", "z"], ["Bd"]),
                helper.make_node("MatMul", ["Ad", "Bd"], ["Y"]),
            ]
            inits += [scale, zero]
    graph = helper.make_graph(nodes, f"gemm-{kind}-{n}", [a], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _input(n: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    if kind == "integer":
        return rng.integers(0, 255, (n, n), dtype=np.uint8)
    return rng.standard_normal((n, n), dtype=np.float32)


def runtime_gemm_peak(
    runtime: str, precision: str, sizes: tuple[int, ...] = (1024, 2048), warmup: int = 2, iters: int = 15
) -> float | None:
    """The best sustained ops/s (``sustained_rate``) of ``runtime`` at ``precision`` over square GEMMs of
    ``sizes``; None where it cannot run that precision here (its backend's own reason, e.g. no native bf16)."""
    kind = GRAPHS.get(runtime, {}).get(precision)
    if kind is None:
        return None
    backend = RUNTIMES.get(runtime)
    best = 0.0
    with tempfile.TemporaryDirectory(prefix="mtkd-gemm-") as tmp:
        for n in sizes:
            artifact = Path(tmp) / f"{kind}-{n}"
            artifact.mkdir()
            onnx.save(gemm_graph(n, kind), str(artifact / "model.onnx"))
            write_json(artifact / "onnx.json", {"precision": "fp32" if kind == "fp32" else "int8"})
            if backend.unavailable(artifact, precision, "cpu"):
                return None
            run, feed = backend(artifact, precision, "cpu"), {"A": _input(n, kind)}
            best = max(best, sustained_rate(lambda run=run, feed=feed: run(feed), 2 * n**3, warmup, iters))
    return best


def runtime_peaks(
    pairs: set[tuple[str, str]], sizes: tuple[int, ...] = (1024, 2048), torch_threads: int | None = None
) -> dict[str, dict[str, float]]:
    """``{runtime label: {precision: ops/s}}`` for the bench's (runtime label, precision) pairs: a label such as
    ``onnxruntime-1t`` (the grid swept thread counts) is measured on that many threads, since a one-thread
    result is not held against a two-thread peak; torch's labels get ``gemm_peaks`` at their thread count,
    except at ``torch_threads``, whose torch peaks the caller has measured already (``peak_for`` falls back
    to them)."""
    peaks: dict[str, dict[str, float]] = {}
    torch_at: dict[int, dict[str, Any]] = {}  # torch's three peaks, once per thread count
    for label, precision in sorted(pairs):
        runtime, threads = split_label(label)
        with thread_count(threads):
            if runtime.startswith("torch"):  # eager, cast, compiled, graphed: torch's own GEMM peak
                if torch.get_num_threads() == torch_threads:
                    continue
                if torch.get_num_threads() not in torch_at:
                    torch_at[torch.get_num_threads()] = gemm_peaks(sizes)
                value = torch_at[torch.get_num_threads()].get(PRECISION_KEYS.get(precision, ""))
            else:
                value = runtime_gemm_peak(runtime, precision, sizes)
        if value:
            peaks.setdefault(label, {})[precision] = value
    return peaks


def split_label(label: str) -> tuple[str, int | None]:
    """``onnxruntime-2t`` → (``onnxruntime``, 2); a label without a thread count → (label, None)."""
    found = re.fullmatch(r"(.+)-(\d+)t", label)
    return (found[1], int(found[2])) if found else (label, None)


@contextmanager
def thread_count(threads: int | None) -> Iterator[None]:
    """torch's thread count for the block (the backends size their pools from it), then back."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
