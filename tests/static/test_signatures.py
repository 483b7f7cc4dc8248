"""No public function or method of the library takes more than eight parameters: what several steps share travels
as one typed value (``Workspace``, ``Placement``, ``PipelineCaches``, ``ExportOptions``, ``Serving``), not as a clump
of arguments repeated on every verb."""

from __future__ import annotations

import ast

from tests.static.source_files import findings

PACKAGES = ("distill", "compress", "benchmarks", "recipes")
MOST = 8


def wide_functions(source: str) -> list[str]:
    """Each public function or method of ``source`` with more than ``MOST`` parameters (``self``/``cls`` aside)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            a = node.args
            names = [x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs] if x.arg not in ("self", "cls")]
            names += [x.arg for x in (a.vararg, a.kwarg) if x is not None]
            if len(names) > MOST:
                found.append(f"{node.lineno}: {node.name} ({len(names)} parameters)")
    return found


def test_no_public_function_takes_more_than_eight_parameters():
    wide = list(findings(PACKAGES, wide_functions))
    assert not wide, "\n".join(wide)


def test_the_checker_counts_keyword_only_and_star_parameters():
    nine = "def f(a, b, c, d, e, *args, g=1, h=2, **kw): pass\ndef _private(a, b, c, d, e, f, g, h, i): pass\n"
    assert wide_functions(nine) == ["1: f (9 parameters)"]
    assert wide_functions("class C:\n    def m(self, a, b, c, d, e, f, g, h): pass\n") == []
