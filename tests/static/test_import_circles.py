"""The library's modules import one another without a circle (function-level imports count too: a deferred
import that dodges a cycle is still a cycle), and no test outside tests/recipes/ imports the recipes package's
library code."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("distill", "compress", "benchmarks", "recipes")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def import_edges(found: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the library modules it imports, anywhere in its body."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join([*base, *([node.module] if node.module else [])])
                targets = [target, *(f"{target}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            edges[name].update(t for t in targets if t in found and t != name)
    return edges


def circles(edges: dict[str, set[str]], nodes: list[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_in_the_library():
    found = modules()
    assert circles(import_edges(found), sorted(found)) == []


def test_the_checker_finds_a_circle_hidden_in_a_function():
    edges = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert circles(edges, ["a", "b", "c", "d"]) == [["a", "b", "c"]]


def test_library_tests_do_not_import_the_recipes_package():
    outside = [p for p in (ROOT / "tests").rglob("*.py") if "recipes" not in p.relative_to(ROOT / "tests").parts[:1]]
    offenders = []
    for path in outside:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and (module == "recipes" or module.startswith("recipes.")):
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert offenders == []
