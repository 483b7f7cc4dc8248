"""The wheel folder that brings mtkd's missing dependencies to an offline GPU image, and its check.

``python -m tools.gpu_wheels fill DIR`` (on a machine with PyPI, ideally in the transformers-5 environment,
.venv-t5) downloads exactly what the image (``tools/gpu_image.py``) lacks, at the versions installed here,
as cp312 manylinux x86_64 wheels (building a wheel where PyPI has only a source archive, as for seqeval),
and prints the folder's size. ``python -m tools.gpu_wheels check DIR`` says whether the folder and the image
together hold every distribution mtkd needs and every module it imports at start-up.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging import tags
from packaging.requirements import Requirement
from packaging.utils import parse_wheel_filename

from tools.gpu_image import (
    CANNOT,
    CANNOT_MODULES,
    CARRY_LIMIT_BYTES,
    EXTRA_PACKAGES,
    HELD,
    PLATFORMS,
    PYTHON,
    canonical,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("distill", "compress", "benchmarks", "recipes")


def declared_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    """mtkd's own runtime requirements, read from the checkout (the image runs it uninstalled)."""
    return [Requirement(r) for r in tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]]


def _applies(req: Requirement, python: str) -> bool:
    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux"}
    env |= {"platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}
    return req.marker is None or req.marker.evaluate(env)


def requirements_of(dist: str, python: str) -> list[Requirement]:
    """The installed distribution's own requirements that apply on the image (no extras)."""
    return [r for r in map(Requirement, metadata.requires(dist) or []) if _applies(r, python)]


def missing_distributions(held: frozenset[str] = HELD, python: str = PYTHON) -> dict[str, str]:
    """Name → version (as installed here) of every distribution mtkd needs that the image lacks: mtkd's
    requirements, then theirs, never descending into what the image holds (it brings its own)."""
    found: dict[str, str] = {}
    frontier = [r for r in declared_requirements() if _applies(r, python)]
    while frontier:
        name = canonical(frontier.pop().name)
        if name in held or name in CANNOT or name in found:
            continue
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError as e:
            raise SystemExit(f"gpu-wheels: {name} is not installed here; install mtkd first (pip install -e .)") from e
        frontier += requirements_of(name, python)
    return dict(sorted(found.items()))


def brought_by(dists: Iterable[str], python: str = PYTHON) -> set[str]:
    """``dists`` and everything they need, as installed here (what the image's packages bring along, or
    what an extra the image cannot have would)."""
    seen: set[str] = set()
    frontier = [d for d in dists if _installed(d)]
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        frontier += [canonical(r.name) for r in requirements_of(name, python) if _installed(canonical(r.name))]
    return seen


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class Wheel:
    """One wheel of the folder: its distribution, version, tags and the top-level modules it installs."""

    path: Path
    name: str
    version: str
    tags: frozenset[str]
    modules: frozenset[str]

    def runs_on(self, python: str) -> bool:
        """Whether pip would install it for CPython ``python`` on manylinux x86_64."""
        return bool(self.tags & image_tags(python))


def image_tags(python: str) -> frozenset[str]:
    """Every wheel tag pip accepts for CPython ``python`` on the image's manylinux x86_64."""
    version = tuple(int(p) for p in python.split("."))[:2]
    platforms = [*PLATFORMS, "linux_x86_64"]
    found = [
        *tags.cpython_tags(version, platforms=platforms),
        *tags.compatible_tags(version, "cp" + python.replace(".", ""), platforms),
    ]
    return frozenset(str(t) for t in found)


def read_wheel(path: Path) -> Wheel:
    """A wheel's name, version, tags and top-level modules (top_level.txt, else its RECORD's first parts)."""
    name, version, _, tags = parse_wheel_filename(path.name)
    with zipfile.ZipFile(path) as zf:
        top = [n for n in zf.namelist() if n.endswith(".dist-info/top_level.txt")]
        if top:
            modules = {m.strip() for m in zf.read(top[0]).decode().splitlines() if m.strip()}
        else:
            firsts = {n.split("/")[0] for n in zf.namelist()}
            modules = {f.removesuffix(".py").split(".")[0] for f in firsts if not f.endswith((".dist-info", ".data"))}
    return Wheel(path, canonical(str(name)), str(version), frozenset(str(t) for t in tags), frozenset(modules))


def folder_wheels(folder: Path) -> list[Wheel]:
    return [read_wheel(p) for p in sorted(Path(folder).glob("*.whl"))]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).glob("*.whl"))


_STARTUP = """
import importlib, json, pkgutil, sys
from importlib.metadata import packages_distributions
optional = set(sys.argv[1].split(","))
extras = tuple(sys.argv[3].split(","))
for pkg in sys.argv[2].split(","):
    for m in pkgutil.walk_packages(importlib.import_module(pkg).__path__, pkg + "."):
        if m.name.endswith("__main__") or m.name.startswith(extras):
            continue
        try:
            importlib.import_module(m.name)
        except ModuleNotFoundError as e:  # a module of an extra the image cannot have: optional there
            if (e.name or "").split(".")[0] not in optional:
                raise
dists = packages_distributions()
top = {n.split(".")[0] for n in list(sys.modules)} - set(sys.stdlib_module_names) - set(sys.argv[2].split(","))
print(json.dumps({t: dists.get(t, []) for t in sorted(top)}))
"""


def startup_imports(python: str = sys.executable) -> dict[str, list[str]]:
    """Each third-party top-level module that importing every mtkd module loads, with the distributions that
    provide it here (none for interpreter internals such as a Cython runtime)."""
    done = subprocess.run(
        [python, "-c", _STARTUP, ",".join(CANNOT_MODULES), ",".join(PACKAGES), ",".join(EXTRA_PACKAGES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing mtkd's modules failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def folder_python(folder: Path) -> str:
    """The Python a folder was filled for (its ``wheels.json``), else the image's."""
    manifest = Path(folder) / MANIFEST
    return json.loads(manifest.read_text())["python"] if manifest.is_file() else PYTHON


def check_folder(
    folder: Path,
    python: str | None = None,
    held: frozenset[str] = HELD,
    imports: dict[str, list[str]] | None = None,
) -> list[str]:
    """What stops the folder and the image from running mtkd (empty when nothing does): its size over the
    limit, a needed distribution in neither, a second version of one, a wheel that does not install on the
    Python it was filled for, and a module mtkd imports at start-up whose distribution neither holds nor brings."""
    python = python or folder_python(folder)
    wheels = folder_wheels(folder)
    problems = []
    size = folder_bytes(folder)
    if size > CARRY_LIMIT_BYTES:
        problems.append(f"{size / 2**20:.1f} MiB of wheels: over the {CARRY_LIMIT_BYTES / 2**20:.0f} MiB limit")
    names = [w.name for w in wheels]
    problems += [
        f"{n}: two wheels of it (pip stops the whole install)" for n in sorted({n for n in names if names.count(n) > 1})
    ]
    problems += [
        f"{w.path.name}: does not install on CPython {python} manylinux x86_64" for w in wheels if not w.runs_on(python)
    ]
    need = missing_distributions(held, python)
    problems += [
        f"{n}=={v}: needed, and neither in the folder nor in the image" for n, v in need.items() if n not in names
    ]
    covered = set(held) | set(names) | brought_by(held, python)
    return problems + import_problems(imports if imports is not None else startup_imports(), covered, python)


def import_problems(imports: dict[str, list[str]], covered: set[str], python: str) -> list[str]:
    """Start-up imports the image would lack: a module whose distribution is neither covered nor brought by
    an extra the image cannot have, unless it is opportunistic (imported only because it is installed here,
    as transformers imports opentelemetry: neither mtkd's code nor anything it needs asks for it)."""
    optional_here = brought_by(CANNOT, python)  # e.g. pydot, imported through nncf where it is installed
    needed = brought_by({canonical(r.name) for r in declared_requirements()}, python)
    own = own_imports()
    problems = []
    for module, dists in imports.items():
        provided = {canonical(d) for d in dists}
        if not provided or provided & covered or provided <= optional_here:
            continue
        if module in own or provided & needed:
            problems.append(f"import {module} (from {', '.join(dists)}): neither in the folder nor in the image")
    return problems


def own_imports() -> set[str]:
    """Top-level modules mtkd's own code imports when its modules load (not those imported inside functions)."""
    found: set[str] = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if ".".join(path.relative_to(ROOT).with_suffix("").parts).startswith(EXTRA_PACKAGES):
                continue
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found


MANIFEST = "wheels.json"  # the Python the folder was filled for
PIP_TARGET = ["--no-deps", "--only-binary=:all:", "--implementation", "cp"]


def fill(folder: Path, python: str = PYTHON, versions: dict[str, str] | None = None) -> list[Path]:
    """Download (or build, where PyPI has only a source archive) one wheel per missing distribution into
    ``folder`` for CPython ``python`` on manylinux x86_64; returns the wheels it holds afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    platforms = [a for p in PLATFORMS for a in ("--platform", p)]
    for name, version in (versions or missing_distributions(python=python)).items():
        spec = f"{name}=={version}"
        pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
        got = subprocess.run(
            [*pip, "download", *PIP_TARGET, "--python-version", python, *platforms, "-d", str(folder), spec],
            capture_output=True,
            text=True,
            check=False,
        )
        if got.returncode != 0:  # no wheel on PyPI: build one, which must then be pure Python to travel
            subprocess.run([*pip, "wheel", "--no-deps", "-w", str(folder), spec], check=True, capture_output=True)
            built = [w for w in folder_wheels(folder) if w.name == name and w.version == version]
            if not built or not all(w.runs_on(python) for w in built):
                raise SystemExit(f"gpu-wheels: {spec} has no wheel for CPython {python} and builds none that travels")
        print(f"gpu-wheels: {spec}", file=sys.stderr)
    (folder / MANIFEST).write_text(json.dumps({"python": python, "platforms": list(PLATFORMS)}, indent=2) + "\n")
    return [w.path for w in folder_wheels(folder)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu-wheels", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("fill", "check", "list"))
    parser.add_argument("folder", type=Path, nargs="?")
    parser.add_argument("--python", help=f"the image's Python (default: the folder's wheels.json, else {PYTHON})")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(f"{n}=={v}" for n, v in missing_distributions(python=args.python or PYTHON).items()))
        print("\n".join(f"not brought: {n}: {why}" for n, why in CANNOT.items()), file=sys.stderr)
        return 0
    if args.folder is None:
        parser.error(f"{args.command} needs a folder")
    if args.command == "fill":
        fill(args.folder, args.python or PYTHON)
    problems = check_folder(args.folder, args.python)
    size = folder_bytes(args.folder)
    print(f"gpu-wheels: {len(folder_wheels(args.folder))} wheels, {size / 2**20:.1f} MiB in {args.folder}")
    for p in problems:
        print(f"gpu-wheels: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
