"""`mtkd front` end to end on a tiny recipe: two students of one teacher trained in runs of their own that share
its directory's stages and cache, benched in one run, the front printed and drawn, the fastest student keeping
what is asked exported; and its `--student` specs."""

from __future__ import annotations

import json
import math

import pytest

from compress.bundle.manifest import BundleManifest
from distill.errors import MtkdError
from recipes.cli import main
from recipes.commands.front import parse_keep, parse_student
from tests.conftest import TINY_TRAIN, tiny_recipe, write_recipe

STUDENT = {
    "model": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32, "max_position": 64},
    "distill": {"logits": {}},
    "train": {**TINY_TRAIN, "epochs": 1},
}
BENCH = {"batch_sizes": [1], "seq_lens": [16], "warmup": 1, "iters": 2, "rounds": 1}


@pytest.mark.slow
def test_two_students_are_trained_benched_side_by_side_and_the_chosen_one_exported(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    recipe = tiny_recipe(student=STUDENT, quantize={"presets": ["dynamic-int8"]}, bench=BENCH)
    recipe["teacher"]["model"].update(layers=2)
    recipe["tasks"].pop("attributes")
    path = write_recipe(tmp_path / "tiny.yaml", recipe)
    args = ["front", str(path), "--student", "narrow shape=1x16", "--student", "wide shape=1x24"]
    args += ["--keep", "category=0.01", "--batch-sizes", "1", "--seq-len", "16", "--threads", "1"]
    assert main([*args, "--export", str(tmp_path / "bundle")]) == 0
    out = capsys.readouterr().out
    assert "| narrow |" in out and "| wide |" in out and "fastest student keeping category ≥ 1%" in out
    front = tmp_path / "runs" / "tiny-front"
    assert (front / "narrow" / "cache").resolve() == (tmp_path / "runs" / "tiny" / "cache").resolve()
    rows = [json.loads(line) for line in (front / "bench" / "results.jsonl").read_text().splitlines()]
    assert {r["artifact"] for r in rows} >= {"teacher", "narrow:student-dynamic-int8", "wide:student-dynamic-int8"}
    assert (front / "front.png").stat().st_size > 10_000
    assert BundleManifest.read(tmp_path / "bundle").source["artifact"].endswith("student-dynamic-int8")


def test_student_specs_and_keep_shares_are_read_or_refused_in_one_line():
    label, overrides = parse_student("128g shape=2x128 init=general train.lr=5e-4")
    assert label == "128g"
    assert overrides == [
        "student.model.layers=2",
        "student.model.hidden=128",
        "student.model.heads=4",
        "student.model.intermediate=512",
        "student.model.init=general",
        "student.train.lr=5e-4",
    ]
    assert parse_keep("relevance=0.9") == ("relevance", 0.9)
    for bad, says in (
        ("shape=2x128", "start with a label"),
        ("a shape=2by128", "LAYERSxHIDDEN"),
        ("a lr", "KEY=VALUE"),
    ):
        with pytest.raises(MtkdError, match=says):
            parse_student(bad)
    with pytest.raises(MtkdError, match="TASK=SHARE"):
        parse_keep("relevance")
    assert math.isclose(parse_keep("intent=1")[1], 1.0)
