"""Extending mtkd from outside the package: one plugin file registers a task type, a logit KD loss, an
intermediate KD loss and a quantization preset (a typed config and its handler); a recipe names the file
under ``plugins:`` and uses all four."""

from __future__ import annotations

import json
import sys

import pytest

from distill.errors import RecipeError
from recipes.cli import main
from recipes.loader import load_recipe
from tests.conftest import TINY_TRAIN, tiny_recipe, write_recipe

PLUGIN = '''
"""A user's extras: nothing here is part of mtkd."""
import torch
from torch.nn import functional as F

from compress.onnx.presets import PRESETS, PresetConfig, preset_handler
from distill.config import StrictModel
from distill.kd.layer_transfer import LAYER_LOSSES, LayerLoss
from distill.kd.losses import LOGIT_LOSSES
from distill.tasks import TASK_TYPES, Classification

CALLS = {"kd": 0, "focal": 0, "similarity": 0}


@TASK_TYPES.register("focal_classification")
class FocalClassification(Classification):
    """Single-label classification trained with the focal loss (Lin et al. 2017)."""

    name = "focal_classification"

    def loss(self, logits, target):
        CALLS["focal"] += 1
        logp = F.log_softmax(logits.float(), -1).gather(-1, target[:, None]).squeeze(-1)
        return (-(1 - logp.exp()) ** 2 * logp).mean()


@LOGIT_LOSSES.register("logit-mse")
def logit_mse(student, teacher, temperature, labels=None):
    """Match raw logits (Ba & Caruana 2014) instead of softened distributions."""
    CALLS["kd"] += 1
    return F.mse_loss(student.float(), teacher.float())


class SimilarityConfig(StrictModel):
    weight: float = 1.0


@LAYER_LOSSES.register("token-similarity")
class TokenSimilarity(LayerLoss):
    """MSE between the cosine similarities of every pair of tokens in the last layer (any widths)."""

    config = SimilarityConfig
    needs_hidden_states = True

    def forward(self, s, t, mask):
        CALLS["similarity"] += 1
        pairs = (mask[:, :, None] * mask[:, None, :]).bool()

        def similarity(h):
            h = F.normalize(h.float(), dim=-1)
            return h @ h.transpose(1, 2)

        return F.mse_loss(similarity(s.hidden_states[-1])[pairs], similarity(t.hidden_states[-1])[pairs])


class MatMulInt8(PresetConfig):
    """ONNX Runtime dynamic INT8 on chosen operators (MatMul nodes only by default)."""

    op_types: list[str] = ["MatMul"]


@preset_handler(MatMulInt8)
def matmul_only(cfg, src, dst, exclude, calibration):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), op_types_to_quantize=cfg.op_types, weight_type=QuantType.QInt8,
                     nodes_to_exclude=list(exclude), extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return {"mode": "dynamic", "op_types": cfg.op_types, "precision": "int8"}


PRESETS.register("dynamic-int8-matmul-only")(MatMulInt8())
'''


@pytest.fixture(scope="module")
def extended_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugins")
    (root / "extras.py").write_text(PLUGIN, encoding="utf-8")
    recipe = tiny_recipe(
        plugins=["extras.py"],  # relative to the recipe's folder
        student={
            "model": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32, "max_position": 64},
            "distill": {
                "logits": {"task_loss": {"category": "logit-mse"}},
                "layers": {"token-similarity": {"weight": 0.5}},
            },
            "train": {**TINY_TRAIN, "epochs": 1},
        },
        quantize={
            "presets": [
                "dynamic-int8-matmul-only",  # the plugin's preset, and the same with a setting changed
                {
                    "preset": "dynamic-int8-matmul-only",
                    "name": "int8-gemm",
                    "settings": {"op_types": ["MatMul", "Gemm"]},
                },
            ],
            "accuracy_aware": False,
        },
    )
    recipe["tasks"]["category"]["type"] = "focal_classification"
    path = write_recipe(root / "extended.yaml", recipe)
    assert main(["run", str(path), "--out", str(root / "run")]) == 0
    return root / "run"


def test_a_plugin_file_adds_a_task_type_kd_losses_and_a_preset_that_a_recipe_uses(extended_run):
    plugin = next(m for name, m in sys.modules.items() if name.startswith("mtkd_plugin_extras"))
    # the teacher's loss, the student's logit KD and its layer-transfer term ran
    assert plugin.CALLS["focal"] > 0 and plugin.CALLS["kd"] > 0 and plugin.CALLS["similarity"] > 0
    heads = {t["name"]: t for t in json.loads((extended_run / "distill" / "model" / "mtkd.json").read_text())["tasks"]}
    assert heads["category"]["type"] == "focal_classification"
    report = json.loads((extended_run / "quantize" / "report.json").read_text())
    assert report["student-dynamic-int8-matmul-only"]["precision"] == "int8"
    manifest = json.loads((extended_run / "quantize" / "student-dynamic-int8-matmul-only" / "onnx.json").read_text())
    assert manifest["quantization"]["op_types"] == ["MatMul"]
    changed = json.loads((extended_run / "quantize" / "student-int8-gemm" / "onnx.json").read_text())
    assert changed["preset"] == "int8-gemm" and changed["quantization"]["op_types"] == ["MatMul", "Gemm"]
    saved = load_recipe(str(extended_run / "recipe.yaml"))  # the saved recipe finds its plugin from anywhere
    assert saved.plugins[0].endswith("extras.py") and saved.student.distill.logits.task_loss == {
        "category": "logit-mse"
    }


def test_a_name_no_plugin_registered_is_refused_with_the_choices(tmp_path):
    recipe = tiny_recipe(student={"distill": {"logits": {"loss": "no-such-loss"}}})
    path = write_recipe(tmp_path / "bad.yaml", recipe)
    with pytest.raises(RecipeError, match=r"unknown logit KD loss 'no-such-loss'; choose one of: class, classes"):
        load_recipe(str(path))
    with pytest.raises(RecipeError, match=r"plugins: no file .*missing\.py"):
        load_recipe(str(write_recipe(tmp_path / "p.yaml", tiny_recipe(plugins=["missing.py"]))))
    with pytest.raises(RecipeError, match=r"plugins: cannot import 'no_such_module_xyz'"):
        load_recipe(str(write_recipe(tmp_path / "m.yaml", tiny_recipe(plugins=["no_such_module_xyz"]))))
