"""Your own task types, KD losses (logit or intermediate), presets, importance scores or runtimes,
from outside the package.

A plugin is a Python module (an importable name) or a ``.py`` file that registers entries when it is
imported, e.g. ``@LOGIT_LOSSES.register("my-loss")``. A recipe lists its plugins under ``plugins:``; they
are imported before the recipe is validated, so the validator accepts the names they register:

    plugins: [my_company.mtkd_extras, ./extras.py]     # a file path is relative to the recipe
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from .errors import RecipeError

_LOADED: dict[str, str] = {}  # resolved reference → module name: a plugin registers its names once


def _is_file(ref: str) -> bool:
    return ref.endswith(".py") or "/" in ref or "\\" in ref


def resolve_plugin(ref: str, base: Path) -> str:
    """A module name as it is; a file path made absolute (relative to ``base``, the recipe's folder)."""
    if not _is_file(ref):
        return ref
    path = Path(ref).expanduser()
    return str((path if path.is_absolute() else base / path).resolve())


def import_plugin(ref: str) -> str:
    """Import one plugin (once per process); returns its module name."""
    if ref in _LOADED:
        return _LOADED[ref]
    if not _is_file(ref):
        try:
            importlib.import_module(ref)
        except ImportError as e:
            raise RecipeError(f"plugins: cannot import {ref!r} ({e}); is it installed or on PYTHONPATH?") from None
        _LOADED[ref] = ref
        return ref
    path = Path(ref)
    if not path.is_file():
        raise RecipeError(f"plugins: no file {path}")
    name = f"mtkd_plugin_{path.stem}_{abs(hash(str(path))) % 10**8}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    _LOADED[ref] = name
    return name


def import_plugins(refs: list[str], base: Path) -> list[str]:
    """Import every plugin a recipe names; returns the references as the saved recipe keeps them."""
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        raise RecipeError(f"plugins: expected a list of module names or .py paths, got {refs!r}")
    resolved = [resolve_plugin(ref, base) for ref in refs]
    for ref in resolved:
        import_plugin(ref)
    return resolved
