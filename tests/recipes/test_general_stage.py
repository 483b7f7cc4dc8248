"""The general stage in a recipe: it trains once into the shared cache, a second run (another student seed, another
run directory) reuses it, and the distill stage starts from its encoder."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from distill.model import MultiTaskModel
from recipes.cli import main
from recipes.loader import load_recipe
from tests.conftest import TINY_TRAIN, tiny_recipe, write_recipe

STUDENT = {
    "model": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32, "max_position": 64, "init": "general"},
    "general": {"teacher": "fine_tuned", "epochs": 1, "batch_size": 16},
    "distill": {"logits": {}},
    "train": {**TINY_TRAIN, "epochs": 1},
}


def test_a_second_run_reuses_the_general_encoder_and_the_student_starts_from_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MTKD_CACHE", str(tmp_path / "cache"))
    path = write_recipe(tmp_path / "tiny.yaml", tiny_recipe(student=STUDENT))
    first = tmp_path / "first"
    assert main(["run", str(path), "--out", str(first), "--stages", "general"]) == 0
    report = json.loads((first / "general" / "report.json").read_text())
    assert report["reused"] is False and report["steps"] > 0 and report["history"]
    second = tmp_path / "second"
    second.mkdir()
    for stage in ("tokenizer", "teacher"):
        shutil.copytree(first / stage, second / stage)
    args = ["run", str(path), "--out", str(second), "--stages", "distill", "--set", "student.seed=7"]
    assert main(args) == 0
    again = json.loads((second / "general" / "report.json").read_text())
    assert again["reused"] is True and again["key"] == report["key"]
    encoder = load_file(second / "general" / "encoder" / "model.safetensors")
    student = MultiTaskModel.from_pretrained(second / "distill" / "model")
    assert student.config.hidden_size == 16
    # one epoch of task distillation moved it, but it started from the general encoder's embeddings
    start = encoder["embeddings.position_embeddings.weight"]
    assert torch.allclose(student.encoder.embeddings.position_embeddings.weight[50:], start[50:], atol=0.05)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"general": {"epochs": 1}}, "general.teacher: pretrained distils the checkpoint"),
        ({"model": {**STUDENT["model"], "init": "random"}}, "student.general is set but student.model.init"),
    ],
)
def test_general_settings_that_cannot_work_are_refused_when_the_recipe_is_read(tmp_path, change, says):
    path = write_recipe(tmp_path / "bad.yaml", tiny_recipe(student={**STUDENT, **change}))
    with pytest.raises(Exception, match=says):
        load_recipe(str(path))
