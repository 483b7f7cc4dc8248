"""An engine's manifest: what it was built from, with what, for which GPU; refused elsewhere.

A TensorRT plan is specific to the TensorRT version and the GPU model (compute capability) it was
built on. Loading it elsewhere fails with an opaque deserialization error or, worse, runs tactics
tuned for another GPU; the manifest turns that into a clear refusal before deserialization.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from distill.errors import ArtifactError
from distill.io import read_json

ENGINE_FILE = "model.plan"
ENGINE_MANIFEST = "engine.json"


def read_manifest(artifact: Path) -> dict[str, Any]:
    path = Path(artifact) / ENGINE_MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{artifact}: no {ENGINE_MANIFEST}; not a TensorRT engine built by mtkd")
    return read_json(path)


def current_target() -> dict[str, Any]:
    """This machine's TensorRT version and GPU (name, compute capability)."""
    import tensorrt as trt
    import torch

    major, minor = torch.cuda.get_device_capability()
    return {
        "tensorrt": trt.__version__,
        "gpu": torch.cuda.get_device_name(),
        "compute_capability": f"{major}.{minor}",
    }


def check_compatible(manifest: dict[str, Any], here: dict[str, Any], artifact: Path | str = "engine") -> None:
    """Raise ``ArtifactError`` unless the engine was built by this TensorRT version for this GPU model."""
    built = manifest.get("target", {})
    problems = []
    if built.get("tensorrt") != here["tensorrt"]:
        problems.append(f"built with TensorRT {built.get('tensorrt')}, this machine has {here['tensorrt']}")
    if built.get("compute_capability") != here["compute_capability"] or built.get("gpu") != here["gpu"]:
        problems.append(
            f"built for {built.get('gpu')} (compute capability {built.get('compute_capability')}), "
            f"this GPU is {here['gpu']} ({here['compute_capability']})"
        )
    if problems:
        raise ArtifactError(
            f"{artifact}: TensorRT engine refused: {'; '.join(problems)}. "
            "Rebuild it on this machine: mtkd run RECIPE --stages compile"
        )
