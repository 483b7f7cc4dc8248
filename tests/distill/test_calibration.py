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
