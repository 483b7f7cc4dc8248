"""``mtkd evaluate RUN --stage S``: a finished stage's model scored again with today's evaluation code.

Stage outputs are trusted while their settings are unchanged, so metrics recorded by an older
mtkd stay as they were (e.g. tag metrics from before constrained decoding); this re-scores the
model on the test split beside the recorded figure, without touching the stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from distill.data.loading import load_tasks
from distill.encoding import encode_tasks
from distill.errors import MtkdError
from distill.io import read_json
from distill.model import MultiTaskModel
from distill.tokenization import load_tokenizer
from distill.training.loop import evaluate_all
from recipes.loader import load_recipe
from recipes.pipeline import RECIPE_FILE


def rescore(run: Path, stage: str, tasks: list[str] | None = None) -> str:
    """Markdown table: per task, the recorded metric and the one computed now."""
    model_dir = run / stage / "model"
    if not (model_dir / "mtkd.json").is_file():
        raise MtkdError(f"{run / stage}: no model to evaluate (stages with a model: teacher, distill, prune)")
    recipe = load_recipe(str(run / RECIPE_FILE), [])
    unknown = sorted(set(tasks or []) - set(recipe.tasks))
    if unknown:
        raise MtkdError(f"--task {unknown[0]!r}: the run's tasks are {', '.join(recipe.tasks)}")
    chosen = {t: c for t, c in recipe.tasks.items() if not tasks or t in tasks}
    data = load_tasks(chosen, recipe.seed, recipe.data)
    tokenizer = load_tokenizer(str(model_dir))
    train_cfg = (recipe.student or recipe.teacher).train if stage != "teacher" else recipe.teacher.train
    encoded = encode_tasks(tokenizer, data, train_cfg.max_len)
    model = MultiTaskModel.from_pretrained(model_dir)
    now = evaluate_all(model, data, encoded, "test", train_cfg, torch.device("cpu"), tokenizer.pad_token_id)
    recorded = read_json(run / stage / "metrics.json") if (run / stage / "metrics.json").is_file() else {}
    lines = ["| task | metric | recorded | now | baseline |", "|---|---|---:|---:|---:|"]
    for task, m in now.items():
        old = recorded.get(task, {}).get("value")
        shown = f"{old:.4f}" if old is not None else "–"
        lines.append(f"| {task} | {m['metric']} | {shown} | {m['value']:.4f} | {m['baseline']:.4f} |")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The run, the stage and the tasks."""
    p.add_argument("run", type=Path)
    p.add_argument("--stage", default="teacher", help="teacher, distill or prune")
    p.add_argument("--task", action="append", dest="tasks", help="only this task (repeatable)")


def run(args: argparse.Namespace) -> int:
    """Print the recorded and the re-scored metric per task."""
    print(rescore(args.run, args.stage, args.tasks))
    return 0
