"""PyTorch runtimes: eager (fp32; fp16/bf16 autocast on CUDA, bf16 autocast on CPUs with bf16 instructions),
eager with the encoder's weights cast to fp16/bf16 (``torch-cast``; the heads stay FP32) and ``torch.compile``
(CPU or CUDA). CUDA graphs: ``compress/runtime/cuda_graphs.py``."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from distill.model import MultiTaskModel
from distill.teachers.serving import BROUGHT, BroughtTeacherModel

from .base import RUNTIMES, Backend, Batch
from .cpu import no_native_bf16

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


@RUNTIMES.register("torch")
class TorchBackend(Backend):
    """The model directory through PyTorch eager mode, every head per call."""

    name = "torch"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "bf16", "int8")

    def __init__(
        self, artifact: Path, precision: str = "fp32", device: str = "cpu", max_batch: int | None = None
    ) -> None:
        super().__init__(artifact, precision, device, max_batch)
        if (Path(artifact) / BROUGHT).is_file():  # a brought teacher checkpoint, timed beside the student
            self.model = BroughtTeacherModel.load(artifact, map_location=device).eval()
        else:
            self.model = MultiTaskModel.from_pretrained(artifact, map_location=device).eval()
        if precision == "int8":  # the peer users try first: torch.ao dynamic quantization of Linear layers
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao.quantization announces its deprecation
                self.model = torch.ao.quantization.quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
        self.module = self.model

    @classmethod
    def accepts(cls, artifact: Path) -> bool:
        return (Path(artifact) / "model.safetensors").is_file() or (Path(artifact) / BROUGHT).is_file()

    @classmethod
    def unavailable(cls, artifact: Path, precision: str, device: str) -> str | None:
        if not cls.accepts(artifact):
            return "not an mtkd model directory"
        if precision not in cls.precisions:
            return super().unavailable(artifact, precision, device)
        # what a precision can never do on a device first; what this machine lacks after
        if precision == "fp16" and device != "cuda":
            return "fp16 autocast is measured on CUDA only"
        if precision == "bf16" and device == "cpu" and no_native_bf16():
            return no_native_bf16()
        if precision == "int8" and device != "cpu":
            return "torch.ao dynamic INT8 runs on CPU only"
        if device == "cuda" and not torch.cuda.is_available():
            return "CUDA is not available"
        return super().unavailable(artifact, precision, device)

    @property
    def heads(self):
        return list(self.model.head_specs.values())

    @property
    def model_config(self):
        return self.model.config

    def num_parameters(self) -> int:
        return self.model.num_parameters()

    def size_mb(self) -> float:
        """The weights' size; a brought teacher's live in its checkpoint folder, not in the pointer."""
        source = getattr(self.model, "source", None)
        if source is None:
            return super().size_mb()
        return sum(p.stat().st_size for p in Path(source).glob("*") if p.suffix in (".safetensors", ".bin")) / 1e6

    def _autocast(self):
        if self.precision in DTYPES:
            return torch.autocast(self.device, dtype=DTYPES[self.precision])
        return contextlib.nullcontext()

    def __call__(self, batch: Batch) -> dict[str, np.ndarray]:
        inputs = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items()}
        with torch.inference_mode(), self._autocast():
            out = self.module(**inputs).logits
        if self.device == "cuda":
            torch.cuda.synchronize()
        return {t: v.float().cpu().numpy() for t, v in out.items()}


@RUNTIMES.register("torch-compile")
class TorchCompileBackend(TorchBackend):
    """``torch.compile`` with dynamic shapes, so batch and sequence changes do not recompile."""

    name = "torch-compile"

    def __init__(
        self, artifact: Path, precision: str = "fp32", device: str = "cpu", max_batch: int | None = None
    ) -> None:
        super().__init__(artifact, precision, device, max_batch)
        self.module = torch.compile(self.model, dynamic=True)


@RUNTIMES.register("torch-cast")
class TorchCastBackend(TorchBackend):
    """The encoder's weights cast to fp16 or bf16 (half the memory traffic of autocast, which keeps FP32
    weights and casts them on every call); the heads stay FP32 and take the encoder's output cast back."""

    name = "torch-cast"
    precisions: ClassVar[tuple[str, ...]] = ("fp16", "bf16")

    def __init__(
        self, artifact: Path, precision: str = "fp16", device: str = "cpu", max_batch: int | None = None
    ) -> None:
        super().__init__(artifact, precision, device, max_batch)
        self.model.encoder.to(DTYPES[precision])  # type: ignore[union-attr]
        for head in self.model.heads.values():
            head.register_forward_pre_hook(_to_fp32)

    @classmethod
    def unavailable(cls, artifact: Path, precision: str, device: str) -> str | None:
        if (Path(artifact) / BROUGHT).is_file():
            return "a brought teacher is not an mtkd encoder with heads: time it through torch (autocast)"
        return super().unavailable(artifact, precision, device)

    def _autocast(self):
        return contextlib.nullcontext()  # the weights carry the precision


def _to_fp32(_module: torch.nn.Module, args: tuple) -> tuple:
    return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)
