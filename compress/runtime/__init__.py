"""Runtimes: one small Backend interface that loads an artifact and returns per-task outputs."""

from .base import RUNTIMES, Backend, load_backend
from .cuda_graphs import TorchCudaGraphBackend
from .onnxruntime_backend import OnnxRuntimeBackend, OnnxRuntimeTensorRTBackend
from .openvino_backend import OpenVinoBackend
from .tensorrt_backend import TensorRTBackend
from .torch_backend import TorchBackend, TorchCastBackend, TorchCompileBackend

__all__ = [
    "RUNTIMES",
    "Backend",
    "OnnxRuntimeBackend",
    "OnnxRuntimeTensorRTBackend",
    "OpenVinoBackend",
    "TensorRTBackend",
    "TorchBackend",
    "TorchCastBackend",
    "TorchCompileBackend",
    "TorchCudaGraphBackend",
    "load_backend",
]
