"""``mtkd ablate``: the same student trained on hard labels, with logit KD, and with full KD (and
with full KD on augmented data when the recipe sets ``distill.augment``).

Users see what each part of distillation buys, per task, against one shared teacher.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from distill.config import DistillConfig, HiddenKD, LogitsKD, RelationKD
from distill.io import read_json
from distill.retention import retention
from recipes.pipeline import STAGES, run_pipeline, stage_hash
from recipes.schema import Recipe, StudentConfig
from recipes.stage_record import recorded_hash

VARIANTS = ("hard", "logits", "full", "augmented")
COLUMNS = {
    "hard": "hard labels",
    "logits": "logits KD",
    "full": "logits + hidden/relation KD",
    "augmented": "full KD + augmented data",
}


def variant_configs(distill: DistillConfig) -> dict[str, DistillConfig]:
    """hard labels only; logits KD only; logits + the recipe's layer transfer (or hidden + relation);
    the full variant on augmented data too when the recipe augments."""
    augment, distill = distill.augment, distill.model_copy(update={"augment": None})
    logits = distill.logits or LogitsKD()
    full = (
        distill
        if distill.intermediate and distill.logits
        else distill.model_copy(
            update={
                "logits": logits,
                "hidden": distill.hidden or HiddenKD(),
                "relation": distill.relation or RelationKD(),
            }
        )
    )
    off = {"hidden": None, "attention": None, "relation": None, "two_stage": None}
    variants = {
        "hard": distill.model_copy(update={"logits": None, **off}),
        "logits": distill.model_copy(update={"logits": logits, **off}),
        "full": full,
    }
    if augment is not None:
        variants["augmented"] = full.model_copy(update={"augment": augment})
    return variants


def ablation_folder(student: StudentConfig) -> str:
    """``ablation``, or ``ablation-seed<N>`` for a repeat with its own student seed (kept side by side)."""
    return "ablation" if student.seed is None else f"ablation-seed{student.seed}"


def run_ablation(recipe: Recipe, run_dir: Path, device: str = "auto", resume: bool = False) -> str:
    """Distil every variant into ``run_dir/<ablation folder>/<variant>`` and return the Markdown table."""
    student = recipe.student or StudentConfig()
    variants, folder = variant_configs(student.distill), ablation_folder(student)
    for name, cfg in variants.items():
        variant = recipe.model_copy(update={"student": student.model_copy(update={"distill": cfg})})
        _reuse_main_distill(variant, run_dir, run_dir / folder / name)
        run_pipeline(
            variant, run_dir, ["distill"], device, resume, outputs={"distill": f"{folder}/{name}"}, save_recipe=False
        )
    reports = {v: read_json(run_dir / folder / v / "report.json") for v in variants}
    table = ablation_table(reports)
    (run_dir / folder / "report.md").write_text(table, encoding="utf-8")
    return table


def _reuse_main_distill(variant: Recipe, run_dir: Path, target: Path) -> None:
    """A variant with the very settings of the run's own distill stage is copied, not retrained."""
    main = recorded_hash(run_dir / "distill")
    if target.exists() or main is None:
        return
    if main == stage_hash(STAGES.get("distill")(), variant, run_dir):
        shutil.copytree(run_dir / "distill", target)


def ablation_table(reports: dict[str, dict]) -> str:
    """Per task: the teacher's metric and each variant's metric with its retention."""
    first, names = reports[VARIANTS[0]], [v for v in VARIANTS if v in reports]
    ratio = first["encoder_params"][0] / first["encoder_params"][1]
    lines = [
        f"Student encoder = {ratio:.3f} of the teacher's parameters; retention = student / teacher (for an error "
        "metric such as RMSE: the share of the teacher's gain over the mean predictor that the student keeps).",
        "",
        "| task | metric | teacher | " + " | ".join(COLUMNS[v] for v in names) + " |",
        "|---|---|---:|" + "---:|" * len(names),
    ]
    for task, row in first["tasks"].items():
        arrow = "↑" if row["higher_is_better"] else "↓"
        cells = [
            f"{reports[v]['tasks'][task]['student']:.4f} ({100 * reports[v]['tasks'][task]['retention']:.1f}%)"
            for v in names
        ]
        lines.append(f"| {task} | {row['metric']} {arrow} | {row['teacher']:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_seed_ablation(
    recipe: Recipe, run_dir: Path, seeds: list[int], device: str = "auto", resume: bool = False
) -> str:
    """The ablation once per student seed (``ablation-seed<N>``; done seeds are recognised, not
    retrained), then :func:`seed_summary` over them, also written to ``ablation-seeds.md``."""
    student = recipe.student or StudentConfig()
    reports: dict[int, dict[str, dict]] = {}
    for seed in seeds:
        seeded = student.model_copy(update={"seed": seed})
        run_ablation(recipe.model_copy(update={"student": seeded}), run_dir, device, resume)
        folder = run_dir / ablation_folder(seeded)
        reports[seed] = {v: read_json(folder / v / "report.json") for v in variant_configs(student.distill)}
    table = seed_summary(reports)
    (run_dir / "ablation-seeds.md").write_text(table, encoding="utf-8")
    return table


def seed_summary(reports: dict[int, dict[str, dict]]) -> str:
    """Per task and variant: mean ± sample sd over seeds with the mean's retention, and in how many
    seeds the most complete variant beats hard labels (single-seed gaps can be seed noise)."""
    seeds = sorted(reports)
    names = [v for v in VARIANTS if v in reports[seeds[0]]]
    best = names[-1]
    first = reports[seeds[0]][names[0]]
    lines = [
        f"Student seeds {', '.join(map(str, seeds))}: mean ± sd over seeds (retention of the mean vs the teacher).",
        "",
        "| task | metric | teacher | " + " | ".join(COLUMNS[v] for v in names) + f" | {COLUMNS[best]} beats hard |",
        "|---|---|---:|" + "---:|" * (len(names) + 1),
    ]
    for task, row in first["tasks"].items():
        values = {v: np.array([reports[s][v]["tasks"][task]["student"] for s in seeds]) for v in names}
        cells = []
        for v in names:
            mean, sd = values[v].mean(), values[v].std(ddof=1) if len(seeds) > 1 else 0.0
            share = retention(float(mean), row["teacher"], row["higher_is_better"], row["baseline"])
            cells.append(f"{mean:.4f} ± {sd:.4f} ({100 * share:.1f}%)")
        better = values[best] > values["hard"] if row["higher_is_better"] else values[best] < values["hard"]
        arrow = "↑" if row["higher_is_better"] else "↓"
        lines.append(
            f"| {task} | {row['metric']} {arrow} | {row['teacher']:.4f} | "
            + " | ".join(cells)
            + f" | {int(better.sum())} of {len(seeds)} |"
        )
    return "\n".join(lines) + "\n"
