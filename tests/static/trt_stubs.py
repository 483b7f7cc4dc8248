"""The published ``tensorrt-stubs`` (10.13), made parseable for mypy, and mypy run against them.

The stubs are generated from the pybind11 module and carry three defects no type checker can read
past: parameters named ``in`` (a keyword), a parameter without a default after defaulted ones
(``add_scale_nd``), and an import of ``tensorrt_libs`` (NVIDIA's wheel of CUDA libraries, no API).
``repaired_stubs`` fixes exactly those, line by line where Python's parser stops, and changes no
name, class or signature type, so the API the code is checked against is NVIDIA's as published.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / ".venv" / "stubs"  # where the README's test command installs tensorrt-stubs (--no-deps)
PACKAGES = ("tensorrt", "tensorrt_bindings")
KEYWORD_PARAM = re.compile(r"([(,]\s*)(in|from|lambda|is)(\s*:)")


def _default_the_rest(line: str) -> str:
    """``def f(a, b=None, c: int)`` → ``def f(a, b=None, c: int = ...)`` (stub defaults are ``...``)."""
    head, _, params = line.partition("(")
    params, close, tail = params.rpartition(")")
    out, seen_default = [], False
    for param in params.split(", "):
        if "=" in param:
            seen_default = True
        elif seen_default and ":" in param and not param.lstrip().startswith("*"):
            param = f"{param} = ..."
        out.append(param)
    return f"{head}({', '.join(out)}{close}{tail}"


def _repair(path: Path) -> int:
    lines = path.read_text().splitlines()
    fixed = 0
    for _ in range(200):  # one parser stop per defect
        try:
            ast.parse("\n".join(lines), filename=str(path))
            break
        except SyntaxError as e:
            i = (e.lineno or 1) - 1
            repaired = KEYWORD_PARAM.sub(r"\1\2_\3", lines[i])
            if repaired == lines[i]:
                repaired = _default_the_rest(lines[i])
            if repaired == lines[i]:
                raise RuntimeError(f"{path}:{i + 1}: cannot repair stub line: {lines[i].strip()}") from e
            lines[i], fixed = repaired, fixed + 1
    path.write_text("\n".join(lines) + "\n")
    return fixed


def repaired_stubs(dest: Path) -> Path:
    """A parseable copy of the installed stubs under ``dest``."""
    missing = [p for p in PACKAGES if not (STUBS / p).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"tensorrt-stubs not found in {STUBS} (missing {', '.join(missing)}): run the README's test command, "
            "which installs them with `pip install --no-deps --target .venv/stubs tensorrt-stubs==10.13.0.35.1`"
        )
    for package in PACKAGES:
        shutil.copytree(STUBS / package, dest / package, dirs_exist_ok=True)
        for stub in (dest / package).rglob("*.pyi"):
            _repair(stub)
    (dest / "tensorrt_libs").mkdir(exist_ok=True)
    (dest / "tensorrt_libs" / "__init__.pyi").write_text("")
    return dest


# What NVIDIA's "TensorRT 10.x to 11.x" Python API reference lists as removed, among the stubs' one-line
# declarations: the weak-typing builder flags, the normalization layer's compute precision, the calibrator.
REMOVED_IN_11 = re.compile(
    r"^\s+(?:(?:FP16|INT8|FP8|BF16|INT4|FP4|OBEY_PRECISION_CONSTRAINTS|PREFER_PRECISION_CONSTRAINTS|DIRECT_IO)"
    r": typing\.ClassVar\[BuilderFlag\]|compute_precision: DataType|int8_calibrator: IInt8Calibrator)(?:\s|$)"
)


def stubs_of_11(stubs: Path, dest: Path) -> tuple[Path, int]:
    """A copy of the repaired 10.13 stubs without what TensorRT 11 removed (no stubs of 11 are published and
    its bindings cannot be imported here to generate them); returns it and how many declarations went."""
    shutil.copytree(stubs, dest, dirs_exist_ok=True)
    removed = 0
    for stub in dest.rglob("*.pyi"):
        lines = stub.read_text().splitlines()
        kept = [line for line in lines if not REMOVED_IN_11.match(line)]
        removed += len(lines) - len(kept)
        stub.write_text("\n".join(kept) + "\n")
    return dest, removed


def run_mypy(stubs: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    """mypy with the project's settings (pyproject ``[tool.mypy]``) and the repaired stubs on its path."""
    env = {**os.environ, "MYPYPATH": str(stubs)}
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental"]
    return subprocess.run([*cmd, *map(str, files)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
