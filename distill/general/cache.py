"""General-distilled encoders are kept once per teacher, student shape, text and settings, in the user's cache
(``$MTKD_CACHE/general/<key>``): every recipe, seed and shape sweep with the same teacher reuses them, and a
run killed midway resumes where it stopped."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock
from torch import nn
from transformers import PreTrainedTokenizerBase

from ..checkpoints import mtkd_cache_dir
from ..config import ModelConfig
from ..io import read_json, stable_hash, write_json
from ..training import distributed
from ..workspace import Placement
from .config import GeneralDistillConfig
from .corpus import GeneralCorpus
from .train import ENCODER_DIR, GeneralDistilled, distil_general

log = logging.getLogger("mtkd")
RECORD = "general.json"
FORMAT_VERSION = 1
SHAPE_KEYS = ("layers", "hidden", "heads", "intermediate", "dropout", "attention_dropout", "max_position")
# what the corpus fingerprint already covers, or what does not change the weights
NOT_IN_KEY = {"files", "task_inputs", "transfer_inputs", "max_texts", "checkpoint_every", "teacher"}


@dataclass
class CachedGeneral:
    """A general-distilled encoder from the cache: where it is, its key, and whether this call trained it."""

    path: Path
    key: str
    reused: bool
    record: dict[str, Any]


def general_root() -> Path:
    """Where general-distilled encoders are cached: ``$MTKD_CACHE/general`` (default ``~/.cache/mtkd``)."""
    return mtkd_cache_dir() / "general"


def general_key(
    teacher_identity: Any, shape: ModelConfig, corpus: GeneralCorpus, cfg: GeneralDistillConfig, seed: int
) -> str:
    """The identity of a general-distilled encoder: the same key means the same training, step for step."""
    return stable_hash(
        {
            "version": FORMAT_VERSION,
            "teacher": teacher_identity,
            "shape": {k: getattr(shape, k) for k in SHAPE_KEYS},
            "text": corpus.fingerprint(),
            "settings": cfg.model_dump(mode="json", exclude=NOT_IN_KEY),
            "seed": seed,
        }
    )[:16]


def cached_general(
    teacher: Callable[[], nn.Module],
    teacher_identity: Any,
    shape: ModelConfig,
    tokenizer: PreTrainedTokenizerBase,
    corpus: GeneralCorpus,
    cfg: GeneralDistillConfig,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> CachedGeneral:
    """The encoder of ``shape`` general-distilled from ``teacher`` (loaded only when it must train) on ``corpus``:
    from the cache (``general_root()``, under ``$MTKD_CACHE``) when it is there, else trained into it (resuming
    an interrupted run of the same key)."""
    key = general_key(teacher_identity, shape, corpus, cfg, seed)
    folder = general_root() / key
    if (folder / RECORD).is_file():
        log.info("general: encoder %s from the cache (%s)", key, folder)
        return CachedGeneral(folder / ENCODER_DIR, key, True, read_json(folder / RECORD))
    folder.mkdir(parents=True, exist_ok=True)
    # one process trains a key at a time; torchrun's ranks train it together, so they take no lock
    lock = FileLock(str(folder) + ".lock") if not distributed.active() else None
    with lock if lock is not None else nullcontext():
        if (folder / RECORD).is_file():  # another run finished it while this one waited
            return CachedGeneral(folder / ENCODER_DIR, key, True, read_json(folder / RECORD))
        where = Placement(folder, torch.device(device), seed, resume=True)
        done = distil_general(teacher(), shape, tokenizer, corpus.texts, cfg, where)
        record = _record(done, key, teacher_identity, shape, corpus, cfg)
        if distributed.is_main():
            write_json(folder / RECORD, record)  # last: its presence means the encoder is complete
        distributed.barrier()
    return CachedGeneral(done.path, key, False, record)


def _record(
    done: GeneralDistilled,
    key: str,
    teacher_identity: Any,
    shape: ModelConfig,
    corpus: GeneralCorpus,
    cfg: GeneralDistillConfig,
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "key": key,
        "teacher": teacher_identity,
        "shape": {k: getattr(shape, k) for k in SHAPE_KEYS},
        "settings": cfg.model_dump(mode="json"),
        "texts": len(corpus),
        "text_sources": corpus.counts,
        "skipped": corpus.skipped,
        "history": done.history,
        "steps": done.steps,
        "train_seconds": round(done.seconds, 1),
    }
