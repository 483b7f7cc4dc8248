"""The GPU check a person with one NVIDIA GPU runs once from a fresh clone (``.ci/gpu-check``).

Two ways (docs/gpu.md): on a fresh machine with PyPI, in a virtual environment of the pinned GPU set; or
``--system --wheels DIR`` on an offline image with its own Python and PyTorch, installing only the wheels of
``DIR`` (made by ``python -m tools.gpu_wheels fill DIR`` on a networked machine) into ``<out>/site``.

Every step runs as its own process with a time limit, one failing step never stops the others, and
one report (``report.md`` and ``report.json``) gives each step's status, time and last lines, then the
GPU benchmark table. ``--dry`` checks the plan itself on any machine: the commands parse, the recipe
overrides validate, the files the steps read exist; nothing is trained or installed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools.gpu_image import CANNOT

ROOT = Path(__file__).resolve().parents[1]
QUICK = [  # the quickstart shrunk to GPU-seconds, up to quantize: the GPU bench step measures it
    "--stages",
    "quantize",  # and what it needs; the recipe's own bench stage would spend minutes on CPU rows
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


def plan(out: Path, python: str = sys.executable, wheels: Path | None = None) -> list[Step]:
    """The steps, in order: with ``wheels`` (the offline mode) first the folder's check and its install, then
    what the machine can run, the GPU tests, a small quickstart on CUDA end to end (teacher and distillation
    on the GPU, quantize), the GPU bench (engines for every precision the GPU supports where TensorRT is)."""
    run = out / "quickstart"
    mtkd = [python, "-m", "recipes"]
    offline = []
    if wheels is not None:  # the limits still add up to 8 minutes
        install = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
        offline = [  # installed first: the folder's check then imports every mtkd module through it
            Step(
                "install wheels",
                [*install, "--target", str(site_dir(out)), *map(str, sorted(wheels.glob("*.whl")))],
                30,
            ),
            Step("wheel folder", [python, "-m", "tools.gpu_wheels", "check", str(wheels)], 30),
        ]
    return [
        *offline,
        Step("doctor", [*mtkd, "doctor"], 45 if offline else 60),
        Step("gpu tests", [python, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider"], 120),
        Step("quickstart on cuda", [*mtkd, "run", "quickstart", "--device", "cuda", "--out", str(run), *QUICK], 180),
        Step(
            "gpu bench", [*mtkd, "bench", str(run), "--gpu-check", "--out", str(out / "bench")], 75 if offline else 120
        ),
    ]


def site_dir(out: Path) -> Path:
    """Where the offline mode installs the wheel folder (put first on the steps' PYTHONPATH)."""
    return (out / "site").resolve()


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
    """Check a step without running it: its command line parses and a recipe it names validates. The offline
    mode's wheel steps do run: the folder's check reads files, and the wheels install (where they suit this
    Python) into the check's own folder, so what follows imports through them as it would on the image."""
    if step.argv[1:3] == ["-m", "tools.gpu_wheels"]:
        return subprocess_runner(step)
    if step.argv[1:4] == ["-m", "pip", "install"]:
        return dry_install(step)
    from recipes.cli import parser_for
    from recipes.loader import load_recipe

    args = step.argv[3:] if step.argv[1:3] == ["-m", "recipes"] else None
    if args is None:
        return 0, f"would run: {' '.join(step.argv)}"
    parsed, extra = parser_for(args).parse_known_args(args)
    if extra:
        return 2, f"unrecognised arguments: {extra}"
    if parsed.command == "run":
        recipe = load_recipe(parsed.recipe, parsed.overrides)
        return 0, f"recipe {recipe.name} validates with {len(parsed.overrides)} overrides"
    return 0, f"mtkd {parsed.command}: arguments parse"


def dry_install(step: Step) -> tuple[int | None, str]:
    """Install the wheels where every one suits this Python (then import through them); else say so."""
    from tools.gpu_wheels import read_wheel

    wheels = [Path(a) for a in step.argv if a.endswith(".whl")]
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    foreign = [w.name for w in wheels if not read_wheel(w).runs_on(here)]
    if foreign:
        return 0, f"would install {len(wheels)} wheels; {len(foreign)} are for another Python than {here}: {foreign[0]}"
    code, output = subprocess_runner(step)
    if code == 0:
        use_site(Path(step.argv[step.argv.index("--target") + 1]))
    return code, output + f"installed {len(wheels)} wheels"


def use_site(site: Path, here_too: bool = True) -> None:
    """Put the installed wheel folder first for every step this process starts (and for itself)."""
    if here_too:
        sys.path.insert(0, str(site))
        importlib.invalidate_caches()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(ROOT), os.environ.get("PYTHONPATH")]))


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
        f"# GPU check{' (dry run: nothing trained or timed)' if dry else ''}",
        "",
        "| step | status | seconds |",
        "|---|---|---:|",
        *(f"| {s.name} | {s.status} | {s.seconds} |" for s in steps),
        "",
    ]
    if any(s.name == "install wheels" for s in steps):  # the offline mode: what the image cannot have
        lines += ["Not on this machine (their rows are listed as not measured, with the reason):", ""]
        lines += [f"- {name}: {why}" for name, why in CANNOT.items()] + [""]
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
    parser.add_argument("--system", action="store_true", help="use this Python as it is (an offline GPU image)")
    parser.add_argument("--wheels", type=Path, help="with --system: install only these wheels (tools/gpu_wheels.py)")
    args = parser.parse_args(argv)
    if args.wheels is not None and not (args.system and args.wheels.is_dir()):
        parser.error("--wheels needs --system and a folder of wheels (python -m tools.gpu_wheels fill DIR)")
    if args.wheels is not None and not args.dry:
        use_site(site_dir(args.out), here_too=False)  # filled by the install step, before anything imports from it
    steps = run_steps(plan(args.out, wheels=args.wheels), dry_runner if args.dry else subprocess_runner, args.dry)
    report = write_report(args.out, steps, args.dry)
    print(f"gpu-check: report in {report}", file=sys.stderr)
    return 0 if all(s.status in ("passed", "planned") for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
