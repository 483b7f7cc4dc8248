"""``bundle.json``: the bundle's manifest — the model file, the runtime, precision and device it is served with,
each task's head, labels and input kind, the preprocessing, the library versions it was built with, its test
metrics and where it came from, and the SHA-256 of every other file. Written and read only through
``BundleManifest``."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from distill.records import VersionedRecord

MANIFEST = "bundle.json"


class BundleManifest(VersionedRecord):
    """A bundle's manifest (``bundle.json``)."""

    FILE: ClassVar[str] = MANIFEST
    WHAT: ClassVar[str] = "bundle"
    HINT: ClassVar[str] = "; make one with `mtkd export`"

    created: str
    """when it was built (ISO 8601, UTC)"""
    model: str
    """the model file: model.onnx, model.plan or model.safetensors"""
    runtime: str
    """the runtime it is served with by default"""
    precision: str
    device: str = "cpu"
    """where it is served unless the loader says otherwise"""
    artifact_precision: str = "fp32"
    """the precision of the artifact itself (a runtime may serve it at another, e.g. OpenVINO at bf16)"""
    preset: str | None = None
    """the quantization preset that made it"""
    tasks: list[dict[str, Any]]
    """each head: name, type, labels, and how its input is given (text, pair or tokens, and the word split)"""
    preprocessing: dict[str, Any]
    """max_len, truncation, padding, pair and tag conventions"""
    libraries: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """per task, the test metrics of the artifact (as in ``metrics.json``)"""
    source: dict[str, Any] = Field(default_factory=dict)
    """the run, recipe and artifact it was made from"""
    files: dict[str, str] = Field(default_factory=dict)
    """relative path → SHA-256 of every other file in the bundle"""

    @property
    def max_len(self) -> int:
        """The longest input in tokens."""
        return int(self.preprocessing["max_len"])
