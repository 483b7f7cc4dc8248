"""Latency on real text: the test split's own lengths, each batch padded to its longest (as ``Predictor``
pads), so the figure reflects the requests a model will see rather than 128 padded tokens.

Each task's first test examples are tokenized with the artifact's own tokenizer (a teacher and a
student may differ) and cut into batches of each batch size; one timed call is a whole pass over
those batches, interleaved with the other candidates like the fixed grid.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from compress.runtime import Backend
from distill.data.examples import TaskData

from .latency import interleaved

Feed = dict[str, np.ndarray]


def real_batches(tokenizer, tasks: dict[str, TaskData], batch_size: int, examples: int, max_len: int) -> list[Feed]:
    """Up to ``examples`` test examples per task in ``batch_size`` batches, each padded to its longest."""
    feeds = []
    for task in tasks.values():
        rows = task.splits["test"][:examples]
        words = task.kind.per_token
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            pairs = [ex.text_pair for ex in chunk] if chunk[0].text_pair is not None else None
            enc = tokenizer(
                [ex.text for ex in chunk],
                pairs,
                is_split_into_words=words,
                truncation=True,
                max_length=max_len,
                padding=True,
                return_tensors="np",
            )
            feed = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")}
            types = enc.get("token_type_ids")
            feed["token_type_ids"] = types.astype(np.int64) if types is not None else np.zeros_like(feed["input_ids"])
            feeds.append(feed)
    return feeds


def _pass(backend: Backend, feeds: list[Feed], threads: int) -> Callable[[], object]:
    def call() -> object:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return [backend(feed) for feed in feeds]

    return call


def real_length_rows(
    loaded: dict[Any, Backend],
    tasks: dict[str, TaskData],
    batch_sizes: list[int],
    examples: int,
    max_len: int,
    rounds: int,
    threads: int,
) -> list[dict[str, Any]]:
    """One row per candidate and batch size: time per pass, examples and real (unpadded) tokens per second."""
    rows = []
    tokenizers: dict[Path, Any] = {}
    for batch_size in batch_sizes:
        feeds = {}
        for cand in loaded:
            folder = Path(cand.path) if Path(cand.path).is_dir() else Path(cand.path).parent
            if folder not in tokenizers:
                tokenizers[folder] = AutoTokenizer.from_pretrained(folder)
            feeds[cand] = real_batches(tokenizers[folder], tasks, batch_size, examples, max_len)
        calls = {c: _pass(loaded[c], feeds[c], c.threads or threads) for c in loaded}
        stats = interleaved(calls, warmup=1, iters=1, rounds=rounds)
        for cand, st in stats.items():
            count = sum(len(f["input_ids"]) for f in feeds[cand])
            real = int(sum(f["attention_mask"].sum() for f in feeds[cand]))
            padded = sum(f["input_ids"].size for f in feeds[cand])
            seconds = st.p50 / 1e3
            rows.append(
                {
                    "candidate": cand.label,
                    "artifact": cand.artifact,
                    "runtime": cand.runtime_label,
                    "precision": cand.precision,
                    "batch_size": batch_size,
                    "examples": count,
                    "mean_tokens": real / count,
                    "padding": 1 - real / padded,
                    "pass_ms": st.p50,
                    "examples_per_s": count / seconds,
                    "tokens_per_s": real / seconds,
                }
            )
    return rows


def real_length_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The report's section: per batch size, every candidate's real-text throughput, fastest first."""
    if not rows:
        return []
    lines = [
        "## Real-length latency (the test split's own lengths, each batch padded to its longest)",
        "",
        "| batch | candidate | examples | mean tokens | padding | ms per pass | examples/s | tokens/s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r["batch_size"], r["pass_ms"])):
        lines.append(
            f"| {r['batch_size']} | {r['candidate']} | {r['examples']} | {r['mean_tokens']:.1f} | "
            f"{100 * r['padding']:.0f}% | {r['pass_ms']:.1f} | {r['examples_per_s']:.0f} | {r['tokens_per_s']:.0f} |"
        )
    return lines
