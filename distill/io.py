"""Atomic writes and checksums: an artifact is either complete or absent, never half-written."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from .errors import ArtifactError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically, pretty-printed and with a trailing newline (diff-friendly)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


def write_yaml(path: str | Path, data: Any) -> None:
    """Write YAML atomically, keys in insertion order."""
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def read_json(path: str | Path) -> Any:
    """Read JSON, turning a missing or corrupt file into an ``ArtifactError`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def directory_checksums(root: str | Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """SHA-256 of every file under ``root`` keyed by its relative POSIX path (sorted)."""
    root = Path(root)
    sums = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not any(rel == s or rel.startswith(s + "/") for s in skip):
            sums[rel] = sha256_file(p)
    return sums


def verify_checksums(root: str | Path, sums: dict[str, str]) -> None:
    """Raise ``ArtifactError`` naming the first file that is missing or whose bytes changed."""
    root = Path(root)
    for rel, expected in sums.items():
        p = root / rel
        if not p.is_file():
            raise ArtifactError(f"{p}: listed in the manifest but missing; re-run the stage")
        if sha256_file(p) != expected:
            raise ArtifactError(f"{p}: checksum mismatch (file changed or truncated); re-run the stage")


def replace_directory(src: str | Path, dst: str | Path) -> None:
    """Move a finished directory onto ``dst``, removing an older ``dst`` first."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old)
    else:
        os.replace(src, dst)


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        replace_directory(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def remove_leftover_temporaries(path: str | Path) -> list[str]:
    """Remove the temporary folders a killed writer left beside ``path`` (``atomic_directory``'s and the bundle
    builder's ``.<name>.XXXXXXXX``) and return their names. Only for a caller holding ``path``'s writer lock:
    no one else can be filling them then."""
    path = Path(path)
    ours = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}")  # tempfile.mkdtemp's eight random characters
    if not path.parent.is_dir():
        return []
    left = [p for p in path.parent.iterdir() if p.is_dir() and ours.fullmatch(p.name)]
    for folder in left:
        shutil.rmtree(folder)
    return sorted(p.name for p in left)


def stable_hash(obj: Any) -> str:
    """Short SHA-256 of a JSON-serialisable object with sorted keys, for up-to-date checks."""
    blob = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
