"""Several students of one teacher timed in one bench run: every INT8 form of each run's student beside the
teacher in PyTorch FP32 and the teacher through Optimum's quantizer, interleaved, each at 1 and 2 threads,
with every task scored on the test split.

    python -m tools.study_bench runs/ecommerce-en runs/en-256 runs/en-128 --out runs/study-bench
    python -m tools.student_study runs/ecommerce-en runs/en-256 runs/en-128 --bench runs/study-bench/results.jsonl

``tools.student_study --bench`` then picks each student's fastest INT8 form within tolerance of its FP32 test
metrics. The teacher and the data are the first run's; students appear as ``<run>:<artifact>``. Per-run
benches compare each student with a teacher timed in that run; this one puts them all in one run, so every
ratio is measured side by side.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from benchmarks.api import bench
from benchmarks.harness import discover_artifacts
from compress.runtime.onnxruntime_backend import artifact_precision
from distill.data.loading import load_tasks
from distill.errors import MtkdError
from recipes.loader import load_recipe

log = logging.getLogger("mtkd")
TEACHER_FORMS = ("teacher", "teacher-optimum-dynamic-int8")


def int8_forms(run: Path) -> dict[str, Path]:
    """Every INT8 ONNX form of ``run``'s student (its quantize stage's artifacts, the teacher's left out)."""
    found = {
        f"{run.name}:{name}": path
        for name, path in discover_artifacts(run).items()
        if not name.startswith("teacher") and artifact_precision(path) == "int8"
    }
    if not found:
        raise MtkdError(f"{run}: no INT8 artifact; run its quantize stage first (mtkd run ... --stages quantize)")
    return found


def study_artifacts(runs: list[Path]) -> dict[str, Path]:
    """The teacher's forms (from the first run) and every run's INT8 forms, by result name."""
    teacher = discover_artifacts(runs[0])
    missing = [t for t in TEACHER_FORMS if t not in teacher]
    if missing:
        raise MtkdError(f"{runs[0]}: no {', '.join(missing)} (its teacher and quantize stages make them)")
    artifacts = {t: teacher[t] for t in TEACHER_FORMS}
    for run in runs:
        artifacts.update(int8_forms(run))
    return artifacts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    recipe = load_recipe(str(args.runs[0] / "recipe.yaml"))
    artifacts = study_artifacts(args.runs)
    cfg = recipe.bench.model_copy(
        update={
            "batch_sizes": args.batch_sizes,
            "seq_lens": [args.seq_len],
            "runtimes": ["torch", "onnxruntime"],
            "precisions": ["fp32"],  # the teacher's model directory in torch FP32; ONNX forms at their own
            "real_length_examples": 0,
            "threads": args.threads,
        }
    )
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    summary = bench(artifacts, cfg, args.out, tasks=tasks, max_len=recipe.student.train.max_len, label="study")
    print(f"{len(summary['results'])} rows: {args.out / 'results.jsonl'}")


if __name__ == "__main__":
    main()
