"""``mtkd baseline``: classical baselines beside the teacher, on the recipe's own splits."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from distill.baselines import run_baselines
from distill.data.loading import load_tasks
from distill.io import read_json, write_json
from recipes.schema import Recipe

from .options import add_set_option, run_directory

SECONDARY = ("macro_f1", "spearman", "pearson")  # beside the primary metric: rank quality, class balance


def baseline_table(baselines: dict[str, dict[str, Any]], teacher: dict[str, dict[str, Any]] | None) -> str:
    """Per task: the teacher's test metric (when trained), TF-IDF/CRF and the majority (constant) baseline."""
    lines = [
        "| task | metric | teacher | TF-IDF / CRF | majority |",
        "|---|---|---:|---:|---:|",
    ]
    for task, m in baselines.items():
        arrow = "↑" if m["higher_is_better"] else "↓"
        t = f"{teacher[task]['value']:.4f}" if teacher and task in teacher else "—"
        lines.append(f"| {task} | {m['metric']} {arrow} | {t} | {m['value']:.4f} | {m['baseline']:.4f} |")
        for key in SECONDARY:  # all higher-is-better; the majority baseline has none of them
            if key in m:
                t = f"{teacher[task][key]:.4f}" if teacher and key in teacher.get(task, {}) else "—"
                lines.append(f"| {task} | {key} ↑ | {t} | {m[key]:.4f} | — |")
    return "\n".join(lines) + "\n"


def run_baseline(recipe: Recipe, run_dir: Path) -> str:
    """Train the baselines, write ``<run>/baseline/metrics.json`` and ``report.md``; return the table."""
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    results = run_baselines(tasks)
    teacher_file = run_dir / "teacher" / "metrics.json"
    table = baseline_table(results, read_json(teacher_file) if teacher_file.is_file() else None)
    out = run_dir / "baseline"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", results)
    (out / "report.md").write_text(table, encoding="utf-8")
    return table


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The recipe, the run directory and ``--set`` overrides."""
    p.add_argument("recipe")
    p.add_argument("--out", type=Path, help="run directory (default runs/<recipe name>)")
    add_set_option(p)


def run(args: argparse.Namespace) -> int:
    """Train the baselines on the recipe's splits and print them beside the teacher."""
    from recipes.loader import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    print(run_baseline(recipe, run_directory(args.out, recipe.name)))
    return 0
