"""The reliability matrix's ``input`` rows: hostile inputs to a served bundle, each answered in its place.

A bundle exported from a finished matrix run gets, through ``mtkd predict`` on stdin, through the Python
``Predictor`` and through ``mtkd loadtest``: empty and whitespace-only lines, a 1 MB line, control and
ANSI escape characters, bytes that are not UTF-8, mixed scripts, a pair where a text is expected, and
values that are not text at all. Handled means: one answer per input, in order, a named ``error`` for
the inputs that cannot be predicted on, predictions for the others, and no traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .matrix import ROOT, Outcome

GOOD = "red cotton shirt"
STDIN_LINES: list[tuple[bytes, bool]] = [  # (the line's bytes, whether it should be predicted on)
    (GOOD.encode(), True),
    (b"", False),  # empty
    (b"   \t  ", False),  # whitespace only (a tab: a pair of two empty texts)
    (b"x" * 1_000_000, True),  # 1 MB: truncated as the bundle declares
    (b"bell \x07 and \x1b[31mred\x1b[0m shirt", True),  # control and ANSI escape characters
    (b"\xff\xfe not utf-8 \xc3", True),  # invalid UTF-8: U+FFFD, not a crash
    ("红色 shirt Кофта ✓ العربية".encode(), True),  # mixed scripts
    (b"red shirt\tcotton red shirt", False),  # a pair for a text task
    (GOOD.encode(), True),
]
NOT_TEXT = [None, 5, {"a": 1}, ["red", 3], "\ud800 a lone surrogate", GOOD]  # from a JSON client, say


def run_mtkd(args: list[str], stdin: bytes | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "recipes", *args], cwd=ROOT, input=stdin, capture_output=True, timeout=timeout
    )


def export_bundle(run: Path, out: Path) -> Path | None:
    """A bundle of the run's student, dynamic INT8 (None when the export fails)."""
    done = run_mtkd(["export", str(run), "--artifact", "student-dynamic-int8", "--out", str(out)])
    return out if done.returncode == 0 else None


def predict_stdin(bundle: Path) -> Outcome:
    stdin = b"\n".join(line for line, _ in STDIN_LINES) + b"\n"
    done = run_mtkd(["predict", str(bundle), "--task", "category"], stdin)
    answers = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines() if line.strip()]
    expected = [ok for _, ok in STDIN_LINES]
    got = ["category" in a for a in answers]
    named = all("error" in a and a["error"] for a, ok in zip(answers, expected, strict=False) if not ok)
    first_last = answers and answers[0].get("input") == GOOD and answers[-1].get("input") == GOOD
    ok = done.returncode == 3 and got == expected and named and first_last and b"Traceback" not in done.stderr
    detail = (
        f"{len(answers)} answers for {len(STDIN_LINES)} lines, in order; {expected.count(False)} named errors "
        "(empty, whitespace, a pair for a text task), the 1 MB line truncated, the rest predicted; exit 3"
        if ok
        else f"exit {done.returncode}, answers {got} (expected {expected}); {done.stderr.decode()[-200:]!r}"
    )
    return Outcome("input", "predict: hostile stdin lines", ok, detail)


def predict_not_text(bundle: Path) -> Outcome:
    from compress.bundle.predictor import Predictor

    answers = Predictor.load(bundle).predict(NOT_TEXT, ["category"])
    errors = ["error" in a for a in answers]
    ok = len(answers) == len(NOT_TEXT) and errors == [True, True, True, True, False, False]
    detail = (
        "None, a number, an object and a word list holding a number: a named error each; a lone surrogate and "
        "a text predicted, in their places"
        if ok
        else f"errors {errors} for {[type(x).__name__ for x in NOT_TEXT]}"
    )
    return Outcome("input", "Predictor: values that are not text", ok, detail)


def loadtest_hostile(bundle: Path) -> Outcome:
    texts = ["", "   ", "y" * 100_000, "bell \x07 shirt", "红色 shirt", GOOD]  # an argument holds 128 KB at most
    done = run_mtkd(["loadtest", str(bundle), "--requests", "12", "--threads", "2", *texts])
    ok = done.returncode == 0 and b"Traceback" not in done.stderr
    detail = "finished, per-request errors counted in its report" if ok else f"exit {done.returncode}"
    return Outcome("input", "loadtest: hostile inputs", ok, detail if ok else f"{detail}: {done.stderr[-200:]!r}")


def hostile_inputs(run: Path, root: Path) -> list[Outcome]:
    """Every ``input`` row against a bundle exported from ``run`` (a finished run with quantized artifacts)."""
    bundle = export_bundle(run, root / "inputs" / "bundle")
    if bundle is None:
        return [Outcome("input", "export a bundle to serve", False, f"mtkd export {run} failed")]
    return [predict_stdin(bundle), predict_not_text(bundle), loadtest_hostile(bundle)]
