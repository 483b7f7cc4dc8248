"""Runtimes: one small Backend interface that loads an artifact and returns per-task outputs."""

from .base import RUNTIMES, Backend, load_backend
from .onnxruntime_backend import OnnxRuntimeBackend
from .torch_backend import TorchBackend, TorchCompileBackend

__all__ = ["RUNTIMES", "Backend", "OnnxRuntimeBackend", "TorchBackend", "TorchCompileBackend", "load_backend"]
