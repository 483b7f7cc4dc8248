"""The README is a short guide whose commands and links are the real ones."""

from __future__ import annotations

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
    code = README.split("```python", 1)[1].split("```", 1)[0]
    compile(code, "README example", "exec")  # it parses
    imported = set(re.findall(r"^from (\w+) import", code, flags=re.M))
    assert imported == {"pathlib", "benchmarks", "compress", "distill"}  # never the pipeline (recipes)
    import benchmarks
    import compress
    import distill

    for module in (benchmarks, compress, distill):
        block = re.search(rf"^from {module.__name__} import \(?([^)]*?)\)?$", code, flags=re.M | re.S)
        names = [n.strip() for n in block.group(1).replace("\n", " ").split(",") if n.strip()]
        assert names and all(hasattr(module, n) for n in names), module.__name__
