"""Data-parallel training: 2 CPU processes (gloo, through ``mtkd run --nproc 2``) train what 1 does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from distill.training import distributed
from recipes.cli import main
from recipes.commands.run import without_nproc
from tests.conftest import TINY_MODEL, TINY_TRAIN, tiny_recipe, write_recipe

ROOT = Path(__file__).resolve().parents[2]


def _recipe(tmp_path: Path) -> Path:
    # no dropout: with it, two processes draw other masks than one and only statistics could agree
    model = {**TINY_MODEL, "dropout": 0.0, "attention_dropout": 0.0}
    recipe = tiny_recipe(teacher={"model": model, "train": {**TINY_TRAIN, "batch_size": 15}})
    recipe["pretrain"] = {"epochs": 1, "batch_size": 16, "max_len": 32, "max_steps": 4}
    recipe["tasks"]["category"]["max_train"] = 120  # the rest is the student's transfer set, scored in chunks
    recipe["student"] = {
        "model": model,
        "distill": {"logits": {}, "transfer": {"tasks": {"category": {"unused_rows": True}}, "chunk_rows": 16}},
        "train": {**TINY_TRAIN, "batch_size": 15},
    }
    return write_recipe(tmp_path / "tiny.yaml", recipe)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    recipe = _recipe(tmp_path)
    assert main(["run", str(recipe), "--out", str(tmp_path / "one"), "--device", "cpu"]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "recipes", "run", str(recipe), "--out", str(tmp_path / "two"), "--nproc", "2"]
    proc = subprocess.run([*cmd, "--device", "cpu"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done:") == 1  # only rank 0 reports (and writes)
    one, two = (json.loads((tmp_path / r / "teacher" / "history.json").read_text()) for r in ("one", "two"))
    assert len(one) == len(two) == TINY_TRAIN["epochs"]
    for a, b in zip(one, two, strict=True):
        for task in a["dev"]:  # batch 15 splits 8 + 7 across ranks: the shard weights must make it exact
            assert b["dev"][task]["value"] == pytest.approx(a["dev"][task]["value"], abs=0.02)
        for task in a["train_loss"]:
            assert b["train_loss"][task] == pytest.approx(a["train_loss"][task], rel=0.05)
    w1, w2 = (load_file(tmp_path / r / "teacher" / "model" / "model.safetensors") for r in ("one", "two"))
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-3
    # the pretrain stage ran data-parallel too, and the teacher started from its encoder
    for r in ("one", "two"):
        assert json.loads((tmp_path / r / "pretrain" / "stage.json").read_text())["summary"]["steps"] == 4
    assert not list((tmp_path / "two").glob("*.incomplete"))
    # the student distils in both processes, and they score the transfer set's chunks in turn: same scores
    stores = [next((tmp_path / r / "cache").glob("transfer-*")) for r in ("one", "two")]
    chunks = [sorted(p.name for p in s.glob("category-*.safetensors")) for s in stores]
    assert chunks[0] == chunks[1] and len(chunks[0]) > 2
    for name in chunks[0]:
        a, b = (load_file(s / name)["scores"] for s in stores)
        assert torch.allclose(a, b, atol=1e-5)
    s1, s2 = (json.loads((tmp_path / r / "distill" / "metrics.json").read_text()) for r in ("one", "two"))
    for task in s1:
        assert s2[task]["value"] == pytest.approx(s1[task]["value"], abs=0.03)


def test_shard_weights_make_the_mean_of_shard_means_the_batch_mean(monkeypatch):
    losses = torch.arange(7, dtype=torch.float64)
    batch = list(range(7))
    total = 0.0
    for r in range(2):
        monkeypatch.setattr(distributed, "world_size", lambda: 2)
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        part, weight = distributed.shard(batch)
        total += float(losses[part].mean()) * weight / 2  # what the averaged all-reduce computes
    assert total == pytest.approx(float(losses.mean()))
    # a tagging loss averages over labelled tokens: weights by token count keep it exact
    tokens = [3, 1, 4, 1, 5, 9, 2]
    per_token = [torch.full((n,), float(i)) for i, n in enumerate(tokens)]
    total = 0.0
    for r in range(2):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        part, weight = distributed.shard(batch, tokens)
        total += float(torch.cat([per_token[i] for i in part]).mean()) * weight / 2
    assert total == pytest.approx(float(torch.cat(per_token).mean()))
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    assert distributed.shard([5]) == ([5], 0.0)  # an empty shard still joins, with weight 0


def test_nproc_is_removed_from_the_worker_command_line():
    argv = ["run", "r.yaml", "--nproc", "2", "--set", "a=1", "--nproc=4"]
    assert without_nproc(argv) == ["run", "r.yaml", "--set", "a=1"]
