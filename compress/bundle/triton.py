"""A Triton Inference Server model repository for a bundle: ``<name>/config.pbtxt`` + ``<name>/1/<model>``.

Inputs and outputs (names, dtypes, dims) are read from the model graph itself (for a TensorRT plan,
from the I/O its engine.json recorded from the graph it was built from), so the config cannot drift
from the model; the batch axis is Triton's (``max_batch_size``), the others stay ``-1``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import onnx

from distill.errors import ArtifactError
from distill.io import read_json

PLATFORMS = {"model.onnx": "onnxruntime_onnx", "model.plan": "tensorrt_plan"}
ONNX_TO_TRITON = {
    onnx.TensorProto.FLOAT: "TYPE_FP32",
    onnx.TensorProto.FLOAT16: "TYPE_FP16",
    onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.INT32: "TYPE_INT32",
    onnx.TensorProto.BOOL: "TYPE_BOOL",
}
VALID_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def onnx_io(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Inputs and outputs of an ONNX graph: name, Triton dtype and dims (symbolic axes → -1)."""
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}

    def describe(value: onnx.ValueInfoProto) -> dict[str, Any]:
        tensor = value.type.tensor_type
        if tensor.elem_type not in ONNX_TO_TRITON:
            raise ArtifactError(f"{path}: tensor {value.name} has an element type Triton config does not map")
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        return {"name": value.name, "data_type": ONNX_TO_TRITON[tensor.elem_type], "dims": dims}

    return {
        "input": [describe(v) for v in graph.input if v.name not in initializers],
        "output": [describe(v) for v in graph.output],
    }


def _tensor_block(t: dict[str, Any], batched: bool) -> str:
    dims = t["dims"][1:] if batched else t["dims"]  # Triton adds the batch axis itself
    body = f'name: "{t["name"]}"\n    data_type: {t["data_type"]}\n    dims: [ {", ".join(map(str, dims))} ]'
    return f"  {{\n    {body}\n  }}"


def config_pbtxt(
    name: str, platform: str, io: dict[str, list[dict]], max_batch_size: int, instances: int, kind: str
) -> str:
    """Triton's ``config.pbtxt`` (protobuf text format of ``ModelConfig``) with dynamic batching."""
    batched = max_batch_size > 0
    preferred = [b for b in (4, 8, 16, 32) if b <= max_batch_size] or [max_batch_size]
    lines = [
        f'name: "{name}"',
        f'platform: "{platform}"',
        f"max_batch_size: {max_batch_size}",
        "input [",
        ",\n".join(_tensor_block(t, batched) for t in io["input"]),
        "]",
        "output [",
        ",\n".join(_tensor_block(t, batched) for t in io["output"]),
        "]",
        "instance_group [",
        f"  {{\n    count: {instances}\n    kind: {kind}\n  }}",
        "]",
    ]
    if batched:
        lines += [
            "dynamic_batching {",
            f"  preferred_batch_size: [ {', '.join(map(str, preferred))} ]",
            "  max_queue_delay_microseconds: 1000",
            "}",
        ]
    return "\n".join(lines) + "\n"


def export_triton(
    bundle: Path, out: Path, name: str, max_batch_size: int = 32, instances: int = 1, kind: str = "KIND_CPU"
) -> Path:
    """Write ``out/<name>/config.pbtxt`` and ``out/<name>/1/<model file>``; return the model folder."""
    bundle, out = Path(bundle), Path(out)
    if not VALID_NAME.match(name):
        raise ArtifactError(f"Triton model name {name!r}: use letters, digits, '_', '-' or '.'")
    if kind not in ("KIND_CPU", "KIND_GPU"):
        raise ArtifactError(f"instance kind must be KIND_CPU or KIND_GPU, got {kind}")
    model_file = next((f for f in PLATFORMS if (bundle / f).is_file()), None)
    if model_file is None:
        raise ArtifactError(f"{bundle}: no model.onnx or model.plan to serve")
    if model_file == "model.plan":  # I/O as recorded from the engine's source graph at build time
        engine = read_json(bundle / "engine.json") if (bundle / "engine.json").is_file() else {}
        if "io" not in engine:
            raise ArtifactError(f"{bundle}: a TensorRT plan without the compile stage's engine.json I/O record")
        io, kind = engine["io"], "KIND_GPU"  # plans run on the GPU they were built for
        profile_max = int(engine["profile"]["max"][0])
        if max_batch_size > profile_max:  # Triton must not batch past the engine's optimization profile
            max_batch_size = profile_max
    else:
        io = onnx_io(bundle / model_file)
    if max_batch_size > 0 and any(not t["dims"] or t["dims"][0] != -1 for t in io["input"] + io["output"]):
        raise ArtifactError(f"{bundle / model_file}: a tensor has no dynamic batch axis; use --max-batch-size 0")
    folder = out / name
    (folder / "1").mkdir(parents=True, exist_ok=True)
    shutil.copy2(bundle / model_file, folder / "1" / model_file)
    text = config_pbtxt(name, PLATFORMS[model_file], io, max_batch_size, instances, kind)
    (folder / "config.pbtxt").write_text(text, encoding="utf-8")
    return folder
