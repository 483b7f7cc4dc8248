"""The pipeline end to end on a tiny recipe: outputs, metrics format, up-to-date skipping, reload."""

from __future__ import annotations

import json

import pytest
import torch

from distill.data.loading import load_tasks
from distill.encoding import collate, encode_examples, model_inputs
from distill.model import MultiTaskModel
from distill.tokenization import load_tokenizer
from recipes.cli import main
from recipes.loader import load_recipe


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from tests.conftest import tiny_recipe, write_recipe

    root = tmp_path_factory.mktemp("pipeline")
    recipe = write_recipe(root / "tiny.yaml", tiny_recipe())
    assert main(["run", str(recipe), "--out", str(root / "run")]) == 0
    return recipe, root / "run"


def test_stages_write_their_outputs_and_stage_json(finished_run):
    _, run = finished_run
    assert sorted(p.name for p in run.iterdir()) == [".mtkd.lock", "recipe.yaml", "teacher", "tokenizer"]
    assert (run / ".mtkd.lock").read_text() == ""  # the writer's lock, released: no holder named
    # the saved recipe is the validated one and loads back to the same settings
    assert load_recipe(str(run / "recipe.yaml")) == load_recipe(str(finished_run[0]))
    info = json.loads((run / "teacher" / "stage.json").read_text())
    assert info["stage"] == "teacher" and len(info["hash"]) == 16 and info["seconds"] > 0
    assert "model/model.safetensors" in info["files"] and "metrics.json" in info["files"]
    assert not (run / "teacher" / "checkpoints").exists()  # the deliverable is model/


def test_metrics_json_has_value_baseline_and_direction_for_every_task(finished_run):
    _, run = finished_run
    metrics = json.loads((run / "teacher" / "metrics.json").read_text())
    assert set(metrics) == {"category", "score", "attributes"}
    assert metrics["category"]["metric"] == "accuracy" and metrics["category"]["higher_is_better"] is True
    assert metrics["score"]["metric"] == "rmse" and metrics["score"]["higher_is_better"] is False
    assert metrics["attributes"]["metric"] == "entity_f1"
    for m in metrics.values():
        assert isinstance(m["value"], float) and isinstance(m["baseline"], float) and m["split"] == "test"
    assert metrics["attributes"]["value"] > metrics["attributes"]["baseline"]


def test_rerun_skips_up_to_date_stages_and_redoes_only_what_changed(finished_run, caplog):
    recipe, run = finished_run
    before = {s: json.loads((run / s / "stage.json").read_text()) for s in ("tokenizer", "teacher")}
    caplog.set_level("INFO", logger="mtkd")
    assert main(["run", str(recipe), "--out", str(run)]) == 0
    assert "tokenizer: up to date" in caplog.text and "teacher: up to date" in caplog.text
    caplog.clear()
    assert main(["run", str(recipe), "--out", str(run), "--set", "teacher.train.epochs=1"]) == 0
    assert "tokenizer: up to date" in caplog.text and "teacher: running" in caplog.text
    after = json.loads((run / "teacher" / "stage.json").read_text())
    assert after["hash"] != before["teacher"]["hash"]
    caplog.clear()
    # a corrupted artifact is never trusted: the checksum fails and the stage runs again
    weights = run / "teacher" / "model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert main(["run", str(recipe), "--out", str(run), "--set", "teacher.train.epochs=1"]) == 0
    assert "checksum mismatch" in caplog.text and "teacher: running" in caplog.text


def test_saved_teacher_reloads_through_from_pretrained_with_identical_outputs(finished_run):
    recipe_path, run = finished_run
    model = MultiTaskModel.from_pretrained(run / "teacher" / "model").eval()
    again = MultiTaskModel.from_pretrained(run / "teacher" / "model").eval()
    tok = load_tokenizer(str(run / "teacher" / "model"))
    recipe = load_recipe(str(recipe_path))
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    for name, task in tasks.items():
        enc = encode_examples(tok, task.splits["test"][:8], task.kind, 32)
        batch = model_inputs(collate(enc, list(range(len(enc))), tok.pad_token_id, task.kind.label_kind == "tags"))
        with torch.no_grad():
            assert torch.equal(model(**batch).logits[name], again(**batch).logits[name])
    assert set(model.head_specs) == set(tasks)
    assert model.head_specs["category"].labels == tuple(tasks["category"].labels)


def test_resume_only_reuses_checkpoints_made_with_the_same_settings(tmp_path):
    from distill.io import write_json
    from recipes.pipeline import PENDING_FILE, prepare_work_dir

    work = tmp_path / "teacher.incomplete"
    (work / "checkpoints" / "last").mkdir(parents=True)
    write_json(work / PENDING_FILE, {"hash": "old"})
    prepare_work_dir("teacher", work, "old", resume=True)
    assert (work / "checkpoints" / "last").is_dir()  # same settings: kept for --resume
    prepare_work_dir("teacher", work, "new", resume=True)
    assert not (work / "checkpoints").exists()  # other settings: never resumed into
    assert json.loads((work / PENDING_FILE).read_text()) == {"hash": "new"}


def test_the_stage_record_is_typed_versioned_and_reads_old_files(tmp_path):
    from distill.errors import ArtifactError
    from recipes.stage_record import StageRecord, recorded_hash

    old = {"stage": "teacher", "hash": "ab" * 8, "recipe": "r", "seconds": 1.5, "summary": {"x": 1}, "files": {}}
    (tmp_path / "stage.json").write_text(json.dumps(old))  # written before records had a version
    record = StageRecord.read(tmp_path)
    assert record.format_version == 1 and record.hash == "ab" * 8 and record.summary == {"x": 1}
    assert recorded_hash(tmp_path) == "ab" * 8 and recorded_hash(tmp_path / "absent") is None
    record.write(tmp_path)
    assert json.loads((tmp_path / "stage.json").read_text())["format_version"] == StageRecord.VERSION
    for bad in ({**old, "format_version": StageRecord.VERSION + 1}, {**old, "hsah": "typo"}, {"hash": "no stage"}):
        (tmp_path / "stage.json").write_text(json.dumps(bad))
        with pytest.raises(ArtifactError, match=r"stage\.json"):
            StageRecord.read(tmp_path)
