"""``mtkd ablate --what pretrain|weighting``: teacher variants trained side by side on one recipe.

Variants share the run's tokenizer (and ``pretrain`` stage where they use it) and write their
teachers to ``<run>/ablation/teacher-<variant>``; the table puts their test metrics and training
times next to each other, so the figure comes from one command.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from distill.config import PretrainConfig
from distill.io import read_json
from recipes.pipeline import STAGES, run_pipeline, stage_hash
from recipes.schema import Recipe
from recipes.stage_record import recorded_hash


def pretrain_variants(recipe: Recipe) -> dict[str, Recipe]:
    """The teacher with and without MLM pretraining; the fine-tuning budget is the same."""
    return {
        "with MLM pretraining": recipe.model_copy(update={"pretrain": recipe.pretrain or PretrainConfig()}),
        "without pretraining": recipe.model_copy(update={"pretrain": None}),
    }


def weighting_variants(recipe: Recipe) -> dict[str, Recipe]:
    """Task mixing: sampling ∝ size, ∝ size^(1/2) (temperature 2), and learned uncertainty weights."""
    train = recipe.teacher.train

    def with_train(**update) -> Recipe:
        teacher = recipe.teacher.model_copy(update={"train": train.model_copy(update=update)})
        return recipe.model_copy(update={"teacher": teacher})

    t2 = {"sampling": "temperature", "sampling_temperature": 2.0}
    return {
        "proportional sampling": with_train(sampling="proportional", weighting="static"),
        "temperature sampling (T=2)": with_train(**t2, weighting="static"),
        "T=2 + uncertainty weighting": with_train(**t2, weighting="uncertainty"),
    }


TEACHER_ABLATIONS = {"pretrain": pretrain_variants, "weighting": weighting_variants}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def run_teacher_ablation(recipe: Recipe, run_dir: Path, what: str, device: str = "auto", resume: bool = False) -> str:
    """Train every variant's teacher; write and return the Markdown comparison."""
    variants = TEACHER_ABLATIONS[what](recipe)
    reports = {}
    for name, variant in variants.items():
        out = f"ablation/teacher-{slug(name)}"
        _reuse_identical_teacher(variant, run_dir, run_dir / out)
        done = run_pipeline(variant, run_dir, ["teacher"], device, resume, outputs={"teacher": out}, save_recipe=False)
        pre = done.get("pretrain")
        reports[name] = {
            "metrics": read_json(run_dir / out / "metrics.json"),
            "teacher_seconds": done["teacher"].summary["train_seconds"],
            "pretrain_seconds": pre.summary.get("train_seconds", 0.0) if pre and variant.pretrain else None,
        }
    table = teacher_ablation_table(reports)
    (run_dir / "ablation").mkdir(parents=True, exist_ok=True)
    (run_dir / "ablation" / f"teacher-{what}.md").write_text(table, encoding="utf-8")
    return table


def _reuse_identical_teacher(variant: Recipe, run_dir: Path, target: Path) -> None:
    """A variant with the very settings of a teacher already trained in this run is copied, not retrained
    (the recipe's own teacher, or the same variant under another ablation)."""
    if target.exists():
        return
    expected = stage_hash(STAGES.get("teacher")(), variant, run_dir)
    for candidate in [run_dir / "teacher", *sorted((run_dir / "ablation").glob("teacher-*"))]:
        if recorded_hash(candidate) == expected:
            shutil.copytree(candidate, target)
            return


def teacher_ablation_table(reports: dict[str, dict]) -> str:
    """Per task one row, per variant one column (test metric); then training minutes."""
    names = list(reports)
    first = reports[names[0]]["metrics"]
    lines = ["| task | metric | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for task, m in first.items():
        arrow = "↑" if m["higher_is_better"] else "↓"
        cells = [f"{reports[n]['metrics'][task]['value']:.4f}" for n in names]
        lines.append(f"| {task} | {m['metric']} {arrow} | " + " | ".join(cells) + " |")
    minutes = [
        f"{reports[n]['teacher_seconds'] / 60:.1f}"
        + (
            f" + {reports[n]['pretrain_seconds'] / 60:.1f} pretrain"
            if reports[n]["pretrain_seconds"] is not None
            else ""
        )
        for n in names
    ]
    lines.append("| training minutes | | " + " | ".join(minutes) + " |")
    return "\n".join(lines) + "\n"
