"""TensorRT engines as a runtime: deserialized once, shapes set per call, tensors bound by address.

Inputs are copied to torch CUDA tensors and the engine runs on a CUDA stream of its own
(``execute_async_v3``), never the legacy default stream. A call is timed end to end (copies
included); ``engine_ms`` times the engine alone between CUDA events on that stream.
Engines are refused before deserialization when their manifest names another GPU or TensorRT.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from compress.tensorrt.availability import tensorrt_unavailable
from compress.tensorrt.manifest import ENGINE_FILE, ENGINE_MANIFEST, check_compatible, current_target, read_manifest
from distill.errors import ArtifactError, MtkdError
from distill.io import read_json
from distill.model import HeadSpec

from .base import RUNTIMES, Backend, Batch, heads_of

if TYPE_CHECKING:  # the library loads only where an engine runs
    import tensorrt


def engine_precision(artifact: Path) -> str | None:
    """The precision an engine was built at (from its manifest)."""
    path = Path(artifact) / ENGINE_MANIFEST
    return str(read_json(path)["precision"]) if path.is_file() else None


@RUNTIMES.register("tensorrt")
class TensorRTBackend(Backend):
    """A ``model.plan`` built by the compile stage, on the GPU it was built for."""

    name = "tensorrt"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "int8", "fp8")

    def __init__(
        self, artifact: Path, precision: str = "fp32", device: str = "cuda", max_batch: int | None = None
    ) -> None:
        super().__init__(artifact, precision, device, max_batch)
        import tensorrt as trt

        check_compatible(read_manifest(self.artifact), current_target(), self.artifact)
        from compress.tensorrt.builder import trt_logger

        self.runtime = trt.Runtime(trt_logger())
        self.engine = self.runtime.deserialize_cuda_engine((self.artifact / ENGINE_FILE).read_bytes())
        if self.engine is None:
            raise ArtifactError(f"{self.artifact}: TensorRT could not deserialize {ENGINE_FILE}")
        self.context = self.engine.create_execution_context()
        # a stream of its own: the legacy default stream serialises with every other stream on the device
        self.stream = torch.cuda.Stream()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._dtypes = {n: self._torch_dtype(self.engine.get_tensor_dtype(n)) for n in names}
        self._heads = heads_of(self.artifact)

    def _torch_dtype(self, dtype: tensorrt.DataType) -> torch.dtype:
        import tensorrt as trt

        table = {
            trt.float32: torch.float32,
            trt.float16: torch.float16,
            trt.bfloat16: torch.bfloat16,
            trt.int32: torch.int32,
            trt.int64: torch.int64,
            trt.int8: torch.int8,
            trt.bool: torch.bool,
        }
        if dtype not in table:
            raise ArtifactError(f"{self.artifact}: engine I/O type {dtype} has no torch equivalent")
        return table[dtype]

    @classmethod
    def accepts(cls, artifact: Path) -> bool:
        return (Path(artifact) / ENGINE_FILE).is_file()

    @classmethod
    def unavailable(cls, artifact: Path, precision: str, device: str) -> str | None:
        if not cls.accepts(artifact):
            return f"no {ENGINE_FILE} in the artifact"
        if device != "cuda":
            return "TensorRT engines run on CUDA GPUs only"
        built = engine_precision(artifact)
        if built and built != precision:
            return f"the engine is {built}"
        return tensorrt_unavailable() or super().unavailable(artifact, precision, device)

    @property
    def heads(self) -> list[HeadSpec]:
        return self._heads

    def size_mb(self) -> float:
        return (self.artifact / ENGINE_FILE).stat().st_size / 1e6

    def _bind(self, batch: Batch) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        """Copy the inputs to the GPU on this engine's stream and bind every tensor's address; the inputs
        must stay alive until the engine has run, so they are returned with the outputs."""
        keep = []
        for name in self.inputs:
            if name not in batch:
                raise MtkdError(f"{self.artifact}: the engine needs input {name!r}, the batch has {sorted(batch)}")
            tensor = torch.from_numpy(batch[name]).to("cuda", dtype=self._dtypes[name]).contiguous()
            if not self.context.set_input_shape(name, tuple(tensor.shape)):
                profile = read_manifest(self.artifact).get("profile")
                raise MtkdError(
                    f"{self.artifact}: input {name} of shape {tuple(tensor.shape)} is outside the engine's "
                    f"profile {profile}; rebuild with a larger bench grid or compile.max_batch"
                )
            self.context.set_tensor_address(name, tensor.data_ptr())
            keep.append(tensor)
        outputs = {}
        for name in self.outputs:
            dims = self.context.get_tensor_shape(name)  # known once every input shape is set
            out = torch.empty([dims[i] for i in range(len(dims))], dtype=self._dtypes[name], device="cuda")
            self.context.set_tensor_address(name, out.data_ptr())
            outputs[name] = out
        return keep, outputs

    def _execute(self) -> None:
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise MtkdError(f"{self.artifact}: TensorRT execution failed (log above)")

    def __call__(self, batch: Batch) -> dict[str, np.ndarray]:
        """End to end: host-to-device copies, the engine, device-to-host copies (what a caller waits for)."""
        with torch.cuda.stream(self.stream):
            _, outputs = self._bind(batch)
            self._execute()
            return {name: out.float().cpu().numpy() for name, out in outputs.items()}  # .cpu() waits for it

    def engine_ms(self, batch: Batch, iters: int = 20) -> float:
        """The engine alone (median of ``iters``), between CUDA events on its own stream: inputs bound once,
        no copies, no NumPy conversion."""
        with torch.cuda.stream(self.stream):
            keep, outputs = self._bind(batch)
            self._execute()  # warm-up: the first launch after binding sets up the context
            times = []
            for _ in range(iters):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record(self.stream)
                self._execute()
                end.record(self.stream)
                end.synchronize()
                times.append(start.elapsed_time(end))
        del keep, outputs
        return float(np.median(times))
