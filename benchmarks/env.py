"""The facts a latency figure depends on: processor, cores, threads, GPU and library versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from distill.versions import installed_versions

LIBRARIES = ("torch", "transformers", "onnxruntime", "onnxruntime-gpu", "onnx", "optimum", "tensorrt")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Where a benchmark ran; stored with every result row."""
    versions = installed_versions(LIBRARIES)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "python": platform.python_version(),
        "libraries": versions,
    }
