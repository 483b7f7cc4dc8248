"""SIGKILL during teacher training, then ``mtkd run --resume``: it finishes with the same metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import tiny_recipe, write_recipe


def mtkd(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "recipes", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).parents[2],
        **kw,
    )


@pytest.mark.slow
def test_killed_training_resumes_from_its_checkpoint_and_matches(tmp_path):
    recipe = tiny_recipe()
    recipe["teacher"]["train"].update(epochs=4, checkpoint_every=10)
    path = write_recipe(tmp_path / "tiny.yaml", recipe)

    reference = mtkd("run", str(path), "--out", str(tmp_path / "ref"))
    assert reference.wait(timeout=300) == 0, reference.stdout.read()

    victim = mtkd("run", str(path), "--out", str(tmp_path / "run"))
    ckpt = tmp_path / "run" / "teacher.incomplete" / "checkpoints" / "last" / "trainer.pt"
    deadline = time.time() + 240
    while not ckpt.exists() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert victim.poll() is None, "training finished before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "run" / "teacher").exists()  # an interrupted stage is never published

    resumed = mtkd("run", str(path), "--out", str(tmp_path / "run"), "--resume")
    log = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, log
    assert "resuming at epoch" in log
    ref = json.loads((tmp_path / "ref" / "teacher" / "metrics.json").read_text())
    got = json.loads((tmp_path / "run" / "teacher" / "metrics.json").read_text())
    assert got == ref
