"""Standardised regression targets: the scale chosen, the head's affine map, the loss on z, and a
price-scale target that no longer swamps training, end to end and through ONNX."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from compress.onnx.export import export_onnx, parity, run_onnx, sample_inputs, torch_outputs
from distill.config import ModelConfig, TaskConfig, TrainConfig
from distill.data.examples import SPLITS
from distill.encoding import encode_examples
from distill.io import read_json
from distill.model import META, HeadSpec, MultiTaskModel, head_spec
from distill.target_scaling import target_scale
from distill.tokenization import train_wordpiece
from distill.training.loop import evaluate_all, train
from distill.workspace import Workspace
from tests.conftest import builtin_task, prepare_tasks

CPU = torch.device("cpu")
CFG = ModelConfig(layers=1, hidden=32, heads=2, intermediate=64, max_position=64)
M, S = 50_000.0, 20_000.0  # a price-like target: mean and std


def test_auto_scales_only_targets_far_from_unit_scale():
    prices = [100.0, 300.0, 500.0, 1100.0]
    mean, std = target_scale("price", prices, None)
    assert mean == pytest.approx(500.0) and std == pytest.approx(float(np.std(prices)))
    grades = [1.0, 2.0, 2.5, 3.0]
    assert target_scale("grade", grades, None) is None  # a 1-3 grade trains as before
    assert target_scale("tiny", [0.001, 0.002, 0.004], None) is not None  # std far below 1 too
    assert target_scale("price", prices, False) is None
    assert target_scale("grade", grades, True) == pytest.approx((2.125, float(np.std(grades))))
    assert target_scale("flat", [7.0, 7.0], True) == (7.0, 1.0)  # constant: centred, not divided by 0


def test_standardize_is_refused_on_a_classification_task():
    with pytest.raises(ValueError, match="applies to regression"):
        TaskConfig(**builtin_task("category", 50), standardize=True)


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece(["red leather boots", "blue cotton shirt", "phone case black"] * 10, 100, 1)


def test_head_answers_in_data_units_and_the_loss_is_the_mse_on_z(tokenizer, tmp_path):
    heads = [HeadSpec("price", "regression", ()), HeadSpec("scaled", "regression", (), (M, S))]
    torch.manual_seed(0)
    model = MultiTaskModel.from_config(CFG, heads, tokenizer).eval()
    model.heads["scaled"].head.load_state_dict(model.heads["price"].state_dict())  # the same z
    enc = tokenizer(["red boots", "blue cotton shirt case"], padding=True, return_tensors="pt")
    batch = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        out = model(**batch).logits
    z = out["price"]
    assert torch.allclose(out["scaled"], M + S * z)
    target = torch.tensor([30_000.0, 61_000.0])
    expected = F.mse_loss(z.squeeze(-1), (target - M) / S)
    assert model.task_loss("scaled", out["scaled"], target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert model.task_loss("price", z, target).item() == pytest.approx(F.mse_loss(z.squeeze(-1), target).item())

    # the scale travels in mtkd.json (absent for an unscaled head, as in models saved before it existed)
    model.save_pretrained(tmp_path / "m", tokenizer)
    entries = {t["name"]: t for t in read_json(tmp_path / "m" / META)["tasks"]}
    assert "target_scale" not in entries["price"] and entries["scaled"]["target_scale"] == [M, S]
    again = MultiTaskModel.from_pretrained(tmp_path / "m").eval()
    assert again.head_specs == model.head_specs
    with torch.no_grad():
        assert torch.equal(again(**batch).logits["scaled"], out["scaled"])

    # and ONNX answers in the same units: the affine map is part of the graph
    manifest = export_onnx(tmp_path / "m", tmp_path / "onnx")
    assert manifest["outputs"]["scaled"]["target_scale"] == [M, S]
    assert manifest["parity_vs_torch"]["scaled"]["max_abs_diff"] < 1e-4
    x = sample_inputs(model.config.vocab_size, batch=4, seq=12, seed=1)
    ref, got = torch_outputs(again, x), run_onnx(tmp_path / "onnx" / "model.onnx", x)
    np.testing.assert_allclose(got["scaled"], ref["scaled"], rtol=1e-5)
    np.testing.assert_allclose(got["scaled"], M + S * got["price"], rtol=1e-4)


def test_parity_of_a_standardised_head_is_measured_in_its_std():
    # float32 keeps ~7 digits: a 50,000 price may differ by 0.02 between runtimes, 1e-6 of its std
    ref, got = {"price": np.array([[50_000.0]])}, {"price": np.array([[50_000.02]])}
    kinds, mask = {"price": "regression"}, np.ones((1, 1))
    assert parity(ref, got, kinds, mask)["price"]["max_abs_diff"] == pytest.approx(0.02, rel=1e-3)
    assert parity(ref, got, kinds, mask, {"price": S})["price"]["max_abs_diff"] == pytest.approx(1e-6, rel=1e-3)


def price_tasks(standardize: bool | None):
    """The built-in relevance score turned into a price (1000 + 400 · score) beside a classifier."""
    cfgs = {
        "category": TaskConfig(**builtin_task("category", 400)),
        "price": TaskConfig(**builtin_task("score", 400), standardize=standardize),
    }
    tasks, tok, _ = prepare_tasks(cfgs)
    for split in SPLITS:
        for ex in tasks["price"].splits[split]:
            ex.target = 1000.0 + 400.0 * ex.target
    enc = {t: {s: encode_examples(tok, d.splits[s], d.kind, 32) for s in SPLITS} for t, d in tasks.items()}
    return tasks, tok, enc


@pytest.mark.parametrize("standardize", [None, False])
def test_a_price_target_learns_only_when_standardised(standardize, tmp_path):
    tasks, tok, enc = price_tasks(standardize)
    spec = head_spec(tasks["price"])
    assert (spec.target_scale is not None) == (standardize is None)  # auto picks it for a price
    torch.manual_seed(0)
    model = MultiTaskModel.from_config(CFG, [head_spec(tasks["category"]), spec], tok)
    # three epochs to beat the mean; one shows the unscaled head is still far from the data
    cfg = TrainConfig(epochs=3 if standardize is None else 1, batch_size=16, lr=3e-3, max_len=32, warmup=0.1)
    train(model, Workspace(tasks, tok, tmp_path), enc, cfg, name="t")
    test = evaluate_all(model, tasks, enc, "test", cfg, CPU, tok.pad_token_id)["price"]
    if standardize is None:  # near the data at once, then better than the train mean
        assert test["value"] < test["baseline"], test
    else:  # the unscaled head starts at 0 and moves by ~lr a step: still ~1,000 away from the data
        assert test["value"] > 3 * test["baseline"], test
