"""Every CLI command against a finished run on a really read-only file system (a read-only bind mount, so even
root cannot write): readers answer as usual, writers stop with one line naming the path, never a traceback."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from recipes.cli import main


@pytest.fixture
def read_only_run(quantized_run, tmp_path):
    """A copy of the finished tiny run, mounted read-only; skipped where this machine cannot mount."""
    source, mounted = tmp_path / "source", tmp_path / "ro"
    shutil.copytree(quantized_run, source / "run", symlinks=True)
    mounted.mkdir()
    bind = subprocess.run(["mount", "--bind", str(source), str(mounted)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root and mount rights): {bind.stderr.strip()}")
    try:
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(mounted)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
        yield mounted / "run"
    finally:
        subprocess.run(["umount", str(mounted)], check=False)


def test_readers_answer_and_writers_name_the_read_only_path(read_only_run, tmp_path, capsys):
    run = read_only_run
    with pytest.raises(OSError):
        (run / "probe").write_text("x")  # the mount really refuses writes
    bench = str(run / "bench")
    readers = [
        ["metrics", str(run)],
        ["evaluate", str(run), "--stage", "distill", "--task", "category"],
        ["report", "--compare", bench, bench],
        ["validate", str(run / "recipe.yaml")],
    ]
    for command in readers:
        assert main(command) == 0, command
        assert "Traceback" not in capsys.readouterr().err
    bundle = tmp_path / "bundle"  # read from the read-only run, written elsewhere
    assert main(["export", str(run), "--artifact", "student-dynamic-int8", "--out", str(bundle)]) == 0
    assert (bundle / "bundle.json").is_file()
    assert main(["predict", str(bundle), "--task", "category", "a red cotton shirt"]) == 0
    capsys.readouterr()
    writers = [
        ["run", str(run / "recipe.yaml"), "--out", str(run)],
        ["bench", str(run), "--out", str(run / "bench-again")],
        ["export", str(run), "--artifact", "student-dynamic-int8", "--out", str(run / "bundle")],
    ]
    for command in writers:
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "Read-only file system (EROFS)" in err and str(run) in err and "Traceback" not in err, command
        assert len(err.strip().splitlines()) == 1, command
