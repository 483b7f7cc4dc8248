"""``bundle.json`` is written and read through ``BundleManifest``: what is written reads back equal, and a file of
another format version, with a misspelled key, or missing what a bundle needs is refused by name."""

from __future__ import annotations

import json

import pytest

from compress.bundle.manifest import MANIFEST, BundleManifest
from distill.errors import ArtifactError


def manifest() -> BundleManifest:
    return BundleManifest(
        created="2026-12-07T00:00:00+00:00",
        model="model.onnx",
        runtime="onnxruntime",
        precision="int8",
        tasks=[{"name": "category", "type": "classification", "labels": ["a", "b"], "input": "text"}],
        preprocessing={"max_len": 64},
        metrics={"category": {"metric": "accuracy", "value": 0.9}},
        files={"model.onnx": "0" * 64},
    )


def test_a_manifest_reads_back_as_written(tmp_path):
    manifest().write(tmp_path)
    again = BundleManifest.read(tmp_path)
    assert again == manifest() and again.max_len == 64 and again.device == "cpu"
    assert json.loads((tmp_path / MANIFEST).read_text())["format_version"] == BundleManifest.VERSION


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": BundleManifest.VERSION + 1}, "bundle format 2 is not supported"),
        ({"runtim": "typo"}, r"not a bundle \("),
        ({"model": None}, r"not a bundle \("),
    ],
)
def test_another_version_a_misspelled_key_or_a_missing_field_is_refused(tmp_path, change, message):
    data = {**manifest().model_dump(), **change}
    (tmp_path / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match=message):
        BundleManifest.read(tmp_path)
    with pytest.raises(ArtifactError, match="not a bundle"):
        BundleManifest.read(tmp_path / "elsewhere")


def test_a_new_record_takes_its_class_s_version_and_an_old_file_reads_as_version_one(tmp_path):
    class Later(BundleManifest):  # a format one step on: what a subclass states when its format changes
        VERSION = 2

    assert Later.model_validate(manifest().model_dump(exclude={"format_version"})).format_version == 2
    data = manifest().model_dump(exclude={"format_version"})  # a file from before the format had a version
    (tmp_path / MANIFEST).write_text(json.dumps(data))
    assert BundleManifest.read(tmp_path).format_version == 1 and Later.read(tmp_path).format_version == 1
