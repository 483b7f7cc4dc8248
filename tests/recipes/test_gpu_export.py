"""`mtkd export --device cuda`: the bundle holds what the GPU bench found fastest for a student within tolerance
(a PyTorch runtime on a model directory where TensorRT is absent), and loads on the device it was made for."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from compress.bundle import Predictor, Serving, build_bundle
from compress.bundle.selection import choose_for_device
from distill.config import ModelConfig
from distill.errors import ArtifactError, MtkdError
from distill.model import HeadSpec, MultiTaskModel
from distill.tokenization import train_wordpiece
from tests.conftest import bench_row

HEADS = [HeadSpec("cat", "classification", ("a", "b"))]


@pytest.fixture
def run(tmp_path):
    tok = train_wordpiece(["red boots", "blue shirt"] * 10, 60, 1)
    torch.manual_seed(0)
    model = MultiTaskModel.from_config(ModelConfig(layers=1, hidden=16, heads=2, intermediate=32), HEADS, tok)
    for stage in ("teacher", "prune"):
        model.save_pretrained(tmp_path / "run" / stage / "model", tok)
    metric = {"metric": "accuracy", "value": 0.90, "baseline": 0.5, "higher_is_better": True}
    (tmp_path / "run" / "prune" / "metrics.json").write_text(json.dumps({"cat": metric}))
    return tmp_path / "run"


def row(artifact, runtime, precision, p50, accuracy, device="cuda", batch=1):
    return bench_row(artifact, runtime, precision, p50, {"cat": ("accuracy", accuracy, True)}, batch, device=device)


def write_rows(folder, rows):
    folder.mkdir(parents=True)
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_fastest_student_row_on_the_gpu_within_tolerance_is_chosen(run):
    bench = run.parent / "gpu-bench"
    write_rows(
        bench,
        [
            row("teacher", "torch-cudagraph", "fp16", 0.1, 0.95),  # a teacher is never the deliverable
            row("pruned", "torch-cudagraph", "fp16", 0.2, 0.80),  # fastest student, but 0.10 below its own 0.90
            row("pruned", "torch-cast", "bf16", 0.3, 0.899),
            row("pruned", "torch", "fp32", 0.5, 0.90),
            row("pruned", "torch-1t", "fp32", 0.05, 0.90, device="cpu"),  # another device
            row("pruned", "torch-cudagraph", "fp32", 0.01, 0.90, batch=8),  # another batch size
        ],
    )
    name, path, runtime, precision = choose_for_device(run, "cuda", 0.01, bench)
    assert (name, path, runtime, precision) == ("pruned", run / "prune" / "model", "torch-cast", "bf16")
    assert choose_for_device(run, "cuda", 0.0001, bench)[2:] == ("torch", "fp32")  # bf16's 0.1% is now too much
    write_rows(run.parent / "worse", [row("pruned", "torch-cudagraph", "fp16", 0.2, 0.80)])
    with pytest.raises(ArtifactError, match="no student row on cuda"):
        choose_for_device(run, "cuda", 0.01, run.parent / "worse")
    with pytest.raises(ArtifactError, match="no bench results"):
        choose_for_device(run, "cuda", 0.01)


def test_a_model_directory_bundle_is_served_by_torch_on_the_device_it_was_exported_for(run, tmp_path, monkeypatch):
    out = tmp_path / "bundle"
    serve = Serving("torch-cast", "bf16", "cuda")
    manifest = build_bundle(run / "prune" / "model", out, {"cat": {"input": "text"}}, 32, serve=serve)
    assert (manifest.model, manifest.runtime, manifest.device) == ("model.safetensors", "torch-cast", "cuda")
    assert (out / "config.json").is_file() and (out / "mtkd.json").is_file()
    if not torch.cuda.is_available():
        with pytest.raises(MtkdError, match=r"cannot serve .* here"):
            Predictor.load(out)  # made for a GPU: says so on a machine without one
    monkeypatch.setattr("compress.runtime.torch_backend.no_native_bf16", lambda: None)
    answers = Predictor.load(out, device="cpu").predict(["red boots"], ["cat"])
    assert answers[0]["cat"]["label"] in ("a", "b")
    shutil.rmtree(out)
