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
