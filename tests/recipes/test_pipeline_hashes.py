"""Stage hashes: a setting re-runs exactly the stages that read it."""

from __future__ import annotations


def test_standardize_reruns_the_teacher_and_not_pretraining(tmp_path):
    from recipes.pipeline import STAGES, stage_hash
    from recipes.schema import Recipe
    from recipes.stages import register_stages
    from tests.conftest import tiny_recipe

    register_stages()

    def hashes(**score):
        raw = tiny_recipe(pretrain={"epochs": 1})
        raw["tasks"]["score"].update(score)
        recipe = Recipe.model_validate(raw)
        return {s: stage_hash(STAGES.get(s)(), recipe, tmp_path) for s in ("tokenizer", "pretrain", "teacher")}

    default, auto, scaled = hashes(), hashes(standardize=None), hashes(standardize=True)
    assert default == auto  # the default leaves every recorded hash as it was
    assert scaled["tokenizer"] == default["tokenizer"] and scaled["pretrain"] == default["pretrain"]
    assert scaled["teacher"] != default["teacher"]


def test_the_renamed_sampling_temperature_keeps_hashes_and_reads_the_old_key(tmp_path, caplog):
    """``train.temperature`` became ``train.sampling_temperature`` (the KD softmax has a temperature too): a
    recipe with the old key still loads, says so, and hashes like one with the new key, under the old name, so
    runs made before the rename stay up to date."""
    import pytest

    from distill.config import TrainConfig
    from recipes.pipeline import STAGES, settings_of, stage_hash
    from recipes.schema import Recipe
    from recipes.stages import register_stages
    from tests.conftest import tiny_recipe

    register_stages()

    def teacher_hash(**train):
        raw = tiny_recipe()
        raw["teacher"]["train"].update(train)
        return stage_hash(STAGES.get("teacher")(), Recipe.model_validate(raw), tmp_path)

    with caplog.at_level("WARNING", logger="mtkd"):
        old = teacher_hash(temperature=3.0)
    assert "train.temperature is now train.sampling_temperature" in caplog.text
    assert old == teacher_hash(sampling_temperature=3.0) != teacher_hash(sampling_temperature=2.5)
    assert settings_of(TrainConfig(sampling_temperature=3.0)) == {"temperature": 3.0}
    with pytest.raises(ValueError, match="sampling_temperature only"):
        TrainConfig.model_validate({"temperature": 2.0, "sampling_temperature": 2.0})
