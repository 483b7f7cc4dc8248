"""The README is a short guide whose commands and links are the real ones."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_is_a_short_guide():
    assert len(README.splitlines()) <= 300


def test_ci_runs_exactly_the_readmes_test_command():
    command = next(line for line in README.splitlines() if ".venv/bin/pytest" in line)
    assert command.strip() in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_relative_link_in_the_docs_points_at_a_file_that_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)\)", page.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert broken == []


def test_the_readmes_python_example_uses_only_public_verbs():
    import importlib

    code = README.split("```python", 1)[1].split("```", 1)[0]
    imports = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.ImportFrom)]
    assert {i.module for i in imports} == {"pathlib", "benchmarks", "compress", "distill"}  # never recipes
    for node in imports:
        module = importlib.import_module(node.module)
        missing = [a.name for a in node.names if not hasattr(module, a.name)]
        assert missing == [], node.module
