"""Several students of one teacher timed in one bench run: each run's best INT8 form beside the teacher in
PyTorch FP32 (and torch.ao's dynamic INT8) and the teacher through Optimum's quantizer, interleaved, each at
1 and 2 threads, on the test split's tasks.

    python -m tools.study_bench runs/ecommerce-en runs/en-256 runs/en-128 --out runs/study-bench
    python -m tools.student_study runs/ecommerce-en runs/en-256 runs/en-128 --bench runs/study-bench/results.jsonl

Each run's best INT8 form is the one its own bench found fastest within tolerance at batch 1 and at batch 32
(``tools.student_study.fastest_int8``); the teacher and the data are the first run's. Students appear in the
results as ``<run>:<artifact>``. Per-run benches compare each student with a teacher timed in that run; this
one puts them all in one run, so every ratio is measured side by side.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from benchmarks.api import bench
from benchmarks.harness import discover_artifacts
from benchmarks.report import read_jsonl
from distill.data.loading import load_tasks
from distill.errors import MtkdError
from recipes.loader import load_recipe
from tools.student_study import fastest_int8

log = logging.getLogger("mtkd")
TEACHER_FORMS = ("teacher", "teacher-optimum-dynamic-int8")


def best_int8_forms(run: Path, batches: list[int], tolerance: float) -> dict[str, Path]:
    """``run``'s fastest INT8 artifacts within ``tolerance`` at each batch size of its own bench."""
    bench_rows = run / "bench" / "results.jsonl"
    if not bench_rows.is_file():
        raise MtkdError(f"{run}: no bench/results.jsonl; run its bench stage first (mtkd run ... --stages bench)")
    rows, paths = read_jsonl(bench_rows), discover_artifacts(run)
    seq = max(r["seq_len"] for r in rows)
    forms = {}
    for batch in batches:
        found = fastest_int8(rows, (batch, seq), tolerance)
        if found is None:
            log.warning("%s: no INT8 form within tolerance at batch %d", run, batch)
            continue
        name = found[0]["artifact"]
        forms[f"{run.name}:{name}"] = paths[name]
    return forms


def study_artifacts(runs: list[Path], batches: list[int], tolerance: float) -> dict[str, Path]:
    """The teacher's forms (from the first run) and every run's best INT8 forms, by result name."""
    teacher = discover_artifacts(runs[0])
    missing = [t for t in TEACHER_FORMS if t not in teacher]
    if missing:
        raise MtkdError(f"{runs[0]}: no {', '.join(missing)} (its teacher and quantize stages make them)")
    artifacts = {t: teacher[t] for t in TEACHER_FORMS}
    for run in runs:
        artifacts.update(best_int8_forms(run, batches, tolerance))
    return artifacts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tolerance", type=float, default=0.01, help="INT8 forms within this drop of the FP32")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    recipe = load_recipe(str(args.runs[0] / "recipe.yaml"))
    artifacts = study_artifacts(args.runs, args.batch_sizes, args.tolerance)
    cfg = recipe.bench.model_copy(
        update={
            "batch_sizes": args.batch_sizes,
            "seq_lens": [args.seq_len],
            "runtimes": ["torch", "onnxruntime"],
            "precisions": ["fp32", "int8"],
            "threads": args.threads,
        }
    )
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    summary = bench(artifacts, cfg, args.out, tasks=tasks, max_len=recipe.student.train.max_len, label="study")
    print(f"{len(summary['results'])} rows: {args.out / 'results.jsonl'}")


if __name__ == "__main__":
    main()
