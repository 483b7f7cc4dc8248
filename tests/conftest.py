"""Shared fixtures: tiny recipes, data files and models that make tests run in seconds."""

from __future__ import annotations

import os

# tests never reach the hub: an unknown id fails at once instead of after the client's retries (read at import)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path
from typing import Any

import pytest
import yaml

# one layer, a few epochs: the whole pipeline in seconds
TINY_MODEL = {
    "layers": 1,
    "hidden": 32,
    "heads": 2,
    "intermediate": 64,
    "dropout": 0.0,
    "attention_dropout": 0.0,
    "max_position": 64,
}
TINY_TRAIN = {"epochs": 2, "batch_size": 16, "lr": 3e-3, "max_len": 32, "checkpoint_every": 5, "warmup": 0.0}


BUILTIN_TASKS = {
    "category": {"type": "classification", "table": "products", "text": "title", "label": "category"},
    "score": {"type": "regression", "table": "queries", "text": "query", "text_pair": "title", "label": "score"},
    "attributes": {"type": "token_classification", "table": "products"},
}


def tiny_bert_config(vocab_size: int, hidden: int = 32, heads: int = 2, max_position: int = 64):
    """A one-layer BERT config (FFN twice the width) for checkpoints tests build and save themselves."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=1,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_position,
    )


def builtin_task(name: str, size: int) -> dict[str, Any]:
    """A recipe task on a small built-in table (``category``, ``score`` or ``attributes``)."""
    spec = dict(BUILTIN_TASKS[name])
    table = spec.pop("table")
    return {**spec, "source": {"format": "builtin", "table": table, "size": size}}


def tiny_recipe(**overrides: Any) -> dict[str, Any]:
    """A recipe on small built-in tables with a one-layer model: the whole pipeline in seconds."""
    recipe: dict[str, Any] = {
        "name": "tiny",
        "seed": 0,
        "tasks": {
            "category": builtin_task("category", 240),
            "score": builtin_task("score", 200),
            "attributes": builtin_task("attributes", 240),
        },
        "tokenizer": {"train": "wordpiece", "vocab_size": 400},
        "teacher": {"model": dict(TINY_MODEL), "train": dict(TINY_TRAIN)},
    }
    recipe.update(overrides)
    return recipe


def bench_row(
    artifact: str,
    runtime: str,
    precision: str,
    p50: float,
    tasks: dict[str, tuple],
    batch: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A bench result row as ``results.jsonl`` holds one (sequence 128), for tests that read bench results;
    ``tasks`` maps a task to (metric, value, higher is better[, baseline (default 0.5)])."""
    return {
        "artifact": artifact,
        "runtime": runtime,
        "precision": precision,
        "batch_size": batch,
        "seq_len": 128,
        "latency_ms": {"p50": p50, "p99": p50 * 1.2},
        "tasks": {
            t: dict(zip(("metric", "value", "higher_is_better", "baseline"), (*spec, 0.5)[:4], strict=True))
            for t, spec in tasks.items()
        },
        **extra,
    }


def write_recipe(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def prepare_tasks(cfgs: dict, vocab_size: int = 500, max_len: int = 32):
    """Load tasks, train a small tokenizer on them and encode every split: (tasks, tokenizer, encoded)."""
    from distill.config import DataConfig, TokenizerConfig
    from distill.data.examples import SPLITS
    from distill.data.loading import load_tasks
    from distill.encoding import encode_examples
    from distill.tokenization import build_tokenizer

    tasks = load_tasks(cfgs, seed=0, data=DataConfig())
    tok = build_tokenizer(TokenizerConfig(train="wordpiece", vocab_size=vocab_size), tasks)
    enc = {t: {s: encode_examples(tok, d.splits[s], d.kind, max_len) for s in SPLITS} for t, d in tasks.items()}
    return tasks, tok, enc


@pytest.fixture
def recipe_file(tmp_path: Path) -> Path:
    return write_recipe(tmp_path / "tiny.yaml", tiny_recipe())


def load_example(name: str) -> Any:
    """The module of ``examples/<name>.py`` (examples are scripts, not an installed package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up there
    spec.loader.exec_module(module)
    return module
