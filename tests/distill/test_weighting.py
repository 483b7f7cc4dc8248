"""Task weighting: static weights and learned (uncertainty) weights."""

from __future__ import annotations

import pytest
import torch

from distill.config import TrainConfig
from distill.training.optim import build_optimizer
from distill.training.weighting import WEIGHTINGS, UncertaintyWeighting


def test_static_weighting_scales_by_task_weight():
    w = WEIGHTINGS.get("static")(["a", "b"], {"b": 0.5})
    assert float(w("b", torch.tensor(2.0))) == 1.0 and list(w.parameters()) == []


def test_uncertainty_weighting_down_weights_the_task_with_larger_loss():
    w = UncertaintyWeighting(["noisy", "clean"], {})
    opt = build_optimizer(w, TrainConfig(lr=0.01, weight_decay=0.5))
    assert opt.param_groups[-1]["lr"] == pytest.approx(0.1) and opt.param_groups[-1]["weight_decay"] == 0.0
    for _ in range(300):
        for task, loss in (("noisy", 4.0), ("clean", 0.25)):
            opt.zero_grad()
            w(task, torch.tensor(loss)).backward()
            opt.step()
    eff = w.effective()
    # the optimum of exp(-s)·L + s/2 is exp(-s) = 1 / (2L)
    assert eff["noisy"] == pytest.approx(1 / 8, rel=0.1) and eff["clean"] == pytest.approx(2.0, rel=0.1)


def test_unknown_weighting_is_a_clear_recipe_error():
    with pytest.raises(ValueError, match=r"unknown weighting 'gradnorm'.*static, uncertainty"):
        TrainConfig(weighting="gradnorm")
