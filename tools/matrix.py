"""The reliability matrix (``python -m tools.matrix`` from a source checkout): reliability as a measured
property.

Every malformed recipe must fail with one line naming the key, exit code 2 and no output; every
malformed data file must give a named error, or a counted and reported skip under
``data.on_error: skip``; a run killed with SIGKILL during pretraining, teacher training, distillation or prune
recovery must resume, and one killed during quantization, compilation (on a GPU with TensorRT; listed as not run
elsewhere) or the bench (which keep no checkpoints) must re-run, either way ending with exactly the results of an
uninterrupted run; a second writer into a run being written must stop at once; every published stage must verify
against its checksums; an export killed mid-write and a disk that fills mid-stage must leave nothing half-written
taken as finished (``tools.matrix_writes``); hostile inputs to a served bundle must each be answered in place
(``tools.matrix_inputs``); ``mtkd serve`` must survive a killed replica and refuse bad requests beside good ones
(``tools.matrix_serve``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from compress.tensorrt import tensorrt_unavailable
from distill.config import DataConfig, TaskConfig
from distill.data.loading import load_task
from distill.encoding import encode_examples
from distill.errors import ArtifactError, MtkdError
from distill.io import read_json, sha256_file, verify_checksums
from distill.tokenization import train_wordpiece
from recipes.stage_record import STAGE_FILE, StageRecord
from tools.matrix_cases import DATA_CASES, RECIPE_CASES, DataCase, RecipeCase, base_recipe

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    group: str
    name: str
    ok: bool
    detail: str


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def write_recipe(path: Path, recipe: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _cli(args: list[str]) -> tuple[int, str]:
    from recipes.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, err.getvalue().strip()


def _one_named_line(code: int, err: str, expect: str, out: Path) -> tuple[bool, str]:
    problems = []
    if code != 2:
        problems.append(f"exit {code}")
    if len(err.splitlines()) != 1:
        problems.append(f"{len(err.splitlines())} lines")
    if expect not in err:
        problems.append(f"message lacks {expect!r}")
    if out.exists():
        problems.append("output left behind")
    message = re.sub(r"^mtkd: error: (\S*?\.yaml: )?", "", err)  # drop the prefix and the case's file path
    return not problems, "; ".join(problems) or message[:120]


def recipe_case(case: RecipeCase, root: Path) -> Outcome:
    folder = root / "recipes" / _slug(case.name)
    path = folder / "recipe.yaml"
    if case.raw_yaml is not None:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(case.raw_yaml, encoding="utf-8")
    else:
        recipe = base_recipe()
        case.mutate(recipe)
        write_recipe(path, recipe)
    code, err = _cli(["run", str(path), "--out", str(folder / "out")])
    ok, detail = _one_named_line(code, err, case.expect, folder / "out")
    return Outcome("recipe", case.name, ok, detail)


def _fill(value: Any, folder: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{dir}", str(folder))
    if isinstance(value, dict):
        return {k: _fill(v, folder) for k, v in value.items()}
    return value


def data_case(case: DataCase, root: Path) -> Outcome:
    folder = root / "data" / _slug(case.name)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in case.files.items():
        (folder / name).write_bytes(content)
    task = _fill(case.task, folder)
    if case.kind == "truncate":  # accepted, cut to max_len, and counted in data.json
        loaded = load_task("t", TaskConfig(**task), 0, DataConfig())
        tok = train_wordpiece([e.text for e in loaded.splits["train"]], 200, 1)
        cut = sum(
            encode_examples(tok, loaded.splits[s], loaded.kind, case.extra["max_len"]).truncated for s in loaded.splits
        )
        return Outcome("data", case.name, cut >= 1, f"{cut} example(s) truncated and counted")
    recipe = {**base_recipe(), "tasks": {"t": task}}
    recipe.pop("student")
    code, err = _cli(
        ["run", str(write_recipe(folder / "raise.yaml", recipe)), "--stages", "tokenizer", "--out", str(folder / "out")]
    )
    ok, detail = _one_named_line(code, err, case.expect, folder / "out")
    if not ok or case.kind == "error":
        if ok:  # structural problems stay errors under the skip policy too
            recipe["data"] = {"on_error": "skip"}
            code, err = _cli(
                [
                    "run",
                    str(write_recipe(folder / "skip.yaml", recipe)),
                    "--stages",
                    "tokenizer",
                    "--out",
                    str(folder / "out"),
                ]
            )
            ok = code == 2 and len(err.splitlines()) == 1 and not (folder / "out").exists()
        return Outcome("data", case.name, ok, detail)
    loaded = load_task("t", TaskConfig(**task), 0, DataConfig(on_error="skip"))
    samples = [s for split in loaded.report.values() for s in split["skipped_samples"]]
    counted = sum(split["skipped"] for split in loaded.report.values())
    ok = counted >= 1 and any(case.expect in s for s in samples)
    return Outcome("data", case.name, ok, f"raise: {detail}; skip: {counted} row(s) counted")


def mtkd_process(args: list[str], cache: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    if cache is not None:  # a cache of its own: the general stage's encoder is trained there, never reused
        env["MTKD_CACHE"] = str(cache)
    return subprocess.Popen(
        [sys.executable, "-m", "recipes", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


FAULTS = {  # stage → (where it is killed, how it continues, the result compared with an uninterrupted run)
    "pretrain": ("checkpoints/last/trainer.pt", "--resume", "history.json"),  # pretraining's result: its MLM history
    "teacher": ("checkpoints/last/trainer.pt", "--resume", "metrics.json"),
    # general distillation trains into the cache (each run its own here) and always resumes from it
    "general": ("general/*/checkpoints/last/trainer.pt", "", "encoder/model.safetensors"),
    "distill": ("checkpoints/last/trainer.pt", "--resume", "metrics.json"),
    "prune": ("recover-1/checkpoints/last/trainer.pt", "--resume", "metrics.json"),  # during recovery training
    "quantize": ("student-static-int8/model.onnx", "", "report.json"),  # after calibration, before QAT: no checkpoints
    "bench": ("pending.json", "", "results.jsonl"),  # while timing: no checkpoints; accuracy per row compared
    "compile": ("student-trt-fp32/model.plan", "", "student-trt-fp32/metrics.json"),  # one engine built: GPU only
}


def fault_recipe(stage: str) -> dict[str, Any]:
    """The matrix's base recipe with what the killed stage needs (and nothing after it)."""
    recipe = base_recipe()
    if stage in ("pretrain", "teacher"):
        recipe.pop("student")
    if stage == "general":
        recipe["student"]["model"]["init"] = "general"
        recipe["student"]["general"] = {"teacher": "fine_tuned", "epochs": 3, "batch_size": 8, "checkpoint_every": 10}
    if stage == "pretrain":
        recipe["pretrain"] = {"epochs": 2, "batch_size": 16, "max_len": 32, "checkpoint_every": 8}
    if stage == "prune":
        recipe["prune"] = {"heads": 0.5, "ffn": 0.25, "recover_epochs": 2}
    if stage == "bench":  # the student's models in torch, every task scored through it, a few timed calls
        recipe["bench"] = {"batch_sizes": [1, 4], "seq_lens": [16], "warmup": 1, "iters": 40, "rounds": 3}
    if stage == "compile":  # one FP32 engine from the student's graph, built afresh each time
        recipe["quantize"] = {"presets": ["dynamic-int8"]}
        recipe["compile"] = {"precisions": ["fp32"], "timing_cache": False}
    if stage == "quantize":
        recipe["quantize"] = {
            "presets": ["dynamic-int8", "static-int8"],
            "calibration": {"samples": 32},
            "qat": {"steps": 60, "batch_size": 16},
        }
    return recipe


def kill_and_resume(stage: str, root: Path, timeout: float = 300) -> Outcome:
    """SIGKILL a run inside ``stage``, continue it (``--resume`` where the stage checkpoints, a plain re-run where
    it does not), and compare its result with an uninterrupted run's."""
    if stage == "compile" and (reason := tensorrt_unavailable()):
        return Outcome("not run", stage, True, f"SIGKILL during compile needs TensorRT on a GPU: {reason}")
    marker_in_stage, how, result = FAULTS[stage]
    folder = root / "faults" / stage
    path = write_recipe(folder / "recipe.yaml", fault_recipe(stage))
    only = ["--stages", stage] if stage == "general" else []
    reference = mtkd_process(["run", str(path), "--out", str(folder / "reference"), *only], folder / "cache-reference")
    if reference.wait(timeout) != 0:
        return Outcome("fault", stage, False, f"uninterrupted run failed: {reference.stdout.read()[-300:]}")
    run = folder / "run"
    cache = folder / "cache-run"
    victim = mtkd_process(["run", str(path), "--out", str(run), *only], cache)
    where = cache if stage == "general" else run / f"{stage}.incomplete"
    deadline = time.time() + timeout
    while not any(where.glob(marker_in_stage)) and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    if victim.poll() is not None:
        return Outcome("fault", stage, False, "the run ended before it could be killed")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    if (run / stage).exists():
        return Outcome("fault", stage, False, "a killed stage was published")
    again = mtkd_process(["run", str(path), "--out", str(run), *only, *([how] if how else [])], cache)
    log = again.communicate(timeout=timeout)[0]
    if again.returncode != 0 or ((how or stage == "general") and "resuming at epoch" not in log):
        return Outcome("fault", stage, False, f"{'resume' if how else 're-run'} failed: {log[-300:]}")
    same = _result(run / stage / result) == _result(folder / "reference" / stage / result)
    verb = "resumed" if how or stage == "general" else "re-run"
    detail = f"{verb}; results identical to the uninterrupted run" if same else f"{verb}, but results differ"
    return Outcome("fault", stage, same, detail)


def _result(path: Path) -> Any:
    """A stage's result for comparison: metrics as they are; a quantize report without sizes and paths; bench
    rows by candidate and shape with their per-task accuracy (latencies differ from run to run)."""
    if path.suffix == ".safetensors":  # weights: the same bytes
        return sha256_file(path)
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return {(r["artifact"], r["runtime"], r["precision"], r["batch_size"], r["seq_len"]): r["tasks"] for r in rows}
    data = read_json(path)
    if path.name == "report.json":
        return {name: row.get("tasks") for name, row in data.items()}
    return data


def second_writer(root: Path, timeout: float = 300) -> Outcome:
    """Two ``mtkd run`` into one directory, the second started while the first writes: the second must stop
    at once (exit 2, the holder named, nothing touched) and the first must finish as if alone."""
    folder = root / "lock"
    recipe = base_recipe()
    recipe.pop("student")
    path = write_recipe(folder / "recipe.yaml", recipe)
    run = folder / "run"
    first = mtkd_process(["run", str(path), "--out", str(run)])
    lock = run / ".mtkd.lock"
    deadline = time.time() + timeout
    while first.poll() is None and time.time() < deadline and not (lock.is_file() and lock.read_text()):
        time.sleep(0.02)
    if first.poll() is not None:
        return Outcome("lock", "second writer", False, "the first run ended before a second could start")
    first.send_signal(signal.SIGSTOP)  # paused mid-write, lock held: the second starts for sure while it writes
    try:
        second = mtkd_process(["run", str(path), "--out", str(run)])
        second_log = second.communicate(timeout=timeout)[0]
    finally:
        first.send_signal(signal.SIGCONT)
    first_log = first.communicate(timeout=timeout)[0]
    refused = second.returncode == 2 and "is being written by process" in second_log and "Traceback" not in second_log
    finished = first.returncode == 0 and (run / "teacher" / "stage.json").is_file()
    leftovers = sorted(p.name for p in run.iterdir() if p.name.endswith(".incomplete"))
    ok = refused and finished and not leftovers
    detail = (
        "the second writer exited 2 naming the first; the first finished alone"
        if ok
        else f"second: exit {second.returncode} {second_log[-200:]!r}; first: exit {first.returncode}; "
        f"leftovers {leftovers}; {first_log[-200:]!r}"
    )
    return Outcome("lock", "second writer", ok, detail)


def verify_artifacts(root: Path) -> Outcome:
    """Every published stage directory under ``root`` against the checksums in its stage.json."""
    stages = sorted(root.rglob(STAGE_FILE))
    bad = []
    for info in stages:
        try:
            verify_checksums(info.parent, StageRecord.read(info.parent).files)
        except ArtifactError as e:
            bad.append(str(e))
    return Outcome(
        "artifacts",
        f"{len(stages)} stage directories",
        not bad and bool(stages),
        "; ".join(bad) or f"{len(stages)} verified",
    )


def run_matrix(root: Path, faults: bool = True) -> list[Outcome]:
    """Every case, in order: recipes, data, faults, the writer lock, artifacts, hostile inputs (served from the
    quantize fault's finished reference run)."""
    mtkd_log = logging.getLogger("mtkd")
    level = mtkd_log.level
    mtkd_log.setLevel(logging.ERROR)  # the cases' own progress lines are noise here
    try:
        outcomes = [recipe_case(c, root) for c in RECIPE_CASES]
        outcomes += [data_case(c, root) for c in DATA_CASES]
    finally:
        mtkd_log.setLevel(level)
    if faults:
        outcomes += [kill_and_resume(stage, root) for stage in FAULTS]
        from tools.matrix_transfer import killed_transfer_scoring

        outcomes.append(killed_transfer_scoring(root))
        outcomes.append(second_writer(root))
        outcomes.append(verify_artifacts(root / "faults"))
        from tools.matrix_inputs import hostile_inputs  # these import this module's Outcome
        from tools.matrix_writes import full_disk, killed_export

        finished = root / "faults" / "quantize" / "reference"
        outcomes += [killed_export(finished, root), full_disk(finished, root)]
        outcomes += hostile_inputs(finished, root)
        if (root / "inputs" / "bundle" / "bundle.json").is_file():  # the bundle hostile_inputs exported
            from tools.matrix_serve import serve_rows

            outcomes += serve_rows(root / "inputs" / "bundle")
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    """Counts per group, then every case that was not handled."""

    def count(group: str) -> tuple[int, int]:
        rows = [o for o in outcomes if o.group == group]
        return len(rows), sum(o.ok for o in rows)

    lines = ["reliability matrix"]
    for group, what in (
        ("recipe", "handled: exit 2, one line naming the key, no output left"),
        ("data", "handled: a named error, or counted and reported under data.on_error: skip"),
        ("fault", "SIGKILL, then --resume (or a re-run): results identical to an uninterrupted run"),
        ("lock", "a second writer into a run being written: exit 2, holder named, the first unharmed"),
        ("disk", "a disk full mid-stage: one line naming ENOSPC, the previous stage intact, then finished"),
        ("input", "hostile inputs to a served bundle: one answer each, in order, named errors, no traceback"),
        (
            "serve",
            "mtkd serve, both engines: a killed worker or replica ends no request in a hang and is replaced; "
            "bad requests get 4xx beside good ones",
        ),
    ):
        tried, ok = count(group)
        if tried:
            lines.append(f"  {group + ' cases':<13}{tried:3d} tried, {ok:3d} {what}")
    art = [o for o in outcomes if o.group == "artifacts"]
    if art:
        lines.append(f"  {'artifacts':<13}{art[0].detail} against their checksums")
    lines += [f"  {'not run':<13}{o.name}: {o.detail}" for o in outcomes if o.group == "not run"]
    failed = [o for o in outcomes if not o.ok]
    lines += [f"  NOT HANDLED {o.group}: {o.name}: {o.detail}" for o in failed]
    return "\n".join(lines)


def write_table(path: Path, outcomes: list[Outcome]) -> None:
    rows = ["| group | case | handled | what happened |", "|---|---|---|---|"]
    handled = {True: "yes", False: "NO"}
    rows += [
        f"| {o.group} | {o.name} | {'–' if o.group == 'not run' else handled[o.ok]} | {o.detail.replace('|', '/')} |"
        for o in outcomes
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=1), encoding="utf-8")


def main_matrix(out: Path, faults: bool) -> int:
    out.mkdir(parents=True, exist_ok=True)
    outcomes = run_matrix(out, faults)
    write_table(out / "matrix.md", outcomes)
    print(summary(outcomes))
    print(f"(every case: {out / 'matrix.md'})")
    if not all(o.ok for o in outcomes):
        raise MtkdError(f"{sum(not o.ok for o in outcomes)} case(s) not handled")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.matrix [--out DIR] [--no-faults]``; exit 2 when a case is not handled."""
    parser = argparse.ArgumentParser(prog="python -m tools.matrix", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs") / "matrix")
    parser.add_argument("--no-faults", action="store_true", help="skip the SIGKILL/resume runs (they take a minute)")
    args = parser.parse_args(argv)
    try:
        return main_matrix(args.out, not args.no_faults)
    except MtkdError as e:
        print(f"matrix: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
