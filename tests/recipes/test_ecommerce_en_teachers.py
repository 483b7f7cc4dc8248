"""The packaged `ecommerce-en-teachers` recipe: one MiniLM fine-tuned per task with transformers alone
(examples/finetune_hf_teachers.py), brought in and distilled into one student — its small version, by the same code."""

from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import AutoModel

from distill.model import MultiTaskModel
from distill.student import encoder_layers, layer_map
from recipes.cli import main
from recipes.loader import load_recipe
from tests.conftest import load_example
from tests.recipes.test_ecommerce import needs_shared
from tests.recipes.test_ecommerce_en import SMALL, needs_minilm

TASKS = ("relevance", "intent", "intent_category")


@needs_shared
def test_the_recipe_brings_a_checkpoint_per_task_and_the_relevance_teachers_vocabulary():
    recipe = load_recipe("ecommerce-en-teachers", SMALL[1::2])
    assert set(recipe.teacher.checkpoints) == set(TASKS) and recipe.teacher.external
    assert recipe.teacher.encoder_from == "relevance"
    assert recipe.tokenizer.from_pretrained == recipe.teacher.checkpoints["relevance"]


@needs_shared
@needs_minilm
@pytest.mark.slow
def test_the_small_version_fine_tunes_three_teachers_and_distils_them_into_one_student(tmp_path):
    teachers = tmp_path / "hf-teachers"
    finetune_hf_teachers = load_example("finetune_hf_teachers")
    finetune_hf_teachers.main(["--out", str(teachers), "--max-train", "48", "--epochs", "1"])
    where = [f"--set=teacher.checkpoints.{t}={teachers / t}" for t in TASKS]
    out = tmp_path / "run"
    # every intent row (3,608): the student's label set is then the teachers' (27 intents, 11 categories)
    steps = ["--set", "student.train.max_steps=3", "--set=tasks.intent.max_train=4000"]
    steps += ["--set=tasks.intent_category.max_train=4000"]
    args = ["run", "ecommerce-en-teachers", "--stages", "tokenizer,teacher,distill", "--out", str(out)]
    assert main([*args, *SMALL, *steps, *where]) == 0
    described = json.loads((out / "teacher" / "teachers.json").read_text())
    assert {d["class"] for d in described.values()} == {"BertForSequenceClassification"}
    assert set(json.loads((out / "teacher" / "metrics.json").read_text())) == set(TASKS)
    student = MultiTaskModel.from_pretrained(out / "distill" / "model")
    assert set(student.heads) == set(TASKS) and student.config.num_hidden_layers == 2
    # init: teacher_layers from the relevance teacher's encoder: layers 3 and 6, three steps later still near
    lender = AutoModel.from_pretrained(teachers / "relevance", add_pooling_layer=False)
    for s, t in layer_map(2, 6, "uniform"):
        s_w = encoder_layers(student)[s - 1].attention.self.query.weight
        t_w = lender.encoder.layer[t - 1].attention.self.query.weight
        assert torch.allclose(s_w, t_w, atol=5e-3)
    report = json.loads((out / "distill" / "report.json").read_text())
    assert set(report["latency"]["by_batch"]["32"]["teachers_ms"]) == set(TASKS)
    assert set(report["tasks"]) == set(TASKS)
    for r in report["tasks"].values():  # 48 rows and one epoch can leave a teacher at 0: retention is then NaN
        gain = r["baseline"] - r["teacher"] if r["teacher"] is not None else 0.0
        if r["teacher"] and (r["higher_is_better"] or gain > 0):  # an error metric: the share of the gain over the mean
            share = r["student"] / r["teacher"] if r["higher_is_better"] else (r["baseline"] - r["student"]) / gain
            assert math.isclose(r["retention"], share)
        else:
            assert math.isnan(r["retention"]) and "undefined" in (out / "distill" / "report.md").read_text()
