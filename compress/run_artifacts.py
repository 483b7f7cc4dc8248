"""The artifacts a finished run holds, named as the bench and the export name them."""

from __future__ import annotations

from pathlib import Path

ARTIFACT_NAMES = {"teacher": "teacher", "distill": "student", "prune": "pruned"}  # stage directory → artifact name


def discover_artifacts(run_dir: Path) -> dict[str, Path]:
    """Model directories a run produced, named by what they are (teacher, student, ...)."""
    found = {}
    for stage, name in ARTIFACT_NAMES.items():
        if (run_dir / stage / "model" / "mtkd.json").is_file():
            found[name] = run_dir / stage / "model"
    for extra in sorted(run_dir.glob("*/model/mtkd.json")):
        stage = extra.parent.parent.name
        if stage not in ARTIFACT_NAMES:
            found.setdefault(stage, extra.parent)
    for brought in sorted(run_dir.glob("teacher/brought/*/brought.json")):  # per-task teachers a user brought
        found[f"teacher.{brought.parent.name}"] = brought.parent
    for exported in sorted([*run_dir.glob("*/*/model.onnx"), *run_dir.glob("*/*/model.plan")]):
        found.setdefault(exported.parent.name, exported.parent)  # quantize/<artifact>-<preset>, compile/<engine>
    return found
