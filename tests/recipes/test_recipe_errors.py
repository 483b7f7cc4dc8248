"""Bad recipes fail before anything runs: one line naming the key or file, exit code 2, no output."""

from __future__ import annotations

from pathlib import Path

import pytest

from distill.errors import RecipeError
from recipes.cli import main
from recipes.loader import load_recipe
from tests.conftest import tiny_recipe, write_recipe


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("teacher.train.epochs=nope", r"teacher\.train\.epochs: Input should be a valid integer.*'nope'"),
        ("teacher.train.epochz=3", r"teacher\.train\.epochz: unknown key; valid keys here: epochs, batch_size"),
        ("teacher.train.lr=-1", r"teacher\.train\.lr: Input should be greater than 0"),
        ("tasks.category.type=ranking", r"tasks\.category\.type: unknown task type 'ranking'; choose one of"),
        ("teacher.model.heads=3", r"teacher\.model: hidden \(32\) must be a multiple of heads \(3\)"),
        ("tokenizer.from_pretrained=some/tok", r"tokenizer: set exactly one of"),
        ("teacher.train.task_weights={nope: 1}", r"task_weights names unknown task 'nope'"),
        ("tasks.category.source.format=csv", r"tasks\.category\.source: .*needs a 'train' file path"),
        ("tasks.category.sourse=builtin", r"tasks\.category\.sourse: unknown key; valid keys here: type, source"),
        ("data.on_error=ignore", r"data\.on_error: Input should be 'raise' or 'skip'"),
    ],
)
def test_bad_values_name_the_key_exit_2_and_leave_nothing(capsys, tmp_path, recipe_file, override, expected):
    out = tmp_path / "runs" / "tiny"
    code, err = run_cli(capsys, "run", str(recipe_file), "--out", str(out), "--stages", "teacher", "--set", override)
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("mtkd: error: ")
    assert __import__("re").search(expected, err), err
    assert not (tmp_path / "runs").exists()


def test_packaged_quickstart_bad_epochs_names_the_key(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(capsys, "run", "quickstart", "--stages", "teacher", "--set", "teacher.train.epochs=nope")
    assert code == 2 and "teacher.train.epochs" in err
    assert not (tmp_path / "runs").exists()


def test_missing_data_file_is_named(capsys, tmp_path):
    recipe = tiny_recipe()
    recipe["tasks"]["category"]["source"] = {"format": "csv", "train": str(tmp_path / "nope" / "train.csv")}
    path = write_recipe(tmp_path / "r.yaml", recipe)
    code, err = run_cli(capsys, "run", str(path), "--out", str(tmp_path / "out"))
    assert code == 2 and "tasks.category.source.train: file not found" in err and "nope/train.csv" in err
    assert not (tmp_path / "out").exists()


def test_unknown_top_level_key_lists_valid_keys(capsys, tmp_path):
    path = write_recipe(tmp_path / "r.yaml", tiny_recipe(studnet={"model": {}}))
    code, err = run_cli(capsys, "validate", str(path))
    assert code == 2 and "studnet: unknown key; valid keys here: name, seed, data, tasks" in err


def test_test_label_never_seen_in_training_fails_cleanly(capsys, tmp_path):
    train = "text,label\n" + "".join(f"item {i},{'a' if i % 2 else 'b'}\n" for i in range(40))
    (tmp_path / "train.csv").write_text(train)
    (tmp_path / "test.csv").write_text("text,label\nx,a\ny,zzz\n")
    recipe = tiny_recipe()
    recipe["tasks"] = {
        "t": {
            "type": "classification",
            "source": {"format": "csv", "train": str(tmp_path / "train.csv"), "test": str(tmp_path / "test.csv")},
        }
    }
    path = write_recipe(tmp_path / "r.yaml", recipe)
    out = tmp_path / "out"
    code, err = run_cli(capsys, "run", str(path), "--out", str(out))
    assert code == 2 and "test.csv:3: label 'zzz' never seen in train" in err
    assert not out.exists()


def test_malformed_yaml_and_unknown_recipe(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntasks: [unclosed\n")
    code, err = run_cli(capsys, "validate", str(bad))
    assert code == 2 and "not valid YAML" in err
    code, err = run_cli(capsys, "validate", "no-such-recipe")
    assert code == 2 and "packaged: " in err and "quickstart" in err


def test_bad_set_syntax_and_unknown_stage(capsys, recipe_file: Path, tmp_path):
    code, err = run_cli(capsys, "run", str(recipe_file), "--set", "teacher.train.epochs")
    assert code == 2 and "expected key.path=value" in err
    code, err = run_cli(capsys, "run", str(recipe_file), "--out", str(tmp_path / "o"), "--stages", "distil")
    assert code == 2 and "unknown stage 'distil'; stages are: tokenizer, pretrain, teacher" in err
    assert not (tmp_path / "o").exists()


def test_task_alpha_must_name_recipe_tasks(recipe_file):
    from distill.errors import RecipeError
    from recipes.loader import load_recipe

    student = "student={distill: {logits: {task_alpha: {nope: 0.0}}}}"
    with pytest.raises(RecipeError, match="task_alpha names unknown task 'nope'"):
        load_recipe(str(recipe_file), [student])
    with pytest.raises(RecipeError, match=r"task_alpha must lie in \[0, 1\]"):
        load_recipe(str(recipe_file), ["student={distill: {logits: {task_alpha: {category: 2}}}}"])


def test_intermediate_losses_are_checked_by_name_and_settings(tmp_path):
    cases = [
        ({"layers": {"no-such-term": {}}}, "unknown intermediate KD loss 'no-such-term'; choose one of: attention"),
        ({"layers": {"hidden": {}}}, "'hidden' has its own key, student.distill.hidden"),
        ({"relation": {"heads": 3}}, r"relation.heads \(3\) must divide both hidden sizes"),
    ]
    for distill, message in cases:
        student = {"model": {"layers": 1, "hidden": 16, "heads": 2, "intermediate": 32}, "distill": distill}
        path = write_recipe(tmp_path / "r.yaml", tiny_recipe(student=student))
        with pytest.raises(RecipeError, match=message):
            load_recipe(str(path))
