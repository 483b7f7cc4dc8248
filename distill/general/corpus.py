"""The unlabelled text general distillation reads: every task's inputs (labels unused), the transfer sets'
inputs and the user's files, each distinct input once; a pair counts as its two texts alone and together."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from ..data.examples import BadRows, Example, TaskData
from ..data.readers import RowError
from ..errors import DataError
from ..transfer.config import TransferConfig, TransferFile
from ..transfer.inputs import file_rows, transfer_inputs
from .config import GeneralDistillConfig

Text = tuple[str, str | None]  # one input: a text, and the second text of a pair (or None)


@dataclass
class GeneralCorpus:
    """Distinct inputs in a stable order, how many each source added, and the bad lines skipped."""

    texts: list[Text]
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def fingerprint(self) -> str:
        """A hash of the inputs themselves: the cache key of what was learned from them."""
        digest = hashlib.sha256()
        for text, pair in self.texts:
            digest.update(f"{text}\x1f{pair or ''}\x1e".encode())
        return digest.hexdigest()[:16]


def _as_text(ex: Example) -> str:
    return " ".join(ex.text) if isinstance(ex.text, list) else str(ex.text)


def _inputs(examples: list[Example]) -> list[Text]:
    out: list[Text] = []
    for ex in examples:
        text = _as_text(ex)
        out.append((text, ex.text_pair))
        if ex.text_pair:  # each side alone too: queries and titles are what single-text heads read
            out += [(text, None), (ex.text_pair, None)]
    return out


def file_texts(spec: TransferFile, bad: BadRows) -> list[Text]:
    """One file's inputs: a line (or record) is a text, or a pair of two tab-separated texts."""
    out: list[Text] = []
    text_col, pair_col = ("text", "text_pair") if spec.resolved_format == "text" else (spec.text, spec.text_pair)
    for where, row in file_rows(spec):
        if isinstance(row, RowError):
            bad.add(where, row.reason)
            continue
        text, pair = row.get(text_col), row.get(pair_col) if pair_col else None
        if not isinstance(text, str) or not text.strip():
            bad.add(where, "empty text" if text is not None else f"no column {text_col!r}")
            continue
        pair = pair.strip() if isinstance(pair, str) and pair.strip() else None
        out += _inputs([Example(text.strip(), None, pair)])
    if not out:
        raise DataError(f"{spec.path}: no text in the file ({bad.total} bad lines)")
    return out


def general_corpus(
    tasks: dict[str, TaskData],
    cfg: GeneralDistillConfig,
    transfer: TransferConfig | None = None,
    seed: int = 0,
    on_error: str = "raise",
) -> GeneralCorpus:
    """What the student reads in general distillation (never a dev or test input)."""
    parts: list[tuple[str, list[Text]]] = []
    if cfg.task_inputs:
        for name, task in tasks.items():
            parts.append((f"task:{name}", _inputs(list(task.splits["train"]) + list(task.unused))))
    if cfg.transfer_inputs and transfer is not None:
        for name, spec in transfer.tasks.items():
            if name in tasks:
                parts.append((f"transfer:{name}", _inputs(transfer_inputs(tasks[name], spec, seed, on_error).examples)))
    bad = BadRows(on_error)
    for spec in cfg.files:
        parts.append((f"file:{spec.path}", file_texts(spec, bad)))
    seen: set[Text] = set()
    texts, counts = [], {}
    for name, part in parts:
        fresh = [t for t in part if t not in seen and not seen.add(t)]
        counts[name] = len(fresh)
        texts += fresh
    if not texts:
        raise DataError("general distillation has no text: enable task_inputs or name files")
    if cfg.max_texts is not None and len(texts) > cfg.max_texts:
        rng = random.Random(f"general:{seed}")
        texts = [texts[i] for i in sorted(rng.sample(range(len(texts)), cfg.max_texts))]
    return GeneralCorpus(texts, counts, dict(bad.counts))
