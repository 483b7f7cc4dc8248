"""``mtkd ablate --what pretrain|weighting``: teacher variants side by side, identical ones reused."""

from __future__ import annotations

import json

import pytest

from recipes.cli import main
from tests.conftest import tiny_recipe, write_recipe


@pytest.mark.slow
def test_weighting_then_pretrain_ablation(tmp_path, capsys):
    recipe = tiny_recipe()
    recipe["pretrain"] = {"epochs": 1, "batch_size": 16, "max_len": 32, "max_steps": 3}
    path, out = write_recipe(tmp_path / "tiny.yaml", recipe), tmp_path / "run"
    assert main(["ablate", str(path), "--what", "weighting", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| proportional sampling | temperature sampling (T=2) | T=2 + uncertainty weighting |" in table
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + len(recipe["tasks"])  # header, one row per task, the time row
    learned = json.loads((out / "ablation" / "teacher-t-2-uncertainty-weighting" / "history.json").read_text())
    weights = learned[-1]["task_weights"]
    assert set(weights) == set(recipe["tasks"]) and any(abs(w - 1.0) > 1e-3 for w in weights.values())
    static = json.loads((out / "ablation" / "teacher-proportional-sampling" / "history.json").read_text())
    assert static[-1]["task_weights"] == {t: 1.0 for t in recipe["tasks"]}
    stamp = (out / "ablation" / "teacher-temperature-sampling-t-2" / "stage.json").read_text()

    assert main(["ablate", str(path), "--what", "pretrain", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "with MLM pretraining" in table and "pretrain |" in table.strip().splitlines()[-1]
    # the recipe's own settings were trained by the weighting ablation already: copied, not retrained
    assert (out / "ablation" / "teacher-with-mlm-pretraining" / "stage.json").read_text() == stamp
    assert (out / "ablation" / "teacher-pretrain.md").read_text() == table.rstrip("\n") + "\n"
