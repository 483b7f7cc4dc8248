"""``mtkd front``: the accuracy–speed front of one teacher's students, as a command.

    mtkd front ecommerce-en --student "128g shape=2x128 init=general train.lr=5e-4" \\
        --student "384 shape=2x384 init=teacher_layers" --keep relevance=0.9 --export runs/best-bundle

The teacher (and its transfer-set scores and cached logits) is trained once in the recipe's run directory;
each student gets a run directory of its own under ``--out`` sharing them, where its general, distill, prune and
quantize stages run (skipped when up to date); then one interleaved bench times every student's INT8 forms
beside the teacher (``benchmarks.front``), and the command prints each student's retention with intervals and
speed, draws the front, and names (and exports, on request) the fastest student that keeps what ``--keep``
asks. ``--runs`` benches and tabulates finished runs instead, training nothing.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
from pathlib import Path
from typing import Any

from distill.errors import RecipeError

log = logging.getLogger("mtkd")
SHARED_STAGES = ("tokenizer", "pretrain", "teacher")  # what every student of the front reads from the base run


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The recipe and its students, or finished runs; what to keep; the bench grid; the export."""
    p.add_argument("recipe", nargs="?", help="the recipe whose teacher and data the students share")
    p.add_argument(
        "--student",
        action="append",
        default=[],
        metavar='"LABEL KEY=VALUE ..."',
        help="a student: its label, then shape=LxH, init=..., or any key under student. (repeatable)",
    )
    p.add_argument("--runs", type=Path, nargs="+", help="finished runs to bench and tabulate instead (first: teacher)")
    p.add_argument("--out", type=Path, help="where the students' runs and the front go (default runs/<name>-front)")
    p.add_argument("--keep", action="append", default=[], metavar="TASK=SHARE", help="e.g. relevance=0.9")
    p.add_argument("--task", help="the task the table and plot follow (default: the first --keep task, or the first)")
    p.add_argument("--tolerance", type=float, default=0.01, help="INT8 forms within this drop of their FP32 student")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--export", type=Path, metavar="DIR", help="export the fastest student that keeps --keep here")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")


def shape_overrides(shape: str) -> list[str]:
    """``LxH`` as student overrides: L layers of width H, H/32 attention heads (as MiniLM), an FFN 4 × H."""
    try:
        layers, hidden = (int(x) for x in shape.lower().split("x"))
    except ValueError:
        raise RecipeError(f"shape {shape!r}: write LAYERSxHIDDEN, e.g. 2x128") from None
    heads = max(1, hidden // 32)
    return [
        f"model.layers={layers}",
        f"model.hidden={hidden}",
        f"model.heads={heads}",
        f"model.intermediate={4 * hidden}",
    ]


def parse_student(spec: str) -> tuple[str, list[str]]:
    """(label, ``--set`` overrides under ``student.``) of one ``--student`` value."""
    words = shlex.split(spec)
    if not words or "=" in words[0]:
        raise RecipeError(f'--student {spec!r}: start with a label, e.g. "128g shape=2x128 init=general"')
    label, overrides = words[0], []
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep:
            raise RecipeError(f"--student {label}: {word!r} is not KEY=VALUE")
        if key == "shape":
            overrides += shape_overrides(value)
        elif key == "init":
            overrides.append(f"model.init={value}")
        else:
            overrides.append(f"{key.removeprefix('student.')}={value}")
    return label, [f"student.{o}" for o in overrides]


def fitted_relation_heads(recipe: Any, overrides: list[str]) -> list[str]:
    """Relation KD's heads must divide the student's width: keep the recipe's count where it does, else the largest
    divisor of the width below it (unless the student sets its own)."""
    relation = recipe.student.distill.relation if recipe.student else None
    if relation is None or any(o.startswith("student.distill.relation.heads=") for o in overrides):
        return []
    hidden = recipe.student.model.hidden
    heads = max(h for h in range(1, relation.heads + 1) if hidden % h == 0)
    return [] if heads == relation.heads else [f"student.distill.relation.heads={heads}"]


def student_run(base: Path, folder: Path) -> None:
    """A student's run directory: the base run's tokenizer and teacher copied, its cache (transfer scores,
    teacher logits) shared."""
    folder.mkdir(parents=True, exist_ok=True)
    for stage in SHARED_STAGES:
        if (base / stage).is_dir() and not (folder / stage).exists():
            shutil.copytree(base / stage, folder / stage)
    (base / "cache").mkdir(exist_ok=True)
    if not (folder / "cache").exists():
        (folder / "cache").symlink_to((base / "cache").resolve(), target_is_directory=True)


def train_students(args: argparse.Namespace, out: Path) -> list[Path]:
    """The base run's teacher, then each student's run through quantize; their directories."""
    from recipes.loader import load_recipe
    from recipes.pipeline import run_pipeline
    from recipes.run_lock import run_lock

    recipe = load_recipe(args.recipe)
    base = Path("runs") / recipe.name
    with run_lock(base):
        run_pipeline(recipe, base, ["teacher"], args.device)
    students = [parse_student(s) for s in args.student]
    labels = [label for label, _ in students]
    if len(set(labels)) != len(labels):
        raise RecipeError(f"--student labels must differ: {', '.join(labels)}")
    runs = []
    for label, overrides in students:
        student_recipe = load_recipe(args.recipe, overrides)
        student_recipe = load_recipe(args.recipe, overrides + fitted_relation_heads(student_recipe, overrides))
        folder = out / label
        student_run(base, folder)
        log.info("front: student %s (%s)", label, " ".join(overrides))
        with run_lock(folder):
            run_pipeline(student_recipe, folder, ["quantize"], args.device)
        runs.append(folder)
    return [base, *runs]


def run(args: argparse.Namespace) -> int:
    """Train (or take) the students, bench them in one run, print the front, export the chosen one."""
    from benchmarks.api import bench
    from benchmarks.front import fastest_keeping, front_artifacts, front_plot, front_table, peer_line, student_row
    from benchmarks.report import read_jsonl
    from distill.data.loading import load_tasks
    from recipes.loader import load_recipe

    if bool(args.runs) == bool(args.recipe):
        raise RecipeError("mtkd front: give a RECIPE and --student ..., or --runs of finished runs")
    keep = dict(parse_keep(k) for k in args.keep)
    if args.recipe:
        if not args.student:
            raise RecipeError("mtkd front RECIPE: name the students with --student (at least one)")
        name = load_recipe(args.recipe).name
        out = args.out or Path("runs") / f"{name}-front"
        runs = train_students(args, out)
    else:
        runs, out = list(args.runs), args.out or Path("runs") / "front"
    recipe = load_recipe(str(runs[0] / "recipe.yaml"))
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
    # --runs: the first run's teacher; every run with a student is one (the first too, when it has one)
    students_runs = runs[1:] if args.recipe else [r for r in runs if (r / "distill" / "report.json").is_file()]
    if not students_runs:
        raise RecipeError(f"mtkd front --runs: none of {', '.join(map(str, runs))} has a distilled student")
    tasks = load_tasks(recipe.tasks, recipe.seed, recipe.data)
    artifacts = front_artifacts(runs[0], students_runs)
    bench(artifacts, cfg, out / "bench", tasks=tasks, max_len=recipe.student.train.max_len, label="front")
    shared = read_jsonl(out / "bench" / "results.jsonl")
    students = [student_row(run, args.tolerance, shared) for run in students_runs]
    task = args.task or next(iter(keep), None) or next(iter(students[0]["tasks"]))
    text = front_table(students, task) + "\n" + peer_line(shared, task) + "\n"
    plot = front_plot(students, task, out / "front.png", keep.get(task))
    chosen = fastest_keeping(students, keep) if keep else None
    if keep:
        asked = ", ".join(f"{t} ≥ {100 * s:g}%" for t, s in keep.items())
        text += (
            f"\nfastest student keeping {asked}: {Path(chosen['run']).name} ({chosen['b1']['label']}, "
            f"{chosen['b1']['speedup']:.2f}× the teacher at batch 1)\n"
            if chosen
            else f"\nno student keeps {asked} (FP32 and its fastest INT8 form both)\n"
        )
    (out / "front.md").write_text(text, encoding="utf-8")
    print(text + f"plot: {plot}")
    if args.export and chosen:
        from recipes.commands.export import ExportOptions, export_run

        print(export_run(Path(chosen["run"]), args.export, ExportOptions(artifact=chosen["b1"]["artifact"])))
    return 0


def parse_keep(spec: str) -> tuple[str, float]:
    task, sep, share = spec.partition("=")
    try:
        value = float(share)
    except ValueError:
        value = -1.0
    if not sep or not 0 < value <= 1.5:
        raise RecipeError(f"--keep {spec!r}: write TASK=SHARE with a share such as 0.9")
    return task, value
