"""``mtkd doctor``: what this machine can really run, checked rather than assumed.

ONNX Runtime's ``get_available_providers()`` lists what a build was compiled with, not what loads: a
provider counts here only when a tiny graph ran on it. The CPU's instruction sets decide which
precisions pay off (AVX-512 VNNI and AMX for INT8, AVX-512 BF16 and AMX for bf16).
"""

from __future__ import annotations

import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from compress.runtime.cpu import ISA_FLAGS, cpu_flags

from .env import cpu_model

ORT_PROVIDERS = (
    "CPUExecutionProvider",
    "CUDAExecutionProvider",
    "TensorrtExecutionProvider",
    "OpenVINOExecutionProvider",
)


def _torch_facts() -> dict[str, Any]:
    import torch

    facts: dict[str, Any] = {"version": torch.__version__, "cuda_build": torch.version.cuda, "cuda": False}
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(0)
        facts.update(
            cuda=True,
            gpus=torch.cuda.device_count(),
            gpu=torch.cuda.get_device_name(0),
            compute_capability=f"{major}.{minor}",
            bf16=torch.cuda.is_bf16_supported(),
        )
    return facts


def tiny_graph(folder: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], np.eye(4, dtype=np.float32).ravel().tolist())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "doctor", [x], [y], [w])
    path = folder / "doctor.onnx"
    # an IR version every supported onnxruntime reads (onnx's newest can be ahead of the runtime's)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)
    return path


def provider_runs(provider: str, graph: Path, session_factory: Any = None) -> str:
    """``ok`` when a session on ``provider`` runs the graph with that provider first, else why not."""
    import onnxruntime as ort

    if provider not in ort.get_available_providers():
        return "not in this onnxruntime build"
    factory = session_factory or ort.InferenceSession
    try:
        fallback = [] if provider == "CPUExecutionProvider" else ["CPUExecutionProvider"]
        session = factory(str(graph), providers=[provider, *fallback])
        running = session.get_providers()
        if not running or running[0] != provider:
            return f"compiled in but did not load (fell back to {running[0] if running else 'nothing'})"
        x = np.arange(8, dtype=np.float32).reshape(2, 4)
        if not np.allclose(session.run(None, {"x": x})[0], x):
            return "ran, but returned wrong numbers"
    except Exception as e:  # a missing CUDA library surfaces as any of several exception types
        return f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return "ok"


LIBRARY_ROWS = ("transformers", "huggingface_hub", "optimum", "openvino")
EXTRAS = {  # what a missing optional library leaves out, and how to get it
    "optimum": "not installed: the optimum-* peer presets are listed as not measured (pip install 'mtkd[optimum]')",
    "openvino": "not installed: the openvino runtime is listed as not measured (pip install 'mtkd[openvino]')",
}


def diagnose() -> dict[str, Any]:
    """Every fact ``mtkd doctor`` prints, as JSON-ready data."""
    import onnxruntime as ort

    from compress.tensorrt.availability import tensorrt_unavailable
    from distill.versions import installed_versions

    with tempfile.TemporaryDirectory() as tmp:
        graph = tiny_graph(Path(tmp))
        providers = {p: provider_runs(p, graph) for p in ORT_PROVIDERS}
    versions = installed_versions(("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "openvino", "onnxruntime-gpu"))
    trt_reason = tensorrt_unavailable()
    found = installed_versions(LIBRARY_ROWS)
    stack = {name: found.get(name) for name in LIBRARY_ROWS}  # None: not installed
    return {
        "cpu": {"model": cpu_model(), "cores": _cores(), "isa": cpu_flags(), "machine": platform.machine()},
        "torch": _torch_facts(),
        "onnxruntime": {"version": ort.__version__, "providers": providers},
        "tensorrt": {"usable": trt_reason is None, "reason": trt_reason, "versions": versions},
        "libraries": stack,
        "python": platform.python_version(),
    }


def _library_rows(stack: dict[str, str | None]) -> list[tuple[str, str]]:
    rows = []
    for name, version in stack.items():
        rows.append((name, version or EXTRAS.get(name, "not installed")))
    return rows


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def doctor_table(facts: dict[str, Any]) -> str:
    """The facts as a two-column Markdown table a person reads top to bottom."""
    cpu, torch_f, ort_f, trt = facts["cpu"], facts["torch"], facts["onnxruntime"], facts["tensorrt"]
    gpu = (
        f"{torch_f['gpu']} (compute capability {torch_f['compute_capability']}, bf16 {torch_f['bf16']})"
        if torch_f["cuda"]
        else f"none visible to torch (torch {torch_f['version']}, CUDA build {torch_f['cuda_build'] or 'none'})"
    )
    rows = [
        ("CPU", f"{cpu['model']}, {cpu['cores']} cores"),
        ("CPU ISA", ", ".join(cpu["isa"]) or "none of " + ", ".join(ISA_FLAGS)),
        ("GPU", gpu),
        *((f"ONNX Runtime {ort_f['version']}: {p}", status) for p, status in ort_f["providers"].items()),
        ("TensorRT", "usable" if trt["usable"] else trt["reason"]),
        *_library_rows(facts.get("libraries", {})),
        ("Python", facts["python"]),
    ]
    return "\n".join(["| what | this machine |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]) + "\n"
