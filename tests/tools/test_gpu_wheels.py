"""The offline GPU check's wheel folder: what it must hold, the check that refuses a folder that would fail on
the image, and the dry run on a Python whose pydantic (and the rest) exists only in the folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tools import gpu_wheels
from tools.gpu_image import CARRY_LIMIT_BYTES, HELD
from tools.gpu_wheels import check_folder, fill, folder_bytes, folder_wheels, missing_distributions, read_wheel

ROOT = Path(__file__).resolve().parents[2]
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def fake_wheel(folder: Path, name: str, version: str, tag: str = "py3-none-any", modules=("x",)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name.replace('-', '_')}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name.replace('-', '_')}-{version}.dist-info/top_level.txt", "\n".join(modules))
    return path


def test_what_the_image_lacks_is_mtkds_own_needs_and_never_what_it_holds():
    need = missing_distributions()
    assert {"pydantic", "pydantic-core", "seqeval", "python-crfsuite", "datasets"} <= set(need)
    assert not set(need) & HELD and "torch" not in need and "transformers" not in need
    assert all(v[0].isdigit() for v in need.values())  # the versions installed here


def test_a_folder_holding_every_need_passes_and_each_defect_is_named(tmp_path, monkeypatch):
    need = missing_distributions()
    for name, version in need.items():
        fake_wheel(tmp_path / "ok", name, version)
    assert check_folder(tmp_path / "ok", imports={"pydantic": ["pydantic"], "torch": ["torch"]}) == []

    bad = tmp_path / "bad"
    for name, version in need.items():
        if name != "seqeval":
            tag = "cp311-cp311-manylinux_2_17_x86_64" if name == "python-crfsuite" else "py3-none-any"
            fake_wheel(bad, name, version, tag)
    fake_wheel(bad, "pydantic", "1.0")  # a second version
    imports = {"yaml": ["yaml-elsewhere"], "opentelemetry": ["opentelemetry-api"], "_cython_3": []}
    problems = check_folder(bad, python="3.12", imports=imports)
    text = "\n".join(problems)
    assert "seqeval==" in text and "neither in the folder nor in the image" in text
    assert "pydantic: two wheels" in text
    assert "python_crfsuite" in text and "does not install on CPython 3.12" in text
    # mtkd imports yaml itself: from a distribution the image lacks, a problem; opentelemetry is imported by
    # transformers only where installed (nothing asks for it), and a Cython runtime has no distribution
    assert "import yaml (from yaml-elsewhere)" in text and "opentelemetry" not in text and "_cython_3" not in text
    assert len(problems) == 4

    monkeypatch.setattr(gpu_wheels, "CARRY_LIMIT_BYTES", folder_bytes(tmp_path / "ok") - 1)
    assert any("over the" in p for p in check_folder(tmp_path / "ok", imports={}))


def test_a_wheels_tags_decide_which_python_it_installs_on(tmp_path):
    assert read_wheel(fake_wheel(tmp_path, "a", "1", "py312-none-any")).runs_on("3.12")
    assert not read_wheel(fake_wheel(tmp_path, "b", "1", "py312-none-any")).runs_on("3.11")
    assert read_wheel(fake_wheel(tmp_path, "c", "1", "cp39-abi3-manylinux_2_28_x86_64")).runs_on("3.12")
    assert not read_wheel(fake_wheel(tmp_path, "d", "1", "cp312-cp312-macosx_11_0_arm64")).runs_on("3.12")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    return _filled(tmp_path_factory.mktemp("wheels-image"), "3.12")


@pytest.fixture(scope="module")
def here_folder(tmp_path_factory) -> Path:
    return _filled(tmp_path_factory.mktemp("wheels-here"), HERE)


def _filled(folder: Path, python: str) -> Path:
    try:
        fill(folder, python)
    except (subprocess.CalledProcessError, SystemExit) as e:
        pytest.skip(f"PyPI unreachable or refused the download here: {e}")
    return folder


@pytest.mark.slow
def test_the_filled_folder_for_the_image_is_small_and_the_offline_dry_run_accepts_it(image_folder, tmp_path):
    assert 0 < folder_bytes(image_folder) < CARRY_LIMIT_BYTES
    assert {w.name for w in folder_wheels(image_folder)} == set(missing_distributions())
    assert check_folder(image_folder) == []
    done = _gpu_check(["--system", "--wheels", str(image_folder), "--dry", "--out", str(tmp_path)], {})
    assert done.returncode == 0, done.stderr[-2000:]
    steps = {s["name"]: s for s in json.loads((tmp_path / "report.json").read_text())["steps"]}
    assert list(steps)[:2] == ["install wheels", "wheel folder"] and {s["status"] for s in steps.values()} == {
        "planned"
    }
    assert sum(s["timeout_s"] for s in steps.values()) <= 8 * 60
    assert "for another Python" in steps["install wheels"]["tail"][-1] or HERE == "3.12"
    assert "- tensorrt-cu13:" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_the_dry_run_holds_where_pydantic_and_the_rest_exist_only_in_the_folder(here_folder, tmp_path):
    hidden = sorted({m for w in folder_wheels(here_folder) for m in w.modules})
    env = _hiding(tmp_path / "hide", hidden)
    without = _gpu_check(["--system", "--dry", "--out", str(tmp_path / "without")], env)
    assert without.returncode != 0  # the hiding works: mtkd cannot start from this Python alone
    done = _gpu_check(["--system", "--wheels", str(here_folder), "--dry", "--out", str(tmp_path / "with")], env)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = {s["name"]: s for s in json.loads((tmp_path / "with" / "report.json").read_text())["steps"]}
    assert steps["install wheels"]["tail"][-1] == f"installed {len(folder_wheels(here_folder))} wheels"
    assert "validates" in steps["quickstart on cuda"]["tail"][-1]
    assert (tmp_path / "with" / "site" / "pydantic").is_dir()


def _gpu_check(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / "gpu-check"), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _hiding(folder: Path, modules: list[str]) -> dict[str, str]:
    """A sitecustomize that makes ``modules`` unimportable from this Python's site-packages: found only on
    the paths the check adds (its installed wheel folder), as on the image."""
    folder.mkdir(parents=True)
    (folder / "sitecustomize.py").write_text(
        textwrap.dedent(
            f"""
            import importlib.machinery, site, sys
            HIDDEN = set({modules!r})
            BLOCKED = tuple(site.getsitepackages())

            class Hide:
                def find_spec(self, name, path=None, target=None):
                    if name.split(".")[0] not in HIDDEN or "." in name:
                        return None
                    paths = [p for p in sys.path if not p.startswith(BLOCKED)]
                    spec = importlib.machinery.PathFinder.find_spec(name, paths)
                    if spec is None:
                        raise ModuleNotFoundError(f"No module named {{name!r}} (hidden)", name=name)
                    return spec

            sys.meta_path.insert(0, Hide())
            """
        )
    )
    return {"PYTHONPATH": str(folder)}
