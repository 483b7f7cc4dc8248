"""What the CLI prints when the file system or mtkd itself fails: one line naming the file or the bug,
never a traceback, and a run directory whose finished stages are still the finished ones."""

from __future__ import annotations

import errno
import json

from recipes.cli import main


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "/runs/x/teacher.incomplete/model.safetensors")


def test_a_full_disk_mid_stage_is_one_line_and_the_finished_stage_stays(recipe_file, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["run", str(recipe_file), "--out", str(run), "--stages", "tokenizer"]) == 0
    before = json.loads((run / "tokenizer" / "stage.json").read_text())
    monkeypatch.setattr("recipes.stages.teacher.build_tokenizer", _full_disk)
    changed = ["--set", "tokenizer.vocab_size=450"]  # the stage must run again, and the disk is full
    assert main(["run", str(recipe_file), "--out", str(run), "--stages", "tokenizer", *changed]) == 2
    err = capsys.readouterr().err
    assert "No space left on device (ENOSPC)" in err and "model.safetensors" in err and "Traceback" not in err
    assert json.loads((run / "tokenizer" / "stage.json").read_text()) == before  # the old stage, intact
    assert not (run / "tokenizer.incomplete").exists()
    monkeypatch.undo()
    assert main(["run", str(recipe_file), "--out", str(run), "--stages", "tokenizer", *changed]) == 0


def test_a_permission_problem_names_the_file(recipe_file, tmp_path, capsys, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "run"))

    monkeypatch.setattr("recipes.run_lock.os.open", denied)
    assert main(["run", str(recipe_file), "--out", str(tmp_path / "run"), "--stages", "tokenizer"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'run'}: Permission denied (EACCES)" in err and "Traceback" not in err


def test_an_internal_error_is_reported_as_a_bug_in_one_line(recipe_file, tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("something mtkd got wrong")

    monkeypatch.setattr("recipes.stages.teacher.build_tokenizer", broken)
    assert main(["run", str(recipe_file), "--out", str(tmp_path / "run"), "--stages", "tokenizer"]) == 70
    err = capsys.readouterr().err
    assert "internal error (a bug in mtkd, not in your input): ValueError: something mtkd got wrong at " in err
    assert "rerun with -v" in err and "Traceback" not in err


def test_every_command_on_a_missing_run_or_bundle_is_one_named_line(tmp_path, capsys):
    missing = str(tmp_path / "absent")
    commands = [
        ["metrics", missing],
        ["evaluate", missing],
        ["bench", missing],
        ["export", missing, "--out", str(tmp_path / "bundle")],
        ["predict", missing, "some text"],
        ["loadtest", missing],
        ["report", "--compare", missing, missing],
        ["run", missing],
        ["validate", missing],
    ]
    for command in commands:
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert err.startswith("mtkd: error: ") and missing in err and "Traceback" not in err, command
        assert len(err.strip().splitlines()) == 1, command
    assert not (tmp_path / "bundle").exists()
