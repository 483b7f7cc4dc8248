"""One writer per run directory: a second writer stops at once with a named error; a killed one frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from recipes.cli import main
from recipes.run_lock import LOCK_FILE, RunLocked, new_directory_lock, run_lock


def test_a_second_writer_is_refused_with_the_holder_named_and_the_lock_is_reusable(tmp_path):
    run = tmp_path / "run"
    refused = pytest.raises(RunLocked, match=rf"is being written by process {os.getpid()} ")
    with run_lock(run), refused, run_lock(run):
        pass
    assert not run.exists()  # a first run that wrote nothing leaves no folder behind
    with run_lock(run):
        (run / "stage").mkdir()
    assert (run / LOCK_FILE).read_text() == ""  # released: no holder named


def test_mtkd_run_into_a_locked_directory_exits_2_and_touches_nothing(recipe_file, tmp_path, capsys):
    run = tmp_path / "run"
    with run_lock(run):
        before = sorted(p.name for p in run.iterdir())
        assert main(["run", str(recipe_file), "--out", str(run), "--stages", "tokenizer"]) == 2
        assert sorted(p.name for p in run.iterdir()) == before
    err = capsys.readouterr().err
    assert "is being written by process" in err and "Traceback" not in err


def test_a_killed_writer_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from recipes.run_lock import run_lock\nwith run_lock({str(run)!r}):\n"
            "    print('held', flush=True)\n    import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLocked, match=f"process {holder.pid} "), run_lock(run):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=10)
    deadline = time.monotonic() + 5
    while True:  # the kernel drops the lock with the process
        try:
            with run_lock(run):
                break
        except RunLocked:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_bench_and_export_into_a_directory_being_written_exit_2_naming_the_writer(tmp_path, capsys):
    model = tmp_path / "model"  # never read: the lock is taken before anything else
    with run_lock(tmp_path / "bench"):
        assert main(["bench", str(model), "--out", str(tmp_path / "bench")]) == 2
    assert "bench is being written by process" in capsys.readouterr().err
    with new_directory_lock(tmp_path / "bundle"):
        assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "bundle")]) == 2
        assert not (tmp_path / "bundle").exists()  # nothing touched
    assert "bundle is being written by process" in capsys.readouterr().err
    assert list(tmp_path.glob(".bundle*")) == []  # the export lock file goes with its writer


def test_an_export_removes_what_a_killed_export_left_beside_its_folder_and_nothing_else(tmp_path, caplog):
    killed = tmp_path / ".bundle.k1ll3d_x"  # tempfile.mkdtemp's name for a bundle being written
    killed.mkdir()
    (killed / "model.onnx").write_bytes(b"half a graph")
    others = [".bundle.old", ".bundles.abcdefgh", ".bundle.abcdefghi", "bundle.abcdefgh"]  # not the export's
    for name in others:
        (tmp_path / name).mkdir()
    (tmp_path / ".bundle.filefile").write_text("a file, not a folder")
    with caplog.at_level("INFO", logger="mtkd"):
        assert main(["export", str(tmp_path / "run"), "--out", str(tmp_path / "bundle")]) == 2  # no such run
    assert not killed.exists() and all((tmp_path / name).is_dir() for name in others)
    assert (tmp_path / ".bundle.filefile").is_file()
    assert "left unfinished: .bundle.k1ll3d_x" in caplog.text
