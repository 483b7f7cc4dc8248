"""A tiny name → class registry for everything users extend (task types, losses, scores, runtimes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from .errors import MtkdError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to registered objects; unknown names fail with the list of valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a duplicate name is a programming error."""

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        """The object registered as ``name``, or an ``MtkdError`` listing the valid names."""
        try:
            return self._items[name]
        except KeyError:
            raise MtkdError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}") from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    @contextmanager
    def substituted(self, name: str, obj: T) -> Iterator[T]:
        """``obj`` registered as ``name`` (over what is there, if anything) until the block ends; for tests and
        experiments that must leave the registry as they found it."""
        before = self._items.get(name)
        self._items[name] = obj
        try:
            yield obj
        finally:
            if before is None:
                del self._items[name]
            else:
                self._items[name] = before

    def __contains__(self, name: object) -> bool:
        return name in self._items


def lazy_exports(package: str, names: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``names`` (name → module) on first use: a package can offer its
    public verbs at the top (``from distill import distil``) without importing torch for the command line."""
    import importlib

    def __getattr__(name: str) -> object:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(names[name]), name)

    return __getattr__
