"""Whether TensorRT engines can be built and run here, and if not, the one line that says why."""

from __future__ import annotations

import importlib

SUPPORTED_MAJORS = (10, 11)
INSTALL_HINT = "pip install 'mtkd[tensorrt]' on a machine with an NVIDIA GPU; docs/gpu.md"


def tensorrt_unavailable() -> str | None:
    """None when TensorRT 10 or 11 and a CUDA GPU are present; otherwise why not."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError:
        return f"TensorRT is not installed ({INSTALL_HINT})"
    except Exception as e:  # NVIDIA's wheel raises OSError etc. when its CUDA libraries are missing
        return f"TensorRT failed to load: {type(e).__name__}: {e}"
    # tensorrt-stubs (type checking only) installs a `tensorrt` folder of .pyi files: importable, empty
    version = getattr(trt, "__version__", None)
    if not hasattr(trt, "Builder") or version is None:
        return f"the installed `tensorrt` is not NVIDIA's runtime (type stubs only?); {INSTALL_HINT}"
    if int(version.split(".")[0]) not in SUPPORTED_MAJORS:
        return f"TensorRT {version} is installed; mtkd is written for TensorRT 10 and 11"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to torch (TensorRT engines run on NVIDIA GPUs only)"
    return None
