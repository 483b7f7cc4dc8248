"""No module imports another module's private name (``_name``): what crosses a module boundary is public, so a
rename inside a module cannot break another silently. Checked over the library, tools/ and the tests, for
``from m import _x`` and for ``m._x`` on an imported project module."""

from __future__ import annotations

import ast

from tests.static.source_files import findings

TREES = ("distill", "compress", "benchmarks", "recipes", "tools", "tests")
PROJECT = {"distill", "compress", "benchmarks", "recipes", "tools", "tests"}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def from_project(node: ast.ImportFrom) -> bool:
    return bool(node.level) or (node.module or "").split(".")[0] in PROJECT


def project_names(tree: ast.AST) -> set[str]:
    """Local names bound to project modules or objects by ``import a.b [as c]`` or ``from a import b``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and from_project(node):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] in PROJECT)
    return names


def private_uses(source: str) -> list[str]:
    """Each private name this source takes from another project module, as ``line: what``."""
    tree = ast.parse(source)
    modules = project_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and from_project(node):
            found += [f"{node.lineno}: from {node.module} import {a.name}" for a in node.names if private(a.name)]
        elif isinstance(node, ast.Attribute) and private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in modules:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_private_name_crosses_a_module_boundary():
    offenders = list(findings(TREES, private_uses))
    assert not offenders, "private names used across modules:\n" + "\n".join(offenders)


def test_the_checker_sees_both_spellings():
    source = "from distill.strict import _hidden\nfrom recipes import cli\ncli._parser()\nfrom numpy import _x\n"
    assert private_uses(source) == ["1: from distill.strict import _hidden", "3: cli._parser"]
