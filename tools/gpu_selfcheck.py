"""The GPU check a person with one NVIDIA GPU runs once from a fresh clone (``.ci/gpu-check``).

Every step runs as its own process with a time limit, one failing step never stops the others, and
one report (``report.md`` and ``report.json``) gives each step's status, time and last lines, then the
GPU benchmark table. ``--dry`` checks the plan itself on any machine: the commands parse, the recipe
overrides validate, the files the steps read exist; nothing is trained or installed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

QUICK = [  # the quickstart shrunk to GPU-seconds: every stage still runs, on CUDA where it trains
    "--set",
    "teacher.train.epochs=1",
    "--set",
    "student.train.epochs=1",
    "--set",
    "quantize.qat.steps=50",
]


@dataclass
class Step:
    """One command of the check and what became of it."""

    name: str
    argv: list[str]
    timeout_s: int
    status: str = "pending"  # pending, planned (dry), passed, failed, timed out
    seconds: float = 0.0
    tail: list[str] = field(default_factory=list)


def plan(out: Path, python: str = sys.executable) -> list[Step]:
    """The steps, in order: what the machine can run, the GPU tests, a small quickstart on CUDA end to end
    (teacher and distillation on the GPU, quantize, every engine precision the GPU supports), the GPU bench."""
    run = out / "quickstart"
    mtkd = [python, "-m", "recipes"]
    return [
        Step("doctor", [*mtkd, "doctor"], 60),  # the limits add up to 8 minutes
        Step("gpu tests", [python, "-m", "pytest", "-m", "gpu", "-q", "-rs"], 120),
        Step("quickstart on cuda", [*mtkd, "run", "quickstart", "--device", "cuda", "--out", str(run), *QUICK], 180),
        Step("gpu bench", [*mtkd, "bench", str(run), "--gpu-check", "--out", str(out / "bench")], 120),
    ]


Runner = Callable[[Step], tuple[int | None, str]]  # (exit code or None on time-out, combined output)


def subprocess_runner(step: Step) -> tuple[int | None, str]:
    """Run the step's command; its exit code and output (None when it ran past its limit)."""
    try:
        done = subprocess.run(step.argv, capture_output=True, text=True, timeout=step.timeout_s, check=False)
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ""
        return None, (out.decode(errors="replace") if isinstance(out, bytes) else out)
    return done.returncode, done.stdout + done.stderr


def dry_runner(step: Step) -> tuple[int | None, str]:
    """Check a step without running it: its command line parses and a recipe it names validates."""
    from recipes.cli import _parser
    from recipes.loader import load_recipe

    args = step.argv[3:] if step.argv[1:3] == ["-m", "recipes"] else None
    if args is None:
        return 0, f"would run: {' '.join(step.argv)}"
    parsed, extra = _parser().parse_known_args(args)
    if extra:
        return 2, f"unrecognised arguments: {extra}"
    if parsed.command == "run":
        recipe = load_recipe(parsed.recipe, parsed.overrides)
        return 0, f"recipe {recipe.name} validates with {len(parsed.overrides)} overrides"
    return 0, f"mtkd {parsed.command}: arguments parse"


def run_steps(steps: list[Step], runner: Runner, dry: bool) -> list[Step]:
    """Run every step in order, each isolated: a failure is recorded and the next step still runs."""
    for step in steps:
        started = time.perf_counter()
        try:
            code, output = runner(step)
        except Exception as e:  # the check's own machinery failing is a finding too, not a crash
            code, output = 1, f"{type(e).__name__}: {e}"
        step.seconds = round(time.perf_counter() - started, 1)
        step.tail = output.strip().splitlines()[-15:]
        step.status = "timed out" if code is None else ("planned" if dry else "passed") if code == 0 else "failed"
        print(f"gpu-check: {step.name}: {step.status} ({step.seconds} s)", file=sys.stderr)
    return steps


def write_report(out: Path, steps: list[Step], dry: bool) -> Path:
    """``report.md`` (steps, then the bench's GPU table when there is one) and ``report.json``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({"dry": dry, "steps": [asdict(s) for s in steps]}, indent=2) + "\n")
    lines = [
        f"# GPU check{' (dry run: nothing was executed)' if dry else ''}",
        "",
        "| step | status | seconds |",
        "|---|---|---:|",
        *(f"| {s.name} | {s.status} | {s.seconds} |" for s in steps),
        "",
    ]
    for s in steps:
        lines += [f"## {s.name}", "", "`" + " ".join(s.argv) + "`", "", "```", *s.tail, "```", ""]
    bench = out / "bench" / "report.md"
    if bench.is_file():
        lines += ["## GPU benchmark", "", bench.read_text(encoding="utf-8")]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu-check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs") / "gpu-check")
    parser.add_argument("--dry", action="store_true", help="check the plan without running it (any machine)")
    args = parser.parse_args(argv)
    steps = run_steps(plan(args.out), dry_runner if args.dry else subprocess_runner, args.dry)
    report = write_report(args.out, steps, args.dry)
    print(f"gpu-check: report in {report}", file=sys.stderr)
    return 0 if all(s.status in ("passed", "planned") for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
