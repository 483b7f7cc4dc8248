"""Two runs of one recipe side by side: whether their stages are the same, and how far apart their models are.

``python docs/results/scripts/compare_runs.py RUN_A RUN_B [--stage teacher --stage distill]`` prints, per stage,
whether the two stage hashes match and, per task, A's and B's test metric with B's retention of A and its paired
bootstrap interval (both models scored here, on the same test rows, 1,000 resamples). Made for issue 31: the quickstart
before and after a change on the default pins (same hashes, same metrics), and on transformers 4.57 against 5
(the same accuracy within noise: an interval that holds 100%).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from distill.data.loading import load_tasks
from distill.encoding import encode_examples
from distill.model import MultiTaskModel
from distill.retention import paired_bootstrap
from distill.tokenization import load_tokenizer
from distill.training.evaluate import model_forward, predict
from recipes.loader import load_recipe
from recipes.stage_record import recorded_hash


def test_predictions(run: Path, stage: str, tasks: dict[str, Any], max_len: int) -> dict[str, list[Any]]:
    """Every task's decoded test predictions from the stage's model."""
    model_dir = run / stage / "model"
    tokenizer = load_tokenizer(str(model_dir))
    forward = model_forward(MultiTaskModel.from_pretrained(model_dir), torch.device("cpu"))
    out = {}
    for name, task in tasks.items():
        enc = encode_examples(tokenizer, task.splits["test"], task.kind, max_len)
        out[name] = predict(forward, task, "test", enc, 64, tokenizer.pad_token_id)
    return out


def compare_stage(a: Path, b: Path, stage: str) -> list[str]:
    recipe = load_recipe(str(a / "recipe.yaml"))
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    train = recipe.teacher.train if stage == "teacher" or recipe.student is None else recipe.student.train
    pa, pb = (test_predictions(run, stage, tasks, train.max_len) for run in (a, b))
    ha, hb = (recorded_hash(run / stage) for run in (a, b))
    lines = [
        f"### {stage}: hashes {ha} / {hb} ({'same' if ha == hb else 'differ'})",
        "",
        "| task | metric | A | B | B's retention of A [95% CI] | identical predictions |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, task in tasks.items():
        boot = paired_bootstrap(task, "test", pb[name], pa[name], [task.kind.primary_metric])
        m = boot[task.kind.primary_metric]
        ci = m["retention_ci"]
        same = "yes" if pa[name] == pb[name] else "no"
        lines.append(
            f"| {name} | {task.kind.primary_metric} | {m['reference']:.4f} | {m['student']:.4f} | "
            f"{100 * m['retention']:.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}] | {same} |"
        )
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compare_runs", description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--stage", action="append", dest="stages", help="teacher, distill, prune (repeatable)")
    args = parser.parse_args(argv)
    lines = [f"A: {args.run_a}  B: {args.run_b}", ""]
    for stage in args.stages or ["teacher", "distill"]:
        lines += compare_stage(args.run_a, args.run_b, stage)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
