"""A recipe's transfer set: files joined to data.root, scored into the run's cache, reported, and the distill
stage's hash following the files' content."""

from __future__ import annotations

import json

from recipes.cli import main
from recipes.loader import load_recipe
from recipes.pipeline import STAGES, stage_hash
from tests.conftest import TINY_MODEL, TINY_TRAIN, tiny_recipe, write_recipe


def transfer_recipe(root: str | None) -> dict:
    recipe = tiny_recipe(
        student={
            "model": dict(TINY_MODEL),
            "distill": {
                "logits": {"alpha": 0.5},  # logits only: the teacher's answers are cached, transfer rows scored once
                "transfer": {"tasks": {"score": {"files": ["queries.tsv"], "unused_rows": True}}, "chunk_rows": 16},
            },
            "train": dict(TINY_TRAIN),
        }
    )
    recipe["tasks"].pop("attributes")
    recipe["tasks"]["score"]["max_train"] = 100
    recipe["data"] = {"root": root, "on_error": "skip"}
    return recipe


def test_a_recipe_distils_with_a_transfer_set_scored_into_the_run_cache(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    queries = data / "queries.tsv"
    queries.write_text(
        "red drill\tacme cordless drill 18v\nblue lamp\n\nsofa\tgrey three seat sofa\n", encoding="utf-8"
    )
    path = write_recipe(tmp_path / "tiny.yaml", transfer_recipe(str(data)))
    recipe = load_recipe(str(path))
    files = recipe.student.distill.transfer.tasks["score"].files
    assert files[0].path == str(data / "queries.tsv")  # joined to data.root like every other data file
    run = tmp_path / "run"
    assert main(["run", str(path), "--out", str(run), "--stages", "distill"]) == 0
    report = json.loads((run / "distill" / "report.json").read_text())
    score = report["transfer"]["score"]
    assert score["from"][str(queries)] == 2 and score["from"]["unused_rows"] > 0
    # "blue lamp" (one text for a pair task) and the empty line, counted per reason under skip
    assert score["skipped"]["by_reason"] == {
        "task score reads pairs: a line needs two tab-separated texts": 1,
        "empty line": 1,
    }
    assert score["inputs"] == 2 + score["from"]["unused_rows"]
    store = next((run / "cache").glob("transfer-*"))
    lines = (store / "inputs-score.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"text": "red drill", "text_pair": "acme cordless drill 18v"}
    assert "retention [95% CI]" in (run / "distill" / "report.md").read_text()
    # the stage hash follows the transfer file's content, not only its name
    distill = STAGES.get("distill")()
    before = stage_hash(distill, recipe, run)
    queries.write_text("red drill\tacme cordless drill 20v\n", encoding="utf-8")
    assert stage_hash(distill, load_recipe(str(path)), run) != before
