"""What dev calibration (``train.calibrate``) would do for a finished run's regression heads, measured without
training again: the teacher's and the student's test RMSE as they are and with the affine map fitted on dev,
and the student's share of the teacher's gain over the mean for each pairing, with paired-bootstrap intervals.

    python docs/results/scripts/calibration_check.py runs/ecommerce-en [--stage distill]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from distill.calibration import fit_affine
from distill.data.loading import load_tasks
from distill.encoding import encode_tasks
from distill.model import MultiTaskModel
from distill.retention import paired_bootstrap
from distill.tokenization import load_tokenizer
from distill.training.loop import predict_all
from recipes.loader import load_recipe
from recipes.pipeline import RECIPE_FILE


def _rmse(preds: list[float], golds: list[float]) -> float:
    return math.sqrt(sum((p - g) ** 2 for p, g in zip(preds, golds, strict=True)) / len(golds))


def check(run: Path, stage: str = "distill") -> str:
    """The Markdown table for every regression task of ``run``."""
    recipe = load_recipe(str(run / RECIPE_FILE))
    tasks = {t: d for t, d in load_tasks(recipe.tasks, recipe.seed, recipe.data).items() if d.kind.numeric}
    lines = [
        "| task | model | test RMSE | calibrated on dev (a, b) | pairing | share of the teacher's gain [95% CI] |",
        "|---|---|---:|---:|---|---:|",
    ]
    for name, task in tasks.items():
        preds = {}
        for who, folder, train in (
            ("teacher", "teacher", recipe.teacher.train),
            ("student", stage, recipe.student.train),
        ):
            model = MultiTaskModel.from_pretrained(run / folder / "model", map_location="cpu")
            tok = load_tokenizer(str(run / folder / "model"))
            enc = encode_tasks(tok, {name: task}, train.max_len)
            out = {s: predict_all(model, {name: task}, enc, s, train, torch.device("cpu"), tok.pad_token_id)[name]
                   for s in ("dev", "test")}  # fmt: skip
            a, b = fit_affine(out["dev"], [ex.target for ex in task.splits["dev"]])
            preds[who] = {"raw": out["test"], "calibrated": [a * p + b for p in out["test"]], "map": (a, b)}
        golds = [ex.target for ex in task.splits["test"]]
        for who, p in preds.items():
            lines.append(
                f"| {name} | {who} | {_rmse(p['raw'], golds):.4f} | {_rmse(p['calibrated'], golds):.4f} "
                f"({p['map'][0]:.3f}, {p['map'][1]:+.3f}) | | |"
            )
        for s_kind, t_kind in (("raw", "raw"), ("calibrated", "raw"), ("calibrated", "calibrated")):
            r = paired_bootstrap(task, "test", preds["student"][s_kind], preds["teacher"][t_kind])["rmse"]
            lo, hi = r["retention_ci"]
            lines.append(
                f"| {name} | | | | student {s_kind} vs teacher {t_kind} | "
                f"{100 * r['retention']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--stage", default="distill", help="the student's stage folder (distill or prune)")
    args = parser.parse_args(argv)
    print(check(args.run, args.stage), end="")


if __name__ == "__main__":
    main()
