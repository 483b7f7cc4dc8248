"""ONNX Runtime: the CPU provider here; CUDA and TensorRT providers where a GPU is present."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
import torch
from transformers import AutoConfig

from distill.io import read_json

from .base import RUNTIMES, Backend, Batch, heads_of

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def artifact_precision(artifact: Path) -> str | None:
    """The precision an exported artifact was built at (from its ``onnx.json``)."""
    manifest = Path(artifact) / "onnx.json"
    return read_json(manifest).get("precision") if manifest.is_file() else None


@RUNTIMES.register("onnxruntime")
class OnnxRuntimeBackend(Backend):
    """``model.onnx`` through an InferenceSession; threads match torch's for fair comparisons."""

    name = "onnxruntime"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "int8")

    def __init__(self, artifact: Path, precision: str = "fp32", device: str = "cpu") -> None:
        super().__init__(artifact, precision, device)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        # idle pool threads spin by default and steal the cores from whatever runs next (other
        # sessions, torch) — interleaved measurements of several candidates would be unfair
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(self.artifact / "model.onnx"), opts, providers=PROVIDERS[device])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]
        self._heads = heads_of(self.artifact)

    @classmethod
    def accepts(cls, artifact: Path) -> bool:
        return (Path(artifact) / "model.onnx").is_file()

    @classmethod
    def unavailable(cls, artifact: Path, precision: str, device: str) -> str | None:
        if not cls.accepts(artifact):
            return "no model.onnx in the artifact"
        built = artifact_precision(artifact)
        if built and built != precision:
            return f"the artifact is {built}"
        if device == "cuda":
            import onnxruntime as ort

            if not torch.cuda.is_available() or "CUDAExecutionProvider" not in ort.get_available_providers():
                return "no CUDA device or CUDA execution provider"
        return super().unavailable(artifact, precision, device)

    @property
    def heads(self):
        return self._heads

    @property
    def model_config(self):
        return AutoConfig.from_pretrained(self.artifact)

    def num_parameters(self) -> int:
        graph = onnx.load(str(self.artifact / "model.onnx"), load_external_data=False).graph
        return int(sum(np.prod(t.dims) for t in graph.initializer))

    def size_mb(self) -> float:
        return (self.artifact / "model.onnx").stat().st_size / 1e6

    def __call__(self, batch: Batch) -> dict[str, np.ndarray]:
        feed = {k: v for k, v in batch.items() if k in self.inputs}
        return dict(
            zip(self.outputs, (o.astype(np.float32) for o in self.session.run(self.outputs, feed)), strict=True)
        )
