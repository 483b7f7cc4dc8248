"""The deployable bundle: one directory holding everything needed to serve a compressed model.

``bundle.json`` names the model file, the runtime it suits, each task's head, labels and input kind,
the preprocessing (max length, truncation, pair handling), the library versions it was built with
and the SHA-256 of every other file, so a truncated or tampered file is refused at load time.
``README.md`` is the model card: per-task metrics and the measured latency table.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from distill.errors import ArtifactError
from distill.io import directory_checksums, read_json, replace_directory
from distill.model import META
from distill.versions import installed_versions

from .manifest import BundleManifest
from .model_card import model_card

# first present decides the runtime; a model directory (PyTorch weights) is what a GPU without TensorRT serves
MODEL_FILES = {"model.onnx": "onnxruntime", "model.plan": "tensorrt", "model.safetensors": "torch"}
SIDECARS = (
    "config.json",
    META,
    "onnx.json",
    "engine.json",  # a TensorRT plan's manifest: the GPU and TensorRT version it runs on, its I/O and profile
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
INPUT_KINDS = ("text", "pair", "tokens")
WORD_SPLITS = ("whitespace", "chars")  # how raw text becomes words for a tag head (chars: CJK corpora)
LIBRARIES = ("mtkd", "torch", "transformers", "tokenizers", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt")


def model_file(artifact: Path) -> str:
    """The model file of an exported artifact (ONNX graph or TensorRT plan)."""
    for name in MODEL_FILES:
        if (artifact / name).is_file():
            return name
    raise ArtifactError(f"{artifact}: no {' or '.join(MODEL_FILES)}; export it with the quantize stage first")


def task_entries(artifact: Path, inputs: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """Each head of the artifact with its labels and how its input is given (text, pair or tokens)."""
    entries = []
    for task in read_json(artifact / META)["tasks"]:
        spec = inputs.get(task["name"])
        if spec is None:
            raise ArtifactError(f"{artifact}: head {task['name']!r} has no input description")
        if spec["input"] not in INPUT_KINDS:
            raise ArtifactError(f"task {task['name']}: input must be one of {INPUT_KINDS}, got {spec['input']!r}")
        words = spec.get("words", "whitespace")
        if words not in WORD_SPLITS:
            raise ArtifactError(f"task {task['name']}: words must be one of {WORD_SPLITS}, got {words!r}")
        entry = {**task, "input": spec["input"]}
        if spec["input"] == "tokens":
            entry["words"] = words
        entries.append(entry)
    return entries


def _manifest(
    artifact: Path, name: str, tasks: list[dict[str, Any]], max_len: int, serve: Serving | None
) -> BundleManifest:
    """``bundle.json`` less the metrics, the source and the checksums: model file, runtime, tasks, preprocessing."""
    described = [artifact / f for f in ("onnx.json", "engine.json") if (artifact / f).is_file()]
    onnx_manifest = read_json(described[0]) if described else {}
    return BundleManifest(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        model=name,
        runtime=serve.runtime if serve else MODEL_FILES[name],
        precision=serve.precision if serve else onnx_manifest.get("precision", "fp32"),
        device=serve.device if serve else "cpu",
        artifact_precision=onnx_manifest.get("precision", "fp32"),
        preset=onnx_manifest.get("preset"),
        tasks=tasks,
        preprocessing={
            "max_len": max_len,
            "truncation": "longest_first",  # pairs: the longer text loses tokens first
            "padding": "to the longest input of each batch",
            "pair": "text as segment A, text_pair as segment B ([CLS] a [SEP] b [SEP])",
            "tags": "first sub-token of each word carries the word's tag",
        },
        libraries=installed_versions(LIBRARIES),
    )


class Serving(NamedTuple):
    """How a bundle is served: the runtime and precision (the run's fastest within tolerance, e.g. OpenVINO at
    bf16), and the device it is served on unless the loader says otherwise (``cuda`` for a GPU's choice)."""

    runtime: str
    precision: str
    device: str = "cpu"


def build_bundle(
    artifact: Path,
    out: Path,
    inputs: dict[str, dict[str, str]],
    max_len: int,
    metrics: dict[str, dict[str, Any]] | None = None,
    latency: list[dict[str, Any]] | None = None,
    source: dict[str, Any] | None = None,
    serve: Serving | None = None,
) -> BundleManifest:
    """Write the bundle of ``artifact`` to ``out`` (atomically) and return its manifest.

    ``serve``: the runtime, precision and device it is served with; by default the runtime its model file
    suits, at the artifact's own precision, on the CPU.

    ``inputs`` maps each task to ``{"input": text|pair|tokens, "words": whitespace|chars}``;
    ``metrics`` (per task, as in ``metrics.json``) and ``latency`` (bench result rows) feed the card.
    """
    artifact, out = Path(artifact), Path(out)
    if out.exists() and any(out.iterdir()):
        raise ArtifactError(f"{out}: exists and is not empty; choose another --out or remove it")
    name = model_file(artifact)
    tasks = task_entries(artifact, inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        shutil.copy2(artifact / name, tmp / name)
        if (artifact / f"{name}.data").is_file():  # ONNX external weights (models over 2 GB)
            shutil.copy2(artifact / f"{name}.data", tmp / f"{name}.data")
        for side in SIDECARS:
            if (artifact / side).is_file():
                shutil.copy2(artifact / side, tmp / side)
        manifest = _manifest(artifact, name, tasks, max_len, serve)
        manifest.metrics, manifest.source = metrics or {}, source or {"artifact": str(artifact)}
        (tmp / "README.md").write_text(model_card(manifest, latency or []), encoding="utf-8")
        manifest.files = directory_checksums(tmp)
        manifest.write(tmp)
        replace_directory(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return manifest
