"""Find, read, override and validate a recipe, turning every problem into one clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from distill.errors import RecipeError
from distill.plugins import import_plugins

from .schema import Recipe

PACKAGED = Path(__file__).parent / "packaged"


class _StrictLoader(yaml.SafeLoader):
    """YAML's default keeps the last of two equal keys; a recipe with two tasks of one name is an error."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def packaged_recipes() -> list[str]:
    """Names of the recipes shipped with mtkd."""
    return sorted(p.stem for p in PACKAGED.glob("*.yaml"))


def find_recipe(name_or_path: str) -> Path:
    """A recipe file by path, or a packaged recipe by name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = PACKAGED / f"{name_or_path}.yaml"
    if packaged.is_file():
        return packaged
    raise RecipeError(
        f"no recipe file {name_or_path!r} and no packaged recipe of that name "
        f"(packaged: {', '.join(packaged_recipes())})"
    )


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply ``key.path=value`` to the raw recipe; the value is parsed as YAML (``3``, ``[1, 2]``)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"--set {assignment!r}: expected key.path=value, e.g. teacher.train.epochs=3")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    node = raw
    parts = key.strip().split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise RecipeError(f"--set {key}: {'.'.join(parts[: i + 1])} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _section_fields(loc: tuple[Any, ...]) -> list[str] | None:
    """Valid keys at ``loc``, walking dict-of-model levels (``tasks.<name>.…``) by skipping their key."""
    cls: Any = Recipe
    i = 0
    while i < len(loc):
        field = getattr(cls, "model_fields", {}).get(loc[i])
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ()), *getattr(getattr(ann, "__origin__", None), "__args__", ())]
        nested = [a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)]
        if getattr(ann, "__origin__", None) is dict:
            nested = [a for a in ann.__args__ if isinstance(a, type) and issubclass(a, BaseModel)]
            i += 1  # skip the dict key
        if not nested:
            return None
        cls = nested[0]
        i += 1
    return list(cls.model_fields)


def explain(error: ValidationError) -> str:
    """The first validation problem as one line: the key path, what is wrong and how to fix it."""
    first = error.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith(("function-", "literal["))))
    path = ".".join(str(p) for p in loc) or "(top level)"
    more = f" (and {error.error_count() - 1} more problem(s))" if error.error_count() > 1 else ""
    if first["type"] == "extra_forbidden":
        valid = _section_fields(loc[:-1])
        hint = f"; valid keys here: {', '.join(valid)}" if valid else ""
        return f"{path}: unknown key{hint}{more}"
    if first["type"] == "missing":
        return f"{path}: required key is missing{more}"
    msg = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return f"{path}: {msg}{shown}{more}"


def merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``: sections merge key by key, any other value (list, scalar) replaces."""
    out = dict(base)
    for key, value in child.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_raw(name_or_path: str, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """The recipe's YAML as a dict, with ``base: <recipe>`` resolved (a variant states only what differs)."""
    path = find_recipe(name_or_path)
    if str(path.resolve()) in chain:
        raise RecipeError(f"{path}: 'base' chain loops back to itself ({' -> '.join(chain)})")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{path}:{where} not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping of keys (name, tasks, teacher, ...)")
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise RecipeError(f"{path}: base must name a recipe (a file or a packaged name), got {base!r}")
    return merge(read_raw(base, (*chain, str(path.resolve()))), raw)


def load_recipe(name_or_path: str, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read a recipe (path or packaged name), apply ``--set`` overrides and validate it."""
    path = find_recipe(name_or_path)
    raw = read_raw(name_or_path)
    for assignment in overrides:
        apply_override(raw, assignment)
    if raw.get("plugins"):  # before validation: the names they register must be known to the validator
        raw["plugins"] = import_plugins(raw["plugins"], path.parent)
    try:
        return Recipe.model_validate(raw)
    except ValidationError as e:
        raise RecipeError(f"{path}: {explain(e)}") from None
