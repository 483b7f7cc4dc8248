"""Regression heads calibrated on dev: the affine map is exact when folded, lowers dev RMSE, and is saved."""

from __future__ import annotations

import pytest
import torch

from distill.api import train_teacher
from distill.calibration import fit_affine, fold_affine
from distill.config import DataConfig, ModelConfig, TaskConfig, TokenizerConfig, TrainConfig
from distill.data.loading import load_tasks
from distill.model import MultiTaskModel
from distill.target_scaling import StandardizedHead
from distill.tasks import SequenceHead
from distill.tokenization import build_tokenizer
from distill.workspace import Workspace
from tests.conftest import TINY_MODEL, builtin_task


def test_the_least_squares_map_is_found_and_folded_exactly():
    preds = [1.0, 2.0, 3.0, 4.0]
    assert fit_affine(preds, [2 * p - 1 for p in preds]) == pytest.approx((2.0, -1.0))
    assert fit_affine([3.0, 3.0], [1.0, 2.0]) == (1.0, 0.0)  # constant predictions: nothing to fit
    torch.manual_seed(0)
    x = torch.randn(5, 3, 8)
    for head in (SequenceHead(8, 1, 0.0), StandardizedHead(SequenceHead(8, 1, 0.0), mean=120.0, std=30.0)):
        head.eval()
        before = head(x)
        fold_affine(head, 0.5, 2.0)
        assert torch.allclose(head(x), 0.5 * before + 2.0, atol=1e-4)


def test_a_calibrated_teacher_is_saved_with_its_dev_map(tmp_path):
    tasks = load_tasks({"score": TaskConfig(**builtin_task("score", 240))}, seed=0, data=DataConfig())
    tok = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=400), tasks)
    train = TrainConfig(epochs=1, batch_size=16, lr=3e-3, max_len=32, warmup=0.0)
    plain = train_teacher(Workspace(tasks, tok, tmp_path / "plain"), ModelConfig(**TINY_MODEL), train)
    calibrated = train_teacher(
        Workspace(tasks, tok, tmp_path / "cal"), ModelConfig(**TINY_MODEL), train.model_copy(update={"calibrate": True})
    )
    fit = calibrated.calibration["score"]
    assert fit["applied"] and fit["dev_rmse_after"] < fit["dev_rmse_before"]
    # the same training, then the map: the saved model answers a · plain + b
    reloaded = MultiTaskModel.from_pretrained(calibrated.path).eval()
    batch = tok(["red drill", "blue lamp shade"], ["acme drill 18v", "lamp"], return_tensors="pt", padding=True)
    with torch.no_grad():
        raw = plain.model.eval()(**batch, tasks=["score"]).logits["score"]
        cal = reloaded(**batch, tasks=["score"]).logits["score"]
    assert torch.allclose(cal, fit["a"] * raw + fit["b"], atol=1e-4)
    # the map starts from the model training kept: its dev RMSE is the one its last epoch reported
    assert fit["dev_rmse_before"] == pytest.approx(plain.result.history[-1]["dev"]["score"]["value"], rel=1e-5)
    assert not plain.calibration


def test_both_calibrated_sees_through_a_student_that_only_differs_in_scale():
    """A student that answers 2 · teacher + 1 ranks exactly as the teacher and keeps nothing of its gain raw; with
    both mapped onto the dev labels by their own dev-fitted maps, it keeps all of it (least squares is affine-
    equivariant), and the maps are fitted on dev alone."""
    from distill.calibration import both_calibrated
    from distill.retention import paired_bootstrap

    task = load_tasks({"score": TaskConfig(**builtin_task("score", 240))}, seed=0, data=DataConfig())["score"]
    rng = torch.Generator().manual_seed(0)
    teacher = {
        s: [ex.target + 0.3 * float(torch.randn(1, generator=rng)) for ex in task.splits[s]] for s in ("dev", "test")
    }
    student = {s: [2 * p + 1 for p in preds] for s, preds in teacher.items()}
    raw = paired_bootstrap(task, "test", student["test"], teacher["test"], metrics=["rmse"])["rmse"]["retention"]
    both = both_calibrated(task, student, teacher)
    assert raw < 0 and abs(both["retention"] - 1.0) < 1e-9
    assert abs(both["maps"]["student"]["a"] * 2 - both["maps"]["teacher"]["a"]) < 1e-9
    shifted = {"dev": student["dev"], "test": [p + 5 for p in student["test"]]}  # a test-only shift stays visible
    assert both_calibrated(task, shifted, teacher)["retention"] < 0
