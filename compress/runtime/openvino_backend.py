"""OpenVINO on the CPU: the exported ONNX graphs (FP32, Q/DQ INT8) at f32, bf16 or int8.

OpenVINO reads ``model.onnx`` directly, ONNX Runtime's fused operators included, and runs Q/DQ
graphs with its own INT8 kernels; it cannot read ONNX Runtime's dynamic-INT8 operators
(``MatMulInteger``, ``DynamicQuantizeLinear``, ``QAttention``). Its CPU plugin picks bf16 by itself
on CPUs that have it, so every precision is set explicitly: a figure is measured at the precision
it is labelled with. Threads follow torch's count, as ONNX Runtime's do, and the latency hint
keeps one stream (one request at a time, as the bench times it).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
import torch

from .base import RUNTIMES, Batch
from .cpu import no_native_bf16
from .onnxruntime_backend import INTEGER_OPS, OnnxArtifact, artifact_precision

HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8: the Q/DQ nodes run int8, the rest f32


def openvino_unfit(graph: Path, precision: str, built: str | None) -> str | None:
    """Why OpenVINO cannot run this graph at this precision, or None."""
    if (built == "int8" and precision != "int8") or built in ("fp16", "fp8"):
        return f"the artifact is {built}"
    if built in (None, "fp32") and precision == "int8":
        return "int8 needs a quantized artifact (a Q/DQ preset: static-int8, qdq-int8-tensorrt, or QAT)"
    ops = {n.op_type for n in onnx.load(str(graph), load_external_data=False).graph.node}
    integer = sorted(ops & INTEGER_OPS)
    if integer:
        return (
            f"ONNX Runtime's dynamic-INT8 operators ({', '.join(integer)}) do not convert to OpenVINO; "
            "its INT8 path is a Q/DQ graph (static-int8, qdq-int8-tensorrt, QAT)"
        )
    if precision == "bf16":
        return no_native_bf16()  # OpenVINO would quietly run f32 and the figure would carry the wrong name
    return None


def layer_precisions(compiled) -> str:
    """How many of the compiled model's GEMMs run at each precision, e.g. ``i8 7, f32 4``: what OpenVINO
    really executes (a Q/DQ graph whose GEMMs fell back to f32 would show it here)."""
    counts: dict[str, int] = {}
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if "layerType" in info and info["layerType"].astype(str) in ("FullyConnected", "MatMul"):
            precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else "?"
            counts[precision] = counts.get(precision, 0) + 1
    return ", ".join(f"{p} {n}" for p, n in sorted(counts.items())) + " GEMMs"


@RUNTIMES.register("openvino")
class OpenVinoBackend(OnnxArtifact):
    """``model.onnx`` compiled by OpenVINO's CPU plugin at an explicit inference precision."""

    name = "openvino"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "bf16", "int8")

    def __init__(
        self, artifact: Path, precision: str = "fp32", device: str = "cpu", max_batch: int | None = None
    ) -> None:
        super().__init__(artifact, precision, device, max_batch)
        import openvino as ov

        config = {
            "INFERENCE_PRECISION_HINT": HINTS[precision],
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
        }
        self.compiled = ov.Core().compile_model(str(self.artifact / "model.onnx"), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()  # one infer request: concurrent callers (a served Predictor) take turns
        self.inputs = {i.get_any_name() for i in self.compiled.inputs}
        self.outputs = [o.get_any_name() for o in self.compiled.outputs]
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()
        self.provider = f"OpenVINO CPU, {hint} ({layer_precisions(self.compiled)})"

    @classmethod
    def unavailable(cls, artifact: Path, precision: str, device: str) -> str | None:
        if importlib.util.find_spec("openvino") is None:
            return "the openvino package is not installed (pip install 'mtkd[openvino]')"
        if device != "cpu":
            return "mtkd runs OpenVINO on the CPU only"
        if not cls.accepts(artifact):
            return "no model.onnx in the artifact"
        reason = super().unavailable(artifact, precision, device)
        return reason or openvino_unfit(Path(artifact) / "model.onnx", precision, artifact_precision(artifact))

    def __call__(self, batch: Batch) -> dict[str, np.ndarray]:
        feed = {k: v for k, v in batch.items() if k in self.inputs}
        with self.lock:
            results = self.request.infer(feed)
            # copies: the request's output tensors are overwritten by its next call
            return {name: np.array(results[name], dtype=np.float32) for name in self.outputs}
