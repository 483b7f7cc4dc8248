"""The GPU check script: its dry mode validates the plan on any machine, and a failing step never stops the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tools.gpu_selfcheck import Step, plan, run_steps, write_report

ROOT = Path(__file__).resolve().parents[2]


def test_the_script_dry_run_checks_every_step_and_writes_one_report(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / ".ci" / "gpu-check"), "--dry", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["dry"] and [s["name"] for s in report["steps"]] == [s.name for s in plan(tmp_path)]
    assert {s["status"] for s in report["steps"]} == {"planned"}
    quick = next(s for s in report["steps"] if s["name"] == "quickstart on cuda")
    assert "--device" in quick["argv"] and "cuda" in quick["argv"] and "validates" in quick["tail"][-1]
    assert "| gpu bench | planned |" in (tmp_path / "report.md").read_text()
    assert sum(s.timeout_s for s in plan(tmp_path)) <= 8 * 60


def test_a_failing_or_hanging_step_is_recorded_and_the_next_ones_still_run(tmp_path):
    seen = []

    def runner(step: Step):
        seen.append(step.name)
        if step.name == "gpu tests":
            raise RuntimeError("CUDA driver version is insufficient")
        return (None, "…still building\n") if step.name == "quickstart on cuda" else (0, "fine\n")

    steps = run_steps(plan(tmp_path), runner, dry=False)
    assert seen == [s.name for s in steps]  # all four ran
    status = {s.name: s.status for s in steps}
    assert status == {
        "doctor": "passed",
        "gpu tests": "failed",
        "quickstart on cuda": "timed out",
        "gpu bench": "passed",
    }
    assert steps[1].tail == ["RuntimeError: CUDA driver version is insufficient"]
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "report.md").write_text("| artifact | runtime |\n")
    text = write_report(tmp_path, steps, dry=False).read_text()
    assert "| gpu tests | failed |" in text and "## GPU benchmark" in text and "| artifact | runtime |" in text
