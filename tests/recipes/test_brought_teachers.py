"""The pipeline with teachers brought from outside: per-task checkpoints are loaded, checked and scored by the
teacher stage, one lends its layers to the student, a task without a teacher learns from its labels, and the
distill report sets the student against every teacher it replaces."""

from __future__ import annotations

import json

import pytest

from distill.data.loading import load_tasks
from distill.model import MultiTaskModel
from distill.tokenization import build_tokenizer
from recipes.cli import main
from recipes.loader import load_recipe
from recipes.schema import Recipe
from recipes.stages.teacher import TeacherStage
from tests.conftest import TINY_TRAIN, tiny_recipe, write_recipe
from tests.teacher_checkpoints import save_sequence_teacher, save_token_teacher

STUDENT = {  # the teacher's width (tiny_bert_config: hidden 32, 2 heads, FFN 64), one layer copied from it
    "model": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "max_position": 64, "init": "teacher_layers"},
    "distill": {"logits": {"alpha": 0.7}, "hidden": {}},
    "train": {**TINY_TRAIN, "epochs": 1},
}


@pytest.fixture(scope="module")
def brought(tmp_path_factory):
    """Two checkpoints fine-tuned on the recipe's own rows with transformers' classes, sharing one tokenizer."""
    root = tmp_path_factory.mktemp("brought")
    base = Recipe.model_validate(tiny_recipe())
    tasks = load_tasks(base.tasks, base.seed, base.data)
    tok = build_tokenizer(base.tokenizer, tasks)
    save_sequence_teacher(root / "category", tasks["category"], tok)
    save_token_teacher(root / "attributes", tasks["attributes"], tok)
    bench = {"batch_sizes": [1, 4], "seq_lens": [16], "warmup": 1, "iters": 2, "rounds": 1, "runtimes": ["torch"]}
    recipe = tiny_recipe(student=STUDENT, bench=bench)
    del recipe["tokenizer"]  # the student reads the ids of the checkpoint that lends it layers
    recipe["teacher"] = {
        "checkpoints": {"category": str(root / "category"), "attributes": str(root / "attributes")},
        "encoder_from": "category",
        "train": dict(TINY_TRAIN),
    }
    path = write_recipe(root / "brought.yaml", recipe)
    assert main(["run", str(path), "--out", str(root / "run"), "--stages", "tokenizer,teacher,distill,bench"]) == 0
    return root, path, root / "run"


def test_teacher_stage_scores_each_checkpoint_and_trains_nothing(brought):
    _, _, run = brought
    metrics = json.loads((run / "teacher" / "metrics.json").read_text())
    assert set(metrics) == {"category", "attributes"}  # score has no teacher
    assert metrics["attributes"]["metric"] == "entity_f1" and metrics["attributes"]["split"] == "test"
    described = json.loads((run / "teacher" / "teachers.json").read_text())
    assert described["category"]["class"] == "BertForSequenceClassification"
    assert described["attributes"]["class"] == "BertForTokenClassification"
    assert not (run / "teacher" / "model").exists()
    tokenizer = json.loads((run / "tokenizer" / "stage.json").read_text())
    assert tokenizer["summary"]["checkpoint"]["ref"].endswith("category")


def test_one_student_every_head_against_every_teacher(brought):
    _, _, run = brought
    report = json.loads((run / "distill" / "report.json").read_text())
    assert report["tasks"]["score"]["teacher"] is None and report["tasks"]["score"]["retention"] is None
    for task in ("category", "attributes"):
        assert report["tasks"][task]["retention"] > 0
    latency = report["latency"]["by_batch"]
    for row in latency.values():
        assert set(row["teachers_ms"]) == {"category", "attributes"}
        assert row["teachers_total_ms"] == pytest.approx(sum(row["teachers_ms"].values()))
    student = MultiTaskModel.from_pretrained(run / "distill" / "model")
    assert set(student.head_specs) == {"category", "score", "attributes"}
    assert "— (labels only)" in (run / "distill" / "report.md").read_text()


def test_a_retrained_checkpoint_is_another_teacher(brought):
    root, path, _ = brought
    recipe = load_recipe(str(path))
    before = TeacherStage().settings(recipe)
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    tok = build_tokenizer(tiny_recipe_tokenizer(), tasks)
    save_sequence_teacher(root / "category", tasks["category"], tok, labels=list(tasks["category"].labels))
    assert TeacherStage().settings(recipe)["sources"]["category"] != before["sources"]["category"]


def tiny_recipe_tokenizer():
    return Recipe.model_validate(tiny_recipe()).tokenizer


@pytest.mark.parametrize(
    ("teacher", "student", "message"),
    [
        ({"checkpoints": {"nope": "x"}}, None, "teacher names unknown task 'nope'"),
        ({"checkpoints": {"category": "x"}, "encoder_from": "score"}, None, "encoder_from 'score' must name a task"),
        ({"checkpoints": {"category": "x"}}, {"model": {"init": "teacher_layers"}}, "name the checkpoint that lends"),
        ({"checkpoints": {"category": "x"}}, {"distill": {"hidden": {}}}, "intermediate-layer KD needs one teacher"),
        ({"checkpoints": {"category": "x"}}, {"quantize": {"teacher_presets": ["dynamic-int8"]}}, "the student is"),
        (
            {"checkpoints": {"category": "x"}, "outputs": {"category": __file__}},
            None,
            "has a checkpoint and an outputs file",
        ),
    ],
)
def test_recipe_refuses_what_brought_teachers_cannot_do(tmp_path, capsys, teacher, student, message):
    sections = {"quantize": student.pop("quantize")} if student and "quantize" in student else {}
    recipe = tiny_recipe(teacher=teacher, **({"student": student} if student else {}), **sections)
    path = write_recipe(tmp_path / "r.yaml", recipe)
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_bench_times_each_teacher_beside_the_student_that_replaces_them(brought):
    _, _, run = brought
    rows = [json.loads(line) for line in (run / "bench" / "results.jsonl").read_text().splitlines()]
    teachers = {r["artifact"]: r for r in rows if r["artifact"].startswith("teacher.")}
    assert set(teachers) == {"teacher.category", "teacher.attributes"}
    assert set(teachers["teacher.category"]["tasks"]) == {"category"}  # scored on its own task, by the same code
    metrics = json.loads((run / "teacher" / "metrics.json").read_text())
    assert teachers["teacher.category"]["tasks"]["category"]["value"] == pytest.approx(metrics["category"]["value"])
    report = (run / "bench" / "report.md").read_text()
    assert "## The student against the per-task teachers it replaces" in report
    assert "| 4 | 16 |" in report.split("replaces")[1]
