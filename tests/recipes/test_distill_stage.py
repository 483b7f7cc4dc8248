"""The distill stage in the pipeline and the ablation command, on a tiny recipe."""

from __future__ import annotations

import json
import math

import pytest
import torch

from distill.model import MultiTaskModel
from recipes.cli import main
from tests.conftest import TINY_TRAIN, tiny_recipe, write_recipe

STUDENT = {
    "model": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32, "max_position": 64},
    "distill": {"logits": {"temperature": 2.0, "alpha": 0.5}, "hidden": {}, "relation": {"heads": 2}},
    "train": {**TINY_TRAIN, "lr": 5e-3},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    recipe = tiny_recipe(student=STUDENT)
    recipe["teacher"]["model"].update(layers=2)
    path = write_recipe(root / "tiny.yaml", recipe)
    assert main(["run", str(path), "--out", str(root / "run")]) == 0
    return path, root / "run"


def test_distill_stage_reports_retention_params_and_latency(run):
    _, out = run
    report = json.loads((out / "distill" / "report.json").read_text())
    teacher = json.loads((out / "teacher" / "metrics.json").read_text())
    assert set(report["tasks"]) == set(teacher)
    for task, row in report["tasks"].items():
        assert row["teacher"] == teacher[task]["value"]
        if row["higher_is_better"]:
            expected = row["student"] / row["teacher"]
        else:  # an error metric: the share of the teacher's gain over the mean predictor (undefined without one)
            gain = row["baseline"] - row["teacher"]
            expected = (row["baseline"] - row["student"]) / gain if gain > 0 else float("nan")
        assert row["retention"] == pytest.approx(expected, nan_ok=True)
        lo, hi = row["retention_ci"]  # the paired bootstrap's 95% interval
        assert lo <= hi or math.isnan(lo)
    student_params, teacher_params = report["encoder_params"]
    assert student_params < teacher_params / 2
    assert report["latency"]["batch_size"] == 1 and report["latency"]["speedup"] > 0
    assert "| category | accuracy ↑ |" in (out / "distill" / "report.md").read_text()
    assert "retention [95% CI]" in (out / "distill" / "report.md").read_text()
    history = json.loads((out / "distill" / "history.json").read_text())
    best = max(history, key=lambda row: row["dev"]["category"]["value"])["epoch"]
    assert f"category {best}" in (out / "distill" / "report.md").read_text()  # each head's own best dev epoch
    losses = history[0]["train_loss"]  # each head's loss magnitude per epoch, as it entered the sum
    assert f"| 1 | {losses['category']:.4f} × " in (out / "distill" / "report.md").read_text()
    student = MultiTaskModel.from_pretrained(out / "distill" / "model")
    assert student.config.hidden_size == 16 and set(student.head_specs) == set(teacher)
    numeric = [t for t, row in report["tasks"].items() if row["metric"] == "rmse"]
    assert numeric and set(report["both_calibrated"]) == set(numeric)  # each regression head, both calibrated
    for task in numeric:
        c = report["both_calibrated"][task]
        assert set(c["maps"]) == {"student", "teacher"} and math.isfinite(c["student_rmse"] + c["teacher_rmse"])
        assert f"- {task}: with both calibrated on dev" in (out / "distill" / "report.md").read_text()
    assert any((out / "cache").glob("teacher-logits-*.safetensors")) is False  # full KD runs the teacher live


def test_ablation_trains_three_variants_against_one_teacher(run, capsys):
    path, out = run
    assert main(["ablate", str(path), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| task | metric | teacher | hard labels | logits KD | logits + hidden/relation KD |" in table
    assert table.count("%)") == 3 * 3  # three tasks × three variants
    hard = json.loads((out / "ablation" / "hard" / "stage.json").read_text())
    logits = json.loads((out / "ablation" / "logits" / "stage.json").read_text())
    assert hard["hash"] != logits["hash"]
    # the full variant has the recipe's own settings: copied from the distill stage, not retrained
    full = json.loads((out / "ablation" / "full" / "stage.json").read_text())
    assert full["finished"] == json.loads((out / "distill" / "stage.json").read_text())["finished"]
    assert any((out / "cache").glob("teacher-logits-*.safetensors"))  # logits-only KD used the cache


def test_ablation_repeats_with_another_student_seed_beside_the_first(run, capsys):
    path, out = run
    teacher_before = json.loads((out / "teacher" / "stage.json").read_text())["finished"]
    assert main(["ablate", str(path), "--out", str(out), "--set", "student.seed=1"]) == 0
    assert json.loads((out / "teacher" / "stage.json").read_text())["finished"] == teacher_before  # not retrained
    for variant in ("hard", "logits", "full"):
        first, again = out / "ablation" / variant, out / "ablation-seed1" / variant
        a, b = (MultiTaskModel.from_pretrained(d / "model").state_dict() for d in (first, again))
        assert any(not torch.equal(a[k], b[k]) for k in a), variant  # another initialisation and batch order
        ra, rb = (json.loads((d / "report.json").read_text()) for d in (first, again))
        assert ra["encoder_params"] == rb["encoder_params"]
        assert {t: r["teacher"] for t, r in ra["tasks"].items()} == {t: r["teacher"] for t, r in rb["tasks"].items()}
    assert (out / "ablation-seed1" / "report.md").read_text() in capsys.readouterr().out


def test_seed_ablation_summarises_every_variant_over_seeds(run, capsys):
    import numpy as np

    path, out = run
    assert main(["ablate", str(path), "--out", str(out), "--seeds", "1,2"]) == 0  # seed 1 is reused
    summary = (out / "ablation-seeds.md").read_text()
    assert summary in capsys.readouterr().out
    reports = {
        s: {v: json.loads((out / f"ablation-seed{s}" / v / "report.json").read_text()) for v in ("hard", "full")}
        for s in (1, 2)
    }
    for task, row in reports[1]["hard"]["tasks"].items():
        line = next(x for x in summary.splitlines() if x.startswith(f"| {task} |"))
        full = np.array([reports[s]["full"]["tasks"][task]["student"] for s in (1, 2)])
        hard = np.array([reports[s]["hard"]["tasks"][task]["student"] for s in (1, 2)])
        assert f"{full.mean():.4f} ± {full.std(ddof=1):.4f}" in line
        wins = int(((full > hard) if row["higher_is_better"] else (full < hard)).sum())
        assert line.endswith(f"| {wins} of 2 |")
    assert main(["ablate", str(path), "--out", str(out), "--what", "pretrain", "--seeds", "1"]) == 2


def test_two_stage_schedule_runs_intermediate_then_prediction_layer(run, caplog):
    path, out = run
    caplog.set_level("INFO", logger="mtkd")
    args = ["run", str(path), "--out", str(out), "--set", "student.distill.two_stage.intermediate_epochs=1"]
    assert main(args) == 0
    assert "distill (intermediate) epoch 1/1" in caplog.text and "distill epoch 2/2" in caplog.text
    assert "teacher logits" in caplog.text  # phase two distils logits only, from the cache
    assert not (out / "distill" / "intermediate").exists()
    assert json.loads((out / "distill" / "report.json").read_text())["tasks"]


def test_mlm_augmentation_uses_the_pretrain_stages_mlm_and_its_own_teacher_logits(tmp_path, caplog):
    caplog.set_level("INFO", logger="mtkd")
    student = {
        **STUDENT,
        "distill": {"logits": {"alpha": 0.5}, "augment": {"method": "mlm", "copies": 2, "prob": 0.2, "top_k": 4}},
    }
    recipe = tiny_recipe(student=student, pretrain={"epochs": 1, "batch_size": 16, "max_len": 32, "max_steps": 3})
    path = write_recipe(tmp_path / "aug.yaml", recipe)
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--stages", "distill"]) == 0
    run = tmp_path / "run"
    assert (run / "pretrain" / "mlm" / "config.json").is_file()  # the MLM kept with its head
    train_rows = {t: c["source"]["size"] for t, c in recipe["tasks"].items()}
    for task in train_rows:
        assert f"augment {task}: " in caplog.text
    stage = json.loads((run / "distill" / "stage.json").read_text())
    caches = list((run / "cache").glob("teacher-logits-*.safetensors"))
    assert len(caches) == 1 and stage["summary"]["steps"] > 0
    # without augmentation the same teacher gets another cache entry: augmented rows are in the key
    args = ["run", str(path), "--out", str(run), "--stages", "distill", "--set", "student.distill.augment=null"]
    assert main(args) == 0
    assert len(list((run / "cache").glob("teacher-logits-*.safetensors"))) == 2


def test_mlm_augmentation_without_an_mlm_is_refused_with_the_ways_out(tmp_path, capsys):
    student = {**STUDENT, "distill": {"logits": {}, "augment": {"method": "mlm"}}}
    path = write_recipe(tmp_path / "aug.yaml", tiny_recipe(student=student))
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "needs a masked LM: add a 'pretrain' section" in capsys.readouterr().err


def test_ablation_adds_an_augmented_variant_only_when_the_recipe_augments():
    from distill.config import DistillConfig
    from recipes.commands.ablation import variant_configs

    plain = variant_configs(DistillConfig.model_validate(STUDENT["distill"]))
    assert list(plain) == ["hard", "logits", "full"]
    augmented = variant_configs(DistillConfig.model_validate({**STUDENT["distill"], "augment": {"method": "mask"}}))
    assert list(augmented) == ["hard", "logits", "full", "augmented"]
    assert all(cfg.augment is None for name, cfg in augmented.items() if name != "augmented")
    assert augmented["augmented"] == augmented["full"].model_copy(update={"augment": augmented["augmented"].augment})
    assert augmented["augmented"].augment.method == "mask" and augmented["full"] == plain["full"]
