"""Presets are typed configs: a recipe changes their settings, and bad settings or names are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from compress.onnx.config import PresetChoice, QuantizeConfig, preset_configs
from compress.onnx.presets import PRESETS, DynamicInt8, PresetConfig, handler_for
from distill.errors import MtkdError


def test_a_choice_changes_a_presets_settings_under_its_own_name():
    cfg = QuantizeConfig(
        presets=[
            "dynamic-int8",
            {"preset": "dynamic-int8", "name": "int8-matmul", "settings": {"op_types": ["MatMul"]}},
        ]
    )
    configs = preset_configs(cfg.presets)
    assert list(configs) == ["dynamic-int8", "int8-matmul"]
    assert configs["int8-matmul"] == DynamicInt8(op_types=["MatMul"])
    assert configs["dynamic-int8"].op_types == ["MatMul", "Gemm", "Attention"]  # the registered one is untouched
    assert PRESETS.get("dynamic-int8").op_types == ["MatMul", "Gemm", "Attention"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"preset": "dynamic-int8", "settings": {"bits": 4}}, "bits"),
        ({"preset": "dynamic-int8", "settings": {"per_channel": "often"}}, "per_channel"),
        ({"preset": "no-such-preset"}, "unknown preset 'no-such-preset'; choose one of: dynamic-int8"),
        ({"preset": "fp16", "name": "../escape"}, "letters, digits"),
        ("int4-magic", "unknown preset 'int4-magic'"),
    ],
)
def test_bad_preset_entries_are_refused_naming_the_problem(entry, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        QuantizeConfig(presets=[entry])


def test_two_presets_may_not_share_an_artifact_name():
    with pytest.raises(ValidationError, match="share one artifact name"):
        QuantizeConfig(presets=["fp16", {"preset": "dynamic-int8", "name": "fp16"}])


def test_every_packaged_preset_has_a_handler_and_says_what_it_needs():
    for name in PRESETS.names():
        cfg = PRESETS.get(name)
        assert callable(handler_for(cfg)), name
        assert cfg.graph in ("fused", "unfused"), name
    assert PRESETS.get("static-int8").needs_calibration and PRESETS.get("qdq-int8-tensorrt").graph == "unfused"
    assert PRESETS.get("optimum-dynamic-int8").peer and not PRESETS.get("dynamic-int8").peer


def test_a_config_without_a_handler_says_how_to_register_one(tmp_path):
    class Orphan(PresetConfig):
        bits: int = 4

    with pytest.raises(MtkdError, match="no handler registered for Orphan"):
        Orphan()(tmp_path / "a.onnx", tmp_path / "b.onnx")
    assert PresetChoice(preset="fp16").label == "fp16"
